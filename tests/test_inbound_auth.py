"""Inbound authentication (``exposes[].authentication``): what clients of the generated REST
adapter and MCP server must send, end to end.

The package of ``GUARDED`` runs as a real process (``python -m guarded serve``) in front of a
fake upstream that records every request. REST takes an API key in the query (the placement
that could leak upstream through a ``forward``), MCP takes HTTP Basic; ``ADAPTER_REST_TOKEN``
replaces the REST scheme with a bearer token. The resolver's side (accepted shapes, refused
ones, located errors) is tested on small specs.
"""

from __future__ import annotations

import base64
import json
import textwrap
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import httpx2
import pytest
from aiohttp import web
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from naftiko_gen.pipeline import analyse, generate
from naftiko_gen.writer import write_tree

from .conftest import fake_server
from .hostile_support import Service, process_env

REST_KEY = "rest-key-Zq7"
MCP_USER, MCP_PASSWORD = "agent", "pa:ss-Wd9"
UPSTREAM_TOKEN = "upstream-tok-Ab3"
OVERRIDE = "override-Xy5"
CREDENTIALS = (REST_KEY, MCP_PASSWORD, OVERRIDE, base64.b64encode(MCP_PASSWORD.encode()).decode())

GUARDED = """\
    naftiko: 1.0.0-alpha2
    binds:
    - namespace: env
      keys:
        API_TOKEN: API_TOKEN
        REST_KEY: GUARDED_REST_KEY
        MCP_USER: GUARDED_MCP_USER
        MCP_PASSWORD: GUARDED_MCP_PASSWORD
    capability:
      consumes:
      - type: http
        namespace: api
        baseUri: http://upstream.test/v1
        authentication: {type: bearer, token: '{{API_TOKEN}}'}
        resources:
        - name: items
          path: /items
          operations: [{name: list-items, method: GET}]
      exposes:
      - type: rest
        port: 8080
        namespace: guarded-rest
        authentication: {type: apikey, key: api_key, placement: query, value: '{{REST_KEY}}'}
        resources:
        - path: /items
          name: items
          operations: [{method: GET, name: list, call: api.list-items}]
        - path: /raw
          forward: {targetNamespace: api, trustedHeaders: [X-Trace]}
      - type: mcp
        port: 9090
        namespace: guarded-mcp
        authentication: {type: basic, username: '{{MCP_USER}}', password: '{{MCP_PASSWORD}}'}
        tools: [{name: list-items, description: List the items, call: api.list-items}]
    """


