"""End-to-end tests of the generated REST adapter: a real ``serve`` process, a real aiohttp client
and a fake upstream that records exactly what the adapter sends it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import aiohttp
import pytest
import yaml
from mcp import Client
from openapi_spec_validator import validate
from yarl import URL

from .conftest import (
    BASE_PATH,
    MAX_BODY_BYTES,
    PACKAGE_DIR,
    SPEC,
    TOKEN,
    AdapterProcess,
    FakeUpstream,
    adapter_env,
    free_port,
    running_adapter,
)

pytestmark = pytest.mark.asyncio

PROBLEM = "application/problem+json"


def url(adapter: AdapterProcess, target: str) -> URL:
    """*target* sent exactly as written (no normalisation of '..', no re-quoting)."""
    return URL(adapter.rest_url + target, encoded=True)


async def assert_problem(response: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    """An RFC 9457 problem document with the request id of the response, and no secret."""
    raw = await response.read()
    assert response.status == status, raw
    assert response.headers["Content-Type"].split(";")[0] == PROBLEM
    assert TOKEN.encode() not in raw
    problem = json.loads(raw)
    assert problem["status"] == status
    assert problem["type"] == "about:blank"
    assert isinstance(problem["title"], str) and problem["title"]
    assert isinstance(problem["detail"], str) and problem["detail"]
    assert problem["request_id"] == response.headers["X-Request-Id"]
    return problem


# --------------------------------------------------------------------------- the nine operations


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    target: str  # what the caller sends to the adapter
    upstream_path: str  # the exact raw path the upstream must receive
    upstream_query: list[tuple[str, str]]
    body: Any = None  # JSON body sent by the caller (None: no body)
    status: int = 200  # what the fake upstream answers
    reply: bytes = b""
    content_type: str = "application/json"


ORDER = {"orders": [{"conid": 265598, "side": "BUY", "quantity": 1, "orderType": "MKT"}]}
SEARCH = {"symbol": "AAPL", "name": False, "secType": "STK"}

CASES = [
    Case(
        "getauthstatus",
        "POST",
        "/iserver/auth/status",
        f"{BASE_PATH}/iserver/auth/status",
        [],
        reply=b'{"authenticated": true,  "connected":true}',
    ),
    Case(
        "getaccounts",
        "GET",
        "/iserver/accounts",
        f"{BASE_PATH}/iserver/accounts",
        [],
        reply=b'{"accounts": ["U1234567"], "selectedAccount" : "U1234567"}',
        content_type="application/json; charset=utf-8",
    ),
    Case(
        "placeorder",
        "POST",
        "/iserver/account/U1234567/orders",
        f"{BASE_PATH}/iserver/account/U1234567/orders",
        [],
        body=ORDER,
        status=201,
        reply=b'[{"order_id": "1", "order_status": "Submitted"}]',
    ),
    Case(
        "getliveorders",
        "GET",
        "/iserver/account/orders",
        f"{BASE_PATH}/iserver/account/orders",
        [],
        reply=b'{"orders": [], "snapshot": true}',
    ),
    Case(
        "getpositions",
        "GET",
        "/portfolio/U1234567/positions/0",
        f"{BASE_PATH}/portfolio/U1234567/positions/0",
        [],
        reply=b'[{"acctId": "U1234567", "conid": 265598, "position": 10.0}]',
    ),
    Case(
        "getaccountsummary",
        "GET",
        "/portfolio/U1234567/summary",
        f"{BASE_PATH}/portfolio/U1234567/summary",
        [],
        reply=b'{"netliquidation": {"amount": 1.5e6, "currency": "USD"}}',
        content_type="application/vnd.ibkr+json",
    ),
    Case(
        "getmarketdatasnapshot",
        "GET",
        "/iserver/marketdata/snapshot?conids=265598,8314&fields=31,84",
        f"{BASE_PATH}/iserver/marketdata/snapshot",
        [("conids", "265598,8314"), ("fields", "31,84")],
        reply=b'[{"conid": 265598, "31": "190.1"}, {"conid": 8314, "31": "12.0"}]',
    ),
    Case(
        "getmarketdatahistory",
        "GET",
        "/iserver/marketdata/history?conid=265598&period=1w&bar=1h",
        f"{BASE_PATH}/iserver/marketdata/history",
        [("conid", "265598"), ("period", "1w"), ("bar", "1h")],
        reply=b'{"symbol": "AAPL", "data": [{"o": 1, "c": 2}]}',
    ),
    Case(
        "searchcontracts",
        "POST",
        "/iserver/secdef/search",
        f"{BASE_PATH}/iserver/secdef/search",
        [],
        body=SEARCH,
        reply=b'[{"conid": "265598", "companyName": "APPLE INC"}]',
        content_type="text/plain",
    ),
]


async def test_cases_cover_every_operation_of_the_spec() -> None:
    spec = yaml.safe_load(SPEC.read_text())
    rest = next(e for e in spec["capability"]["exposes"] if e["type"] == "rest")
    names = [op["name"] for resource in rest["resources"] for op in resource["operations"]]
    assert names == [case.name for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_operation_round_trip(
    case: Case, adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    upstream.answer(status=case.status, body=case.reply, content_type=case.content_type)
    kwargs: dict[str, Any] = {}
    if case.body is not None:
        kwargs["json"] = case.body
    async with http.request(case.method, url(adapter, case.target), **kwargs) as response:
        raw = await response.read()
        # the upstream answer, byte for byte, with its status and content type
        assert response.status == case.status
        assert raw == case.reply
        assert response.headers["Content-Type"] == case.content_type
        assert response.headers["X-Request-Id"]

    seen = upstream.only_request()
    assert seen.method == case.method
    assert seen.path == case.upstream_path
    assert seen.has_query == bool(case.upstream_query)
    assert seen.query_pairs == case.upstream_query
    assert seen.headers.getall("Authorization") == [f"Bearer {TOKEN}"]
    assert seen.headers["X-Request-Id"] == response.headers["X-Request-Id"]
    if case.body is None:
        assert seen.body == b""
    else:
        assert seen.headers["Content-Type"].split(";")[0] == "application/json"
        assert seen.json() == case.body


async def test_query_values_are_encoded_exactly(
    adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    conids = "265598,8314 & x=1#y/é"
    target = f"/iserver/marketdata/snapshot?conids={quote(conids, safe='')}"
    async with http.get(url(adapter, target)) as response:
        assert response.status == 200
    seen = upstream.only_request()
    assert seen.path == f"{BASE_PATH}/iserver/marketdata/snapshot"
    assert seen.query_pairs == [("conids", conids)]  # optional 'fields' omitted, nothing added
    assert "#" not in seen.target


async def test_post_without_body_sends_no_body(
    adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    async with http.post(url(adapter, "/iserver/secdef/search")) as response:
        assert response.status == 200
    seen = upstream.only_request()
    assert seen.method == "POST"
    assert seen.body == b""


# --------------------------------------------------------------------------- path safety

TRAVERSAL = [
    # (value the caller means, how it appears in the request target)
    ("..", ".."),
    (".", "."),
    ("..", "%2E%2E"),
    ("/", "%2F"),
    ("../../admin", "..%2F..%2Fadmin"),
    ("a/b", "a%2Fb"),
    ("?x=1", "%3Fx=1"),
    ("#frag", "%23frag"),
    ("a;b=c", "a;b=c"),
    ("%2F", "%252F"),
    ("U 1+2", "U%201+2"),
    ("é\x00", "%C3%A9%00"),
]


@pytest.mark.parametrize(("value", "sent"), TRAVERSAL, ids=[t[1] for t in TRAVERSAL])
async def test_path_values_stay_one_segment(
    value: str,
    sent: str,
    adapter: AdapterProcess,
    upstream: FakeUpstream,
    http: aiohttp.ClientSession,
) -> None:
    async with http.get(url(adapter, f"/portfolio/{sent}/summary")) as response:
        assert response.status == 200, await response.text()
    seen = upstream.only_request()
    assert not seen.has_query
    assert "#" not in seen.target
    segments = seen.path.split("/")
    assert segments[:4] == ["", "v1", "api", "portfolio"]
    assert len(segments) == 6 and segments[5] == "summary"
    assert segments[4] not in ("", ".", "..")
    assert unquote(segments[4]) == value


@pytest.mark.parametrize(("value", "sent"), TRAVERSAL[:8], ids=[t[1] for t in TRAVERSAL[:8]])
async def test_path_values_stay_one_segment_with_two_params_and_a_body(
    value: str,
    sent: str,
    adapter: AdapterProcess,
    upstream: FakeUpstream,
    http: aiohttp.ClientSession,
) -> None:
    async with http.get(url(adapter, f"/portfolio/{sent}/positions/{sent}")) as response:
        assert response.status == 200, await response.text()
    async with http.post(url(adapter, f"/iserver/account/{sent}/orders"), json=ORDER) as response:
        assert response.status == 200, await response.text()
    positions, order = upstream.requests
    for seen, tail in ((positions, None), (order, "orders")):
        assert not seen.has_query
        segments = seen.path.split("/")
        if tail is None:
            assert len(segments) == 7 and segments[5] == "positions"
            assert unquote(segments[4]) == unquote(segments[6]) == value
        else:
            assert segments[:5] == ["", "v1", "api", "iserver", "account"]
            assert len(segments) == 7 and segments[6] == "orders"
            assert unquote(segments[5]) == value
    assert order.json() == ORDER


async def test_crlf_in_values_is_encoded_not_injected(
    adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    evil = "1\r\nX-Injected: yes\r\n\r\nGET /evil HTTP/1.1"
    target = f"/iserver/marketdata/history?conid={quote(evil, safe='')}&period=1d&bar={quote(evil)}"
    async with http.get(url(adapter, target)) as response:
        assert response.status == 200
    async with http.get(url(adapter, f"/portfolio/{quote(evil, safe='')}/summary")) as response:
        assert response.status == 200
    history, summary = upstream.requests
    for seen in (history, summary):
        assert "X-Injected" not in seen.headers
        assert "\r" not in seen.target and "\n" not in seen.target
    assert history.query_pairs == [("conid", evil), ("period", "1d"), ("bar", evil)]
    segments = summary.path.split("/")
    assert len(segments) == 6 and unquote(segments[4]) == evil
    assert len(upstream.requests) == 2


# --------------------------------------------------------------------------- input errors


@pytest.mark.parametrize(
    ("target", "missing"),
    [
        ("/iserver/marketdata/snapshot", "conids"),
        ("/iserver/marketdata/snapshot?fields=31", "conids"),
        ("/iserver/marketdata/snapshot?conids=&fields=31", "conids"),
        ("/iserver/marketdata/history?conid=1&period=1d", "bar"),
        ("/iserver/marketdata/history?period=1d&bar=1h", "conid"),
    ],
)
async def test_missing_required_query_parameter_is_400_before_upstream(
    target: str,
    missing: str,
    adapter: AdapterProcess,
    upstream: FakeUpstream,
    http: aiohttp.ClientSession,
) -> None:
    async with http.get(url(adapter, target)) as response:
        problem = await assert_problem(response, 400)
    assert missing in problem["detail"]
    assert upstream.requests == []


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"orders": [', b"\xff\xfe", b"{'single': 'quotes'}"],
    ids=["garbage", "truncated", "not-utf8", "single-quotes"],
)
async def test_invalid_json_body_is_400_before_upstream(
    body: bytes, adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    headers = {"Content-Type": "application/json"}
    target = url(adapter, "/iserver/account/U1234567/orders")
    async with http.post(target, data=body, headers=headers) as response:
        await assert_problem(response, 400)
    assert upstream.requests == []


async def test_body_over_limit_is_413(
    adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    big = {"symbol": "A" * MAX_BODY_BYTES}
    async with http.post(url(adapter, "/iserver/secdef/search"), json=big) as response:
        problem = await assert_problem(response, 413)
    assert str(MAX_BODY_BYTES) in problem["detail"]

    async def chunks() -> Any:  # no Content-Length: the limit must hold for chunked bodies too
        for _ in range(MAX_BODY_BYTES // 100 + 2):
            yield b" " * 100

    target = url(adapter, "/iserver/account/U1/orders")
    headers = {"Content-Type": "application/json"}
    async with http.post(target, data=chunks(), headers=headers) as response:
        await assert_problem(response, 413)

    # just under the limit still goes through
    small = {"symbol": "A" * (MAX_BODY_BYTES - 20)}
    async with http.post(url(adapter, "/iserver/secdef/search"), json=small) as response:
        assert response.status == 200
    assert [r.json() for r in upstream.requests] == [small]


@pytest.mark.parametrize(
    ("method", "target", "allow"),
    [
        ("DELETE", "/iserver/accounts", "GET"),
        ("POST", "/iserver/accounts", "GET"),
        ("GET", "/iserver/auth/status", "POST"),
        ("PUT", "/iserver/account/U1/orders", "POST"),
        ("PATCH", "/portfolio/U1/summary", "GET"),
        ("GET", "/iserver/secdef/search", "POST"),
    ],
)
async def test_wrong_method_is_405_with_allow(
    method: str,
    target: str,
    allow: str,
    adapter: AdapterProcess,
    upstream: FakeUpstream,
    http: aiohttp.ClientSession,
) -> None:
    async with http.request(method, url(adapter, target)) as response:
        await assert_problem(response, 405)
        assert {m.strip() for m in response.headers["Allow"].split(",")} == {allow}
    assert upstream.requests == []


@pytest.mark.parametrize(
    "target",
    [
        "/",
        "/nope",
        "/v1/api/iserver/accounts",
        "/iserver/accounts/extra",
        "/portfolio/U1/positions",
        "/portfolio//summary",
        "/_adapter/nope",
    ],
)
async def test_unknown_path_is_404(
    target: str, adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    async with http.get(url(adapter, target)) as response:
        await assert_problem(response, 404)
    assert upstream.requests == []


# --------------------------------------------------------------------------- upstream failures


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (400, b'{"error": "Bad Request: conid invalid"}', "application/json"),
        (401, b'{"error": "not authenticated"}', "application/json"),
        (403, b"forbidden", "text/plain"),
        (404, b'{"error":"no such account"}', "application/json"),
        (429, b'{"error": "Too many requests"}', "application/json"),
        (500, b"<html>internal error</html>", "text/html"),
        (502, b'{"error": "gateway"}', "application/json"),
        (503, b'{"error": "maintenance"}', "application/json; charset=utf-8"),
    ],
)
async def test_upstream_errors_pass_through(
    status: int,
    body: bytes,
    content_type: str,
    adapter: AdapterProcess,
    upstream: FakeUpstream,
    http: aiohttp.ClientSession,
) -> None:
    upstream.answer(status=status, body=body, content_type=content_type)
    async with http.get(url(adapter, "/portfolio/U1/summary")) as response:
        assert response.status == status
        assert await response.read() == body
        assert response.headers["Content-Type"] == content_type
    assert len(upstream.requests) == 1


async def test_upstream_204_passes_through(
    adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    upstream.answer(status=204, body=b"", content_type=None)
    async with http.post(url(adapter, "/iserver/auth/status")) as response:
        assert response.status == 204
        assert await response.read() == b""


async def test_upstream_down_is_502(
    down_adapter: AdapterProcess, http: aiohttp.ClientSession
) -> None:
    for method, target in (
        ("GET", "/iserver/accounts"),
        ("POST", "/iserver/account/U1/orders"),
        ("GET", "/iserver/marketdata/snapshot?conids=1"),
    ):
        async with http.request(method, url(down_adapter, target), json={}) as response:
            problem = await assert_problem(response, 502)
        assert problem["retryable"] is True


async def test_upstream_down_makes_ready_503(
    down_adapter: AdapterProcess, http: aiohttp.ClientSession
) -> None:
    async with http.get(url(down_adapter, "/_adapter/health")) as response:
        assert response.status == 200
    async with http.get(url(down_adapter, "/_adapter/ready")) as response:
        assert response.status == 503
        assert TOKEN not in await response.text()


async def test_upstream_ready_is_200(
    adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    async with http.get(url(adapter, "/_adapter/ready")) as response:
        assert response.status == 200
    # the readiness probe sends no credential
    assert all("Authorization" not in r.headers for r in upstream.requests)


async def test_upstream_too_slow_is_504(
    adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    """The timeout covers the whole answer: a late status line, and a body that stalls."""
    upstream.answer_sequence(
        {"delay": 3.0}, {"body": b'{"accounts": ["U1", "U2"]}', "body_delay": 3.0}
    )

    async def one(target: str) -> dict[str, Any]:
        async with http.get(url(adapter, target)) as response:
            return await assert_problem(response, 504)

    started = time.monotonic()
    problems = await asyncio.gather(one("/iserver/accounts"), one("/iserver/account/orders"))
    elapsed = time.monotonic() - started
    assert 0.8 < elapsed < 2.5, elapsed
    assert all(problem["retryable"] is True for problem in problems)
    assert len(upstream.requests) == 2


async def test_upstream_closing_the_connection_is_502(
    adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    upstream.answer(close=True)
    async with http.get(url(adapter, "/iserver/accounts")) as response:
        await assert_problem(response, 502)


# --------------------------------------------------------------------------- headers


async def test_caller_credentials_are_not_forwarded(
    adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    headers = {
        "Authorization": "Bearer caller-token",
        "Cookie": "session=caller-cookie",
        "Proxy-Authorization": "Basic Y2FsbGVyOnB3",
        "X-Api-Key": "caller-key",
    }
    async with http.get(url(adapter, "/iserver/accounts"), headers=headers) as response:
        assert response.status == 200
    seen = upstream.only_request()
    assert seen.headers.getall("Authorization") == [f"Bearer {TOKEN}"]
    assert "Cookie" not in seen.headers
    assert "Proxy-Authorization" not in seen.headers
    assert "X-Api-Key" not in seen.headers
    assert b"caller" not in seen.body


async def test_request_id_echoed_and_forwarded(
    adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    valid = "req-2026.11:26_ABC"
    async with http.get(url(adapter, "/iserver/accounts"), headers={"X-Request-Id": valid}) as r:
        assert r.status == 200
        assert r.headers["X-Request-Id"] == valid
    assert upstream.only_request().headers.getall("X-Request-Id") == [valid]


@pytest.mark.parametrize(
    "bad", ["has space", "x" * 129, "semi;colon", "<script>", "é"], ids=lambda b: b[:12]
)
async def test_invalid_request_id_is_replaced(
    bad: str, adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    headers = {"X-Request-Id": bad}
    async with http.get(url(adapter, "/iserver/accounts"), headers=headers) as response:
        assert response.status == 200
        replaced = response.headers["X-Request-Id"]
    assert replaced != bad
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", replaced)
    assert upstream.only_request().headers["X-Request-Id"] == replaced


async def test_request_id_on_adapter_errors(
    adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    headers = {"X-Request-Id": "trace-404"}
    async with http.get(url(adapter, "/nope"), headers=headers) as response:
        problem = await assert_problem(response, 404)
    assert problem["request_id"] == "trace-404"


# --------------------------------------------------------------------------- adapter endpoints


async def test_openapi_document_is_valid(
    adapter: AdapterProcess, http: aiohttp.ClientSession
) -> None:
    async with http.get(url(adapter, "/_adapter/openapi.json")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].split(";")[0] == "application/json"
        document = await response.json()
    validate(document)
    operations = {
        (method.upper(), path): op["operationId"]
        for path, item in document["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    }
    for case in CASES:
        route = re.sub(r"/U1234567(?=/|$)", "/{account_id}", case.target.split("?")[0])
        route = re.sub(r"/positions/0$", "/positions/{page_id}", route)
        assert operations[(case.method, route)] == case.name


# --------------------------------------------------------------------------- secrets and logs


async def test_token_never_in_error_bodies_or_logs(
    adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    bodies: list[bytes] = []

    async def grab(method: str, target: str, **kwargs: Any) -> None:
        async with http.request(method, url(adapter, target), **kwargs) as response:
            bodies.append(await response.read())
            assert response.status >= 400

    await grab("GET", "/nope")
    await grab("DELETE", "/iserver/accounts")
    await grab("GET", "/iserver/marketdata/snapshot")
    await grab("POST", "/iserver/account/U1/orders", data=b"{")
    await grab("POST", "/iserver/secdef/search", data=b"x" * (MAX_BODY_BYTES + 1))
    upstream.answer(status=500, body=b'{"error": "boom"}')
    await grab("GET", "/iserver/accounts", headers={"Cookie": "c=1"})
    upstream.answer(close=True)
    await grab("GET", "/iserver/accounts")
    for body in bodies:
        assert TOKEN.encode() not in body
    await asyncio.sleep(0.1)  # let the access log lines reach the file
    log = adapter.log_text()
    assert "GET /iserver/accounts 502" in log and "DELETE /iserver/accounts 405" in log
    assert TOKEN not in log


async def test_sigterm_drains_in_flight_requests_and_exits_0(
    fake_upstream: FakeUpstream, e2e_logs: Any, http: aiohttp.ClientSession
) -> None:
    """A REST request and one MCP tool call per protocol era are in flight when SIGTERM
    arrives: all three complete, then the process exits 0. (Also: ADAPTER_LOG_FORMAT=json.)"""
    fake_upstream.reset()
    with running_adapter(
        "sigterm-adapter",
        e2e_logs,
        fake_upstream.base_url,
        INTERACTIVE_BROKERS_TIMEOUT="5",
        ADAPTER_LOG_FORMAT="json",
    ) as process:
        fake_upstream.answer(delay=1.0, body=b'{"slow": true}')
        async with contextlib.AsyncExitStack() as stack:
            calls = []
            for mode in ("legacy", "2026-07-28"):
                client = Client(process.mcp_url, mode=mode, read_timeout_seconds=10)
                client = await stack.enter_async_context(client)
                await client.list_tools()  # the client validates results against the listing
                calls.append(asyncio.create_task(client.call_tool("getaccounts", {})))
            rest = asyncio.create_task(http.get(url(process, "/iserver/accounts")))
            await fake_upstream.wait_for_requests(3)
            process.terminate()
            response = await asyncio.wait_for(rest, 5)
            assert response.status == 200
            assert await response.read() == b'{"slow": true}'
            response.release()
            for result in await asyncio.wait_for(asyncio.gather(*calls), 5):
                assert result.is_error is False
                assert result.structured_content == {"slow": True}
            assert await asyncio.to_thread(process.wait, 10) == 0
        log = process.log_text()
    fake_upstream.reset()
    assert "shutting down" in log
    # ADAPTER_LOG_FORMAT=json: the access log is JSON lines (no text prefix)
    access = [line for line in log.splitlines() if "/iserver/accounts" in line]
    assert len(access) == 1, log
    entry = json.loads(access[0])
    assert entry["method"] == "GET" and entry["status"] == 200
    assert entry["path"] == "/iserver/accounts"


# --------------------------------------------------------------------------- more edges


async def test_unknown_query_parameters_are_not_forwarded(
    adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    target = "/iserver/marketdata/snapshot?conids=1&evil=2&fields=31&conids=9&token=x"
    async with http.get(url(adapter, target)) as response:
        assert response.status == 200
    assert upstream.only_request().query_pairs == [("conids", "1"), ("fields", "31")]
    async with http.get(url(adapter, "/iserver/accounts?debug=1")) as response:
        assert response.status == 200
    assert not upstream.requests[1].has_query


async def test_upstream_redirect_is_not_followed(
    adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    upstream.answer(
        status=302, body=b"", headers={"Location": f"{upstream.url}/elsewhere"}, content_type=None
    )
    async with http.get(url(adapter, "/iserver/accounts"), allow_redirects=False) as response:
        assert response.status == 302
    # one request only: the credential was not carried to the redirect target
    assert upstream.only_request().path == f"{BASE_PATH}/iserver/accounts"


async def test_gzip_upstream_answer_is_delivered_decoded(
    adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    import gzip

    payload = b'{"accounts": ["U1"],   "x": 1}'
    upstream.answer(body=gzip.compress(payload), headers={"Content-Encoding": "gzip"})
    async with http.get(url(adapter, "/iserver/accounts")) as response:
        assert response.status == 200
        assert await response.read() == payload


async def test_empty_token_sends_no_authorization(
    guarded_adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}  # the caller's, which is never forwarded
    async with http.get(url(guarded_adapter, "/iserver/accounts"), headers=headers) as response:
        assert response.status == 200
    assert "Authorization" not in upstream.only_request().headers


async def _run_cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "interactive_brokers",
        *args,
        cwd=PACKAGE_DIR,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 15)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def test_startup_errors_are_clear() -> None:
    """A missing token variable (exit 2) and a taken port (exit 1): one line, no traceback."""
    missing = adapter_env("http://127.0.0.1:9/v1/api")
    del missing["INTERACTIVE_BROKERS_TOKEN"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        (config_rc, config_out), (port_rc, port_out) = await asyncio.gather(
            _run_cli("rest", "--port", str(free_port()), env=missing),
            _run_cli("rest", "--port", str(port), env=adapter_env("http://127.0.0.1:9/v1/api")),
        )
    assert config_rc == 2
    assert "INTERACTIVE_BROKERS_TOKEN" in config_out
    assert port_rc == 1
    assert f"127.0.0.1:{port}" in port_out
    for output in (config_out, port_out):
        assert "Traceback" not in output
        assert TOKEN not in output


# Regression tests for bugs this suite found (fixed in 2efde4f): log injection through %0D%0A
# in a path, NaN/Infinity accepted in bodies, 1e400 forwarded as the bare token Infinity.


async def test_access_log_lines_cannot_be_forged(
    adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    forged = "2001-01-01 00:00:00,000 INFO interactive_brokers.access: GET /forged 200 0.1ms id=x"
    target = f"/portfolio/U1{quote(chr(13) + chr(10) + forged, safe='')}/summary"
    async with http.get(url(adapter, target)) as response:
        assert response.status == 200
    await asyncio.sleep(0.1)
    lines = adapter.log_text().splitlines()
    assert not [line for line in lines if line.startswith("2001-01-01")]
    assert not [line for line in lines if "\r" in line]


@pytest.mark.parametrize(
    "body",
    [b'{"orders": [{"quantity": NaN}]}', b'{"price": Infinity}', b'{"price": -Infinity}'],
    ids=["NaN", "Infinity", "-Infinity"],
)
async def test_non_json_number_tokens_are_rejected(
    body: bytes, adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    headers = {"Content-Type": "application/json"}
    target = url(adapter, "/iserver/account/U1/orders")
    async with http.post(target, data=body, headers=headers) as response:
        await assert_problem(response, 400)
    assert upstream.requests == []


async def test_forwarded_body_is_valid_json(
    adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    headers = {"Content-Type": "application/json"}
    target = url(adapter, "/iserver/account/U1/orders")
    async with http.post(target, data=b'{"price": 1e400}', headers=headers) as response:
        ok = response.status == 200
        if not ok:  # refused as a problem document before any upstream call
            await assert_problem(response, 400)
    if ok:  # forwarded: it must be strict JSON (no NaN/Infinity tokens)
        json.loads(upstream.only_request().body, parse_constant=_reject_constant)
    else:
        assert upstream.requests == []


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-JSON constant {name}")


async def test_concurrent_requests_are_not_mixed_up(
    adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    upstream.answer(echo=True, delay=0.05)

    async def one(i: int) -> None:
        target = f"/portfolio/U{i}/summary"
        async with http.get(url(adapter, target), headers={"X-Request-Id": f"r-{i}"}) as r:
            assert r.status == 200
            assert r.headers["X-Request-Id"] == f"r-{i}"
            assert await r.json() == {"method": "GET", "target": f"{BASE_PATH}{target}"}

    await asyncio.gather(*(one(i) for i in range(40)))
    assert len(upstream.requests) == 40
    for seen in upstream.requests:
        assert seen.path == f"{BASE_PATH}/portfolio/U{seen.headers['X-Request-Id'][2:]}/summary"


@pytest.mark.parametrize(
    "reply",
    [
        {"truncate": True},
        {"raw": b"this is not HTTP at all\r\n\r\n"},
        {"raw": b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n{}"},
    ],
    ids=["truncated", "garbage", "bad-content-length"],
)
async def test_unusable_upstream_answer_is_502(
    reply: dict[str, Any],
    adapter: AdapterProcess,
    upstream: FakeUpstream,
    http: aiohttp.ClientSession,
) -> None:
    upstream.answer(body=b'{"accounts": ["U1"]}', **reply)
    async with http.get(url(adapter, "/iserver/accounts")) as response:
        problem = await assert_problem(response, 502)
    assert "Traceback" not in problem["detail"]


# --------------------------------------------------------------------------- default policies


async def test_idempotent_get_is_retried_after_transient_failures(
    policy_adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    upstream.answer_sequence(
        {"status": 503, "body": b'{"error": "busy"}'},
        {"close": True},
        {"status": 200, "body": b'{"accounts": ["U1"]}'},
    )
    headers = {"X-Request-Id": "retry-1"}
    async with http.get(url(policy_adapter, "/iserver/accounts"), headers=headers) as response:
        assert response.status == 200
        assert await response.read() == b'{"accounts": ["U1"]}'
    seen = upstream.requests
    assert len(seen) == 3
    for attempt in seen:
        assert attempt.method == "GET"
        assert attempt.path == f"{BASE_PATH}/iserver/accounts"
        assert attempt.headers.getall("Authorization") == [f"Bearer {TOKEN}"]
        assert attempt.headers["X-Request-Id"] == "retry-1"


async def test_retries_are_bounded_and_the_last_answer_passes_through(
    policy_adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    upstream.answer(status=503, body=b"still down", content_type="text/plain")
    target = "/iserver/marketdata/snapshot?conids=1"
    async with http.get(url(policy_adapter, target)) as response:
        assert response.status == 503
        assert await response.read() == b"still down"
    assert len(upstream.requests) == 3  # the first attempt and two retries (the default)


async def test_a_connection_dropped_on_every_attempt_is_a_502_after_the_retries(
    policy_adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    upstream.answer(close=True)
    async with http.get(url(policy_adapter, "/iserver/accounts")) as response:
        problem = await assert_problem(response, 502)
    assert problem["retryable"] is True
    # The first attempt and two retries, then the last error. aiohttp sends an idempotent request
    # that a kept-alive connection dropped once more on a new connection: two sends per attempt.
    assert len(upstream.requests) == 3 * 2


async def test_no_retry_waits_past_the_retry_deadline(
    policy_adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    # Retry-After 30 s is beyond the default 10 s retry deadline: the 429 comes back at once.
    upstream.answer(status=429, body=b'{"error": "slow down"}', headers={"Retry-After": "30"})
    started = time.monotonic()
    async with http.get(url(policy_adapter, "/iserver/account/orders")) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "30"
    assert time.monotonic() - started < 5
    assert len(upstream.requests) == 1


async def test_caching_headers_pass_through_and_a_304_keeps_its_validators(
    policy_adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    validators = {"ETag": '"v-7"', "Last-Modified": "Mon, 07 Dec 2026 04:00:00 GMT"}
    upstream.answer(
        status=200,
        body=b'{"orders": []}',
        headers={**validators, "Cache-Control": "max-age=5", "X-Internal": "never-passed"},
    )
    target = url(policy_adapter, "/iserver/account/orders")
    async with http.get(target) as response:
        assert response.status == 200
        assert {name: response.headers.get(name) for name in validators} == validators
        assert response.headers["Cache-Control"] == "max-age=5"
        assert "X-Internal" not in response.headers
        assert response.content_type == "application/json"
        assert await response.json() == {"orders": []}
    upstream.answer(status=304, body=b"", content_type=None, headers=validators)
    async with http.get(target) as response:
        assert response.status == 304
        assert {name: response.headers.get(name) for name in validators} == validators
        assert "X-Request-Id" in response.headers
        assert await response.read() == b""


@pytest.mark.parametrize("status", [400, 401, 404, 500])
async def test_non_transient_statuses_are_not_retried(
    status: int,
    policy_adapter: AdapterProcess,
    upstream: FakeUpstream,
    http: aiohttp.ClientSession,
) -> None:
    upstream.answer(status=status, body=b'{"error": "no"}')
    async with http.get(url(policy_adapter, "/portfolio/U1/summary")) as response:
        assert response.status == status
    assert len(upstream.requests) == 1


@pytest.mark.parametrize(
    "reply",
    [{"status": 503, "body": b'{"error": "busy"}'}, {"close": True}],
    ids=["503", "dropped"],
)
async def test_non_idempotent_post_is_sent_once(
    reply: dict[str, Any],
    policy_adapter: AdapterProcess,
    upstream: FakeUpstream,
    http: aiohttp.ClientSession,
) -> None:
    upstream.answer_sequence(reply, {"status": 200, "body": b'{"order_id": "1"}'})
    target = url(policy_adapter, "/iserver/account/U1/orders")
    async with http.post(target, json=ORDER) as response:
        assert response.status == (503 if "status" in reply else 502)
    assert len(upstream.requests) == 1  # an order is never placed twice


async def test_retry_after_is_honoured(
    policy_adapter: AdapterProcess, upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    upstream.answer_sequence(
        {"status": 429, "body": b'{"error": "slow down"}', "headers": {"Retry-After": "1"}},
        {"status": 200, "body": b'{"orders": []}'},
    )
    started = time.monotonic()
    async with http.get(url(policy_adapter, "/iserver/account/orders")) as response:
        assert response.status == 200
    assert time.monotonic() - started >= 0.95
    assert len(upstream.requests) == 2
