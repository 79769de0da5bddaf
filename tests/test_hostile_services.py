"""Hostile-input campaign, generated services side (issue 6).

The generated IBKR package (a byte-identical snapshot of ``generated/interactive_brokers``) runs
as a real subprocess (``python -m interactive_brokers serve``) with a distinctive upstream token:

* property-based requests built from the adapter's own ``/_adapter/openapi.json`` (paths, params,
  bodies; hostile values, wrong methods, junk headers) against the spec's mock upstream: never a
  500 of the adapter's own, and every adapter-made 4xx/5xx is ``application/problem+json``;
* property-based MCP ``tools/call`` arguments through the official SDK client, and raw JSON-RPC
  junk: always a tool result or a JSON-RPC error, never a crash;
* upstream faults from a raw-socket upstream (refused, RST, slow headers/body, invalid JSON,
  10 MB, 429, redirects to a foreign host, an untrusted certificate), each followed by a normal
  request that must succeed;
* resource stability: thousands of requests with injected failures, fd count and RSS flat;
* secrets: the token never appears in any output, response or document; inbound credentials are
  never forwarded; path/query injection never changes what the upstream receives.

``NAFTIKO_FUZZ_EXAMPLES`` scales the properties, ``NAFTIKO_STABILITY_REQUESTS`` the load test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import aiohttp
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult
from multidict import CIMultiDict
from yarl import URL

from .hostile_support import (
    BASE_PATH,
    SECRET,
    Act,
    LoopThread,
    RawRequest,
    RawUpstream,
    Service,
    ThreadedMock,
    echo,
    fuzz_budget,
    hostile_text,
    running_service,
    snapshot_package,
    untrusted_tls_context,
)

REST_EXAMPLES = fuzz_budget(1200)
MCP_EXAMPLES = fuzz_budget(250)
RPC_EXAMPLES = fuzz_budget(150)
STABILITY_REQUESTS = int(os.environ.get("NAFTIKO_STABILITY_REQUESTS", "10000"))
PROBLEM = "application/problem+json"
FIGURES: dict[str, Any] = {}
# Every response body and header block any test saw: scanned for the token at the end.
SEEN: list[bytes] = []


def record(name: str, value: Any) -> None:
    FIGURES[name] = value
    target = os.environ.get("NAFTIKO_HOSTILE_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({name: value}) + "\n")


def keep(body: bytes, headers: Any = None) -> None:
    SEEN.append(body[:200_000])
    if headers is not None:
        SEEN.append(json.dumps(list(headers.items())).encode())


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-services")


@pytest.fixture(scope="module")
def package(workdir: Path) -> Path:
    return snapshot_package(workdir)


SERVICES: list[Service] = []


@pytest.fixture(scope="module")
def mock() -> Iterator[ThreadedMock]:
    server = ThreadedMock().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mock_service(package: Path, workdir: Path, mock: ThreadedMock) -> Iterator[Service]:
    with running_service(package, workdir, "vs-mock", mock.base_url) as service:
        SERVICES.append(service)
        yield service
    assert SECRET not in service.output()


@pytest.fixture(scope="module")
def raw() -> Iterator[RawUpstream]:
    upstream = RawUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def raw_service(package: Path, workdir: Path, raw: RawUpstream) -> Iterator[Service]:
    with running_service(package, workdir, "vs-raw", raw.base_url) as service:
        SERVICES.append(service)
        yield service
    assert SECRET not in service.output()


@pytest.fixture
def upstream(raw: RawUpstream) -> Iterator[RawUpstream]:
    raw.reset()
    yield raw
    raw.reset()


@pytest.fixture(scope="module")
def session(loop: LoopThread) -> Iterator[aiohttp.ClientSession]:
    async def make() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
        )

    client = loop.run(make())
    yield client
    loop.run(client.close())


@pytest.fixture(scope="module")
def isolated_session(loop: LoopThread) -> Iterator[aiohttp.ClientSession]:
    """A connection per request: one example's broken connection cannot fail the next one."""

    async def make() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True),
            timeout=aiohttp.ClientTimeout(total=30),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
        )

    client = loop.run(make())
    yield client
    loop.run(client.close())


async def fetch(
    session: aiohttp.ClientSession,
    method: str,
    url: str | URL,
    **kwargs: Any,
) -> tuple[int, CIMultiDict[str], bytes]:
    async with session.request(method, url, allow_redirects=False, **kwargs) as response:
        body = await response.read()
        headers = CIMultiDict(response.headers)
        keep(body, headers)
        return response.status, headers, body


def assert_problem(status: int, headers: CIMultiDict[str], body: bytes) -> dict[str, Any]:
    assert headers.get("Content-Type", "").split(";")[0] == PROBLEM, (status, headers, body[:300])
    document = json.loads(body)
    assert document["status"] == status
    assert isinstance(document["title"], str) and document["title"]
    assert document.get("request_id") == headers.get("X-Request-Id")
    return document


# --------------------------------------------------------------------------- REST property


@pytest.fixture(scope="module")
def openapi(mock_service: Service, loop: LoopThread, session: aiohttp.ClientSession) -> dict:
    status, _, body = loop.run(
        fetch(session, "GET", mock_service.rest_url + "/_adapter/openapi.json")
    )
    assert status == 200
    assert SECRET.encode() not in body
    return json.loads(body)


def operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            out.append(
                {
                    "path": path,
                    "method": method.upper(),
                    "params": op.get("parameters", []),
                    "body": "requestBody" in op,
                }
            )
    return out


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text(max_size=24),
)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=12,
)
JUNK_BODIES = [b"NaN", b"[1e999]", b"{", b'{"a": 1}{', b"\xff\xfe", b'"\\ud800"', b"0" * 2000]
JUNK_BODIES += [b"[" * 5000, b"[" * 3000 + b"]" * 3000, b'{"a":' * 2000]
raw_bodies = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(JUNK_BODIES),
)
HEADER_JUNK = st.one_of(
    st.just({}),
    st.fixed_dictionaries(
        {},
        optional={
            "X-Request-Id": st.one_of(
                st.just("a" * 129),
                st.just("../etc"),
                st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20),
            ),
            "Authorization": st.just("Bearer inbound-credential-XYZ"),
            "Cookie": st.just("session=inbound-cookie-XYZ"),
            "Content-Type": st.sampled_from(
                ["text/plain", "application/json; charset=latin-1", "x", "application/problem+json"]
            ),
            "Accept": st.sampled_from(["*/*", "text/html", "\x7f"]),
            # (an undecodable Content-Encoding is handled by aiohttp's parser, racily: see
            # test_regression_undecodable_request_body_is_a_500 and the parser-error bug)
            "Content-Encoding": st.just("identity"),
        },
    ),
)


def path_value() -> st.SearchStrategy[str]:
    return st.one_of(
        hostile_text(max_size=20).filter(lambda s: s.strip() != ""),
        st.sampled_from(
            ["..", ".", "../x", "%2e%2e", "%", "a?b", "a#b", "\r\n", "\x00", "é", "DU1"]
        ),
    )


@st.composite
def rest_requests(draw: st.DrawFn, ops: list[dict[str, Any]]) -> dict[str, Any]:
    op = draw(st.sampled_from(ops))
    path = op["path"]
    raw_segments = draw(st.booleans()) and draw(st.integers(0, 9)) == 0
    for param in op["params"]:
        if param["in"] == "path":
            value = draw(path_value())
            # raw: '/', '.' and '%' left as they are (dot segments, double encoding)
            encoded = quote(value, safe="/.%" if raw_segments else "")
            path = path.replace("{" + param["name"] + "}", encoded)
    query: list[tuple[str, str]] = []
    for param in op["params"]:
        if param["in"] == "query" and draw(st.integers(0, 4)) > 0:
            query.append((param["name"], draw(st.one_of(hostile_text(max_size=20), st.just("")))))
    query += draw(st.lists(st.tuples(st.text(max_size=6), hostile_text(max_size=10)), max_size=2))
    method = op["method"]
    kind = draw(st.integers(0, 19))
    if kind == 0:
        # (a method llhttp does not know, e.g. FOO, is a parser error: pinned below)
        method = draw(st.sampled_from(["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"]))
    elif kind == 1:
        path = draw(st.sampled_from(["/", "/x", "//iserver/accounts", "/_adapter", "/iserver/"]))
        path += quote(draw(hostile_text(max_size=10)), safe="/")
    body: dict[str, Any] = {}
    choice = draw(st.integers(0, 5))
    if op["body"] or choice == 0:
        if choice <= 2:
            body = {"json": draw(json_values)}
        elif choice == 3:
            body = {"data": draw(raw_bodies), "headers": {"Content-Type": "application/json"}}
        elif choice == 4:
            body = {"oversized": True}  # over ADAPTER_MAX_BODY_BYTES, built when sent
    headers = draw(HEADER_JUNK)
    return {"method": method, "path": path, "query": query, "headers": headers, "body": body}