class Upstream:
    """Answers every request with a small JSON list and records what it was sent."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(
            {
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": await request.text(),
            }
        )
        return web.json_response([{"id": 1, "name": "bolt"}])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("guarded")
    spec = root / "guarded.yaml"
    spec.write_text(textwrap.dedent(GUARDED), encoding="utf-8")
    analysis = analyse(spec)
    assert analysis.ok and analysis.capability is not None, [
        d.format() for d in analysis.diagnostics
    ]
    write_tree(root / "out", generate(analysis.capability))
    return root / "out"


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    fake = Upstream()
    async with fake_server(fake.handle) as server:
        fake.base_url = str(server.make_url("/v1")).rstrip("/")
        yield fake


def _env(upstream: Upstream, **extra: str) -> dict[str, str]:
    settings = {
        "API_BASE_URL": upstream.base_url,
        "API_TOKEN": UPSTREAM_TOKEN,
        "GUARDED_REST_KEY": REST_KEY,
        "GUARDED_MCP_USER": MCP_USER,
        "GUARDED_MCP_PASSWORD": MCP_PASSWORD,
    }
    return process_env(**{**settings, **extra})


@pytest.fixture
def service(project: Path, upstream: Upstream, tmp_path: Path) -> Iterator[Service]:
    running = Service(project, tmp_path, "guarded", _env(upstream), "serve", module="guarded")
    running.start()
    try:
        yield running
    finally:
        running.stop()
        running.kill()


async def _get(url: str, **kwargs: Any) -> tuple[int, Mapping[str, str], str]:
    async with aiohttp.ClientSession() as session, session.get(url, **kwargs) as response:
        return response.status, response.headers.copy(), await response.text()


def _assert_refused(status: int, headers: Mapping[str, str], text: str, hint: str) -> None:
    assert status == 401
    assert headers["Content-Type"].startswith("application/problem+json")
    problem = json.loads(text)
    assert problem["status"] == 401 and hint in problem["detail"]
    assert problem["request_id"] == headers["X-Request-Id"]
    assert not any(secret in text for secret in CREDENTIALS)


async def test_rest_refuses_without_the_api_key(service: Service, upstream: Upstream) -> None:
    url = service.rest_url + "/items"
    for params in ({}, {"api_key": "wrong"}, {"api_key": ""}, {"API_KEY": REST_KEY}):
        status, headers, text = await _get(url, params=params)
        _assert_refused(status, headers, text, "send the API key in the query 'api_key'")
        assert "WWW-Authenticate" not in headers  # there is no standard challenge for API keys
    # The key in a header is not the key in the query.
    status, headers, text = await _get(url, headers={"api_key": REST_KEY})
    assert status == 401
    assert upstream.seen == []  # nothing refused reached the upstream


async def test_rest_admits_the_key_and_never_passes_it_on(
    service: Service, upstream: Upstream
) -> None:
    status, _, text = await _get(service.rest_url + "/items", params={"api_key": REST_KEY})
    assert status == 200, text
    assert json.loads(text) == [{"id": 1, "name": "bolt"}]
    # A forward passes the query as received, except the adapter's own credential.
    status, _, text = await _get(
        service.rest_url + "/raw/deep/path",
        params={"api_key": REST_KEY, "page": "2"},
        headers={"X-Trace": "t-1"},
    )
    assert status == 200, text
    assert [request["path"] for request in upstream.seen] == ["/v1/items", "/v1/deep/path"]
    assert upstream.seen[1]["query"] == {"page": "2"}
    assert upstream.seen[1]["headers"]["X-Trace"] == "t-1"
    for request in upstream.seen:
        assert request["headers"]["Authorization"] == f"Bearer {UPSTREAM_TOKEN}"
        assert REST_KEY not in json.dumps(request)
    service.stop()
    assert REST_KEY not in service.output()  # nor in any log line


async def test_rest_probes_stay_open(service: Service) -> None:
    for path in ("/_adapter/health", "/_adapter/openapi.json"):
        status, _, text = await _get(service.rest_url + path)
        assert status == 200, (path, text)
    document = json.loads((await _get(service.rest_url + "/_adapter/openapi.json"))[2])
    assert document["components"]["securitySchemes"] == {
        "apiKey": {"type": "apiKey", "in": "query", "name": "api_key"}
    }
    assert document["security"] == [{"apiKey": []}]


def _mcp(url: str, auth: httpx2.Auth | None) -> Client:
    return Client(
        streamable_http_client(url, http_client=httpx2.AsyncClient(auth=auth)),
        read_timeout_seconds=20,
    )


async def test_mcp_takes_basic_credentials(service: Service, upstream: Upstream) -> None:
    async with _mcp(service.mcp_url, httpx2.BasicAuth(MCP_USER, MCP_PASSWORD)) as client:
        result = await client.call_tool("list-items", {})
    assert not result.is_error, result.content
    assert upstream.seen[0]["headers"]["Authorization"] == f"Bearer {UPSTREAM_TOKEN}"
    assert MCP_PASSWORD not in json.dumps(upstream.seen)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic " + base64.b64encode(f"{MCP_USER}:wrong".encode()).decode(),
        "Basic " + base64.b64encode(f"other:{MCP_PASSWORD}".encode()).decode(),
        "Basic not-base64!",
        f"Bearer {MCP_PASSWORD}",
        "Basic",
    ],
)
async def test_mcp_refuses_anything_else(service: Service, authorization: str | None) -> None:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if authorization is not None:
        headers["Authorization"] = authorization
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    async with (
        aiohttp.ClientSession() as session,
        session.post(service.mcp_url, json=message, headers=headers) as response,
    ):
        status, answer_headers, text = (
            response.status,
            response.headers.copy(),
            await response.text(),
        )
    _assert_refused(status, answer_headers, text, "send Authorization: Basic")
    assert answer_headers["WWW-Authenticate"] == 'Basic realm="guarded", charset="UTF-8"'


async def test_mcp_sdk_client_without_credentials_fails(service: Service) -> None:
    """The SDK's client, refused at the HTTP layer, fails the session instead of going on."""
    with pytest.raises(ExceptionGroup) as failure:
        async with _mcp(service.mcp_url, None) as client:
            await client.list_tools()
    assert failure.group_contains(MCPError)


async def test_rest_token_setting_replaces_the_spec_scheme(
    project: Path, upstream: Upstream, tmp_path: Path
) -> None:
    env = _env(upstream, ADAPTER_REST_TOKEN=OVERRIDE)
    running = Service(project, tmp_path, "override", env, "rest", module="guarded").start()
    try:
        url = running.rest_url + "/items"
        status, headers, text = await _get(url, params={"api_key": REST_KEY})
        _assert_refused(status, headers, text, "send Authorization: Bearer <token>")
        assert headers["WWW-Authenticate"] == 'Bearer realm="guarded"'
        status, _, text = await _get(url, headers={"Authorization": f"bearer {OVERRIDE}"})
        assert status == 200, text
    finally:
        running.stop()
        running.kill()
    assert OVERRIDE not in running.output()


