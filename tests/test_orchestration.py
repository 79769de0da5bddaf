"""Multi-step orchestration (steps: call + lookup, step outputs, mappings) and mock answers,
end to end: the generated package of tests/golden/orchestration against an upstream that
behaves like a small shop API (each step's answer really feeds the next)."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from mcp import Client
from naftiko_gen.pipeline import analyse, generate
from naftiko_gen.writer import write_tree

from .conftest import ROOT, fake_server

SPEC = ROOT / "tests" / "golden" / "orchestration" / "orchestration.yaml"
PRODUCTS = [
    {"id": "p-1", "sku": "AAPL-HOODIE", "name": "Hoodie", "price": 40},
    {"id": "p-2", "sku": "MUG", "name": "Mug", "price": 9},
]


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    analysis = analyse(SPEC)
    assert analysis.ok and analysis.capability is not None
    out = tmp_path_factory.mktemp("orchestration") / "project"
    write_tree(out, generate(analysis.capability))
    sys.path.insert(0, str(out))
    try:
        yield analysis.capability.package
    finally:
        sys.path.remove(str(out))


class Shop:
    """A fake shop API: lists products, creates orders, returns them; records every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any, str]] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self.fail_create: int | None = None
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.requests.append(
            (
                request.method,
                request.path,
                json.loads(body) if body else None,
                request.headers.get("Authorization", ""),
            )
        )
        if request.method == "GET" and request.path == "/api/products":
            return web.json_response(PRODUCTS)
        if request.method == "POST" and request.path == "/api/orders":
            if self.fail_create is not None:
                return web.json_response({"error": "out of stock"}, status=self.fail_create)
            order_id = f"o-{len(self.orders) + 1}"
            self.orders[order_id] = {"id": order_id, "status": "open", **json.loads(body)}
            return web.json_response({"id": order_id, "created": True}, status=201)
        if request.method == "GET" and request.path.startswith("/api/orders/"):
            order = self.orders.get(request.path.rsplit("/", 1)[1])
            if order is None:
                return web.json_response({"error": "no such order"}, status=404)
            return web.json_response(order)
        return web.json_response({"error": "unknown"}, status=404)


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    fake = Shop()
    async with fake_server(fake.handle) as server:
        fake.base_url = str(server.make_url("/api")).rstrip("/")
        yield fake


def _modules(package: str) -> tuple[Any, Any, Any, Any]:
    return tuple(  # type: ignore[return-value]
        importlib.import_module(f"{package}.{name}")
        for name in ("settings", "client", "rest", "mcp_server")
    )


async def _started(package: str, shop: Shop, **extra: str) -> tuple[Any, Any]:
    settings_mod, client_mod, _, _ = _modules(package)
    env = {"SHOP_BASE_URL": shop.base_url, "SHOP_API_TOKEN": "tok-123", **extra}
    settings = settings_mod.load_settings(env)
    client = client_mod.UpstreamClient(settings)
    await client.start()
    return settings, client


async def test_rest_flow_chains_steps_and_maps_the_answer(package: str, shop: Shop) -> None:
    settings, upstream = await _started(package, shop)
    rest = _modules(package)[2]
    client = TestClient(TestServer(rest.create_app(settings, upstream)))
    await client.start_server()
    try:
        response = await client.post("/quick-order", json={"sku": "MUG", "quantity": 2})
        assert response.status == 200, await response.text()
        assert await response.json() == {
            "order": {"id": "o-1", "status": "open"},
            "product": {"id": "p-2", "name": "Mug"},
        }
    finally:
        await client.close()
        await upstream.close()
    # Each step ran once, in order, with the values the earlier steps produced.
    assert [(m, p) for m, p, _, _ in shop.requests] == [
        ("GET", "/api/products"),
        ("POST", "/api/orders"),
        ("GET", "/api/orders/o-1"),
    ]
    assert shop.requests[1][2] == {"product": "p-2", "quantity": 2, "note": "via MUG"}
    assert all(auth == "Bearer tok-123" for _, _, _, auth in shop.requests)


