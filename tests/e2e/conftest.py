"""Fixtures for the end-to-end tests.

* ``FakeUpstream``: an aiohttp server on a free 127.0.0.1 port, run in its own thread and event
  loop, that records every request exactly as received (method, raw request target, headers,
  body) and answers what the test told it to (status, body, content type, delay, or dropping
  the connection).
* ``AdapterProcess``: the generated package started for real with
  ``python -m interactive_brokers serve`` (cwd = ``generated/interactive_brokers``) on free
  loopback ports, its stdout/stderr captured to a file, stopped with SIGTERM.

Everything binds 127.0.0.1 only. No fixture depends on anything outside this repository.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from multidict import CIMultiDict

REPO = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO / "generated" / "interactive_brokers"
SPEC = REPO / "specs" / "interactive-brokers.yaml"
TOKEN = "tok-SECRET-123"
BASE_PATH = "/v1/api"
UPSTREAM_TIMEOUT = 1.0
MAX_BODY_BYTES = 1000
STARTUP_TIMEOUT = 20.0


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- fake upstream


@dataclass
class Recorded:
    """One request as the fake upstream received it."""

    method: str
    target: str  # the raw request target (path and query, exactly as sent)
    headers: CIMultiDict[str]
    body: bytes
    at: float = 0.0  # time.monotonic() on arrival

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    @property
    def has_query(self) -> bool:
        return "?" in self.target

    @property
    def query_pairs(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query, keep_blank_values=True, strict_parsing=False)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    """What the fake upstream answers."""

    status: int = 200
    body: bytes = b'{"ok": true}'
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the status line
    close: bool = False  # drop the connection instead of answering
    echo: bool = False  # answer {"method", "target"} of the request (JSON) instead of body
    body_delay: float = 0.0  # send the headers and half the body, wait, then the rest
    truncate: bool = False  # announce more bytes than sent, then drop the connection
    raw: bytes | None = None  # write these bytes (not HTTP) and drop the connection


class FakeUpstream:
    """A recording HTTP server in a background thread (usable from sync and async tests)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._reply = Reply()
        self._queue: list[Reply] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.ServerRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What the adapter is configured with (``INTERACTIVE_BROKERS_BASE_URL``)."""
        return self.url + BASE_PATH

    # -- control from the tests

    def answer(self, **reply: Any) -> None:
        """Answer every request with this reply (see ``Reply``)."""
        with self._lock:
            self._reply = Reply(**reply)
            self._queue = []

    def answer_sequence(self, *replies: dict[str, Any]) -> None:
        """Answer the next requests with these replies in turn, then repeat the last one."""
        with self._lock:
            self._queue = [Reply(**reply) for reply in replies]
            self._reply = self._queue.pop()

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._reply = Reply()
            self._queue = []

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def only_request(self) -> Recorded:
        requests = self.requests
        assert len(requests) == 1, f"expected one upstream request, got {requests!r}"
        return requests[0]

    async def wait_for_requests(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"upstream saw {len(self.requests)} requests, wanted {count}")
            await asyncio.sleep(0.01)

    # -- the server

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            self._requests.append(
                Recorded(
                    method=request.method,
                    target=request.raw_path,
                    headers=CIMultiDict(request.headers),
                    body=body,
                    at=time.monotonic(),
                )
            )
            reply = self._queue.pop(0) if self._queue else self._reply
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.close or reply.raw is not None:
            assert request.transport is not None
            if reply.raw is not None:
                request.transport.write(reply.raw)
            request.transport.close()
            return web.Response(status=200)
        headers = dict(reply.headers)
        if reply.content_type is not None:
            headers["Content-Type"] = reply.content_type
        payload = reply.body
        if reply.echo:
            payload = json.dumps({"method": request.method, "target": request.raw_path}).encode()
        if reply.body_delay or reply.truncate:
            stream = web.StreamResponse(status=reply.status, headers=headers)
            stream.content_length = len(payload) + (100 if reply.truncate else 0)
            await stream.prepare(request)
            await stream.write(payload[: len(payload) // 2])
            await asyncio.sleep(reply.body_delay)
            await stream.write(payload[len(payload) // 2 :])
            if reply.truncate:
                assert request.transport is not None
                request.transport.close()
            return stream
        response = web.Response(status=reply.status, body=payload, headers=headers)
        if reply.content_type is None:
            response.headers.pop("Content-Type", None)
        return response

    async def _serve(self) -> None:
        # A low-level server, no router: every request target reaches the handler, even one
        # whose decoded path holds characters no route pattern would match (CR, LF, NUL).
        server = web.Server(self._handle, handler_cancellation=True, access_log=None)
        self._runner = web.ServerRunner(server, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        if self._runner is not None:
            loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def start(self) -> FakeUpstream:
        self._thread = threading.Thread(target=self._run, name="fake-upstream", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise RuntimeError(f"fake upstream failed to start: {self._error!r}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


# --------------------------------------------------------------------------- the adapter


def adapter_env(base_url: str, *, policies: bool = False, **extra: str) -> dict[str, str]:
    """The environment of a generated service: ours, minus any adapter settings, plus *extra*.

    Unless *policies* is true, retries and the MCP confirmation step are switched off, so that
    one call is one upstream exchange; with *policies* the package's defaults apply."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("INTERACTIVE_BROKERS_", "ADAPTER_"))
    }
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "INTERACTIVE_BROKERS_BASE_URL": base_url,
            "INTERACTIVE_BROKERS_TOKEN": TOKEN,
            "INTERACTIVE_BROKERS_TIMEOUT": str(UPSTREAM_TIMEOUT),
            "ADAPTER_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        }
    )
    if not policies:
        # These tests pin the single-request contract; retries, pacing and the two-step
        # confirmation have their own tests (tests/test_policies.py, tests/test_shipping.py,
        # and the "default policies" sections of the e2e modules).
        env.update({"INTERACTIVE_BROKERS_RETRIES": "0", "ADAPTER_CONFIRM": "off"})
    env.update(extra)
    return env