@pytest.mark.parametrize("empty", ["GUARDED_REST_KEY", "GUARDED_MCP_PASSWORD"])
def test_an_empty_inbound_secret_stops_the_start(project: Path, tmp_path: Path, empty: str) -> None:
    """Fail closed: an empty expected credential would admit clients that send an empty one."""
    import subprocess
    import sys

    env = _env(Upstream(), **{empty: ""})
    env["API_BASE_URL"] = "http://127.0.0.1:9"
    done = subprocess.run(
        [sys.executable, "-m", "guarded", "serve", "--port", "0", "--mcp-port", "0"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"{empty} is empty" in done.stderr and "inbound authentication" in done.stderr
    assert "Traceback" not in done.stderr


# --- the resolver's side -------------------------------------------------------------------


def _spec(tmp_path: Path, rest_auth: str, *, forward: str = "") -> Path:
    """A one-route REST spec with *rest_auth* as its inbound authentication (flow YAML), plus a
    forward resource trusting the header *forward* when given."""
    lines = [
        "naftiko: 1.0.0-alpha2",
        "binds: [{namespace: env, keys: {KEY: KEY, USER: USER}}]",
        "capability:",
        "  consumes:",
        "  - type: http",
        "    namespace: api",
        "    baseUri: http://x.test",
        "    resources: [{name: f, path: /f, operations: [{name: f, method: GET}]}]",
        "  exposes:",
        "  - type: rest",
        "    port: 8080",
        "    namespace: r",
        f"    authentication: {rest_auth}",
        "    resources:",
        "    - {path: /f, name: f, operations: [{method: GET, name: f, call: api.f}]}",
    ]
    if forward:
        lines.append(
            f"    - {{path: /raw, forward: {{targetNamespace: api, trustedHeaders: [{forward}]}}}}"
        )
    spec = tmp_path / "s.yaml"
    spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return spec


@pytest.mark.parametrize(
    ("auth", "kind"),
    [
        ("{type: bearer, token: '{{KEY}}'}", "bearer"),
        ("{type: basic, username: '{{USER}}', password: '{{KEY}}'}", "basic"),
        ("{type: apikey, key: X-Key, placement: header, value: '{{KEY}}'}", "apikey"),
        ("{type: apikey, key: sid, placement: cookie, value: '{{KEY}}'}", "apikey"),
        ("{type: apiKey, name: X-Key, in: header, value: '{{KEY}}'}", "apikey"),
    ],
)
def test_supported_inbound_schemes(tmp_path: Path, auth: str, kind: str) -> None:
    analysis = analyse(_spec(tmp_path, auth))
    assert analysis.ok, [d.format() for d in analysis.diagnostics]
    assert analysis.capability is not None and analysis.capability.rest is not None
    inbound = analysis.capability.rest.inbound
    assert inbound is not None and inbound.kind == kind


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (
            "{type: digest, username: '{{USER}}', password: '{{KEY}}'}",
            "not supported yet: inbound digest",
        ),
        (
            "{type: oauth2, authorizationServerUri: 'https://a.test'}",
            "not supported yet: inbound oauth2",
        ),
        ("{type: bearer, token: ''}", "the inbound credential is empty"),
        # An undeclared {{VAR}} is read from the environment (tests/test_catalog_leniency.py);
        # what is not a variable name stays an error.
        ("{type: bearer, token: '{{NO PE}}'}", "{{NO PE}} refers to nothing known here"),
        ("{type: bearer}", "bearer authentication needs 'token'"),
        (
            "{type: apikey, headers: {A: '{{KEY}}', B: '{{USER}}'}}",
            "not supported yet: more than one inbound API key",
        ),
    ],
)
def test_refused_inbound_schemes_name_the_line(tmp_path: Path, auth: str, message: str) -> None:
    errors = [d for d in analyse(_spec(tmp_path, auth)).diagnostics if d.level == "error"]
    assert errors, f"{auth} was accepted"
    assert any(message in e.message for e in errors), [e.format() for e in errors]
    assert all(e.line is not None for e in errors)


def test_a_literal_inbound_credential_is_a_warning(tmp_path: Path) -> None:
    analysis = analyse(_spec(tmp_path, "{type: bearer, token: s3cret}"))
    assert analysis.ok
    assert any("written in the spec" in d.message for d in analysis.diagnostics)


def test_a_forward_may_not_trust_the_inbound_key_header(tmp_path: Path) -> None:
    auth = "{type: apikey, key: X-Key, placement: header, value: '{{KEY}}'}"
    errors = [
        d for d in analyse(_spec(tmp_path, auth, forward="x-key")).diagnostics if d.level == "error"
    ]
    assert any("trustedHeaders may not pass 'x-key'" in e.message for e in errors), [
        e.format() for e in errors
    ]
    assert analyse(_spec(tmp_path, auth, forward="X-Trace")).ok
