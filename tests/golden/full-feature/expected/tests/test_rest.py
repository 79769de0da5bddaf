"""End-to-end tests of the REST adapter against the fake upstream (one per operation)."""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from full_feature.client import UpstreamClient
from full_feature.rest import create_app
from full_feature.settings import Settings

from .conftest import FakeUpstream

# (operation, method, adapter path, query, headers, JSON body, upstream method, upstream path, upstream query)
CASES = [
    (
        "get_vehicle",
        "GET",
        "/vehicles/v1",
        {"expand": "true"},
        {"X-Trace": "v3"},
        None,
        "GET",
        "/vehicles/v1",
        {"expand": "true"},
    ),
    (
        "update_vehicle",
        "PATCH",
        "/vehicles/v1",
        {},
        {},
        {"status": "active", "operator": "v3"},
        "PATCH",
        "/vehicles/v1",
        {},
    ),
    (
        "create_trip",
        "POST",
        "/trips",
        {},
        {},
        {"origin": "v1", "destination": "v2", "seats": 7},
        "POST",
        "/trips",
        {},
    ),
    (
        "list_trips",
        "GET",
        "/trips",
        {"limit": "7", "tags": "a,b"},
        {},
        None,
        "GET",
        "/trips",
        {"limit": "7", "tags": "a"},
    ),
    ("forecast", "GET", "/forecast/v1", {}, {}, None, "GET", "/forecast", {"city": "v1"}),
]
# Forwarded prefixes: (method, adapter path, query, upstream path)
FORWARD_CASES = [
    ("GET", "/archive-proxy/items/a%20b", {"q": "1"}, "/items/a%20b"),
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


@pytest.mark.parametrize(("method", "path", "query", "up_path"), FORWARD_CASES)
async def test_forward_proxies_method_path_query_and_body(
    settings: Settings,
    upstream: FakeUpstream,
    method: str,
    path: str,
    query: dict[str, str],
    up_path: str,
) -> None:
    client, upstream_client = await _client(settings)
    try:
        caller_secrets = {"Authorization": "Bearer caller-token", "Cookie": "caller=private"}
        response = await client.request(
            method,
            path,
            params=query,
            data=b"raw body",
            headers={"Content-Type": "text/plain", **caller_secrets},
        )
        assert response.status == 200, await response.text()
        sent = upstream.requests[0]
        assert (sent.method, sent.path, sent.query) == (method, up_path, query)
        assert sent.body == b"raw body"
        assert "caller-token" not in sent.headers.get("Authorization", "")
        assert "caller=private" not in sent.headers.get("Cookie", "")
        # A '..' segment could climb out of the API's base path: refused before any request.
        escape_url = URL(
            str(client.make_url(path.rsplit("/", 2)[0])) + "/%2e%2e/admin", encoded=True
        )
        escape = await client.session.get(escape_url)  # sent as written, not normalised
        assert escape.status == 400
        assert escape.content_type == "application/problem+json"
        assert len(upstream.requests) == 1
    finally:
        await client.close()
        await upstream_client.close()


async def test_inbound_authentication_is_required(
    guarded_settings: Settings, upstream: FakeUpstream
) -> None:
    guard = guarded_settings.rest_guard
    assert guard is not None
    _, method, path, query, headers, body, _, _, _ = CASES[0]
    query, headers = dict(query), dict(headers)
    client, upstream_client = await _client(guarded_settings)
    try:
        refused = await client.request(method, path, params=query, headers=headers, json=body)
        assert refused.status == 401
        assert refused.content_type == "application/problem+json"
        assert guard.secret not in await refused.text()
        assert upstream.requests == []
        headers["X-Fleet-Key"] = guard.secret
        admitted = await client.request(method, path, params=query, headers=headers, json=body)
        assert admitted.status == 200, await admitted.text()
        assert upstream.requests  # admitted: it went upstream (a flow sends several requests)
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
