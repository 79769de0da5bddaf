"""MCP server for Yard Works: one tool per ``exposes: mcp`` tool of the spec.

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
    CallStep,
    Flow,
    FromInput,
    FromStep,
    InputError,
    LookupStep,
    UpstreamClient,
    UpstreamError,
    new_request_id,
)

log = logging.getLogger(__name__)

INSTRUCTIONS = "Yard tools."


@dataclass(frozen=True)
class ToolBinding:
    """A tool definition and the upstream call behind it."""

    tool: Tool
    call: Flow
    validator: Draft202012Validator


def _binding(tool: Tool, call: Flow) -> ToolBinding:
    return ToolBinding(
        tool=tool,
        call=call,
        validator=Draft202012Validator(tool.input_schema),
    )


TOOLS: dict[str, ToolBinding] = {
    "hull-with-crew": _binding(
        Tool(
            name="hull-with-crew",
            title="A hull with the names of its crew.",
            description="A hull with the names of its crew.",
            input_schema={
                "type": "object",
                "properties": {"hullId": {"type": "string", "description": "Hull number"}},
                "required": ["hullId"],
                "additionalProperties": False,
            },
            output_schema={
                "type": "object",
                "properties": {
                    "hull": {"type": ["string", "null"]},
                    "crew": {"type": ["array", "null"]},
                },
            },
            annotations=ToolAnnotations(
                title="A hull with the names of its crew.",
                read_only_hint=True,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=True,
            ),
        ),
        Flow(
            steps=(
                CallStep(
                    "hull",
                    Call(
                        operation=operations.GET_HULL,
                        args={"hullId": FromInput("hullId")},
                        retry=True,
                    ),
                ),
                CallStep("crew", Call(operation=operations.LIST_CREW, retry=True)),
                LookupStep(
                    "names",
                    index="crew",
                    match="id",
                    value=FromStep("$.hull.crew-ids"),
                    fields=("fullName", "trade"),
                ),
            ),
            mappings={"hull": FromStep("$.hull.hull-name"), "crew": FromStep("$.names")},
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
                prepared = client.prepare(binding.call, arguments, raw_body=arguments.get("body"))
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
            outcome = "ok"
            data = _decode(response.body)
            return _result(data, _wrap(data))
        finally:
            # Tool name, duration and outcome only: argument values may be secret.
            log.info(
                "tool %s %s %.1fms", params.name, outcome, (time.perf_counter() - started) * 1000
            )

    return Server(
        "yard-tools",
        version=__version__,
        instructions=INSTRUCTIONS or None,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        get_tool_input_schema=lambda name: (
            binding.tool.input_schema if (binding := TOOLS.get(name)) else None
        ),
        cache_hints={"tools/list": CacheHint(ttl_ms=300_000, scope="public")},
    )
