"""Test fixtures: a fake upstream on loopback that records what the adapters send it."""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from ikanos_rest.settings import Settings, load_settings


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeUpstream:
    """Answers every request with a canned JSON document and records it."""

    base_url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    status: int = 200
    payload: Any = field(default_factory=lambda: {"ok": True})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    fake = FakeUpstream()

    async def handle(request: web.Request) -> web.Response:
        fake.requests.append(
            Recorded(
                method=request.method,
                path=request.raw_path.split("?", 1)[0],
                query=dict(request.query),
                headers=dict(request.headers),
                body=await request.read(),
            )
        )
        return web.Response(
            status=fake.status, text=json.dumps(fake.payload), content_type="application/json"
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    fake.base_url = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


def _environ(upstream: FakeUpstream) -> dict[str, str]:
    return {
        "YARD_BASE_URL": upstream.base_url + "/api",
        "ARCHIVE_BASE_URL": upstream.base_url + "",
        "YARD_API_KEY": "test-secret-1",
        "YARD_WORKS_KEY": "test-secret-2",
    }


@pytest.fixture
def guarded_settings(upstream: FakeUpstream) -> Settings:
    """As configured: clients must send the spec's inbound credentials."""
    return load_settings(_environ(upstream))


@pytest.fixture
def settings(guarded_settings: Settings) -> Settings:
    """Without inbound authentication (tested on its own, with guarded_settings)."""
    return dataclasses.replace(guarded_settings, rest_guard=None)
