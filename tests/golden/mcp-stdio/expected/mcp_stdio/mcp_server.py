"""MCP server for MCP over stdio: one tool per ``exposes: mcp`` tool of the spec.

Built on the official SDK's low-level ``Server`` with generated tool definitions. Arguments are
validated against each tool's input schema before any upstream call; upstream and transport
failures come back as tool errors (``isError``) with a structured ``{status, error, retryable}``.
Serves Streamable HTTP (both protocol eras, 2025-11-25 and 2026-07-28) and stdio.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from mcp.server import CacheHint, Server, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    TextContent,
    Tool,
    ToolAnnotations,
)

from . import __version__, operations
from .client import (
    Call,
    FromInput,
    InputError,
    Mock,
    Shape,
    UpstreamClient,
    UpstreamError,
    new_request_id,
    shape_output,
)

log = logging.getLogger(__name__)

INSTRUCTIONS = "Notes for local agents."


@dataclass(frozen=True)
class ToolBinding:
    """A tool definition and the upstream call behind it."""

    tool: Tool
    call: Call | Mock
    validator: Draft202012Validator


def _binding(tool: Tool, call: Call | Mock) -> ToolBinding:
    return ToolBinding(
        tool=tool,
        call=call,
        validator=Draft202012Validator(tool.input_schema),
    )


TOOLS: dict[str, ToolBinding] = {
    "get-note": _binding(
        Tool(
            name="get-note",
            title="Read a note",
            description="Read a note",
            input_schema={
                "type": "object",
                "properties": {"noteId": {"type": "string", "description": "Note id"}},
                "required": ["noteId"],
                "additionalProperties": False,
            },
            output_schema={
                "type": "object",
                "properties": {
                    "title": {"type": ["string", "null"]},
                    "tags": {"type": ["array", "null"]},
                },
            },
            annotations=ToolAnnotations(
                title="Read a note",
                read_only_hint=True,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=True,
            ),
        ),
        Call(
            operation=operations.GET_NOTE,
            args={"noteId": FromInput("noteId")},
            shape=Shape(
                "object",
                properties={
                    "title": Shape("string", mapping="$.title"),
                    "tags": Shape("array", mapping="$.tags[*]"),
                },
            ),
            retry=True,
        ),
    ),
    "about": _binding(
        Tool(
            name="about",
            title="What this server is",
            description="What this server is",
            input_schema={"type": "object", "properties": {}, "additionalProperties": False},
            output_schema={
                "type": "object",
                "properties": {
                    "name": {"type": ["string", "null"]},
                    "version": {"type": ["integer", "null"]},
                },
            },
            annotations=ToolAnnotations(
                title="What this server is",
                read_only_hint=True,
                destructive_hint=False,
                idempotent_hint=False,
                open_world_hint=True,
            ),
        ),
        Mock(
            Shape(
                "object",
                properties={
                    "name": Shape("string", value="notes-mcp"),
                    "version": Shape("integer", value=2),
                },
            )
        ),
    ),
}
TOOL_LIST = [binding.tool for binding in TOOLS.values()]


def _result(data: Any, structured: dict[str, Any]) -> CallToolResult:
    """A successful result: the JSON as text, and as structuredContent (always an object)."""
    text = json.dumps(data, ensure_ascii=False)
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=structured
    )


def _wrap(data: Any) -> dict[str, Any]:
    # 2025-11-25 clients accept only an object as structuredContent: wrap arrays and scalars.
    if isinstance(data, dict):
        return data
    return {"items": data} if isinstance(data, list) else {"value": data}


def _wrap_shaped(shape: Shape, data: Any) -> dict[str, Any]:
    # Wrapped as the tool's outputSchema says, whatever the upstream actually sent.
    if shape.type == "object":
        return data if isinstance(data, dict) else {}
    if shape.type == "array":
        return {"items": data if isinstance(data, list) else None}
    if shape.type == "string" and data is not None and not isinstance(data, str):
        data = json.dumps(data, ensure_ascii=False)
    elif (
        shape.type in ("number", "integer")
        and (isinstance(data, bool) or not isinstance(data, int | float))
    ) or (shape.type == "boolean" and not isinstance(data, bool)):
        data = None
    return {"value": data}


def tool_error(
    status: int,
    error: str,
    *,
    retryable: bool,
    detail: Any = None,
    retry_after: float | None = None,
) -> CallToolResult:
    """A tool execution error the model can read and act on."""
    payload: dict[str, Any] = {"status": status, "error": error, "retryable": retryable}
    if retry_after is not None:
        payload["retry_after"] = round(retry_after, 1)
    if detail is not None:
        payload["detail"] = detail
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(payload, ensure_ascii=False))],
        structured_content=payload,
        is_error=True,
    )


def _argument_errors(binding: ToolBinding, arguments: dict[str, Any]) -> list[str]:
    problems = []
    for error in sorted(
        binding.validator.iter_errors(arguments), key=lambda e: list(map(str, e.path))
    ):
        where = "/".join(map(str, error.absolute_path))
        problems.append(f"argument {where!r}: {error.message}" if where else error.message)
    return problems


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def create_server(client: UpstreamClient) -> Server:
    """The MCP server; *client* must be started by the caller."""

    async def list_tools(
        ctx: ServerRequestContext, params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        return ListToolsResult(tools=TOOL_LIST)

    async def call_tool(ctx: ServerRequestContext, params: CallToolRequestParams) -> CallToolResult:
        binding = TOOLS.get(params.name)
        if binding is None:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: {params.name}")
        started = time.perf_counter()
        outcome = "error"
        try:
            arguments = dict(params.arguments or {})
            problems = _argument_errors(binding, arguments)
            if problems:
                outcome = "invalid-arguments"
                return tool_error(400, "; ".join(problems), retryable=False)
            try:
                prepared = client.prepare(binding.call, arguments)
                response = await client.send_prepared(
                    binding.call, prepared, request_id=new_request_id()
                )
            except InputError as exc:
                outcome = "invalid-arguments"
                return tool_error(400, str(exc), retryable=False)
            except UpstreamError as exc:
                outcome = f"upstream-{exc.status}"
                return tool_error(
                    exc.status, exc.detail, retryable=exc.retryable, retry_after=exc.retry_after
                )
            if not response.ok:
                outcome = f"http-{response.status}"
                retryable = response.status in (408, 429) or response.status >= 500
                return tool_error(
                    response.status,
                    f"the upstream answered HTTP {response.status}",
                    retryable=retryable,
                    detail=_decode(response.body),
                    retry_after=response.retry_after,
                )
            if binding.call.shape is not None:
                try:
                    data = shape_output(binding.call.shape, response)
                except UpstreamError as exc:
                    outcome = "bad-upstream-body"
                    return tool_error(exc.status, exc.detail, retryable=exc.retryable)
                outcome = "ok"
                return _result(data, _wrap_shaped(binding.call.shape, data))
            outcome = "ok"
            data = _decode(response.body)
            return _result(data, _wrap(data))
        finally:
            # Tool name, duration and outcome only: argument values may be secret.
            log.info(
                "tool %s %s %.1fms", params.name, outcome, (time.perf_counter() - started) * 1000
            )

    return Server(
        "notes-mcp",
        version=__version__,
        instructions=INSTRUCTIONS or None,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        get_tool_input_schema=lambda name: (
            binding.tool.input_schema if (binding := TOOLS.get(name)) else None
        ),
        cache_hints={"tools/list": CacheHint(ttl_ms=300_000, scope="public")},
    )
