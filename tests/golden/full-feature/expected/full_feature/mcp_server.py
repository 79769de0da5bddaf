"""MCP server for Fleet \"Ops\" \\ API: one tool per ``exposes: mcp`` tool of the spec.

Built on the official SDK's low-level ``Server`` with generated tool definitions. Arguments are
validated against each tool's input schema before any upstream call; upstream and transport
failures come back as tool errors (``isError``) with a structured ``{status, error, retryable}``.
Serves Streamable HTTP (both protocol eras, 2025-11-25 and 2026-07-28) and stdio.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
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
    Body,
    Call,
    FromInput,
    InputError,
    Shape,
    Template,
    UpstreamClient,
    UpstreamError,
    shape_output,
)

log = logging.getLogger(__name__)

INSTRUCTIONS = 'Fleet tools. "Quoted" and\nmultiline.'


@dataclass(frozen=True)
class ToolBinding:
    """A tool definition and the upstream call behind it."""

    tool: Tool
    call: Call
    validator: Draft202012Validator


def _binding(tool: Tool, call: Call) -> ToolBinding:
    return ToolBinding(tool=tool, call=call, validator=Draft202012Validator(tool.input_schema))


TOOLS: dict[str, ToolBinding] = {
    "get-vehicle": _binding(
        Tool(
            name="get-vehicle",
            title="Vehicle details",
            description="Get one vehicle by id.",
            input_schema={
                "type": "object",
                "properties": {
                    "id": {"type": "string", "description": "Vehicle id"},
                    "expand": {"type": "boolean"},
                },
                "required": ["id"],
                "additionalProperties": False,
            },
            output_schema={"type": "object", "properties": {"plate": {"type": ["string", "null"]}}},
            annotations=ToolAnnotations(
                title="Vehicle details",
                read_only_hint=True,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=False,
            ),
        ),
        Call(
            operation=operations.GET_VEHICLE,
            args={
                "vehicle-id": FromInput("id"),
                "X-Trace": "naftiko",
                "expand": FromInput("expand"),
            },
            shape=Shape(
                "object", properties={"plate": Shape("string", mapping="$.registration.plate")}
            ),
        ),
    ),
    "retire-vehicle": _binding(
        Tool(
            name="retire-vehicle",
            title="Retire a vehicle.",
            description="Retire a vehicle.",
            input_schema={
                "type": "object",
                "properties": {
                    "id": {"type": "string", "description": "Vehicle id"},
                    "operator": {"type": "string", "description": "Who"},
                },
                "required": ["id", "operator"],
                "additionalProperties": False,
            },
            annotations=ToolAnnotations(
                title="Retire a vehicle.",
                read_only_hint=False,
                destructive_hint=True,
                idempotent_hint=True,
                open_world_hint=True,
            ),
        ),
        Call(
            operation=operations.UPDATE_VEHICLE,
            args={"vehicle-id": FromInput("id")},
            body=Body(
                kind="json",
                template={
                    "status": "{{status}}",
                    "note": Template(
                        (
                            "set by ",
                            FromInput("operator"),
                        )
                    ),
                    "fixed": True,
                },
            ),
        ),
    ),
    "create-trip": _binding(
        Tool(
            name="create-trip",
            title="Book a trip.",
            description="Book a trip.",
            input_schema={
                "type": "object",
                "properties": {
                    "origin": {"type": "string", "description": "From"},
                    "destination": {"type": "string", "description": "To"},
                    "seats": {"type": "integer", "description": "Seats"},
                },
                "required": ["origin", "destination"],
                "additionalProperties": False,
            },
            annotations=ToolAnnotations(
                title="Book a trip.",
                read_only_hint=False,
                destructive_hint=False,
                idempotent_hint=False,
                open_world_hint=True,
            ),
        ),
        Call(
            operation=operations.CREATE_TRIP,
            args={
                "origin": FromInput("origin"),
                "destination": FromInput("destination"),
                "seats": FromInput("seats"),
            },
            body=Body(kind="params"),
        ),
    ),
    "add-note": _binding(
        Tool(
            name="add-note",
            title="File a note in the archive.",
            description="File a note in the archive.",
            input_schema={
                "type": "object",
                "properties": {"text": {"type": "string", "description": "The note"}},
                "required": ["text"],
                "additionalProperties": False,
            },
            annotations=ToolAnnotations(
                title="File a note in the archive.",
                read_only_hint=False,
                destructive_hint=False,
                idempotent_hint=False,
                open_world_hint=True,
            ),
        ),
        Call(
            operation=operations.ARCHIVE_ADD_NOTE,
            body=Body(
                kind="form",
                content_type="application/x-www-form-urlencoded",
                template={"text": FromInput("text"), "source": "naftiko"},
            ),
        ),
    ),
    "forecast": _binding(
        Tool(
            name="forecast",
            title="Weather forecast for a city.",
            description="Weather forecast for a city.",
            input_schema={
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
            annotations=ToolAnnotations(
                title="Weather forecast for a city.",
                read_only_hint=True,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=True,
            ),
        ),
        Call(operation=operations.WEATHER_FORECAST, args={"city": FromInput("city")}),
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


def tool_error(status: int, error: str, *, retryable: bool, detail: Any = None) -> CallToolResult:
    """A tool execution error the model can read and act on."""
    payload: dict[str, Any] = {"status": status, "error": error, "retryable": retryable}
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
                response = await client.send(
                    binding.call,
                    arguments,
                    request_id=uuid.uuid4().hex,
                    raw_body=arguments.get("body"),
                )
            except InputError as exc:
                outcome = "invalid-arguments"
                return tool_error(400, str(exc), retryable=False)
            except UpstreamError as exc:
                outcome = f"upstream-{exc.status}"
                return tool_error(exc.status, exc.detail, retryable=exc.retryable)
            if not response.ok:
                outcome = f"http-{response.status}"
                retryable = response.status in (408, 429) or response.status >= 500
                return tool_error(
                    response.status,
                    f"the upstream answered HTTP {response.status}",
                    retryable=retryable,
                    detail=_decode(response.body),
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
        "fleet-mcp",
        version=__version__,
        instructions=INSTRUCTIONS or None,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        get_tool_input_schema=lambda name: (
            binding.tool.input_schema if (binding := TOOLS.get(name)) else None
        ),
        cache_hints={"tools/list": CacheHint(ttl_ms=300_000, scope="public")},
    )
