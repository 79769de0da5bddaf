"""End-to-end tests of the REST adapter against the fake upstream (one per operation)."""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from catalog_leniency.client import UpstreamClient
from catalog_leniency.rest import create_app
from catalog_leniency.settings import Settings

from .conftest import FakeUpstream

# (operation, method, adapter path, query, headers, JSON body, upstream method, upstream path, upstream query)
CASES = [
    ("get_v1_health", "GET", "/v1/health", {}, {}, None, "GET", "/health", {}),
    ("get_v1_employees_id", "GET", "/v1/employees/v1", {}, {}, None, "GET", "/employees/v1", {}),
]


async def _client(settings: Settings) -> tuple[TestClient, UpstreamClient]:
    upstream_client = UpstreamClient(settings)
    await upstream_client.start()
    client = TestClient(TestServer(create_app(settings, upstream_client)))
    await client.start_server()
    return client, upstream_client


@pytest.mark.parametrize(
    ("name", "method", "path", "query", "headers", "body", "up_method", "up_path", "up_query"),
    CASES,
)
async def test_operation_reaches_upstream(
    settings: Settings,
    upstream: FakeUpstream,
    name: str,
    method: str,
    path: str,
    query: dict[str, str],
    headers: dict[str, str],
    body: object,
    up_method: str,
    up_path: str,
    up_query: dict[str, str],
) -> None:
    client, upstream_client = await _client(settings)
    try:
        response = await client.request(
            method,
            path,
            params=query,
            data=None if body is None else json.dumps(body),
            headers={**headers, "Content-Type": "application/json", "Cookie": "caller=private"},
        )
        assert response.status == 200, await response.text()
        assert response.headers["X-Request-Id"]
        sent = upstream.requests[0]
        assert sent.method == up_method
        assert sent.path.endswith(up_path)
        for key, value in up_query.items():
            assert sent.query[key] == value
        assert "caller=private" not in sent.headers.get(
            "Cookie", ""
        )  # the caller's cookies stay here
    finally:
        await client.close()
        await upstream_client.close()


async def test_unknown_path_is_problem_json(settings: Settings, upstream: FakeUpstream) -> None:
    client, upstream_client = await _client(settings)
    try:
        response = await client.get("/no/such/path")
        assert response.status == 404
        assert response.content_type == "application/problem+json"
        assert upstream.requests == []
    finally:
        await client.close()
        await upstream_client.close()


async def test_upstream_error_is_passed_through(settings: Settings, upstream: FakeUpstream) -> None:
    upstream.status, upstream.payload = 418, {"error": "teapot"}
    _, method, path, query, headers, body, _, _, _ = CASES[0]
    client, upstream_client = await _client(settings)
    try:
        response = await client.request(method, path, params=query, headers=headers, json=body)
        assert response.status == 418
        assert await response.json() == {"error": "teapot"}
    finally:
        await client.close()
        await upstream_client.close()