class AdapterProcess:
    """``python -m interactive_brokers serve`` as a subprocess on free loopback ports."""

    def __init__(
        self,
        name: str,
        log_dir: Path,
        base_url: str,
        command: str = "serve",
        *,
        policies: bool = False,
        **env: str,
    ) -> None:
        assert command in ("serve", "rest", "mcp")
        self.name = name
        self.command = command
        self.rest_port = free_port()
        self.mcp_port = free_port()
        self.log_path = log_dir / f"{name}.log"
        self.env = adapter_env(base_url, policies=policies, **env)
        self.process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def mcp_url(self) -> str:
        return f"http://127.0.0.1:{self.mcp_port}/mcp"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> AdapterProcess:
        """Launch the process and wait until it serves."""
        return self.launch().wait_ready()

    def launch(self) -> AdapterProcess:
        """Launch the process without waiting (see ``wait_ready``)."""
        command = [sys.executable, "-m", "interactive_brokers", self.command, "--host", "127.0.0.1"]
        if self.command == "serve":
            command += ["--port", str(self.rest_port), "--mcp-port", str(self.mcp_port)]
        elif self.command == "rest":
            command += ["--port", str(self.rest_port)]
        else:
            command += ["--port", str(self.mcp_port)]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=PACKAGE_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self) -> AdapterProcess:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        # REST: the health endpoint answers 200. MCP only: /mcp answers HTTP at all.
        probe = f"{self.rest_url}/_adapter/health" if self.command != "mcp" else self.mcp_url
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode} during startup:\n"
                    + self.log_text()
                )
            try:
                with urllib.request.urlopen(probe, timeout=1) as response:
                    if response.status == 200:
                        break
            except urllib.error.HTTPError:
                if self.command == "mcp":
                    break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.name} did not become healthy:\n" + self.log_text())
            time.sleep(0.05)
        if self.command == "serve":
            # The MCP socket is bound and listening before the REST site starts serving.
            with socket.create_connection(("127.0.0.1", self.mcp_port), timeout=5):
                pass
        return self

    def terminate(self) -> None:
        """Send SIGTERM (graceful shutdown) without waiting."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 10.0) -> int:
        assert self.process is not None
        try:
            self.returncode = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"{self.name} did not exit {timeout} s after SIGTERM:\n" + self.log_text()
            ) from None
        return self.returncode

    def stop(self, timeout: float = 10.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.terminate()
        return self.wait(timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


def check_stopped(adapter: AdapterProcess, returncode: int) -> None:
    """Teardown checks that hold for every adapter process of this suite."""
    log = adapter.log_text()
    assert TOKEN not in log, f"the upstream token leaked into the {adapter.name} log"
    assert returncode == 0, f"{adapter.name} exited {returncode} after SIGTERM:\n{log}"


@contextlib.contextmanager
def running_adapter(
    name: str,
    log_dir: Path,
    base_url: str,
    command: str = "serve",
    *,
    policies: bool = False,
    **env: str,
) -> Iterator[AdapterProcess]:
    """Start an adapter, yield it, stop it with SIGTERM and check its exit status and log."""
    adapter = AdapterProcess(name, log_dir, base_url, command, policies=policies, **env).start()
    try:
        yield adapter
    finally:
        try:
            returncode = adapter.stop()
        finally:
            adapter.kill()
        check_stopped(adapter, returncode)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture
def upstream(fake_upstream: FakeUpstream) -> Iterator[FakeUpstream]:
    """The shared fake upstream, reset (no requests, default answer) for this test."""
    fake_upstream.reset()
    yield fake_upstream
    fake_upstream.reset()


@pytest.fixture(scope="session")
def e2e_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-logs")


MCP_TOKEN = "mcp-token-XYZ-789"


class Fleet:
    """The long-lived adapters of the session, launched together on first use (their start-up,
    mostly imports, overlaps) and stopped together at the end."""

    def __init__(self, fake: FakeUpstream, log_dir: Path) -> None:
        down = f"http://127.0.0.1:{free_port()}{BASE_PATH}"  # nothing listens there
        self.adapters = {
            # REST + MCP against the fake; 1 s upstream timeout, 1000-byte bodies, single shot.
            "adapter": AdapterProcess("adapter", log_dir, fake.base_url),
            # ... with the package's default policies (retries, MCP confirmation step).
            "policy": AdapterProcess("policy-adapter", log_dir, fake.base_url, policies=True),
            # ... whose upstream is a closed loopback port.
            "down": AdapterProcess("down-adapter", log_dir, down),
            # ... sending no upstream credential, and requiring a bearer token from MCP clients.
            "guarded": AdapterProcess(
                "guarded-adapter",
                log_dir,
                fake.base_url,
                INTERACTIVE_BROKERS_TOKEN="",
                ADAPTER_MCP_TOKEN=MCP_TOKEN,
            ),
        }
        self._ready: set[str] = set()

    def launch(self) -> Fleet:
        for adapter in self.adapters.values():
            adapter.launch()
        return self

    def get(self, name: str) -> AdapterProcess:
        adapter = self.adapters[name]
        if name not in self._ready:
            adapter.wait_ready()
            self._ready.add(name)
        return adapter

    def stop(self) -> None:
        for adapter in self.adapters.values():
            if adapter.process is not None and adapter.process.poll() is None:
                adapter.terminate()
        failures = []
        for adapter in self.adapters.values():
            try:
                check_stopped(adapter, adapter.wait())
            except AssertionError as exc:
                failures.append(str(exc))
            finally:
                adapter.kill()
        assert not failures, "\n".join(failures)


@pytest.fixture(scope="session")
def fleet(fake_upstream: FakeUpstream, e2e_logs: Path) -> Iterator[Fleet]:
    fleet = Fleet(fake_upstream, e2e_logs)
    try:
        yield fleet.launch()
    finally:
        fleet.stop()


@pytest.fixture(scope="session")
def adapter(fleet: Fleet) -> AdapterProcess:
    """REST + MCP (``serve``) against the fake upstream; 1 s upstream timeout, 1000-byte bodies,
    no retries, no MCP confirmation step."""
    return fleet.get("adapter")


@pytest.fixture(scope="session")
def policy_adapter(fleet: Fleet) -> AdapterProcess:
    """Like ``adapter`` but with the package's default upstream policies (retries of idempotent
    calls, two-step confirmation of MCP writes)."""
    return fleet.get("policy")


@pytest.fixture(scope="session")
def down_adapter(fleet: Fleet) -> AdapterProcess:
    """REST + MCP whose upstream base URL points at a closed loopback port."""
    return fleet.get("down")


@pytest.fixture(scope="session")
def guarded_adapter(fleet: Fleet) -> AdapterProcess:
    """REST + MCP with an empty upstream token (no credential sent) and ADAPTER_MCP_TOKEN set."""
    return fleet.get("guarded")


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp client (no cookies kept, no automatic headers beyond aiohttp's own)."""
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(
        timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        yield session
