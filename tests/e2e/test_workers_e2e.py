"""End-to-end serving settings: ``ADAPTER_WORKERS`` (REST adapter processes sharing the port), the
event loop and the access log.

Which process answered is read from ``/proc/<pid>/io`` (bytes each process wrote): a process
that served a response wrote to its socket.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .conftest import AdapterProcess, FakeUpstream, running_adapter

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="reads /proc (Linux)"),
]


def children(pid: int) -> list[int]:
    """The direct child processes of *pid*."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def written(pid: int) -> int:
    """Bytes *pid* has written through system calls so far."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError(f"no wchar for {pid}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


async def fetch_fresh(url: str) -> tuple[int, bytes]:
    """One request on a connection of its own (so the kernel picks a listening socket anew)."""
    connector = aiohttp.TCPConnector(force_close=True)
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
        session.get(url) as response,
    ):
        return response.status, await response.read()


async def wait_until(check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def first_and_worker(adapter: AdapterProcess) -> tuple[int, int]:
    """The pids of an ``ADAPTER_WORKERS=2`` adapter's first process and its worker, once forked."""
    assert adapter.process is not None
    first = adapter.process.pid
    await wait_until(lambda: len(children(first)) == 1, 5)
    (worker,) = children(first)
    return first, worker


async def test_two_workers_share_the_port_and_drain_on_sigterm(
    fake_upstream: FakeUpstream, e2e_logs: Any
) -> None:
    """ADAPTER_WORKERS=2 (on asyncio's own event loop): two processes serve the REST port, MCP
    stays in the first; SIGTERM to the first drains both (in-flight requests complete) and
    the first exits 0 after the worker."""
    fake_upstream.reset()
    with running_adapter(
        "workers-2",
        e2e_logs,
        fake_upstream.base_url,
        ADAPTER_WORKERS="2",
        ADAPTER_EVENT_LOOP="asyncio",
        INTERACTIVE_BROKERS_TIMEOUT="5",
    ) as adapter:
        first, worker = await first_and_worker(adapter)
        before = {pid: written(pid) for pid in (first, worker)}
        url = f"{adapter.rest_url}/iserver/accounts"
        results = await asyncio.gather(*(fetch_fresh(url) for _ in range(40)))
        assert {status for status, _ in results} == {200}
        # the kernel spread the 40 connections over both processes (all on one: p = 2^-39)
        assert all(written(pid) > before[pid] for pid in (first, worker))
        assert "processes: 2; event loop: asyncio" in adapter.log_text()

        fake_upstream.answer(delay=1.0, body=b'{"slow": true}')
        in_flight = [asyncio.create_task(fetch_fresh(url)) for _ in range(16)]
        await fake_upstream.wait_for_requests(40 + 16)
        adapter.terminate()
        for status, body in await asyncio.wait_for(asyncio.gather(*in_flight), 10):
            assert (status, body) == (200, b'{"slow": true}')
        assert await asyncio.to_thread(adapter.wait, 10) == 0
        assert not alive(worker)
    log = adapter.log_text()
    assert "Traceback" not in log
    assert log.count("/iserver/accounts 200") == 56  # every request logged, by either process


async def test_a_dead_worker_stops_every_process(
    fake_upstream: FakeUpstream, e2e_logs: Any
) -> None:
    """A worker killed outright: the first process notices, stops, and exits 1 (for the
    supervisor to restart the service); a first process killed outright: the worker stops."""
    fake_upstream.reset()
    adapter = AdapterProcess(
        "workers-dead", e2e_logs, fake_upstream.base_url, "rest", ADAPTER_WORKERS="2"
    ).start()
    try:
        _, worker = await first_and_worker(adapter)
        os.kill(worker, signal.SIGKILL)
        assert await asyncio.to_thread(adapter.wait, 10) == 1
        assert f"REST worker {worker} exited: stopping every process" in adapter.log_text()
    finally:
        adapter.kill()

    orphaned = AdapterProcess(
        "workers-orphan", e2e_logs, fake_upstream.base_url, "rest", ADAPTER_WORKERS="2"
    ).start()
    try:
        _, worker = await first_and_worker(orphaned)
        orphaned.kill()  # SIGKILL: no chance to pass SIGTERM on
        await wait_until(lambda: not alive(worker), 5)
        assert "the first process is gone: stopping this worker" in orphaned.log_text()
    finally:
        orphaned.kill()
        if alive(worker):
            os.kill(worker, signal.SIGKILL)