def test_rest_adapter_survives_requests_generated_from_its_openapi(
    mock: ThreadedMock,
    mock_service: Service,
    openapi: dict[str, Any],
    loop: LoopThread,
    isolated_session: aiohttp.ClientSession,
) -> None:
    session = isolated_session
    ops = [op for op in operations(openapi) if not op["path"].startswith("/_adapter/ready")]
    statuses: Counter[int] = Counter()
    origin: Counter[bool] = Counter()  # True: answered by the adapter itself
    sent = {"n": 0}

    @settings(
        max_examples=REST_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(request=rest_requests(ops))
    def prop(request: dict[str, Any]) -> None:
        target = mock_service.rest_url + request["path"]
        url = URL(target, encoded=True)
        if request["query"]:
            url = url.with_query(request["query"])
        # A request line over 8190 bytes never reaches the application (aiohttp's parser answers
        # it: test_http_parser_errors_are_problem_json); keep the examples about the adapter.
        assume(len(str(url)) < 8000)
        payload = dict(request["body"])
        headers = {**payload.pop("headers", {}), **request["headers"]}
        if payload.pop("oversized", False):
            payload["data"] = b'{"pad": "' + b"x" * 1_100_000 + b'"}'
        since = mock.mark()  # requests are sequential: what reaches the mock now is this one
        try:
            status, response_headers, body = loop.run(
                fetch(session, request["method"], url, headers=headers, **payload)
            )
        except (aiohttp.ClientError, ValueError) as exc:
            # the client refused to send it (e.g. a header aiohttp will not encode): not a request
            if isinstance(exc, aiohttp.ServerDisconnectedError):
                raise
            return
        sent["n"] += 1
        statuses[status] += 1
        request_id = response_headers.get("X-Request-Id", "")
        upstream_status = mock.upstream_status(since, request_id)
        assert SECRET.encode() not in body
        origin[upstream_status is None] += 1
        if upstream_status is None:  # the adapter answered by itself
            assert status != 500, body[:500]
            if status >= 400 and request["method"] == "HEAD":
                content_type = response_headers.get("Content-Type", "")
                assert content_type.split(";")[0] == PROBLEM, (status, response_headers)
            elif status >= 400:
                assert_problem(status, response_headers, body)
        else:  # passed through from the upstream
            assert status == upstream_status or status in (502, 504), (status, upstream_status)

    prop()
    record("rest_fuzz.requests", sent["n"])
    record("rest_fuzz.statuses", dict(sorted(statuses.items())))
    record("rest_fuzz.answered_by_adapter", origin[True])
    record("rest_fuzz.passed_through", origin[False])
    assert sent["n"] >= REST_EXAMPLES * 0.8
    # still serving
    status, _, _ = loop.run(fetch(session, "GET", mock_service.rest_url + "/iserver/accounts"))
    assert status == 200


HOSTILE_REQUEST_LINES = [
    b"GET /iserver/accounts HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"GET /portfolio/a b/summary HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /portfolio/\x00/summary HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /iserver/accounts HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\rb\r\n\r\n",
    b"POST /iserver/secdef/search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /iserver/accounts HTTP/9.9\r\nHost: x\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 64,
    b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /iserver/accounts HTTP/1.1\r\n" + b"X-A: b\r\n" * 2000 + b"\r\n",
]


def test_malformed_http_never_gets_a_500(
    mock_service: Service, loop: LoopThread, session: aiohttp.ClientSession
) -> None:
    for raw_request in HOSTILE_REQUEST_LINES:
        with socket.create_connection(("127.0.0.1", mock_service.rest_port), timeout=5) as sock:
            sock.sendall(raw_request)
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            try:
                while chunk := sock.recv(65536):
                    answer += chunk
            except (ConnectionResetError, TimeoutError):
                pass
        keep(answer)
        if answer:
            status = int(answer.split(b" ", 2)[1])
            assert status < 500 or status == 505, answer[:300]
    status, _, _ = loop.run(fetch(session, "GET", mock_service.rest_url + "/_adapter/health"))
    assert status == 200


# Requests aiohttp's HTTP parser rejects before the application sees them.
PARSER_REJECTS = {
    "oversize-request-line": b"GET /iserver/accounts?q="
    + b"x" * 9000
    + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "oversize-header": b"GET /iserver/accounts HTTP/1.1\r\nHost: x\r\nX-Big: "
    + b"b" * 9000
    + b"\r\n\r\n",
    "unknown-method": b"FOO /iserver/accounts HTTP/1.1\r\nHost: x\r\n\r\n",
    "malformed-request-line": b"GET\r\n\r\n",
    "bad-content-length": b"GET /iserver/accounts HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "tls-on-plain-http": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 64,
}


def raw_exchange(port: int, raw_request: bytes) -> tuple[int, CIMultiDict[str], bytes]:
    """Send *raw_request* on a new connection; the status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw_request)
        answer = b""
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            while chunk := sock.recv(65536):
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines:
        name, _, value = line.partition(":")
        headers.add(name.strip(), value.strip())
    keep(body, headers)
    return int(status_line.split(" ", 2)[1]), headers, body


@pytest.mark.parametrize("case", sorted(PARSER_REJECTS))
def test_http_parser_errors_are_problem_json(
    case: str, mock_service: Service, loop: LoopThread, session: aiohttp.ClientSession
) -> None:
    """Regression test: found by the hostile-input campaign (SECURITY.md, open bug 1). Was: the
    requests aiohttp's HTTP parser rejects got aiohttp's own text/plain 400 (and a traceback in
    the log); rest.py's ProblemRequestHandler answers them with problem+json and a request id.
    (The MCP port is uvicorn's, not aiohttp's: its parser errors are not covered here.)"""
    seen = len(mock_service.output())
    status, headers, body = raw_exchange(mock_service.rest_port, PARSER_REJECTS[case])
    assert status == 400, body[:300]
    document = assert_problem(status, headers, body)
    assert document["title"] == "Bad Request"
    assert document["detail"].startswith("the request is not valid HTTP/1.1")
    assert len(document["request_id"]) == 32
    # (raw_exchange read to EOF: the adapter closed that connection, as aiohttp does)
    # still serving, and no traceback for the caller's mistake
    status, _, _ = loop.run(fetch(session, "GET", mock_service.rest_url + "/iserver/accounts"))
    assert status == 200
    output = mock_service.output()[seen:]
    assert "Traceback" not in output
    assert f"(request {document['request_id']})" in output


MCP_PARSER_REJECTS = {
    # answered by the MCP SDK or Starlette, in plain text, until _ProblemErrors
    "no-content-type": b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}",
    "unknown-path": b"GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "foreign-host": b"POST /mcp HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\n"
    b"Content-Length: 2\r\n\r\n{}",
    "malformed-request-line": b"GET\r\n\r\n",
    "bad-content-length": b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n",
    "tls-on-plain-http": PARSER_REJECTS["tls-on-plain-http"],
}


@pytest.mark.parametrize("case", sorted(MCP_PARSER_REJECTS))
def test_mcp_port_parser_errors_are_problem_json(
    case: str, mock_service: Service, loop: LoopThread, session: aiohttp.ClientSession
) -> None:
    """Found while closing issue 6: the MCP port (uvicorn) answered requests its HTTP parser
    rejects with uvicorn's text/plain 400; mcp_server.ProblemH11Protocol makes them problem+json."""
    seen = len(mock_service.output())
    status, headers, body = raw_exchange(mock_service.mcp_port, MCP_PARSER_REJECTS[case])
    assert 400 <= status < 500, body[:300]
    document = assert_problem(status, headers, body)
    if case in ("malformed-request-line", "bad-content-length", "tls-on-plain-http"):
        assert document["detail"].startswith("the request is not valid HTTP/1.1")
    assert headers["X-Request-Id"] == document["request_id"]
    # still serving MCP afterwards, no traceback
    status, _, _ = loop.run(
        fetch(
            session,
            "POST",
            mock_service.mcp_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2025-11-25",
            },
        )
    )
    assert status == 200
    assert "Traceback" not in mock_service.output()[seen:]


