"""MCP server for Harbour Desk: one tool per ``exposes: mcp`` tool of the spec.

Built on the official SDK's low-level ``Server`` with generated tool definitions. Arguments are
validated against each tool's input schema before any upstream call; upstream and transport
failures come back as tool errors (``isError``) with a structured ``{status, error, retryable}``.
Serves Streamable HTTP (both protocol eras, 2025-11-25 and 2026-07-28) and stdio.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import h11
import uvicorn
from jsonschema import Draft202012Validator
from mcp.server import CacheHint, Server, ServerRequestContext
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    GetPromptRequestParams,
    GetPromptResult,
    ListPromptsResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    ListToolsResult,
    PaginatedRequestParams,
    Prompt,
    PromptArgument,
    PromptMessage,
    ReadResourceRequestParams,
    ReadResourceResult,
    Resource,
    ResourceTemplate,
    Role,
    TextContent,
    TextResourceContents,
    Tool,
    ToolAnnotations,
)
from uvicorn.protocols.http.h11_impl import H11Protocol

from . import __version__, operations
from .client import (
    Body,
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
from .inbound import Guard
from .settings import Settings

log = logging.getLogger(__name__)

INSTRUCTIONS = "Harbour desk tools."


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
    "list-berths": _binding(
        Tool(
            name="list-berths",
            title="List berths",
            description="Berths, optionally by status.",
            input_schema={
                "type": "object",
                "properties": {
                    "status": {"type": "string", "description": "free, taken or closed"}
                },
                "additionalProperties": False,
            },
            output_schema={
                "type": "object",
                "properties": {
                    "items": {
                        "type": ["array", "null"],
                        "items": {
                            "type": ["object", "null"],
                            "properties": {
                                "id": {"type": ["string", "null"]},
                                "length": {"type": ["number", "null"]},
                                "vessel": {
                                    "type": ["object", "null"],
                                    "properties": {
                                        "name": {"type": ["string", "null"]},
                                        "flag": {"type": ["string", "null"]},
                                    },
                                },
                            },
                        },
                    }
                },
                "required": ["items"],
            },
            annotations=ToolAnnotations(
                title="List berths",
                read_only_hint=True,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=False,
            ),
        ),
        Call(
            operation=operations.LIST_BERTHS,
            args={"status": FromInput("status")},
            shape=Shape(
                "array",
                mapping="$.berths",
                items=Shape(
                    "object",
                    properties={
                        "id": Shape("string", mapping="$.id"),
                        "length": Shape("number", mapping="$.length_m"),
                        "vessel": Shape(
                            "object",
                            properties={
                                "name": Shape("string", mapping="$.vessel.name"),
                                "flag": Shape("string", mapping="$.vessel.flag"),
                            },
                        ),
                    },
                ),
            ),
            retry=True,
        ),
    ),
    "assign-berth": _binding(
        Tool(
            name="assign-berth",
            title="Assign a berth to a vessel.",
            description="Assign a berth to a vessel.",
            input_schema={
                "type": "object",
                "properties": {
                    "berthId": {"type": "string", "description": "The berth"},
                    "vessel": {"type": "string", "description": "IMO number"},
                    "until": {"type": "string", "description": "ISO-8601 date"},
                },
                "required": ["berthId", "vessel"],
                "additionalProperties": False,
            },
            annotations=ToolAnnotations(
                title="Assign a berth to a vessel.",
                read_only_hint=False,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=True,
            ),
        ),
        Call(
            operation=operations.ASSIGN_BERTH,
            args={"berthId": FromInput("berthId")},
            body=Body(
                kind="json", template={"vessel": FromInput("vessel"), "until": FromInput("until")}
            ),
            retry=True,
        ),
    ),
    "tide-table": _binding(
        Tool(
            name="tide-table",
            title="Today's tides for a port.",
            description="Today's tides for a port.",
            input_schema={
                "type": "object",
                "properties": {"port": {"type": "string", "description": "Port code"}},
                "required": ["port"],
                "additionalProperties": False,
            },
            output_schema={
                "type": "object",
                "properties": {
                    "items": {
                        "type": ["array", "null"],
                        "items": {
                            "type": ["object", "null"],
                            "properties": {
                                "at": {"type": ["string", "null"]},
                                "height": {"type": ["number", "null"]},
                                "kind": {"type": ["string", "null"]},
                            },
                        },
                    }
                },
                "required": ["items"],
            },
            annotations=ToolAnnotations(
                title="Today's tides for a port.",
                read_only_hint=True,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=True,
            ),
        ),
        Call(
            operation=operations.TIDES_TIDE_TABLE,
            args={"port": FromInput("port")},
            shape=Shape(
                "array",
                mapping="$.tide",
                items=Shape(
                    "object",
                    properties={
                        "at": Shape("string", mapping="$.time"),
                        "height": Shape("number", mapping="$.height"),
                        "kind": Shape("string", mapping="$.kind"),
                    },
                ),
            ),
            retry=True,
        ),
    ),
    "harbour-master": _binding(
        Tool(
            name="harbour-master",
            title="Who is on duty (a fixed answer).",
            description="Who is on duty (a fixed answer).",
            input_schema={
                "type": "object",
                "properties": {"shift": {"type": "string", "description": "day or night"}},
                "required": ["shift"],
                "additionalProperties": False,
            },
            output_schema={
                "type": "object",
                "properties": {
                    "name": {"type": ["string", "null"]},
                    "shift": {"type": ["string", "null"]},
                    "channel": {"type": ["number", "null"]},
                },
            },
            annotations=ToolAnnotations(
                title="Who is on duty (a fixed answer).",
                read_only_hint=True,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=True,
            ),
        ),
        Mock(
            Shape(
                "object",
                properties={
                    "name": Shape("string", value="Ada Lovelace"),
                    "shift": Shape("string", value=FromInput("shift")),
                    "channel": Shape("number", value="16"),
                },
            )
        ),
    ),
}
TOOL_LIST = [binding.tool for binding in TOOLS.values()]


@dataclass(frozen=True)
class ResourceBinding:
    """A resource (or resource template) and the upstream call that reads it."""

    pattern: re.Pattern[str]
    params: tuple[str, ...]
    mime_type: str
    call: Call

    def match(self, uri: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(uri)
        if found is None:
            return None
        return {
            name: urllib.parse.unquote(value)
            for name, value in zip(self.params, found.groups(), strict=True)
        }


RESOURCES: tuple[ResourceBinding, ...] = (
    ResourceBinding(
        re.compile("^harbour://berths/([^/]+)$"),
        ("berthId",),
        "application/json",
        Call(operation=operations.GET_BERTH, args={"berthId": FromInput("berthId")}),
    ),
    ResourceBinding(
        re.compile("^harbour://berths$"),
        (),
        "application/json",
        Call(operation=operations.LIST_BERTHS),
    ),
)
RESOURCE_LIST = [
    Resource(
        name="all-berths",
        title="All berths",
        uri="harbour://berths",
        description='Every "berth"',
        mime_type="application/json",
    ),
]
RESOURCE_TEMPLATE_LIST = [
    ResourceTemplate(
        name="berth-record",
        title="Berth record",
        uri_template="harbour://berths/{berthId}",
        description="One berth as JSON",
        mime_type="application/json",
    ),
]


@dataclass(frozen=True)
class PromptBinding:
    """A prompt and its messages: (role, parts), each part literal text or ("arg", name)."""

    prompt: Prompt
    messages: tuple[tuple[Role, tuple[str | tuple[str, str], ...]], ...]


PROMPTS: dict[str, PromptBinding] = {
    "arrival-briefing": PromptBinding(
        Prompt(
            name="arrival-briefing",
            title="Arrival briefing",
            description="Brief a vessel arriving today",
            arguments=[
                PromptArgument(name="vessel", title=None, description="IMO number", required=True),
                PromptArgument(
                    name="berth", title=None, description="Planned berth", required=False
                ),
            ],
        ),
        (
            (
                "user",
                (
                    "Brief ",
                    ("arg", "vessel"),
                    " on berth ",
                    ("arg", "berth"),
                    '. Keep {braces} and "quotes".',
                ),
            ),
            ("assistant", ("Aye.",)),
        ),
    ),
}


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

    async def list_resources(
        ctx: ServerRequestContext, params: PaginatedRequestParams | None
    ) -> ListResourcesResult:
        return ListResourcesResult(resources=RESOURCE_LIST)

    async def list_resource_templates(
        ctx: ServerRequestContext, params: PaginatedRequestParams | None
    ) -> ListResourceTemplatesResult:
        return ListResourceTemplatesResult(resource_templates=RESOURCE_TEMPLATE_LIST)

    async def read_resource(
        ctx: ServerRequestContext, params: ReadResourceRequestParams
    ) -> ReadResourceResult:
        uri = str(params.uri)
        for binding in RESOURCES:
            inputs = binding.match(uri)
            if inputs is None:
                continue
            try:
                response = await client.send(binding.call, inputs, request_id=new_request_id())
            except (InputError, UpstreamError) as exc:
                raise MCPError(code=INTERNAL_ERROR, message=f"cannot read {uri}: {exc}") from None
            if not response.ok:
                raise MCPError(
                    code=INTERNAL_ERROR,
                    message=f"cannot read {uri}: the upstream answered HTTP {response.status}",
                )
            text = response.body.decode("utf-8", "replace")
            return ReadResourceResult(
                contents=[TextResourceContents(uri=uri, mime_type=binding.mime_type, text=text)]
            )
        raise MCPError(code=INVALID_PARAMS, message=f"Resource not found: {uri}")

    async def list_prompts(
        ctx: ServerRequestContext, params: PaginatedRequestParams | None
    ) -> ListPromptsResult:
        return ListPromptsResult(prompts=[binding.prompt for binding in PROMPTS.values()])

    async def get_prompt(
        ctx: ServerRequestContext, params: GetPromptRequestParams
    ) -> GetPromptResult:
        binding = PROMPTS.get(params.name)
        if binding is None:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown prompt: {params.name}")
        arguments = dict(params.arguments or {})
        missing = [
            a.name
            for a in binding.prompt.arguments or []
            if a.required and not arguments.get(a.name)
        ]
        if missing:
            raise MCPError(
                code=INVALID_PARAMS, message=f"missing prompt arguments: {', '.join(missing)}"
            )
        messages = [
            PromptMessage(
                role=role,
                content=TextContent(
                    type="text",
                    text="".join(
                        part if isinstance(part, str) else str(arguments.get(part[1], ""))
                        for part in parts
                    ),
                ),
            )
            for role, parts in binding.messages
        ]
        return GetPromptResult(description=binding.prompt.description, messages=messages)

    return Server(
        "harbour-desk",
        version=__version__,
        instructions=INSTRUCTIONS or None,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_resource_templates,
        on_read_resource=read_resource,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        get_tool_input_schema=lambda name: (
            binding.tool.input_schema if (binding := TOOLS.get(name)) else None
        ),
        cache_hints={"tools/list": CacheHint(ttl_ms=300_000, scope="public")},
    )


class _AuthGuard:
    """ASGI middleware: every HTTP request must carry the guard's credential (401 otherwise)."""

    def __init__(self, app: Any, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self.guard.admits(_credential(scope, self.guard)):
            body, request_id = _problem(401, self.guard.hint)
            headers = [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
            ]
            headers.append((b"www-authenticate", self.guard.challenge.encode()))
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def _credential(scope: Any, guard: Guard) -> str | None:
    """The value at the guard's placement and name in an ASGI HTTP request (None when absent)."""
    wanted = guard.name.lower().encode()
    raw = next((value for name, value in scope["headers"] if name == wanted), None)
    return None if raw is None else raw.decode("latin-1")


def _problem(status: int, detail: str) -> tuple[bytes, str]:
    """An RFC 9457 problem document (as on the REST port) and its fresh request id."""
    request_id = new_request_id()
    document = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "request_id": request_id,
    }
    return json.dumps(document).encode(), request_id


