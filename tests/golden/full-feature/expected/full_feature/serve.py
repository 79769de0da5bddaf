"""Running the adapters: sockets, worker processes, signals, graceful shutdown.

SIGTERM and SIGINT stop accepting connections, let in-flight requests finish, close the
upstream connection pool and return normally (exit status 0).

With ``ADAPTER_WORKERS=N`` the REST adapter runs in N processes: this one and N-1
workers forked from it after start-up, each with its own ``SO_REUSEPORT`` listening socket on
the same port, so the kernel spreads connections over them. Everything else (the MCP server, if
any) stays in this process. SIGTERM to this process is passed on to the workers and every
process drains; a worker that dies stops them all (exit status 1) for the supervisor to restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import importlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from aiohttp import web

from .client import UpstreamClient
from .rest import create_app, listen
from .settings import Settings

# The MCP SDK is imported when the MCP server starts (see run_servers): REST-only runs skip it.
if TYPE_CHECKING:
    from .mcp_server import EmbeddedUvicorn

log = logging.getLogger(__name__)
SHUTDOWN_GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class Listen:
    host: str
    port: int


class StartupError(Exception):
    """The adapters cannot start (e.g. a port is taken); the message says which."""


def bind(listen: Listen, *, reuse_port: bool = False) -> socket.socket:
    """Bind a listening socket up front so a taken port is a clear error, not a stack trace."""
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP; without it small responses wait ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((listen.host, listen.port))
    except OSError as exc:
        sock.close()
        raise StartupError(
            f"cannot listen on {listen.host}:{listen.port}: {exc.strerror}"
        ) from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def bind_rest(listen: Listen, processes: int) -> list[socket.socket]:
    """One listening socket per REST process, all on the same port (``SO_REUSEPORT``)."""
    if processes == 1:
        return [bind(listen)]
    # An exclusive bind first: a port anyone holds (another adapter with workers too) is an error.
    bind(listen).close()
    first = bind(listen, reuse_port=True)
    port = first.getsockname()[1]  # the port the kernel chose, for --port 0
    return [first] + [
        bind(Listen(listen.host, port), reuse_port=True) for _ in range(processes - 1)
    ]


class Workers:
    """The forked REST workers, as seen from the first process."""

    def __init__(self) -> None:
        self.running: set[int] = set()
        self.failed = False  # a worker exited with an error or had to be killed
        self.stopping = False  # told to stop (see terminate)

    def reap(self) -> list[int]:
        """Collect the workers that have exited; their pids."""
        gone = []
        for pid in sorted(self.running):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self.running.discard(pid)
                gone.append(pid)
                code = os.waitstatus_to_exitcode(status)
                # A worker told to stop before its signal handlers were set dies of that SIGTERM:
                # it had not served anything yet, so that is a clean stop too.
                self.failed |= code != 0 and not (self.stopping and code == -signal.SIGTERM)
        return gone

    def terminate(self) -> None:
        """Ask every worker to drain and exit."""
        self.stopping = True
        for pid in self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def wait(self, timeout: float) -> None:
        """Wait for the workers to exit; SIGKILL those still draining after *timeout* seconds."""
        deadline = time.monotonic() + timeout
        while self.running and time.monotonic() < deadline:
            if not self.reap():
                time.sleep(0.05)
        for pid in self.running:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            self.failed = True
        self.running.clear()


async def _watch_workers(workers: Workers, stop: asyncio.Event) -> None:
    """In the first process: a worker that exits while serving stops every process.
    (Polled: uvloop keeps SIGCHLD to itself.)"""
    while not stop.is_set():  # (once stopping, workers exit as told: Workers.wait sees them)
        if gone := workers.reap():
            log.error("REST worker %s exited: stopping every process", ", ".join(map(str, gone)))
            workers.failed = True
            stop.set()
        else:
            await asyncio.sleep(1.0)


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """In a worker: stop when the first process is gone (killed before it could pass SIGTERM on)."""
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    log.warning("the first process is gone: stopping this worker")
    stop.set()


async def run_servers(
    settings: Settings,
    rest_socket: socket.socket | None = None,
    mcp_socket: socket.socket | None = None,
    *,
    workers: Workers | None = None,
    parent: int | None = None,
) -> None:
    """Serve on the bound sockets until SIGTERM/SIGINT, then drain in-flight requests and return.

    In the first process *workers* are the forked REST workers: they are told to stop with it,
    and one that exits stops everything. In a worker, *parent* is the first process's pid.
    """
    client = UpstreamClient(settings)
    await client.start()
    if parent is None:
        _log_state(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if workers is not None and workers.running:
        watch: asyncio.Task[None] | None = asyncio.create_task(_watch_workers(workers, stop))
    elif parent is not None:
        watch = asyncio.create_task(_watch_parent(parent, stop))
    else:
        watch = None
    runner: web.AppRunner | None = None
    rest_listener: asyncio.AbstractServer | None = None
    mcp_server: EmbeddedUvicorn | None = None
    mcp_task: asyncio.Task[None] | None = None
    try:
        if rest_socket is not None:
            runner = web.AppRunner(
                create_app(settings, client),
                access_log=None,
                shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
            )
            await runner.setup()
            rest_listener = await listen(runner, rest_socket)
            if parent is None:  # (workers start quietly)
                host, port = rest_socket.getsockname()[:2]
                processes = 1 + len(workers.running) if workers is not None else 1
                log.info(
                    "REST adapter on http://%s:%d (health: /_adapter/health; processes: %d; event loop: %s)",
                    host,
                    port,
                    processes,
                    settings.event_loop,
                )
        if mcp_socket is not None:
            # The MCP SDK is loaded only now, off the event loop: REST serves meanwhile, and the
            # socket is listening already (connections wait in its backlog).
            await asyncio.to_thread(importlib.import_module, ".mcp_server", __package__)
            gc.freeze()  # the SDK's objects too (see serve): a full collection would take ~60 ms
            from .mcp_server import http_server

            host, port = mcp_socket.getsockname()[:2]
            mcp_server = http_server(client, settings, host, SHUTDOWN_GRACE_SECONDS)
            mcp_task = asyncio.create_task(mcp_server.serve(sockets=[mcp_socket]))
            log.info("MCP server on http://%s:%d/mcp", host, port)
        await stop.wait()
        if workers is not None:
            workers.terminate()  # they drain in parallel with this process
        if parent is None:
            log.info("shutting down: draining in-flight requests")
    finally:
        if mcp_server is not None and mcp_task is not None:
            mcp_server.should_exit = True
            await mcp_task
        if rest_listener is not None:
            rest_listener.close()  # stop accepting; runner.cleanup() drains the connections
        if runner is not None:
            await runner.cleanup()
        if watch is not None:
            watch.cancel()
        await client.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _log_state(settings: Settings) -> None:
    """Say once, at start-up, whether single use of confirmation tokens and pacing, keep-alive and priming calls hold across processes."""
    if settings.state_url:  # (never logged: it may carry the store's password)
        log.info(
            "shared state: single use of confirmation tokens and pacing, keep-alive and priming calls hold across every process that shares ADAPTER_STATE_URL"
        )
    else:
        log.info(
            "ADAPTER_STATE_URL is not set: single use of confirmation tokens and pacing, keep-alive and priming calls hold per process"
        )


def run(settings: Settings, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run *main()* on the configured event loop (ADAPTER_EVENT_LOOP: uvloop's when installed)."""
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if settings.event_loop == "uvloop":
        import uvloop  # the optional "fast" extra

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


