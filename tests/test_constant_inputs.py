"""REST inputs with a static ``value`` (not a JSONPath): constants, as in the reference engine
(the static value overrides the request). They are folded into the call at generation time, so
the caller cannot set them and they are not part of the route's published inputs."""

from __future__ import annotations

import importlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web

from .conftest import fake_server, generated_package, serving_mcp, serving_rest

SPEC = """\
    naftiko: 1.0.0-alpha2
    capability:
      consumes:
      - type: http
        namespace: api
        baseUri: http://127.0.0.1:1/v1
        resources:
        - name: items
          path: /items/{{kind}}
          operations:
          - name: list
            method: GET
            inputParameters:
            - {name: kind, in: path}
            - {name: limit, in: query}
            - {name: format, in: query}
          - name: add
            method: POST
            body: {type: json, data: {label: '{{label}}', source: 'via {{channel}}', flag: '{{flag}}'}}
      exposes:
      - type: rest
        port: 8080
        namespace: r
        resources:
        - path: /items
          operations:
          - method: GET
            name: list
            call: api.list
            inputParameters:
            - {name: kind, in: query, value: books}
            - {name: limit, in: query, type: integer}
            - {name: format, in: query, value: json}
            with: {kind: rest.kind, limit: rest.limit}
          - method: POST
            name: add
            call: api.add
            inputParameters:
            - {name: label, in: body}
            - {name: channel, in: body, value: "rest & co"}
            - {name: flag, in: body, value: true}
      - type: mcp
        port: 9080
        namespace: m
        tools:
        - name: list-books
          description: List books
          call: api.list
          inputParameters:
          - {name: kind, type: string, value: books}
          - {name: limit, type: integer, required: false}
          - {name: format, type: string, value: json}
    """


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with generated_package(tmp_path_factory.mktemp("constants"), "constants.yaml", SPEC) as name:
        yield name


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[list[dict[str, Any]], str]]:
    seen: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(
            {"path": request.path, "query": dict(request.query), "body": await request.text()}
        )
        return web.json_response({"ok": True})

    async with fake_server(handle) as server:
        yield seen, str(server.make_url("/v1"))


async def test_constants_are_sent_and_cannot_be_overridden(
    package: str, upstream: tuple[list[dict[str, Any]], str]
) -> None:
    seen, base_url = upstream
    settings = importlib.import_module(f"{package}.settings").load_settings(
        {"API_BASE_URL": base_url}
    )
    async with serving_rest(package, settings) as client:
        listed = await client.get("/items", params={"limit": "5", "kind": "films", "format": "x"})
        added = await client.post(  # kind: the upstream path needs it (an implied input here)
            "/items",
            params={"kind": "books"},
            json={"label": "Dune", "channel": "other", "flag": False},
        )
        openapi = await (await client.get("/_adapter/openapi.json")).json()
    assert (listed.status, added.status) == (200, 200)
    assert seen[0]["path"] == "/v1/items/books"  # the caller's kind=films is not an input
    assert seen[0]["query"] == {"limit": "5", "format": "json"}
    assert json.loads(seen[1]["body"]) == {"label": "Dune", "source": "via rest & co", "flag": True}
    parameters = openapi["paths"]["/items"]["get"]["parameters"]
    assert [p["name"] for p in parameters] == ["limit"]
    assert seen[1]["path"] == "/v1/items/books"
    body = openapi["paths"]["/items"]["post"]["requestBody"]["content"]["application/json"]
    assert list(body["schema"]["properties"]) == ["label"]


async def test_mcp_tool_constants(package: str, upstream: tuple[list[dict[str, Any]], str]) -> None:
    seen, base_url = upstream
    settings = importlib.import_module(f"{package}.settings").load_settings(
        {"API_BASE_URL": base_url}
    )
    async with serving_mcp(package, settings) as mcp:
        (tool,) = (await mcp.list_tools()).tools
        result = await mcp.call_tool("list-books", {"limit": 3})
        refused = await mcp.call_tool("list-books", {"limit": 3, "kind": "films"})
    assert list(tool.input_schema["properties"]) == ["limit"]
    assert not result.is_error, result.content
    assert seen == [
        {"path": "/v1/items/books", "query": {"limit": "3", "format": "json"}, "body": ""}
    ]
    assert refused.is_error  # not an argument of this tool
