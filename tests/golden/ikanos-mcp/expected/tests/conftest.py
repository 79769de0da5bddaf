"""Test fixtures: a fake upstream on loopback that records what the adapters send it."""

from __future__ import annotations

import dataclasses
import json
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from ikanos_mcp.settings import Settings, load_settings


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


# The request paths of the operations that answer XML (outputRawFormat: xml).
XML_PATHS = ("/tables/[^/]+",)


def _xml(value: Any, name: str = "response") -> str:
    """*value* as an XML element (a list repeats the element), as an XML API would answer."""
    if isinstance(value, list):
        return "".join(_xml(item, name) for item in value)
    if isinstance(value, dict):
        inner = "".join(_xml(child, str(key)) for key, child in value.items())
    else:
        inner = json.dumps(value) if not isinstance(value, str) else value
        inner = inner.replace("&", "&amp;").replace("<", "&lt;")
    return f"<{name}>{inner}</{name}>"


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
        if any(re.search(pattern + "$", request.path) for pattern in XML_PATHS):
            return web.Response(
                status=fake.status, text=_xml(fake.payload), content_type="application/xml"
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
        "BERTHS_BASE_URL": upstream.base_url + "/v2",
        "TIDES_BASE_URL": upstream.base_url + "",
        "HARBOUR_API_TOKEN": "test-secret-1",
        "HARBOUR_DESK_TOKEN": "test-secret-2",
    }


@pytest.fixture
def guarded_settings(upstream: FakeUpstream) -> Settings:
    """As configured: clients must send the spec's inbound credentials."""
    return load_settings(_environ(upstream))


@pytest.fixture
def settings(guarded_settings: Settings) -> Settings:
    """Without inbound authentication (tested on its own, with guarded_settings)."""
    return dataclasses.replace(guarded_settings, mcp_guard=None)
