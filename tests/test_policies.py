"""Issue 9 behaviour of the generated IBKR package, in process against a scripted fake upstream:
pacing, retries of idempotent calls only, keep-alive readiness, two-step confirmation."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from .conftest import ROOT, fake_server

sys.path.insert(0, str(ROOT / "generated" / "interactive_brokers"))

from interactive_brokers.client import UpstreamClient
from interactive_brokers.mcp_server import create_server
from interactive_brokers.rest import create_app
from interactive_brokers.settings import load_settings
from mcp import Client

Reply = Callable[[web.Request, int], web.StreamResponse]


@dataclass
class Upstream:
    """A fake gateway whose answer is scripted per test; records (time, method, path)."""

    url: str = ""
    seen: list[tuple[float, str, str]] = field(default_factory=list)
    reply: Any = None

    def calls(self, path_suffix: str) -> int:
        return sum(1 for _, _, path in self.seen if path.endswith(path_suffix))


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    fake = Upstream()

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        fake.seen.append((time.monotonic(), request.method, request.path))
        if fake.reply is not None:
            return await fake.reply(request, len(fake.seen))
        return web.json_response({"ok": True})

    async with fake_server(handle) as server:
        fake.url = str(server.make_url("/v1/api"))
        yield fake


def _settings(upstream: Upstream, **env: str):
    return load_settings(
        {"INTERACTIVE_BROKERS_BASE_URL": upstream.url, "INTERACTIVE_BROKERS_TOKEN": "tok", **env}
    )


async def _rest(settings) -> tuple[TestClient, UpstreamClient]:
    client = UpstreamClient(settings)
    await client.start()
    http = TestClient(TestServer(create_app(settings, client), host="127.0.0.1"))
    await http.start_server()
    return http, client


async def test_burst_never_exceeds_the_configured_rate(upstream: Upstream) -> None:
    http, client = await _rest(
        _settings(
            upstream, INTERACTIVE_BROKERS_RATE_LIMIT="40/s", INTERACTIVE_BROKERS_RATE_WAIT="10"
        )
    )
    try:
        responses = await asyncio.gather(*(http.get("/iserver/accounts") for _ in range(100)))
        assert [r.status for r in responses] == [200] * 100
    finally:
        await http.close()
        await client.close()
    times = sorted(t for t, _, _ in upstream.seen)
    assert len(times) == 100
    # In any one-second window the upstream sees at most the configured 40 requests (+1 for the
    # closed interval's far edge).
    worst = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
    assert worst <= 41, worst
    assert times[-1] - times[0] >= 99 / 40 - 0.05


async def test_excess_beyond_the_wait_bound_gets_429_with_retry_after(upstream: Upstream) -> None:
    http, client = await _rest(
        _settings(
            upstream, INTERACTIVE_BROKERS_RATE_LIMIT="5/s", INTERACTIVE_BROKERS_RATE_WAIT="0.5"
        )
    )
    try:
        responses = await asyncio.gather(*(http.get("/iserver/accounts") for _ in range(10)))
        statuses = sorted(r.status for r in responses)
        limited = [r for r in responses if r.status == 429]
        assert (
            statuses.count(200) == 3 and len(limited) == 7
        ), statuses  # t=0, 0.2, 0.4 fit in 0.5 s
        assert limited[0].headers["Retry-After"].isdigit()
        assert (await limited[0].json())["retryable"] is True
    finally:
        await http.close()
        await client.close()
    assert len(upstream.seen) == 3


async def test_idempotent_call_survives_a_flapping_upstream(upstream: Upstream) -> None:
    async def flap(request: web.Request, n: int) -> web.StreamResponse:
        if n % 3:
            return web.json_response({"error": "flap"}, status=503)
        return web.json_response([{"accountId": "DU1234567"}])

    upstream.reply = flap
    http, client = await _rest(_settings(upstream, INTERACTIVE_BROKERS_RETRIES="3"))
    try:
        response = await http.get("/iserver/accounts")
        assert response.status == 200
        assert await response.json() == [{"accountId": "DU1234567"}]
    finally:
        await http.close()
        await client.close()
    assert len(upstream.seen) == 3


async def test_retry_after_is_honoured(upstream: Upstream) -> None:
    async def limited_once(request: web.Request, n: int) -> web.StreamResponse:
        if n == 1:
            return web.json_response(
                {"error": "slow down"}, status=429, headers={"Retry-After": "1"}
            )
        return web.json_response({"ok": True})

    upstream.reply = limited_once
    http, client = await _rest(_settings(upstream))
    try:
        assert (await http.get("/iserver/accounts")).status == 200
    finally:
        await http.close()
        await client.close()
    first, second = upstream.seen[0][0], upstream.seen[1][0]
    assert second - first >= 0.95


async def test_an_order_is_sent_exactly_once_when_the_upstream_fails_after_receiving_it(
    upstream: Upstream,
) -> None:
    async def crash(request: web.Request, n: int) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()  # received the order, then the connection dies
        raise ConnectionResetError

    upstream.reply = crash
    http, client = await _rest(_settings(upstream, INTERACTIVE_BROKERS_RETRIES="5"))
    try:
        response = await http.post(
            "/iserver/account/DU1234567/orders", json={"orders": [{"conid": 265598}]}
        )
        assert response.status == 502
        assert response.content_type == "application/problem+json"
    finally:
        await http.close()
        await client.close()
    assert upstream.calls("/orders") == 1


async def test_non_idempotent_503_is_not_retried(upstream: Upstream) -> None:
    async def unavailable(request: web.Request, n: int) -> web.StreamResponse:
        return web.json_response({"error": "busy"}, status=503)

    upstream.reply = unavailable
    http, client = await _rest(_settings(upstream, INTERACTIVE_BROKERS_RETRIES="5"))
    try:
        assert (await http.post("/iserver/secdef/search", json={"symbol": "AAPL"})).status == 503
    finally:
        await http.close()
        await client.close()
    assert len(upstream.seen) == 1


async def test_keepalive_drives_readiness(upstream: Upstream) -> None:
    state = {"authenticated": True}

    async def tickle(request: web.Request, n: int) -> web.StreamResponse:
        if request.path.endswith("/tickle"):
            return web.json_response(
                {
                    "session": "x",
                    "iserver": {"authStatus": {"authenticated": state["authenticated"]}},
                }
            )
        return web.json_response({"ok": True})

    upstream.reply = tickle
    settings = _settings(
        upstream,
        INTERACTIVE_BROKERS_KEEPALIVE_PATH="/tickle",
        INTERACTIVE_BROKERS_KEEPALIVE_INTERVAL="0.1",
    )
    http, client = await _rest(settings)
    try:
        await asyncio.sleep(0.3)
        assert upstream.calls("/tickle") >= 2
        assert all(
            method == "POST" for _, method, path in upstream.seen if path.endswith("/tickle")
        )
        assert (await http.get("/_adapter/ready")).status == 200
        state["authenticated"] = False
        await asyncio.sleep(5.3)  # past the readiness cache
        response = await http.get("/_adapter/ready")
        assert response.status == 503
        assert (await response.json())["upstreams"]["interactive-brokers"]["ok"] is False
    finally:
        await http.close()
        await client.close()


class Gateway:
    """Like the IBKR gateway: /iserver/account/orders fails until GET /iserver/accounts was called
    in the current session; /tickle says whether the session is alive."""

    def __init__(self) -> None:
        self.primed = False
        self.alive = True
        self.accounts_status = 200

    async def reply(self, request: web.Request, n: int) -> web.StreamResponse:
        if request.path.endswith("/tickle"):
            return web.json_response({"iserver": {"authStatus": {"authenticated": self.alive}}})
        if request.path.endswith("/iserver/accounts"):
            self.primed = self.accounts_status == 200
            return web.json_response({"accounts": ["DU1234567"]}, status=self.accounts_status)
        if not self.primed:
            return web.json_response({"error": "Please query /accounts first"}, status=500)
        return web.json_response({"orders": []})


async def test_priming_calls_come_first_once(upstream: Upstream) -> None:
    gateway = Gateway()
    upstream.reply = gateway.reply
    settings = _settings(
        upstream, INTERACTIVE_BROKERS_PRIME="GET /iserver/accounts, POST /iserver/auth/status"
    )
    http, client = await _rest(settings)
    try:
        first = await http.get("/iserver/account/orders")
        second = await http.get("/iserver/account/orders")
    finally:
        await http.close()
        await client.close()
    assert (first.status, second.status) == (200, 200)
    assert [(m, p.removeprefix("/v1/api")) for _, m, p in upstream.seen] == [
        ("GET", "/iserver/accounts"),
        ("POST", "/iserver/auth/status"),
        ("GET", "/iserver/account/orders"),
        ("GET", "/iserver/account/orders"),
    ]


async def test_without_priming_the_gateway_refuses(upstream: Upstream) -> None:
    upstream.reply = Gateway().reply
    http, client = await _rest(_settings(upstream))
    try:
        response = await http.get("/iserver/account/orders")
        assert response.status == 500  # the upstream's answer, passed through
        assert await response.json() == {"error": "Please query /accounts first"}
    finally:
        await http.close()
        await client.close()


async def test_failed_priming_still_sends_and_is_retried_later(upstream: Upstream) -> None:
    gateway = Gateway()
    gateway.accounts_status = 401  # not logged in yet
    upstream.reply = gateway.reply
    http, client = await _rest(_settings(upstream, INTERACTIVE_BROKERS_PRIME="/iserver/accounts"))
    try:
        assert (await http.get("/iserver/account/orders")).status == 500
        assert (await http.get("/iserver/account/orders")).status == 500
        assert upstream.calls("/iserver/accounts") == 1  # not before PRIME_RETRY_SECONDS
        gateway.accounts_status = 200  # the user logged in
        client._prime_after.clear()  # as if PRIME_RETRY_SECONDS had passed
        assert (await http.get("/iserver/account/orders")).status == 200
        assert upstream.calls("/iserver/accounts") == 2
    finally:
        await http.close()
        await client.close()


async def test_a_dead_session_is_primed_again(upstream: Upstream) -> None:
    gateway = Gateway()
    upstream.reply = gateway.reply
    settings = _settings(
        upstream,
        INTERACTIVE_BROKERS_PRIME="GET /iserver/accounts",
        INTERACTIVE_BROKERS_KEEPALIVE_PATH="/tickle",
        INTERACTIVE_BROKERS_KEEPALIVE_INTERVAL="0.05",
    )
    http, client = await _rest(settings)
    try:
        assert (await http.get("/iserver/account/orders")).status == 200
        # The gateway restarts (nightly reset): the session dies, then comes back unprimed.
        gateway.alive, gateway.primed = False, False
        await asyncio.sleep(0.3)
        gateway.alive = True
        await asyncio.sleep(0.3)
        assert (await http.get("/iserver/account/orders")).status == 200
        assert upstream.calls("/iserver/accounts") == 2
    finally:
        await http.close()
        await client.close()


def test_priming_setting_is_checked(upstream: Upstream) -> None:
    from interactive_brokers.settings import ConfigError

    with pytest.raises(ConfigError, match="INTERACTIVE_BROKERS_PRIME lists calls like"):
        _settings(upstream, INTERACTIVE_BROKERS_PRIME="DELETE /x")
    with pytest.raises(ConfigError, match="INTERACTIVE_BROKERS_PRIME"):
        _settings(upstream, INTERACTIVE_BROKERS_PRIME="GET iserver/accounts")


async def _mcp_call(settings, name: str, arguments: dict[str, Any]):
    client = UpstreamClient(settings)
    await client.start()
    try:
        async with Client(create_server(client)) as mcp:
            return await mcp.call_tool(name, arguments)
    finally:
        await client.close()


ORDER = {
    "accountId": "DU1234567",
    "body": {"orders": [{"conid": 265598, "side": "BUY", "quantity": 1}]},
}


async def test_an_agent_cannot_place_an_order_without_confirming(upstream: Upstream) -> None:
    settings = _settings(upstream)
    client = UpstreamClient(settings)
    await client.start()
    try:
        async with Client(create_server(client)) as mcp:
            preview = await mcp.call_tool("placeorder", ORDER)
            assert not preview.is_error
            data = preview.structured_content
            assert data is not None and data["confirmation_required"] is True
            assert data["request"]["method"] == "POST"
            assert data["request"]["url"].endswith("/iserver/account/DU1234567/orders")
            assert data["request"]["body"] == ORDER["body"]
            assert "NOT SENT" in preview.content[0].text
            assert upstream.seen == []
            # A token for other arguments does not work.
            other = {
                **ORDER,
                "accountId": "DU7654321",
                "confirmation_token": data["confirmation_token"],
            }
            assert (await mcp.call_tool("placeorder", other)).is_error
            assert upstream.seen == []
            sent = await mcp.call_tool(
                "placeorder", {**ORDER, "confirmation_token": data["confirmation_token"]}
            )
            assert not sent.is_error
            assert upstream.calls("/orders") == 1
            replay = await mcp.call_tool(
                "placeorder", {**ORDER, "confirmation_token": data["confirmation_token"]}
            )
            assert replay.is_error and "already used" in replay.content[0].text
            assert upstream.calls("/orders") == 1
    finally:
        await client.close()


async def test_expired_confirmation_is_refused(upstream: Upstream) -> None:
    settings = _settings(upstream, ADAPTER_CONFIRM_TTL="1")
    client = UpstreamClient(settings)
    await client.start()
    try:
        async with Client(create_server(client)) as mcp:
            token = (await mcp.call_tool("placeorder", ORDER)).structured_content[
                "confirmation_token"
            ]
            await asyncio.sleep(2.1)
            late = await mcp.call_tool("placeorder", {**ORDER, "confirmation_token": token})
            assert late.is_error and "expired" in late.content[0].text
    finally:
        await client.close()
    assert upstream.seen == []


async def test_confirmation_tokens_work_across_replicas_with_a_shared_key(
    upstream: Upstream,
) -> None:
    first = await _mcp_call(_settings(upstream, ADAPTER_CONFIRM_KEY="shared"), "placeorder", ORDER)
    token = first.structured_content["confirmation_token"]
    second = await _mcp_call(
        _settings(upstream, ADAPTER_CONFIRM_KEY="shared"),
        "placeorder",
        {**ORDER, "confirmation_token": token},
    )
    assert not second.is_error
    assert upstream.calls("/orders") == 1


@pytest.mark.parametrize(
    ("policy", "confirmed"),
    [
        ("off", False),
        ("destructive", False),
        ("writes", True),
        ("placeorder", True),
        ("getaccounts", False),
    ],
)
async def test_confirmation_policy(upstream: Upstream, policy: str, confirmed: bool) -> None:
    result = await _mcp_call(_settings(upstream, ADAPTER_CONFIRM=policy), "placeorder", ORDER)
    assert not result.is_error
    assert bool((result.structured_content or {}).get("confirmation_required")) is confirmed
    assert upstream.calls("/orders") == (0 if confirmed else 1)


async def test_read_only_tools_never_need_confirmation(upstream: Upstream) -> None:
    result = await _mcp_call(
        _settings(upstream), "getpositions", {"accountId": "DU1234567", "pageId": "0"}
    )
    assert not result.is_error
    assert "confirmation_required" not in json.dumps(result.structured_content)


@pytest.mark.parametrize(("accept", "sent"), [(True, 1), (False, 0)])
async def test_clients_with_elicitation_are_asked_directly(
    upstream: Upstream, accept: bool, sent: int
) -> None:
    import mcp.types as types

    asked: list[str] = []

    async def answer(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        if accept:
            return types.ElicitResult(action="accept", content={"confirm": True})
        return types.ElicitResult(action="decline")

    client = UpstreamClient(_settings(upstream))
    await client.start()
    try:
        # The 2025-11-25 era has a back-channel for server-initiated requests: the user is asked.
        async with Client(create_server(client), elicitation_callback=answer, mode="legacy") as mcp:
            result = await mcp.call_tool("placeorder", ORDER)
        assert (
            len(asked) == 1
            and "POST" in asked[0]
            and "/iserver/account/DU1234567/orders" in asked[0]
        )
        assert result.is_error is (not accept)
        assert upstream.calls("/orders") == sent
        # 2026-07-28 has none (stateless): the two-step preview is the fallback, nothing is sent.
        async with Client(
            create_server(client), elicitation_callback=answer, mode="2026-07-28"
        ) as mcp:
            preview = await mcp.call_tool("placeorder", ORDER)
        assert preview.structured_content["confirmation_required"] is True
        assert len(asked) == 1 and upstream.calls("/orders") == sent
    finally:
        await client.close()


# --------------------------------------------------------------------------- shared state
# With a real Redis: tests/e2e/test_shared_state_e2e.py. Here: a store that never answers.


def _closed_store() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"redis://:hunter2-secret@127.0.0.1:{sock.getsockname()[1]}/0"


async def test_an_unreachable_store_fails_confirmations_closed(upstream: Upstream) -> None:
    settings = _settings(upstream, ADAPTER_STATE_URL=_closed_store())
    preview = await _mcp_call(settings, "placeorder", ORDER)  # no token can be issued
    assert preview.is_error
    data = preview.structured_content
    assert data is not None and data["status"] == 503 and data["retryable"] is True
    assert "nothing was sent" in data["error"] and "hunter2" not in data["error"]
    forged = await _mcp_call(settings, "placeorder", {**ORDER, "confirmation_token": "1.2.3.4"})
    assert forged.is_error  # a token that does not match is refused before the store is asked
    assert upstream.seen == []


async def test_an_unreachable_store_paces_per_process_and_is_not_ready(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(
        upstream, ADAPTER_STATE_URL=_closed_store(), INTERACTIVE_BROKERS_RATE_LIMIT="5/s"
    )
    http, client = await _rest(settings)
    try:
        responses = [await http.get("/iserver/accounts") for _ in range(3)]
        assert [r.status for r in responses] == [200] * 3
        ready = await http.get("/_adapter/ready")
        assert ready.status == 503
        assert (await ready.json())["store"] == {"ok": False}
    finally:
        await http.close()
        await client.close()
    times = [t for t, _, path in upstream.seen if path.endswith("/iserver/accounts")]
    assert times[-1] - times[0] >= 2 / 5 - 0.02  # the process's own limiter still paces
    warnings = [r.getMessage() for r in caplog.records if "store unreachable" in r.getMessage()]
    assert sum("pacing falls back" in w for w in warnings) == 1  # once per outage
    assert all("hunter2" not in r.getMessage() for r in caplog.records)


def test_the_state_url_must_name_redis() -> None:
    from interactive_brokers.settings import ConfigError

    with pytest.raises(ConfigError, match="ADAPTER_STATE_URL must be a redis://") as refused:
        load_settings({"INTERACTIVE_BROKERS_TOKEN": "t", "ADAPTER_STATE_URL": "http://u:pw@h/"})
    assert "pw" not in str(refused.value)


def test_without_a_state_url_the_start_up_log_says_what_is_per_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from interactive_brokers.serve import _log_state

    caplog.set_level("INFO")
    _log_state(load_settings({"INTERACTIVE_BROKERS_TOKEN": "t"}))
    assert caplog.messages == [
        "ADAPTER_STATE_URL is not set: single use of confirmation tokens and pacing, keep-alive"
        " and priming calls hold per process"
    ]