async def test_rest_flow_stops_at_the_first_refused_step(package: str, shop: Shop) -> None:
    shop.fail_create = 409
    settings, upstream = await _started(package, shop)
    client = TestClient(TestServer(_modules(package)[2].create_app(settings, upstream)))
    await client.start_server()
    try:
        response = await client.post("/quick-order", json={"sku": "MUG", "quantity": 1})
        assert response.status == 409
        assert await response.json() == {"error": "out of stock"}
    finally:
        await client.close()
        await upstream.close()
    assert [p for _, p, _, _ in shop.requests] == ["/api/products", "/api/orders"]


async def test_rest_flow_lookup_without_match_is_a_502_not_a_crash(
    package: str, shop: Shop
) -> None:
    """No product has this SKU: the order is still attempted with a null product (the spec says
    so), and a step whose path needs a missing value ends in a 502 problem, never a 500."""
    shop.orders.clear()
    settings, upstream = await _started(package, shop)
    client = TestClient(TestServer(_modules(package)[2].create_app(settings, upstream)))
    await client.start_server()
    try:
        response = await client.post("/quick-order", json={"sku": "NOPE", "quantity": 1})
        assert response.status == 200, await response.text()
        body = await response.json()
        assert body["product"] is None
        assert shop.requests[1][2]["product"] is None
    finally:
        await client.close()
        await upstream.close()


async def test_rest_mock_answers_from_values_without_upstream(package: str, shop: Shop) -> None:
    settings, upstream = await _started(package, shop)
    client = TestClient(TestServer(_modules(package)[2].create_app(settings, upstream)))
    await client.start_server()
    try:
        response = await client.get("/greeting/R%C3%A9my%20%22%24.x%22%20%25s")
        assert response.status == 200
        assert await response.json() == {
            "message": 'Hello, Rémy "$.x" %s!',  # input text is data, never re-rendered
            "count": 3,
            "ready": True,
        }
    finally:
        await client.close()
        await upstream.close()
    assert shop.requests == []


async def test_mcp_flow_confirms_then_runs_every_step(package: str, shop: Shop) -> None:
    _, upstream = await _started(package, shop)
    server = _modules(package)[3]
    try:
        async with Client(server.create_server(upstream)) as mcp:
            preview = await mcp.call_tool("quick-order", {"sku": "AAPL-HOODIE", "quantity": 1})
            request = preview.structured_content["request"]
            assert request["steps"] == ["GET /products", "POST /orders", "GET /orders/{orderId}"]
            assert shop.requests == []  # nothing is sent before the confirmation
            token = preview.structured_content["confirmation_token"]
            result = await mcp.call_tool(
                "quick-order", {"sku": "AAPL-HOODIE", "quantity": 1, "confirmation_token": token}
            )
        assert not result.is_error, result.content
        assert result.structured_content == {
            "order": {"id": "o-1", "status": "open"},
            "product": {"id": "p-1", "name": "Hoodie"},
        }
    finally:
        await upstream.close()
    assert len(shop.requests) == 3


async def test_mcp_flow_upstream_refusal_is_a_tool_error(package: str, shop: Shop) -> None:
    shop.fail_create = 503
    _, upstream = await _started(package, shop, ADAPTER_CONFIRM="off")
    server = _modules(package)[3]
    try:
        async with Client(server.create_server(upstream)) as mcp:
            result = await mcp.call_tool("quick-order", {"sku": "MUG", "quantity": 1})
        assert result.is_error
        error = json.loads(result.content[0].text)
        assert error["status"] == 503 and error["retryable"] is True
    finally:
        await upstream.close()


async def test_mcp_mock_tool_and_its_schema(package: str, shop: Shop) -> None:
    _, upstream = await _started(package, shop)
    server = _modules(package)[3]
    try:
        async with Client(server.create_server(upstream)) as mcp:
            tools = {t.name: t for t in (await mcp.list_tools()).tools}
            result = await mcp.call_tool("greet", {"name": "Ada"})
        assert "string" in tools["greet"].output_schema["properties"]["message"]["type"]
        answer_schema = tools["quick-order"].output_schema["anyOf"][0]  # [1]: the preview
        assert answer_schema["properties"]["order"]["type"] == ["object", "null"]
        assert result.structured_content == {"message": "Hello, Ada!"}
    finally:
        await upstream.close()
    assert shop.requests == []
