"""Mapped outputs end to end: `value` next to a `call` (static or templated over the inputs) and
answers that always match the published schema (declared types are enforced, losslessly)."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from mcp import Client

from .conftest import generated_package

SPEC = """\
naftiko: 1.0.0-alpha2
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: http://127.0.0.1:9
    resources:
    - {name: p, path: /positions, operations: [{name: list, method: GET}]}
  exposes:
  - type: rest
    port: 8080
    namespace: r
    resources:
    - path: /positions
      operations:
      - method: GET
        call: api.list
        inputParameters: [{name: account, in: query, type: string, description: a}]
        outputParameters:
        - {name: source, type: string, value: 'ibkr:{{account}}'}
        - {name: count, type: integer, mapping: $.count}
        - {name: first, type: string, mapping: '$.rows[0]'}
        - {name: rows, type: array, mapping: $.rows}
  - type: mcp
    port: 9000
    namespace: m
    tools:
    - name: positions
      description: p
      hints: {readOnly: true}
      inputParameters: [{name: account, type: string, description: a}]
      call: api.list
      outputParameters:
      - {name: source, type: string, value: 'ibkr:{{account}}'}
      - {name: count, type: integer, mapping: $.count}
      - {name: first, type: string, mapping: '$.rows[0]'}
      - {name: rows, type: array, mapping: $.rows}
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with generated_package(tmp_path_factory.mktemp("outputs"), "outputs-check.yaml", SPEC) as name:
        yield name


@pytest.fixture
async def upstream() -> AsyncIterator[dict[str, Any]]:
    state: dict[str, Any] = {"payload": {"count": "3", "rows": [{"id": 1}, {"id": 2}]}}

    async def handle(request: web.Request) -> web.Response:
        return web.json_response(state["payload"])

    app = web.Application()
    app.router.add_get("/positions", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state["url"] = str(server.make_url("")).rstrip("/")
    yield state
    await server.close()


async def test_values_next_to_a_call_and_conforming_types(
    package: str, upstream: dict[str, Any]
) -> None:
    settings_mod = importlib.import_module(f"{package}.settings")
    client_mod = importlib.import_module(f"{package}.client")
    rest = importlib.import_module(f"{package}.rest")
    server = importlib.import_module(f"{package}.mcp_server")
    settings = settings_mod.load_settings({"API_BASE_URL": upstream["url"]})
    upstream_client = client_mod.UpstreamClient(settings)
    await upstream_client.start()
    http = TestClient(TestServer(rest.create_app(settings, upstream_client)))
    await http.start_server()
    try:
        answer = await (await http.get("/positions", params={"account": 'A"1'})).json()
        # the value is rendered from the input; "3" becomes the declared integer; an object
        # where a string is declared becomes null rather than break the schema
        assert answer == {
            "source": 'ibkr:A"1',
            "count": 3,
            "first": None,
            "rows": [{"id": 1}, {"id": 2}],
        }
        upstream["payload"] = {"count": "many", "rows": {"not": "a list"}}
        async with Client(server.create_server(upstream_client)) as mcp:
            result = await mcp.call_tool("positions", {"account": "B2"})
        assert not result.is_error, result.content
        # the SDK client checks structuredContent against outputSchema: it must conform
        assert result.structured_content == {
            "source": "ibkr:B2",
            "count": None,
            "first": None,
            "rows": None,
        }
    finally:
        await http.close()
        await upstream_client.close()
