"""API keys the upstream reads from the request body (``authentication: {type: apikey,
placement: body}``, WHMCS and Mandrill in the catalog), a resource path that is only a query
string (WHMCS's ``?action=GetClients``), and a bind variable named like an API setting
(``{{WHMCS_BASE_URL}}/includes/api.php``): end to end against a fake upstream."""

from __future__ import annotations

import importlib
import json
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from naftiko_gen.pipeline import analyse

from .conftest import fake_server, generated_package, serving_mcp, serving_rest

KEY = "body-key-7Hq"

SPEC = """\
    naftiko: 1.0.0-alpha2
    binds:
    - namespace: env
      keys: {WHM_BASE_URL: WHM_BASE_URL, WHM_KEY: WHM_KEY}
    capability:
      consumes:
      - type: http
        namespace: whm
        baseUri: '{{env.WHM_BASE_URL}}/includes/api.php'
        authentication: {type: apikey, key: identifier, value: '{{env.WHM_KEY}}', placement: body}
        resources:
        - name: clients
          path: ?action=GetClients
          operations:
          - name: get-clients
            method: POST
            inputParameters:
            - {name: limitnum, in: body, type: integer}
            - {name: search, in: query}
          - name: add-client
            method: POST
            body: {type: form, data: {firstname: '{{tools.firstname}}'}}
        - name: stats
          path: ?action=GetStats
          operations: [{name: get-stats, method: POST}]
        - name: orders
          path: ?action=AddOrder
          operations:
          - name: add-order
            method: POST
            inputParameters: [{name: sig, in: query, value: '{{env.WHM_KEY}}'}]
            body: {type: json, data: {identifier: '{{env.WHM_KEY}}', product: '{{tools.product}}'}}
      exposes:
      - type: rest
        port: 8090
        namespace: whm-rest
        resources:
        - path: /clients
          operations:
          - {method: POST, name: clients, call: whm.get-clients}
          - {method: PUT, name: add-client, call: whm.add-client, with: {firstname: rest.firstname}}
        - path: /stats
          operations: [{method: POST, name: stats, call: whm.get-stats}]
      - type: mcp
        port: 9390
        namespace: whm-mcp
        tools:
        - {name: add-order, description: Order a product, call: whm.add-order}
    """


class Upstream:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.seen.append(
            {
                "path": request.path,
                "query": list(request.query.items()),
                "type": request.content_type,
                "body": body,
            }
        )
        return web.json_response({"result": "success"})


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with generated_package(tmp_path_factory.mktemp("bodykey"), "bodykey.yaml", SPEC) as name:
        yield name


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    fake = Upstream()
    async with fake_server(fake.handle) as server:
        yield fake, str(server.make_url("")).rstrip("/")


def _settings(package: str, base: str, **extra: str) -> Any:
    settings = importlib.import_module(f"{package}.settings")
    return settings.load_settings({"WHM_BASE_URL": base, "WHM_KEY": KEY, **extra})


