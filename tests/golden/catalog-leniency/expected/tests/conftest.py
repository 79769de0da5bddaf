"""Test fixtures: a fake upstream on loopback that records what the adapters send it."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from catalog_leniency.settings import Settings, load_settings


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


@pytest.fixture
def settings(upstream: FakeUpstream) -> Settings:
    environ = {
        "HR_BASE_URL": upstream.base_url + "/v1",
        "JOBS_BASE_URL": upstream.base_url + "",
        "HR_JWT_TOKEN": "test-secret-1",
    }
    return load_settings(environ)