def test_http_parser_errors_through_a_client_are_problem_json(
    mock_service: Service, loop: LoopThread, isolated_session: aiohttp.ClientSession
) -> None:
    base = mock_service.rest_url
    seen = len(mock_service.output())
    attempts: list[tuple[str, URL | str, dict[str, Any]]] = [
        ("GET", URL(base + "/iserver/accounts").with_query([("q", "x" * 9000)]), {}),
        ("GET", base + "/iserver/accounts", {"headers": {"X-Big": "b" * 9000}}),
        ("FOO", base + "/iserver/accounts", {}),
        # a route that does not take PUT: nothing reads (and decodes) the body before aiohttp
        (
            "PUT",
            base + "/iserver/accounts",
            {"json": {"x": 1}, "headers": {"Content-Encoding": "br"}},
        ),
    ]
    for method, url, extra in attempts:
        status, headers, body = loop.run(fetch(isolated_session, method, url, **extra))
        assert 400 <= status < 500, (method, status)
        assert_problem(status, headers, body)
    assert "Traceback" not in mock_service.output()[seen:]


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_regression_undecodable_request_body_is_a_500(
    encoding: str, mock_service: Service, loop: LoopThread, isolated_session: aiohttp.ClientSession
) -> None:
    """Regression test: found by the hostile-input campaign, fixed in abd77d4. Was: rest.py
    _read_json(): a request body that does not decode as its Content-Encoding raises aiohttp's
    RequestPayloadError, which the middleware does not know: 500 'Internal error' plus a
    traceback in the log, instead of a 400 problem
    """
    for payload in (b'{"symbol": "AAPL"}', b"[]"):
        status, headers, body = loop.run(
            fetch(
                isolated_session,
                "POST",
                mock_service.rest_url + "/iserver/secdef/search",
                data=payload,
                headers={"Content-Encoding": encoding, "Content-Type": "application/json"},
            )
        )
        assert status == 400, body[:300]  # never a 500
        # (the adapter or aiohttp's parser answers, depending on when the decoder fails: both
        # in problem+json, see test_http_parser_errors_are_problem_json)
        assert_problem(status, headers, body)


@pytest.mark.parametrize(
    "body", [b"[" * 100_000, b"[" * 3000 + b"]" * 3000], ids=["unterminated-100k", "nested-3000"]
)
def test_regression_deeply_nested_json_body_is_a_500(
    body: bytes, mock_service: Service, loop: LoopThread, session: aiohttp.ClientSession
) -> None:
    """Regression test: found by the hostile-input campaign, fixed in abd77d4. Was: rest.py
    _read_json() catches ValueError only; JSON nested deeper than the recursion limit (a 6 kB
    body) raises RecursionError: 500 'Internal error' instead of 400
    """
    json_type = {"Content-Type": "application/json"}
    status, headers, answer = loop.run(
        fetch(
            session,
            "POST",
            mock_service.rest_url + "/iserver/secdef/search",
            data=body,
            headers=json_type,
        )
    )
    assert status in (400, 413), answer[:300]
    assert_problem(status, headers, answer)


# --------------------------------------------------------------------------- MCP properties


TOOL_ARGS = ["accountId", "pageId", "conids", "fields", "conid", "period", "bar", "body"]


def tool_arguments() -> st.SearchStrategy[dict[str, Any]]:
    def nested(depth: int) -> Any:
        value: Any = "leaf"
        for _ in range(depth):
            value = {"a": [value]}
        return value

    return st.one_of(
        st.dictionaries(
            st.one_of(st.sampled_from([*TOOL_ARGS, "confirmation_token"]), st.text(max_size=6)),
            json_values,
            max_size=5,
        ),
        st.fixed_dictionaries(
            {"accountId": hostile_text(max_size=30), "pageId": hostile_text(max_size=5)}
        ),
        # up to 100 JSON levels: deeper is refused by the server's JSON-RPC parser (limit 128;
        # see test_mcp_rejects_deep_nesting_as_a_parse_error)
        st.integers(1, 50).map(lambda d: {"body": nested(d)}),
        st.integers(10_000, 300_000).map(lambda n: {"accountId": "A" * n, "conids": "1," * 5}),
        st.just({"body": {"k": "v" * 400_000}}),
    )


