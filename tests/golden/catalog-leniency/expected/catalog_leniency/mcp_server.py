"""MCP server for Catalog leniency: one tool per ``exposes: mcp`` tool of the spec.

Built on the official SDK's low-level ``Server`` with generated tool definitions. Arguments are
validated against each tool's input schema before any upstream call; upstream and transport
failures come back as tool errors (``isError``) with a structured ``{status, error, retryable}``.
Serves Streamable HTTP (both protocol eras, 2025-11-25 and 2026-07-28) and stdio.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
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
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    TextContent,
    Tool,
    ToolAnnotations,
)
from uvicorn.protocols.http.h11_impl import H11Protocol

from . import __version__, operations
from .client import Call, FromInput, InputError, UpstreamClient, UpstreamError, new_request_id
from .inbound import Guard
from .settings import Settings

log = logging.getLogger(__name__)

INSTRUCTIONS = ""


@dataclass(frozen=True)
class ToolBinding:
    """A tool definition and the upstream call behind it."""

    tool: Tool
    call: Call
    validator: Draft202012Validator


def _binding(tool: Tool, call: Call) -> ToolBinding:
    return ToolBinding(
        tool=tool,
        call=call,
        validator=Draft202012Validator(tool.input_schema),
    )


TOOLS: dict[str, ToolBinding] = {
    "get-employee": _binding(
        Tool(
            name="get-employee",
            title="Get an employee",
            description="Get an employee",
            input_schema={
                "type": "object",
                "properties": {"employeeId": {"type": "string", "description": "Employee id"}},
                "required": ["employeeId"],
                "additionalProperties": False,
            },
            annotations=ToolAnnotations(
                title="Get an employee",
                read_only_hint=True,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=True,
            ),
        ),
        Call(
            operation=operations.GET_EMPLOYEE,
            args={"employee-id": FromInput("employeeId")},
            retry=True,
        ),
    ),
    "get-job": _binding(
        Tool(
            name="get-job",
            title="Get a job",
            description="Get a job",
            input_schema={
                "type": "object",
                "properties": {"jobId": {"type": "string"}, "verbose": {"type": "string"}},
                "required": ["jobId"],
                "additionalProperties": False,
            },
            annotations=ToolAnnotations(
                title="Get a job",
                read_only_hint=True,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=True,
            ),
        ),
        Call(
            operation=operations.JOBS_GET_JOB,
            args={"job-id": FromInput("jobId")},
            extra={"verbose": FromInput("verbose")},
            retry=True,
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
            outcome = "ok"
            data = _decode(response.body)
            return _result(data, _wrap(data))
        finally:
            # Tool name, duration and outcome only: argument values may be secret.
            log.info(
                "tool %s %s %.1fms", params.name, outcome, (time.perf_counter() - started) * 1000
            )

    return Server(
        "hr-mcp",
        version=__version__,
        instructions=INSTRUCTIONS or None,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
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
