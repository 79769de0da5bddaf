"""In-process tests of the MCP server against the fake upstream (one per tool)."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from ikanos_mcp.client import UpstreamClient
from ikanos_mcp.mcp_server import TOOLS, create_server
from ikanos_mcp.settings import Settings

from .conftest import FakeUpstream

# (tool, arguments, upstream method, upstream path, needs confirmation under the default policy)
CASES = [
    ("list-berths", {"status": "v1"}, "GET", "/berths", False),
    ("assign-berth", {"berthId": "v1", "vessel": "v2", "until": "v3"}, "PUT", "/berths/v1", False),
    ("tide-table", {"port": "v1"}, "GET", "/tables/v1", False),
]
# Mock tools (no upstream): (tool, arguments, expected structured answer)
MOCK_CASES = [
    ("harbour-master", {"shift": "v1"}, {"name": "Ada Lovelace", "shift": "v1", "channel": 16}),
]


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


@pytest.mark.parametrize(("name", "arguments", "answer"), MOCK_CASES)
async def test_mock_tool_answers_without_upstream(
    settings: Settings, upstream: FakeUpstream, name: str, arguments: dict[str, Any], answer: Any
) -> None:
    upstream_client = UpstreamClient(settings)
    await upstream_client.start()
    try:
        async with Client(create_server(upstream_client)) as client:
            result = await client.call_tool(name, arguments)
        assert not result.is_error, result.content
        assert result.structured_content == answer
        assert upstream.requests == []
    finally:
        await upstream_client.close()


# (concrete URI, upstream method, upstream path)
RESOURCE_CASES = [
    ("harbour://berths/v1", "GET", "/berths/v1"),
    ("harbour://berths", "GET", "/berths"),
]


@pytest.mark.parametrize(("uri", "method", "up_path"), RESOURCE_CASES)
async def test_resource_reads_upstream(
    settings: Settings, upstream: FakeUpstream, uri: str, method: str, up_path: str
) -> None:
    upstream_client = UpstreamClient(settings)
    await upstream_client.start()
    try:
        async with Client(create_server(upstream_client)) as client:
            listed = [str(r.uri) for r in (await client.list_resources()).resources]
            listed += [
                t.uri_template for t in (await client.list_resource_templates()).resource_templates
            ]
            assert listed
            result = await client.read_resource(uri)
        assert result.contents[0].text == '{"ok": true}'
        sent = upstream.requests[0]
        assert sent.method == method
        assert sent.path.endswith(up_path)
    finally:
        await upstream_client.close()


# (prompt, arguments, expected message texts)
PROMPT_CASES = [
    (
        "arrival-briefing",
        {"vessel": "<vessel>", "berth": "<berth>"},
        ['Brief <vessel> on berth <berth>. Keep {braces} and "quotes".', "Aye."],
    ),
]


@pytest.mark.parametrize(("name", "arguments", "texts"), PROMPT_CASES)
async def test_prompt_renders_its_arguments(
    settings: Settings, name: str, arguments: dict[str, str], texts: list[str]
) -> None:
    upstream_client = UpstreamClient(settings)
    try:
        async with Client(create_server(upstream_client)) as client:
            assert name in [p.name for p in (await client.list_prompts()).prompts]
            result = await client.get_prompt(name, arguments)
        assert [m.content.text for m in result.messages] == texts
    finally:
        await upstream_client.close()