def valid_shaped_calls(schemas: dict[str, dict[str, Any]]) -> st.SearchStrategy[tuple[str, dict]]:
    """A tool and arguments of the right shape with hostile values: they pass validation and go
    upstream (or, for writes, come back as a confirmation preview)."""

    def for_tool(name: str) -> st.SearchStrategy[tuple[str, dict]]:
        properties = schemas[name].get("properties", {})
        required = set(schemas[name].get("required", []))
        values = {
            key: (json_values if spec.get("type") == "object" else hostile_text(max_size=30))
            for key, spec in properties.items()
            if spec.get("type") in ("string", "object")
        }
        must = {k: v for k, v in values.items() if k in required}
        may = {k: v for k, v in values.items() if k not in required}
        arguments = st.fixed_dictionaries(must, optional=may).map(
            lambda args: {k: (v if not isinstance(v, list) else {"v": v}) for k, v in args.items()}
        )
        return st.tuples(st.just(name), arguments)

    return st.sampled_from(sorted(schemas)).flatmap(for_tool)


async def call_tool(url: str, mode: str, name: str, arguments: dict[str, Any]) -> Any:
    async with Client(url, mode=mode, read_timeout_seconds=20) as client:
        try:
            return await client.call_tool(name, arguments)
        except MCPError as exc:
            return exc


def test_mcp_tool_arguments_property(mock_service: Service, loop: LoopThread) -> None:
    schemas = loop.run(_tool_schemas(mock_service.mcp_url))
    names = sorted(schemas)
    outcomes: Counter[str] = Counter()
    junk_calls = st.tuples(
        st.one_of(
            st.sampled_from(names),
            st.sampled_from(names),
            st.sampled_from(["", "nope", "a" * 300, "../x"]),
        ),
        tool_arguments(),
    )

    @settings(
        max_examples=MCP_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        call=st.one_of(junk_calls, valid_shaped_calls(schemas)),
        mode=st.sampled_from(["legacy", "2026-07-28"]),
    )
    def prop(call: tuple[str, dict[str, Any]], mode: str) -> None:
        name, arguments = call
        result = loop.run(call_tool(mock_service.mcp_url, mode, name, arguments), timeout=60)
        text = json.dumps(
            result.model_dump(mode="json") if hasattr(result, "model_dump") else str(result)
        )
        keep(text.encode())
        assert SECRET not in text
        if isinstance(result, MCPError):
            assert name not in names, f"{name}: protocol error {result.error}"
            assert result.error.code == INVALID_PARAMS
            outcomes["protocol-error(unknown tool)"] += 1
            return
        assert isinstance(result, CallToolResult)
        if result.is_error:
            data = result.structured_content or {}
            assert isinstance(data.get("status"), int), data
            assert isinstance(data.get("error"), str) and data["error"]
            if data["status"] == 500:  # only ever the upstream's own 500, passed on
                assert data["error"] == "the upstream answered HTTP 500", data
            outcomes[f"tool-error-{data['status']}"] += 1
        else:
            outcomes["ok"] += 1

    prop()
    record("mcp_fuzz.calls", sum(outcomes.values()))
    record("mcp_fuzz.outcomes", dict(sorted(outcomes.items())))
    assert sorted(loop.run(_tool_names(mock_service.mcp_url))) == sorted(names)


async def _tool_names(url: str) -> list[str]:
    return list(await _tool_schemas(url))


async def _tool_schemas(url: str) -> dict[str, dict[str, Any]]:
    async with Client(url, read_timeout_seconds=20) as client:
        return {tool.name: tool.input_schema for tool in (await client.list_tools()).tools}


rpc_messages = st.one_of(
    st.fixed_dictionaries(
        {
            "jsonrpc": st.sampled_from(["2.0", "1.0", 2]),
            "id": st.one_of(
                st.integers(-(2**64), 2**64), st.text(max_size=5), st.none(), st.lists(st.none())
            ),
            "method": st.sampled_from(["tools/call", "tools/list", "initialize", "x", ""]),
            "params": st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {
                        "name": st.one_of(
                            st.sampled_from(["getaccounts", "placeorder"]), json_values
                        ),
                        "arguments": json_values,
                    }
                ),
            ),
        }
    ),
    st.lists(json_values, max_size=3),
    json_values,
)


def test_raw_json_rpc_junk_never_gets_a_500(
    mock_service: Service, loop: LoopThread, session: aiohttp.ClientSession
) -> None:
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2025-11-25",
    }
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=RPC_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        message=st.one_of(
            rpc_messages.map(lambda m: json.dumps(m).encode()), st.binary(max_size=40)
        )
    )
    def prop(message: bytes) -> None:
        status, _, body = loop.run(
            fetch(session, "POST", mock_service.mcp_url, data=message, headers=headers)
        )
        statuses[status] += 1
        assert status < 500, body[:500]
        assert SECRET.encode() not in body

    prop()
    record("rpc_fuzz.statuses", dict(sorted(statuses.items())))


@pytest.mark.parametrize("depth", [300, 1500])
def test_mcp_rejects_deep_nesting_as_a_parse_error(
    depth: int, mock_service: Service, loop: LoopThread, session: aiohttp.ClientSession
) -> None:
    body = '{"a": [' * depth + '"leaf"' + "]}" * depth
    message = (
        '{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "searchcontracts",'
        ' "arguments": {"body": ' + body + "}}}"
    )
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2025-11-25",
    }
    status, _, answer = loop.run(
        fetch(session, "POST", mock_service.mcp_url, data=message, headers=headers)
    )
    assert status == 400, answer[:300]
    assert json.loads(answer)["error"]["code"] == -32700
    assert sorted(loop.run(_tool_names(mock_service.mcp_url)))  # still serving


