"""Scale-out: replicas and workers of the generated package sharing state through a real Redis
(``ADAPTER_STATE_URL``): single-use confirmations, one pacing limiter, one keep-alive and one
priming round for the fleet; the store killed and restarted under it.

The Redis is Debian's ``redis-server`` started by the fixture on a free loopback port with no
persistence (a restart loses every key, the worst case for single use). ``.ci/run`` installs it;
elsewhere the module skips when the binary is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
from mcp import Client
from mcp.types import CallToolResult

from .conftest import TOKEN, AdapterProcess, FakeUpstream, check_stopped, free_port

pytestmark = pytest.mark.asyncio

REDIS_SERVER = shutil.which("redis-server")
if REDIS_SERVER is None:
    if os.environ.get("CI"):
        raise RuntimeError("redis-server is missing in CI: .ci/run installs Debian's redis-server")
    pytest.skip(
        "redis-server is not installed (Debian: apt-get install redis-server)",
        allow_module_level=True,
    )

CONFIRM_KEY = "fleet-confirm-key-0123456789abcdef"
ORDER = {"orders": [{"conid": 265598, "side": "BUY", "quantity": 1, "orderType": "MKT"}]}
ORDERS_PATH = "/iserver/account/U1234567/orders"
MODE = "2026-07-28"


class RedisServer:
    """``redis-server`` on a loopback port, killed and restarted on demand (same port)."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_path = log_dir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def start(self) -> RedisServer:
        assert REDIS_SERVER is not None
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--protected-mode", "yes"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis.ConnectionError):
                if self.client().ping():
                    return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start:\n" + self.log_path.read_text())
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the store vanishes with everything it held."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture(scope="module")
def store(e2e_logs: Path) -> Iterator[RedisServer]:
    server = RedisServer(e2e_logs).start()
    yield server
    server.kill()


@pytest.fixture
def fresh_store(store: RedisServer) -> RedisServer:
    if store.process is None or store.process.poll() is not None:
        store.start()
    store.client().flushall()
    return store


@contextlib.contextmanager
def fleet(*adapters: AdapterProcess) -> Iterator[tuple[AdapterProcess, ...]]:
    """Start *adapters* together (their start-up overlaps), stop them with SIGTERM, check logs."""
    for adapter in adapters:
        adapter.launch()
    try:
        for adapter in adapters:
            adapter.wait_ready()
        yield adapters
    finally:
        for adapter in adapters:
            if adapter.process is not None and adapter.process.poll() is None:
                adapter.terminate()
        for adapter in adapters:
            try:
                check_stopped(adapter, adapter.wait())
            finally:
                adapter.kill()
            assert "redis://" not in adapter.log_text()  # the store URL is never logged


def replica(
    name: str,
    logs: Path,
    upstream: FakeUpstream,
    store: RedisServer,
    command: str = "serve",
    **env: str,
) -> AdapterProcess:
    """One replica of the package with the default policies, sharing *store* and the signing key."""
    settings = {"ADAPTER_STATE_URL": store.url, "ADAPTER_CONFIRM_KEY": CONFIRM_KEY, **env}
    return AdapterProcess(name, logs, upstream.base_url, command, policies=True, **settings)


@contextlib.asynccontextmanager
async def mcp(adapter: AdapterProcess) -> AsyncIterator[Client]:
    async with Client(adapter.mcp_url, mode=MODE, read_timeout_seconds=15) as client:
        yield client


def data(result: CallToolResult) -> dict[str, Any]:
    assert isinstance(result.structured_content, dict), result
    return result.structured_content


async def preview_token(client: Client, cid: str) -> tuple[dict[str, Any], str]:
    arguments = {"accountId": "U1234567", "body": {**ORDER, "cOID": cid}}
    preview = await client.call_tool("placeorder", arguments)
    assert preview.is_error is False, preview
    assert data(preview)["confirmation_required"] is True
    return arguments, data(preview)["confirmation_token"]


def orders(upstream: FakeUpstream) -> list[Any]:
    return [
        r.json() for r in upstream.requests if r.method == "POST" and r.path.endswith(ORDERS_PATH)
    ]