async def test_a_port_in_use_is_an_error_with_workers_too(
    fake_upstream: FakeUpstream, e2e_logs: Any
) -> None:
    """SO_REUSEPORT sockets would silently share a port with another adapter: the first bind
    is exclusive, so a second instance on the same port fails at start-up."""
    with running_adapter(
        "workers-holder", e2e_logs, fake_upstream.base_url, "rest", ADAPTER_WORKERS="2"
    ) as holder:
        second = AdapterProcess(
            "workers-second", e2e_logs, fake_upstream.base_url, "rest", ADAPTER_WORKERS="2"
        )
        second.rest_port = holder.rest_port
        second.launch()
        assert await asyncio.to_thread(second.wait, 10) == 1
        assert f"cannot listen on 127.0.0.1:{holder.rest_port}" in second.log_text()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ADAPTER_WORKERS", "0", "ADAPTER_WORKERS must be at least 1"),
        ("ADAPTER_WORKERS", "two", "ADAPTER_WORKERS must be a number"),
        ("ADAPTER_EVENT_LOOP", "trio", "ADAPTER_EVENT_LOOP must be auto, asyncio or uvloop"),
    ],
)
async def test_bad_serving_settings_are_refused(
    name: str, value: str, message: str, fake_upstream: FakeUpstream, e2e_logs: Any
) -> None:
    adapter = AdapterProcess(
        f"bad-{name}-{value}", e2e_logs, fake_upstream.base_url, "rest", **{name: value}
    ).launch()
    assert await asyncio.to_thread(adapter.wait, 10) == 2
    assert message in adapter.log_text()


async def test_access_log_can_be_switched_off(fake_upstream: FakeUpstream, e2e_logs: Any) -> None:
    fake_upstream.reset()
    with running_adapter(
        "no-access-log", e2e_logs, fake_upstream.base_url, "rest", ADAPTER_ACCESS_LOG="false"
    ) as adapter:
        status, _ = await fetch_fresh(f"{adapter.rest_url}/iserver/accounts")
        assert status == 200
        await asyncio.sleep(0.1)
        assert "interactive_brokers.access" not in adapter.log_text()


_ACCESS_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO interactive_brokers\.access: "
    r"GET (/iserver/accounts|/_adapter/health) 200 \d+\.\dms id=([0-9a-f]{32}|t\d{4})"
)


async def test_access_lines_survive_sigkill_and_stay_whole_across_workers(
    fake_upstream: FakeUpstream, e2e_logs: Any
) -> None:
    """Two workers logging to one file, both killed outright (SIGKILL) the moment the last
    response arrives: every request has its access line, each line whole (no two interleaved,
    none cut) and none twice. A line is written before its response leaves, so a kill can
    lose none, and nothing waits in a buffer or a queue."""
    fake_upstream.reset()
    adapter = AdapterProcess(
        "workers-sigkill-log", e2e_logs, fake_upstream.base_url, "rest", ADAPTER_WORKERS="2"
    ).start()
    sent = [f"t{n:04d}" for n in range(300)]
    try:
        first, worker = await first_and_worker(adapter)
        before = {pid: written(pid) for pid in (first, worker)}
        url = f"{adapter.rest_url}/iserver/accounts"
        pending = iter(sent)
        # 50 connections per session, each closed after its request: the kernel spreads the
        # connections over both processes' sockets.
        connector = aiohttp.TCPConnector(limit=50, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def client() -> list[int]:
                statuses = []
                for request_id in pending:
                    async with session.get(url, headers={"X-Request-Id": request_id}) as reply:
                        await reply.read()
                        statuses.append(reply.status)
                return statuses

            results = await asyncio.gather(*(client() for _ in range(50)))
        assert [s for statuses in results for s in statuses] == [200] * len(sent)
        assert all(written(pid) > before[pid] for pid in (first, worker)), "one process served all"
        os.kill(worker, signal.SIGKILL)
    finally:
        adapter.kill()  # the first process (SIGKILL), right after its worker
    lines = [line for line in adapter.log_text().splitlines() if ".access:" in line]
    matches = [(line, _ACCESS_LINE.fullmatch(line)) for line in lines]
    torn = [line for line, match in matches if match is None]
    assert torn == [], f"access lines not whole: {torn[:3]}"
    ids = [m.group(2) for _, m in matches if m is not None and m.group(1) == "/iserver/accounts"]
    assert sorted(ids) == sent, "an access line was lost or written twice"
