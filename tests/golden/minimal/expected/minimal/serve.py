"""Running the adapters: sockets, signals, graceful shutdown.

SIGTERM and SIGINT stop accepting connections, let in-flight requests finish, close the
upstream connection pool and return normally (exit status 0).
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import signal
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .client import UpstreamClient
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


def bind(listen: Listen) -> socket.socket:
    """Bind a listening socket up front so a taken port is a clear error, not a stack trace."""
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP; without it small responses wait ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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


async def run_servers(
    settings: Settings,
    mcp_socket: socket.socket | None = None,
) -> None:
    """Serve on the bound sockets until SIGTERM/SIGINT, then drain in-flight requests and return."""
    client = UpstreamClient(settings)
    await client.start()
    _log_state(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    mcp_server: EmbeddedUvicorn | None = None
    mcp_task: asyncio.Task[None] | None = None
    try:
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
        log.info("shutting down: draining in-flight requests")
    finally:
        if mcp_server is not None and mcp_task is not None:
            mcp_server.should_exit = True
            await mcp_task
        await client.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _log_state(settings: Settings) -> None:
    """Say once, at start-up, whether pacing, keep-alive and priming calls hold across processes."""
    if settings.state_url:  # (never logged: it may carry the store's password)
        log.info(
            "shared state: pacing, keep-alive and priming calls hold across every process that shares ADAPTER_STATE_URL"
        )
    else:
        log.info(
            "ADAPTER_STATE_URL is not set: pacing, keep-alive and priming calls hold per process"
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
    mcp: Listen | None = None,
) -> int:
    """Bind, serve until SIGTERM/SIGINT and drain; the exit status."""
    mcp_socket = bind(mcp) if mcp else None
    # Objects made so far live as long as the process: the collector skips them from now on
    # (shorter pauses).
    gc.freeze()
    run(settings, lambda: run_servers(settings, mcp_socket))
    return 0


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
