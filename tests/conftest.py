"""Shared test configuration: the explicit ``--update-golden`` switch, common paths, and the
loopback fake upstreams tests build their own handlers into."""

from __future__ import annotations

import contextlib
import importlib
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from mcp import Client
from naftiko_gen.pipeline import analyse, generate
from naftiko_gen.writer import write_tree

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/*/expected from the current generator (review the diff!)",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@contextlib.contextmanager
def generated_package(root: Path, spec_name: str, spec_text: str) -> Iterator[str]:
    """Build *spec_text* (saved as *spec_name*) under *root* and make its package importable for
    the duration; yields the package name."""
    spec = root / spec_name
    spec.write_text(textwrap.dedent(spec_text), encoding="utf-8")
    analysis = analyse(spec)
    assert analysis.ok and analysis.capability is not None, [
        d.format() for d in analysis.diagnostics
    ]
    write_tree(root / "out", generate(analysis.capability))
    sys.path.insert(0, str(root / "out"))
    try:
        yield analysis.capability.package
    finally:
        sys.path.remove(str(root / "out"))


@contextlib.asynccontextmanager
async def fake_server(
    handle: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[TestServer]:
    """*handle* answering every method and path on a loopback port, for the duration."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@contextlib.asynccontextmanager
async def serving_rest(package: str, settings: Any) -> AsyncIterator[TestClient]:
    """The generated *package*'s REST app with *settings*, in process, behind an aiohttp test
    client; its upstream client is started and closed around it."""
    client_mod = importlib.import_module(f"{package}.client")
    rest = importlib.import_module(f"{package}.rest")
    upstream_client = client_mod.UpstreamClient(settings)
    await upstream_client.start()
    client = TestClient(TestServer(rest.create_app(settings, upstream_client)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        await upstream_client.close()


@contextlib.asynccontextmanager
async def serving_mcp(package: str, settings: Any) -> AsyncIterator[Client]:
    """The generated *package*'s MCP server with *settings*, in process, behind the SDK's client;
    its upstream client is started and closed around it."""
    client_mod = importlib.import_module(f"{package}.client")
    server = importlib.import_module(f"{package}.mcp_server")
    upstream_client = client_mod.UpstreamClient(settings)
    await upstream_client.start()
    try:
        async with Client(server.create_server(upstream_client)) as mcp:
            yield mcp
    finally:
        await upstream_client.close()
