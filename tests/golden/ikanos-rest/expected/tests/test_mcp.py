"""In-process tests of the MCP server against the fake upstream (one per tool)."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from ikanos_rest.client import UpstreamClient
from ikanos_rest.mcp_server import TOOLS, create_server
from ikanos_rest.settings import Settings

from .conftest import FakeUpstream

# (tool, arguments, upstream method, upstream path, needs confirmation under the default policy)
CASES = [
    ("hull-with-crew", {"hullId": "v1"}, "GET", "/hulls/v1", False),
]
# Multi-step tools: an upstream answer with every field their later steps read.
PAYLOADS = {"hull-with-crew": {"crew-ids": "s3", "hull-name": "s4"}}


async def test_lists_every_tool(settings: Settings) -> None:
    upstream_client = UpstreamClient(settings)
    await upstream_client.start()
    try:
        async with Client(create_server(upstream_client)) as client:
            tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == list(TOOLS)
        for tool in tools:
            assert tool.input_schema["type"] == "object"
            assert tool.annotations is not None
    finally:
        await upstream_client.close()


@pytest.mark.parametrize(("name", "arguments", "method", "up_path", "confirm"), CASES)
async def test_tool_reaches_upstream(
    settings: Settings,
    upstream: FakeUpstream,
    name: str,
    arguments: dict[str, Any],
    method: str,
    up_path: str,
    confirm: bool,
) -> None:
    upstream.payload = PAYLOADS.get(name, upstream.payload)
    upstream_client = UpstreamClient(settings)
    await upstream_client.start()
    try:
        async with Client(create_server(upstream_client)) as client:
            result = await client.call_tool(name, arguments)
            if confirm:
                # Step one sends nothing and answers with a preview and a token.
                assert result.structured_content is not None
                assert result.structured_content["confirmation_required"] is True
                assert result.structured_content["request"]["method"] == method
                assert upstream.requests == []
                token = result.structured_content["confirmation_token"]
                result = await client.call_tool(name, {**arguments, "confirmation_token": token})
                sent_count = len(upstream.requests)
                # A token confirms one call only: the replay is refused and sends nothing.
                again = await client.call_tool(name, {**arguments, "confirmation_token": token})
                assert again.is_error
                assert len(upstream.requests) == sent_count
        assert not result.is_error, result.content
        assert isinstance(result.structured_content, dict)
        sent = upstream.requests[0]
        assert sent.method == method
        assert sent.path.endswith(up_path)
    finally:
        await upstream_client.close()


async def test_bad_arguments_are_a_tool_error(settings: Settings, upstream: FakeUpstream) -> None:
    upstream_client = UpstreamClient(settings)
    await upstream_client.start()
    try:
        async with Client(create_server(upstream_client)) as client:
            result = await client.call_tool(CASES[0][0], {**CASES[0][1], "no_such_argument": 1})
        assert result.is_error
        assert upstream.requests == []
    finally:
        await upstream_client.close()