# --------------------------------------------------------------------------- upstream faults

ACCOUNTS = "/iserver/accounts"


def normal_request_succeeds(
    service: Service, loop: LoopThread, session: aiohttp.ClientSession, raw: RawUpstream
) -> None:
    raw.reset(echo)
    status, _, body = loop.run(fetch(session, "GET", service.rest_url + ACCOUNTS))
    assert status == 200, body[:300]
    assert json.loads(body)["target"] == f"{BASE_PATH}{ACCOUNTS}"


FAULTS: dict[str, tuple[Act, set[int]]] = {
    "reset-before-answer": (Act(kind="reset"), {502}),
    "close-before-answer": (Act(kind="close"), {502}),
    "reset-mid-body": (Act(kind="reset_mid_body", body=b'{"a": "' + b"x" * 50_000 + b'"}'), {502}),
    "slow-headers": (Act(kind="slow_headers", delay=0.5), {504}),
    "slow-body": (Act(kind="slow_body", body=b'{"a": "0123456789"}', delay=0.2), {504}),
    "not-http": (Act(kind="raw", raw=b"SSH-2.0-OpenSSH_9.0\r\n\r\n"), {502}),
    "huge-headers": (Act(headers={"X-Big": "x" * 200_000}), {502}),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_upstream_fault_is_a_problem_and_the_adapter_keeps_serving(
    fault: str,
    raw_service: Service,
    upstream: RawUpstream,
    loop: LoopThread,
    session: aiohttp.ClientSession,
) -> None:
    act, expected = FAULTS[fault]
    upstream.reset(lambda request: act)
    started = time.monotonic()
    status, headers, body = loop.run(fetch(session, "GET", raw_service.rest_url + ACCOUNTS))
    elapsed = time.monotonic() - started
    assert status in expected, (status, body[:300])
    problem = assert_problem(status, headers, body)
    assert SECRET not in json.dumps(problem)
    assert elapsed < 10, elapsed
    record(f"fault.{fault}", {"status": status, "seconds": round(elapsed, 2)})
    normal_request_succeeds(raw_service, loop, session, upstream)


def test_connection_refused_then_recovers(
    raw_service: Service, upstream: RawUpstream, loop: LoopThread, session: aiohttp.ClientSession
) -> None:
    upstream.pause()
    try:
        status, headers, body = loop.run(fetch(session, "GET", raw_service.rest_url + ACCOUNTS))
        assert status == 502, body[:300]
        assert_problem(status, headers, body)
    finally:
        upstream.resume()
    normal_request_succeeds(raw_service, loop, session, upstream)


def test_invalid_json_and_10_mb_bodies_pass_through(
    raw_service: Service, upstream: RawUpstream, loop: LoopThread, session: aiohttp.ClientSession
) -> None:
    for payload in (b'{"a": [1, 2', b"\xff\xfe not json", b'{"a": "' + b"x" * (10 << 20) + b'"}'):
        upstream.reset(lambda request, payload=payload: Act(body=payload))
        status, _, body = loop.run(fetch(session, "GET", raw_service.rest_url + ACCOUNTS))
        assert status in (200, 502), status
        if status == 200:
            assert body == payload
        normal_request_succeeds(raw_service, loop, session, upstream)
    record("fault.10MB.rss_mb", raw_service.rss_kb() // 1024)


@pytest.mark.parametrize("retry_after", [None, "7"])
def test_429_status_passes_through(
    retry_after: str | None,
    raw_service: Service,
    upstream: RawUpstream,
    loop: LoopThread,
    session: aiohttp.ClientSession,
) -> None:
    extra = {"Retry-After": retry_after} if retry_after else {}
    answer = Act(
        status=429,
        body=b'{"error": "slow down"}',
        headers={"Content-Type": "application/json", **extra},
    )
    upstream.reset(lambda request: answer)
    status, headers, body = loop.run(fetch(session, "GET", raw_service.rest_url + ACCOUNTS))
    assert status == 429
    assert json.loads(body) == {"error": "slow down"}
    if retry_after is None:
        assert "Retry-After" not in headers
    normal_request_succeeds(raw_service, loop, session, upstream)


def test_regression_retry_after_of_an_upstream_429_is_dropped(
    raw_service: Service, upstream: RawUpstream, loop: LoopThread, session: aiohttp.ClientSession
) -> None:
    """Regression test: found by the hostile-input campaign, fixed in abd77d4. Was: rest.py
    _respond() forwards only the upstream status, body and Content-Type: an upstream 429's
    Retry-After header is dropped, so REST callers cannot back off as told
    """
    answer = Act(
        status=429, body=b"{}", headers={"Content-Type": "application/json", "Retry-After": "7"}
    )
    upstream.reset(lambda request: answer)
    status, headers, _ = loop.run(fetch(session, "GET", raw_service.rest_url + ACCOUNTS))
    assert status == 429
    assert headers.get("Retry-After") == "7"


def test_429_is_a_retryable_tool_error_over_mcp(
    raw_service: Service, upstream: RawUpstream, loop: LoopThread
) -> None:
    answer = Act(
        status=429,
        body=b'{"error": "slow"}',
        headers={"Content-Type": "application/json", "Retry-After": "3"},
    )
    upstream.reset(lambda request: answer)
    result = loop.run(call_tool(raw_service.mcp_url, "legacy", "getaccounts", {}))
    assert isinstance(result, CallToolResult) and result.is_error
    assert result.structured_content["status"] == 429
    assert result.structured_content["retryable"] is True


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_a_foreign_host_is_not_followed(
    status: int,
    raw_service: Service,
    upstream: RawUpstream,
    loop: LoopThread,
    session: aiohttp.ClientSession,
) -> None:
    foreign = RawUpstream().start()
    try:
        location = f"http://127.0.0.1:{foreign.port}/steal?from=adapter"
        answer = Act(status=status, body=b"", headers={"Location": location})
        upstream.reset(lambda request: answer)
        got, headers, body = loop.run(
            fetch(
                session,
                "POST",
                raw_service.rest_url + "/iserver/secdef/search",
                json={"symbol": "X"},
            )
        )
        got_get, _, _ = loop.run(fetch(session, "GET", raw_service.rest_url + ACCOUNTS))
        assert foreign.requests == [], "the adapter followed a redirect to another host"
        assert len(upstream.requests) == 2
        assert got == status and got_get == status
        assert SECRET not in json.dumps(list(headers.items())) and SECRET.encode() not in body
    finally:
        foreign.stop()
    normal_request_succeeds(raw_service, loop, session, upstream)


def test_untrusted_certificate_is_a_502(
    package: Path, workdir: Path, loop: LoopThread, session: aiohttp.ClientSession
) -> None:
    tls_upstream = RawUpstream(tls=untrusted_tls_context()).start()
    try:
        with running_service(package, workdir, "vs-tls", tls_upstream.base_url, "rest") as service:
            for _ in range(2):  # and again: the adapter keeps serving
                status, headers, body = loop.run(fetch(session, "GET", service.rest_url + ACCOUNTS))
                assert status == 502, body[:300]
                problem = assert_problem(status, headers, body)
                assert "certificate" in problem["detail"] or "TLS" in problem["title"], problem
            assert tls_upstream.requests == [], "a request went out over an untrusted connection"
            status, _, _ = loop.run(fetch(session, "GET", service.rest_url + "/_adapter/health"))
            assert status == 200
        assert SECRET not in service.output()
    finally:
        tls_upstream.stop()


# --------------------------------------------------------------------------- secrets and injection


INJECTIONS = [
    "../",
    "..",
    ".",
    "%2e%2e",
    "%2F",
    "?",
    "#",
    "\r\n",
    "a/../../b",
    "x?y=1#z",
    "\x00",
    "; rm",
    "\r\nX-Evil: 1",
]


def test_inbound_credentials_are_never_forwarded(
    raw_service: Service, upstream: RawUpstream, loop: LoopThread, session: aiohttp.ClientSession
) -> None:
    inbound = {
        "Authorization": "Bearer inbound-XYZ",
        "Cookie": "sid=inbound-XYZ",
        "Proxy-Authorization": "Basic aW5ib3VuZC1YWVo=",
        "X-Api-Key": "inbound-XYZ",
    }
    status, _, _ = loop.run(fetch(session, "GET", raw_service.rest_url + ACCOUNTS, headers=inbound))
    assert status == 200
    # the same over MCP (raw JSON-RPC, so that the inbound headers are exactly ours)
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "getaccounts", "arguments": {}},
    }
    mcp_headers = {
        **inbound,
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2025-11-25",
    }
    status, _, body = loop.run(
        fetch(session, "POST", raw_service.mcp_url, json=message, headers=mcp_headers)
    )
    assert status == 200, body[:300]
    assert json.loads(body)["result"]["isError"] is False
    assert len(upstream.requests) == 2
    for seen in upstream.requests:
        assert seen.header("Authorization") == f"Bearer {SECRET}"
        forwarded = json.dumps(seen.headers)
        assert "inbound-XYZ" not in forwarded and "aW5ib3VuZC1YWVo" not in forwarded