def serve(
    settings: Settings,
    rest: Listen | None = None,
    mcp: Listen | None = None,
) -> int:
    """Bind, fork the REST workers, serve until SIGTERM/SIGINT and drain; the exit status."""
    rest_sockets = bind_rest(rest, settings.workers) if rest else []
    mcp_socket = bind(mcp) if mcp else None
    # Objects made so far live as long as the process: the collector skips them from now on
    # (shorter pauses), and forked workers share their memory pages.
    gc.freeze()
    if len(rest_sockets) > 1:
        settings = _share_rate_limits(settings, len(rest_sockets))
    workers = Workers()
    for own in rest_sockets[1:]:
        pid = os.fork()
        if pid == 0:
            inherited = [s for s in [*rest_sockets, mcp_socket] if s is not None and s is not own]
            _worker(settings, own, inherited, os.getppid())
        workers.running.add(pid)
        own.close()
    try:
        run(
            settings,
            lambda: run_servers(
                settings,
                rest_sockets[0] if rest_sockets else None,
                mcp_socket,
                workers=workers,
            ),
        )
    finally:
        workers.terminate()
        workers.wait(SHUTDOWN_GRACE_SECONDS + 5.0)
    return 1 if workers.failed else 0


def _worker(
    settings: Settings, own: socket.socket, inherited: list[socket.socket], parent: int
) -> NoReturn:
    """A forked REST worker: serve on *own* until told to stop, then exit (it never returns)."""
    for sock in inherited:
        sock.close()
    status = 1
    try:
        run(settings, lambda: run_servers(settings, own, parent=parent))
        status = 0
    except BaseException:  # the first process sees the exit status; the log says why
        log.exception("REST worker %d failed", os.getpid())
    finally:
        logging.shutdown()  # flush the log handlers: os._exit skips the usual clean-up
        os._exit(status)


def _share_rate_limits(settings: Settings, processes: int) -> Settings:
    """Each process paces the upstream at its share of ``*_RATE_LIMIT`` when it paces alone
    (no shared state, or while it is unreachable): together, the limit."""
    upstreams = {
        namespace: dataclasses.replace(upstream, rate_share=1.0 / processes)
        for namespace, upstream in settings.upstreams.items()
    }
    return dataclasses.replace(settings, upstreams=upstreams)


async def run_stdio(settings: Settings) -> None:
    """Serve MCP over stdin/stdout (for desktop agents that launch the server themselves)."""
    from mcp.server.stdio import stdio_server

    from .mcp_server import create_server

    client = UpstreamClient(settings)
    await client.start()
    _log_state(settings)
    try:
        server = create_server(client)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
    finally:
        await client.close()