async def test_a_token_redeemed_on_one_replica_is_refused_on_every_other(
    upstream: FakeUpstream, fresh_store: RedisServer, e2e_logs: Path
) -> None:
    upstream.answer(body=b'[{"order_id": "1"}]')
    with fleet(
        replica("replica-a", e2e_logs, upstream, fresh_store, "mcp"),
        replica("replica-b", e2e_logs, upstream, fresh_store, "mcp"),
    ) as (a, b):
        async with mcp(a) as on_a, mcp(b) as on_b:
            arguments, token = await preview_token(on_a, "single-use")
            confirmed = {**arguments, "confirmation_token": token}
            sent = await on_b.call_tool("placeorder", confirmed)  # issued on A, redeemed on B
            assert sent.is_error is False, sent
            for client in (on_a, on_b):
                again = await client.call_tool("placeorder", confirmed)
                assert again.is_error is True
                assert data(again)["status"] == 409
                assert "already used" in data(again)["error"]
        assert a.log_text().count("hold across every process that shares ADAPTER_STATE_URL") == 1
    assert orders(upstream) == [{**ORDER, "cOID": "single-use"}]


async def test_fifty_concurrent_redemptions_across_two_replicas_send_one_order(
    upstream: FakeUpstream, fresh_store: RedisServer, e2e_logs: Path
) -> None:
    upstream.answer(body=b'[{"order_id": "2"}]')
    with fleet(
        replica("race-a", e2e_logs, upstream, fresh_store, "mcp"),
        replica("race-b", e2e_logs, upstream, fresh_store, "mcp"),
    ) as (a, b):
        async with mcp(a) as on_a, mcp(b) as on_b:
            arguments, token = await preview_token(on_a, "race")
            confirmed = {**arguments, "confirmation_token": token}
            results = await asyncio.gather(
                *(client.call_tool("placeorder", confirmed) for client in [on_a, on_b] * 25)
            )
    assert len(results) == 50
    accepted = [r for r in results if not r.is_error]
    refused = [data(r) for r in results if r.is_error]
    assert len(accepted) == 1
    assert len(refused) == 49 and {r["status"] for r in refused} == {409}
    assert len(orders(upstream)) == 1


async def test_a_burst_over_workers_and_replicas_keeps_one_rate_at_the_upstream(
    upstream: FakeUpstream, fresh_store: RedisServer, e2e_logs: Path
) -> None:
    rate = 25  # 40 ms apart: a sending process would have to stall that long to bunch two
    pacing = {
        "INTERACTIVE_BROKERS_RATE_LIMIT": f"{rate}/s",
        "INTERACTIVE_BROKERS_RATE_WAIT": "30",
        "ADAPTER_WORKERS": "3",
    }
    with fleet(
        replica("paced-a", e2e_logs, upstream, fresh_store, "rest", **pacing),
        replica("paced-b", e2e_logs, upstream, fresh_store, "rest", **pacing),
    ) as adapters:
        timeout = aiohttp.ClientTimeout(total=60)
        # A connection per request, so the kernel spreads them over each replica's 3 workers.
        connector = aiohttp.TCPConnector(force_close=True, limit=0)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:

            async def call(url: str) -> int:
                async with http.get(url + "/iserver/accounts") as response:
                    await response.read()
                    return response.status

            started = time.monotonic()
            statuses = await asyncio.gather(*(call(adapters[i % 2].rest_url) for i in range(300)))
            elapsed = time.monotonic() - started
    assert statuses == [200] * 300
    times = sorted(r.at for r in upstream.requests if r.path.endswith("/iserver/accounts"))
    assert len(times) == 300
    # In any one-second window the upstream sees at most the rate (+1 for the window's far edge),
    # where six processes pacing on their own would send six times that.
    worst = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
    assert worst <= rate + 1, worst
    assert times[-1] - times[0] >= 299 / rate - 0.05
    assert elapsed < 299 / rate + 5  # and the fleet's rate is used: no process idles on a share