BROWSER_ATTACKS = {
    # fetch(url, {method: "POST", mode: "no-cors", body}) from any web page: no preflight
    "foreign-origin-text-plain": {"Content-Type": "text/plain", "Origin": "http://evil.example"},
    # DNS rebinding: evil.example resolves to 127.0.0.1, so the browser sends Host: evil.example
    "rebound-host": {"Content-Type": "text/plain", "Host": "evil.example:8080"},
    # a sandboxed iframe / file: page, form encoding
    "null-origin-form": {"Content-Type": "application/x-www-form-urlencoded", "Origin": "null"},
}


@pytest.mark.parametrize("attack", sorted(BROWSER_ATTACKS))
def test_regression_browser_can_place_orders_through_the_rest_adapter(
    attack: str,
    raw_service: Service,
    upstream: RawUpstream,
    loop: LoopThread,
    session: aiohttp.ClientSession,
) -> None:
    """Regression test: found by the hostile-input campaign, fixed in abd77d4. Was: the REST
    adapter has no Origin/Host check (the MCP endpoint has one) and parses any Content-Type as
    JSON, so a web page the user merely visits can place an order through the loopback adapter
    with the IBKR token (CORS 'simple request' CSRF, or DNS rebinding); the response is opaque
    to the page but the order is sent
    """
    order = b'{"orders": [{"conid": 265598, "side": "BUY", "quantity": 100, "orderType": "MKT"}]}'
    status, _, _ = loop.run(
        fetch(
            session,
            "POST",
            raw_service.rest_url + "/iserver/account/DU1234567/orders",
            data=order,
            headers=BROWSER_ATTACKS[attack],
        )
    )
    assert upstream.requests == [], f"the order went upstream (adapter answered {status})"
    assert status in (403, 415, 421)