class _ProblemErrors:
    """ASGI middleware: the SDK's plain-text HTTP errors (wrong Content-Type or Accept, a Host or
    Origin it refuses, an unknown path) become problem+json; JSON answers pass untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] = {}
        text: list[bytes] = []

        async def rewrite(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                kind = dict(message.get("headers") or ()).get(b"content-type", b"")
                if message["status"] < 400 or b"json" in kind:
                    await send(message)
                else:
                    held.update(message)  # replaced once its body is known
                return
            if not held:
                await send(message)
                return
            text.append(message.get("body", b""))
            if message.get("more_body"):
                return
            status = held["status"]
            detail = b"".join(text).decode("utf-8", "replace").strip()[:300]
            body, request_id = _problem(status, detail)
            kept = [
                (k, v)
                for k, v in held.get("headers") or ()
                if k.lower() not in (b"content-type", b"content-length")
            ]
            headers = [
                *kept,
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
            ]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)


class EmbeddedUvicorn(uvicorn.Server):
    """uvicorn inside our event loop: we own the signals, it owns the MCP port."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ProblemH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, except that a request its parser rejects (malformed request
    line, oversize headers, bad framing) gets problem+json with a request id, as on the REST port.
    """

    def send_400_response(self, msg: str) -> None:
        body, request_id = _problem(400, f"the request is not valid HTTP/1.1: {msg}")
        log.info("rejected a request that is not valid HTTP/1.1: %s (request %s)", msg, request_id)
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()


def http_server(
    client: UpstreamClient, settings: Settings, host: str, grace: float
) -> EmbeddedUvicorn:
    """The MCP Streamable HTTP server at /mcp, stateless so any replica can serve any request;
    *grace* bounds its drain on shutdown."""
    # ADAPTER_ALLOWED_HOSTS entries are "host" (any port) or "host:port".
    extra = [
        h
        for host in settings.allowed_hosts
        for h in ((host,) if ":" in host else (host, f"{host}:*"))
    ]
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", *extra]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    origins += [f"{scheme}://{host}" for host in extra for scheme in ("http", "https")]
    app: Any = create_server(client).streamable_http_app(
        streamable_http_path="/mcp",
        json_response=True,
        stateless_http=True,
        transport_security=TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
        ),
        host=host,
    )
    app = _ProblemErrors(app)
    if settings.mcp_guard is not None:
        app = _AuthGuard(app, settings.mcp_guard)
    return EmbeddedUvicorn(
        uvicorn.Config(
            app, http=ProblemH11Protocol, log_level="warning", timeout_graceful_shutdown=int(grace)
        )
    )
