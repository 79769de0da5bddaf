"""Running the adapters: sockets, signals, graceful shutdown.

SIGTERM and SIGINT stop accepting connections, let in-flight requests finish, close the
upstream connection pool and return normally (exit status 0).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from .client import UpstreamClient
from .settings import Settings

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
) -> None:
    """Serve on the bound sockets until SIGTERM/SIGINT, then drain in-flight requests and return."""
    client = UpstreamClient(settings)
    await client.start()
    _log_state(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("shutting down: draining in-flight requests")
    finally:
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