async def test_keep_alive_and_priming_run_once_for_the_fleet(
    upstream: FakeUpstream, fresh_store: RedisServer, e2e_logs: Path
) -> None:
    interval = 0.5
    policies = {
        "INTERACTIVE_BROKERS_KEEPALIVE_PATH": "/tickle",
        "INTERACTIVE_BROKERS_KEEPALIVE_INTERVAL": str(interval),
        "INTERACTIVE_BROKERS_PRIME": "GET /iserver/accounts",
        "ADAPTER_WORKERS": "2",
    }
    with fleet(
        replica("alive-a", e2e_logs, upstream, fresh_store, "rest", **policies),
        replica("alive-b", e2e_logs, upstream, fresh_store, "rest", **policies),
    ) as adapters:
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http:
            for i in range(20):  # over both replicas and their workers
                async with http.get(
                    adapters[i % 2].rest_url + "/portfolio/U1234567/summary"
                ) as response:
                    assert response.status == 200
            window_start = time.monotonic()
            await asyncio.sleep(3.0)
            tickles = [r.at for r in upstream.requests if r.path.endswith("/tickle")]
    in_window = [t for t in tickles if t >= window_start]
    # One lease holder tickles each interval (4 processes on their own: ~24 in 3 s).
    assert 3 <= len(in_window) <= 3.0 / interval + 2, in_window
    primes = [r for r in upstream.requests if r.path.endswith("/iserver/accounts")]
    assert len(primes) == 1, [r.target for r in upstream.requests]


async def test_a_dead_store_fails_confirmations_closed_and_the_fleet_recovers_alone(
    upstream: FakeUpstream, fresh_store: RedisServer, e2e_logs: Path
) -> None:
    upstream.answer(body=b'[{"order_id": "3"}]')
    pacing = {"INTERACTIVE_BROKERS_RATE_LIMIT": "50/s"}
    with fleet(replica("outage", e2e_logs, upstream, fresh_store, **pacing)) as (adapter,):
        async with mcp(adapter) as client, aiohttp.ClientSession() as http:
            arguments, token = await preview_token(client, "before-outage")
            sent = await client.call_tool("placeorder", {**arguments, "confirmation_token": token})
            assert sent.is_error is False, sent
            arguments2, pending = await preview_token(client, "during-outage")
            assert len(orders(upstream)) == 1

            fresh_store.kill()
            refused = await client.call_tool(
                "placeorder", {**arguments2, "confirmation_token": pending}
            )
            assert refused.is_error is True
            assert data(refused)["status"] == 503 and data(refused)["retryable"] is True
            assert "nothing was sent" in data(refused)["error"]
            no_preview = await client.call_tool(
                "placeorder", {**arguments2, "body": {**ORDER, "cOID": "x"}}
            )
            assert no_preview.is_error is True and data(no_preview)["status"] == 503
            assert len(orders(upstream)) == 1  # fail closed: no order while the store is down

            # Pacing falls back to this process's share; readiness says the store is down.
            async with http.get(adapter.rest_url + "/iserver/accounts") as response:
                assert response.status == 200
            assert await ready(http, adapter, 503) == {"ok": False}

            fresh_store.start()  # empty: every key it held is gone
            replay = await client.call_tool(
                "placeorder", {**arguments, "confirmation_token": token}
            )
            assert replay.is_error is True and data(replay)["status"] == 409
            assert "lost its data" in data(replay)["error"]
            stale = await client.call_tool(
                "placeorder", {**arguments2, "confirmation_token": pending}
            )
            assert stale.is_error is True and data(stale)["status"] == 409
            assert len(orders(upstream)) == 1  # nothing sent twice

            arguments3, fresh = await preview_token(client, "after-outage")
            resent = await client.call_tool(
                "placeorder", {**arguments3, "confirmation_token": fresh}
            )
            assert resent.is_error is False, resent
            assert await ready(http, adapter, 200) == {"ok": True}
    assert [o["cOID"] for o in orders(upstream)] == ["before-outage", "after-outage"]
    log = adapter.log_text()
    assert "shared state store reachable again" in log
    for fallback in ("confirmations fail closed", "pacing falls back to this process's share"):
        assert log.count(fallback) == 1, fallback  # warned once per outage
    assert TOKEN not in log


async def ready(http: aiohttp.ClientSession, adapter: AdapterProcess, status: int) -> Any:
    """Poll /_adapter/ready (it caches for a few seconds) until it answers *status*; its store entry."""
    deadline = time.monotonic() + 10
    while True:
        async with http.get(adapter.rest_url + "/_adapter/ready") as response:
            document = json.loads(await response.read())
            if response.status == status:
                return document.get("store")
        assert time.monotonic() < deadline, document
        await asyncio.sleep(0.25)