async def test_rest_calls_carry_the_key_in_their_bodies(
    package: str, upstream: tuple[Upstream, str]
) -> None:
    fake, base = upstream
    settings = _settings(package, base)
    # The bind WHM_BASE_URL is the host; the API's own settings moved to WHM_API_*.
    assert settings.upstreams["whm"].base_url == base + "/includes/api.php"
    async with serving_rest(package, settings) as client:
        answers = [
            await client.post("/clients", json={"limitnum": 5}, params={"search": "a&b"}),
            await client.put("/clients", json={"firstname": "Zoë & co"}),
            await client.post("/stats"),
        ]
    assert [a.status for a in answers] == [200, 200, 200]
    params_call, form_call, bare_call = fake.seen
    assert all(call["path"] == "/includes/api.php" for call in fake.seen)
    # The fixed query stays first; a query parameter is added after it.
    assert params_call["query"] == [("action", "GetClients"), ("search", "a&b")]
    assert params_call["type"] == "application/json"
    assert json.loads(params_call["body"]) == {"limitnum": 5, "identifier": KEY}
    assert form_call["type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(form_call["body"]) == [("firstname", "Zoë & co"), ("identifier", KEY)]
    assert bare_call["query"] == [("action", "GetStats")]
    assert json.loads(bare_call["body"]) == {"identifier": KEY}


async def test_mcp_preview_never_shows_the_key(
    package: str, upstream: tuple[Upstream, str]
) -> None:
    fake, base = upstream
    settings = _settings(package, base)
    async with serving_mcp(package, settings) as mcp:
        preview = await mcp.call_tool("add-order", {"product": "vps"})
        assert preview.structured_content["confirmation_required"] is True
        request = preview.structured_content["request"]
        # Secrets the spec writes into the body or the query are masked, not shown.
        assert KEY not in json.dumps(preview.structured_content)
        assert request["body"] == {"identifier": "<secret>", "product": "vps"}
        assert request["url"].endswith("?action=AddOrder&sig=<secret>")
        assert fake.seen == []
        token = preview.structured_content["confirmation_token"]
        done = await mcp.call_tool("add-order", {"product": "vps", "confirmation_token": token})
    assert not done.is_error, done.content
    (sent,) = fake.seen
    # The template's own identifier field is the key; the body has it once.
    assert json.loads(sent["body"]) == {"identifier": KEY, "product": "vps"}
    assert sent["query"] == [("action", "AddOrder"), ("sig", KEY)]


async def test_an_empty_key_sends_none(package: str, upstream: tuple[Upstream, str]) -> None:
    fake, base = upstream
    settings = importlib.import_module(f"{package}.settings").load_settings(
        {"WHM_BASE_URL": base, "WHM_KEY": ""}
    )
    client_mod = importlib.import_module(f"{package}.client")
    upstream_client = client_mod.UpstreamClient(settings)
    await upstream_client.start()
    try:
        operations = importlib.import_module(f"{package}.operations")
        call = client_mod.Call(operations.GET_STATS)
        response = await upstream_client.send(call, {}, request_id="r-1")
    finally:
        await upstream_client.close()
    assert response.status == 200
    assert fake.seen[0]["body"] == ""


def test_the_api_setting_prefix_moves_aside_with_a_warning(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(textwrap.dedent(SPEC), encoding="utf-8")
    analysis = analyse(spec)
    assert analysis.ok and analysis.capability is not None
    assert analysis.capability.upstreams[0].env_prefix == "WHM_API"
    assert any(
        "bind variable WHM_BASE_URL has the name of a setting" in d.message
        for d in analysis.diagnostics
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("[{name: get-stats, method: POST}]", "[{name: get-stats, method: GET}]"),
            "not supported yet: an API key in the body of a GET request",
        ),
        (
            ("[{name: get-stats, method: POST}]", "[{name: get-stats, method: POST, body: 'hi'}]"),
            "not supported yet: an API key in the body of a request whose body is not",
        ),
        (
            (
                "    - path: /stats\n",
                "    - {path: /raw, forward: {targetNamespace: whm}}\n    - path: /stats\n",
            ),
            "not supported yet: a forward to 'whm', whose API key goes in the request body",
        ),
        (
            (
                "namespace: whm-rest\n",
                "namespace: whm-rest\n    authentication: {type: apikey, key: k, placement: body, value: x}\n",
            ),
            "not supported yet: an inbound API key in the body",
        ),
    ],
)
def test_what_a_body_key_cannot_do_is_refused_with_a_line(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    text = textwrap.dedent(SPEC)
    assert change[0] in text
    spec = tmp_path / "s.yaml"
    spec.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    errors = [d for d in analyse(spec).diagnostics if d.level == "error"]
    assert any(message in e.message for e in errors), [e.format() for e in errors]
    assert all(e.line is not None for e in errors)