@pytest.mark.parametrize("value", INJECTIONS)
def test_path_injection_stays_in_its_segment(
    value: str,
    raw_service: Service,
    upstream: RawUpstream,
    loop: LoopThread,
    session: aiohttp.ClientSession,
) -> None:
    baseline_headers: set[str] | None = None
    # REST: the value percent-encoded in the adapter path
    url = URL(
        raw_service.rest_url + "/portfolio/" + quote(value, safe="") + "/summary", encoded=True
    )
    status, _, _ = loop.run(fetch(session, "GET", url))
    # MCP: the same value as a raw tool argument
    result = loop.run(
        call_tool(raw_service.mcp_url, "legacy", "getaccountsummary", {"accountId": value})
    )
    assert isinstance(result, CallToolResult)
    requests = upstream.requests
    assert status == 200 and not result.is_error, (status, result)
    assert len(requests) == 2
    for seen in requests:
        assert seen.query == "" and "?" not in seen.target and "#" not in seen.target
        prefix, suffix = f"{BASE_PATH}/portfolio/", "/summary"
        assert seen.path.startswith(prefix) and seen.path.endswith(suffix), seen.target
        segment = seen.path[len(prefix) : -len(suffix)]
        assert "/" not in segment and segment not in (".", "..")
        assert unquote(segment) == value, (segment, value)
        names = {k.lower() for k, _ in seen.headers}
        assert "x-evil" not in names
        baseline_headers = baseline_headers or names
    # query values stay values
    upstream.reset()
    target = raw_service.rest_url + "/iserver/marketdata/snapshot"
    status, _, _ = loop.run(
        fetch(session, "GET", URL(target).with_query([("conids", value + "&evil=1")]))
    )
    assert status == 200
    (seen,) = upstream.requests
    assert parse_qsl(seen.query, keep_blank_values=True) == [("conids", value + "&evil=1")]


def test_no_secret_in_openapi_or_outputs(
    mock_service: Service,
    raw_service: Service,
    loop: LoopThread,
    session: aiohttp.ClientSession,
    package: Path,
) -> None:
    for service in (mock_service, raw_service):
        for path in ("/_adapter/openapi.json", "/_adapter/health", "/_adapter/ready", "/nope"):
            _, _, body = loop.run(fetch(session, "GET", service.rest_url + path))
            assert SECRET.encode() not in body
    assert SECRET not in (package / "interactive_brokers" / "openapi.json").read_text()
    for service in SERVICES:
        assert SECRET not in service.output(), service.name
    assert all(SECRET.encode() not in chunk for chunk in SEEN)
    record("secrets.scanned_bodies", len(SEEN))


# --------------------------------------------------------------------------- resource stability


def flaky(request: RawRequest) -> Act:
    """10% of the requests fail, in rotating ways; the rest answer a small JSON document."""
    marker = request.path.rsplit("/", 2)[-2]
    if not marker.startswith("f"):
        return Act(body=b'{"ok": true, "positions": [1, 2, 3]}')
    kind = int(marker[1:]) % 5
    return [
        Act(kind="reset"),
        Act(kind="close"),
        Act(status=503, body=b"down", headers={"Content-Type": "text/plain"}),
        Act(kind="reset_mid_body", body=b'{"a": "' + b"x" * 4000 + b'"}'),
        Act(kind="raw", raw=b"garbage\r\n\r\n"),
    ][kind]


async def load(base: str, first: int, count: int, concurrency: int) -> Counter[int]:
    statuses: Counter[int] = Counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(first, first + count):
        queue.put_nowait(i)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                account = f"f{i // 10}" if i % 10 == 0 else f"ok{i}"
                async with client.get(f"{base}/portfolio/{account}/summary") as response:
                    await response.read()
                    statuses[response.status] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def test_fds_and_rss_stay_flat_under_load_with_failures(
    package: Path, workdir: Path, loop: LoopThread
) -> None:
    upstream = RawUpstream(record=False).start()
    upstream.behaviour = flaky
    try:
        with running_service(package, workdir, "vs-load", upstream.base_url, "rest") as service:
            SERVICES.append(service)
            warm = loop.run(load(service.rest_url, 0, 1000, 50), timeout=120)
            assert warm[500] == 0
            time.sleep(0.5)
            fds, rss = service.fd_count(), service.rss_kb()
            started = time.monotonic()
            statuses = loop.run(load(service.rest_url, 1000, STABILITY_REQUESTS, 50), timeout=600)
            elapsed = time.monotonic() - started
            time.sleep(0.5)
            fds_after, rss_after = service.fd_count(), service.rss_kb()
            record(
                "stability",
                {
                    "requests": sum(statuses.values()),
                    "seconds": round(elapsed, 1),
                    "statuses": dict(sorted(statuses.items())),
                    "fds": [fds, fds_after],
                    "rss_mb": [round(rss / 1024, 1), round(rss_after / 1024, 1)],
                },
            )
            assert sum(statuses.values()) == STABILITY_REQUESTS
            assert statuses[500] == 0
            assert statuses[200] == STABILITY_REQUESTS - STABILITY_REQUESTS // 10
            assert fds_after <= fds + 20, (fds, fds_after)
            assert rss_after <= rss + 30 * 1024, (rss, rss_after)
        assert SECRET not in service.output()
    finally:
        upstream.stop()
