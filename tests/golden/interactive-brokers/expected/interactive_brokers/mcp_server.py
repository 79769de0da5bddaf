"""MCP server for Interactive Brokers Web API: one tool per ``exposes: mcp`` tool of the spec.

Built on the official SDK's low-level ``Server`` with generated tool definitions. Arguments are
validated against each tool's input schema before any upstream call; upstream and transport
failures come back as tool errors (``isError``) with a structured ``{status, error, retryable}``.
Serves Streamable HTTP (both protocol eras, 2025-11-25 and 2026-07-28) and stdio.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
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
from .client import Body, Call, FromInput, InputError, UpstreamClient, UpstreamError, new_request_id
from .inbound import Guard
from .settings import Settings
from .state import SharedState, StateUnavailable

log = logging.getLogger(__name__)
CLOCK_SKEW_SECONDS = 300  # how far apart replicas' clocks may be (README: shared state)

INSTRUCTIONS = "MCP adapter for Interactive Brokers Web API for AI agent use."


@dataclass(frozen=True)
class ToolBinding:
    """A tool definition and the upstream call behind it."""

    tool: Tool
    call: Call
    validator: Draft202012Validator
    destructive: bool = False
    unsafe_write: bool = False  # not read-only and not idempotent


def _binding(
    tool: Tool, call: Call, *, destructive: bool = False, unsafe_write: bool = False
) -> ToolBinding:
    return ToolBinding(
        tool=tool,
        call=call,
        validator=Draft202012Validator(tool.input_schema),
        destructive=destructive,
        unsafe_write=unsafe_write,
    )


TOOLS: dict[str, ToolBinding] = {
    "getauthstatus": _binding(
        Tool(
            name="getauthstatus",
            title="Get authentication status",
            description="Get authentication status",
            input_schema={
                "type": "object",
                "properties": {
                    "body": {
                        "type": "object",
                        "description": "JSON request body sent to the upstream API as-is.",
                    },
                    "confirmation_token": {
                        "type": "string",
                        "description": "Leave out at first: the tool answers with a preview of the exact request and a token. Call again with the same arguments and this token to send it.",
                    },
                },
                "additionalProperties": False,
            },
            annotations=ToolAnnotations(
                title="Get authentication status",
                read_only_hint=False,
                destructive_hint=False,
                idempotent_hint=False,
                open_world_hint=True,
            ),
        ),
        Call(operation=operations.GETAUTHSTATUS, body=Body(kind="passthrough")),
        unsafe_write=True,
    ),
    "getaccounts": _binding(
        Tool(
            name="getaccounts",
            title="Get brokerage accounts",
            description="Get brokerage accounts",
            input_schema={"type": "object", "properties": {}, "additionalProperties": False},
            annotations=ToolAnnotations(
                title="Get brokerage accounts",
                read_only_hint=True,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=True,
            ),
        ),
        Call(operation=operations.GETACCOUNTS, retry=True),
    ),
    "placeorder": _binding(
        Tool(
            name="placeorder",
            title="Place an order",
            description="Place an order",
            input_schema={
                "type": "object",
                "properties": {
                    "accountId": {"type": "string", "description": "The account identifier"},
                    "body": {
                        "type": "object",
                        "description": "JSON request body sent to the upstream API as-is.",
                    },
                    "confirmation_token": {
                        "type": "string",
                        "description": "Leave out at first: the tool answers with a preview of the exact request and a token. Call again with the same arguments and this token to send it.",
                    },
                },
                "required": ["accountId"],
                "additionalProperties": False,
            },
            annotations=ToolAnnotations(
                title="Place an order",
                read_only_hint=False,
                destructive_hint=False,
                idempotent_hint=False,
                open_world_hint=True,
            ),
        ),
        Call(
            operation=operations.PLACEORDER,
            args={"accountId": FromInput("accountId")},
            body=Body(kind="passthrough"),
        ),
        unsafe_write=True,
    ),
    "getliveorders": _binding(
        Tool(
            name="getliveorders",
            title="Get live orders",
            description="Get live orders",
            input_schema={"type": "object", "properties": {}, "additionalProperties": False},
            annotations=ToolAnnotations(
                title="Get live orders",
                read_only_hint=True,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=True,
            ),
        ),
        Call(operation=operations.GETLIVEORDERS, retry=True),
    ),
    "getpositions": _binding(
        Tool(
            name="getpositions",
            title="Get portfolio positions",
            description="Get portfolio positions",
            input_schema={
                "type": "object",
                "properties": {
                    "accountId": {"type": "string", "description": "The account identifier"},
                    "pageId": {
                        "type": "string",
                        "description": "Page number for pagination (starts at 0)",
                    },
                },
                "required": ["accountId", "pageId"],
                "additionalProperties": False,
            },
            annotations=ToolAnnotations(
                title="Get portfolio positions",
                read_only_hint=True,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=True,
            ),
        ),
        Call(
            operation=operations.GETPOSITIONS,
            args={"accountId": FromInput("accountId"), "pageId": FromInput("pageId")},
            retry=True,
        ),
    ),
    "getaccountsummary": _binding(
        Tool(
            name="getaccountsummary",
            title="Get account summary",
            description="Get account summary",
            input_schema={
                "type": "object",
                "properties": {
                    "accountId": {"type": "string", "description": "The account identifier"}
                },
                "required": ["accountId"],
                "additionalProperties": False,
            },
            annotations=ToolAnnotations(
                title="Get account summary",
                read_only_hint=True,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=True,
            ),
        ),
        Call(
            operation=operations.GETACCOUNTSUMMARY,
            args={"accountId": FromInput("accountId")},
            retry=True,
        ),
    ),
    "getmarketdatasnapshot": _binding(
        Tool(
            name="getmarketdatasnapshot",
            title="Get market data snapshot",
            description="Get market data snapshot",
            input_schema={
                "type": "object",
                "properties": {
                    "conids": {
                        "type": "string",
                        "description": "Comma-separated list of contract IDs",
                    },
                    "fields": {
                        "type": "string",
                        "description": "Comma-separated list of field IDs to return",
                    },
                },
                "required": ["conids", "fields"],
                "additionalProperties": False,
            },
            annotations=ToolAnnotations(
                title="Get market data snapshot",
                read_only_hint=True,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=True,
            ),
        ),
        Call(
            operation=operations.GETMARKETDATASNAPSHOT,
            args={"conids": FromInput("conids"), "fields": FromInput("fields")},
            retry=True,
        ),
    ),
    "getmarketdatahistory": _binding(
        Tool(
            name="getmarketdatahistory",
            title="Get historical market data",
            description="Get historical market data",
            input_schema={
                "type": "object",
                "properties": {
                    "conid": {"type": "string", "description": "Contract identifier"},
                    "period": {
                        "type": "string",
                        "description": "Time period (e.g., 1d, 1w, 1m, 1y)",
                    },
                    "bar": {"type": "string", "description": "Bar size (e.g., 1min, 5min, 1h, 1d)"},
                },
                "required": ["conid", "period", "bar"],
                "additionalProperties": False,
            },
            annotations=ToolAnnotations(
                title="Get historical market data",
                read_only_hint=True,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=True,
            ),
        ),
        Call(
            operation=operations.GETMARKETDATAHISTORY,
            args={
                "conid": FromInput("conid"),
                "period": FromInput("period"),
                "bar": FromInput("bar"),
            },
            retry=True,
        ),
    ),
    "searchcontracts": _binding(
        Tool(
            name="searchcontracts",
            title="Search contracts",
            description="Search contracts",
            input_schema={
                "type": "object",
                "properties": {
                    "body": {
                        "type": "object",
                        "description": "JSON request body sent to the upstream API as-is.",
                    },
                    "confirmation_token": {
                        "type": "string",
                        "description": "Leave out at first: the tool answers with a preview of the exact request and a token. Call again with the same arguments and this token to send it.",
                    },
                },
                "additionalProperties": False,
            },
            annotations=ToolAnnotations(
                title="Search contracts",
                read_only_hint=False,
                destructive_hint=False,
                idempotent_hint=False,
                open_world_hint=True,
            ),
        ),
        Call(operation=operations.SEARCHCONTRACTS, body=Body(kind="passthrough")),
        unsafe_write=True,
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


class Confirmations:
    """Two-step calls: a preview with a signed, short-lived, single-use token, then the real call.

    The token signs the tool name, the exact arguments, an expiry and a nonce (HMAC-SHA256), so
    it works on any replica that shares ADAPTER_CONFIRM_KEY. Single use holds across every
    process and replica that shares ADAPTER_STATE_URL (while that store is unreachable no
    token is issued or redeemed: StateUnavailable); without it, per process.
    """

    def __init__(self, settings: Settings, state: SharedState | None) -> None:
        self.policy = settings.confirm
        self.key = settings.confirm_key
        self.ttl = settings.confirm_ttl
        self._state = state
        self._scope = state.confirm_scope(self.key) if state is not None else ""
        self._used: dict[str, float] = {}  # without shared state: redeemed tokens -> expiry

    def required(self, name: str, binding: ToolBinding) -> bool:
        if self.policy == "off":
            return False
        if self.policy == "destructive":
            return binding.destructive
        if self.policy == "writes":
            return binding.destructive or binding.unsafe_write
        return name in {n.strip() for n in self.policy.split(",")}

    def _sign(
        self, name: str, arguments: dict[str, Any], expires: int, nonce: str, epoch: str
    ) -> str:
        message = json.dumps(
            [name, arguments, expires, nonce, epoch], sort_keys=True, separators=(",", ":")
        ).encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()[:40]

    async def issue(self, name: str, arguments: dict[str, Any]) -> str:
        """A token for exactly this call: ``expires.nonce.epoch.signature``. The nonce makes every
        preview's token distinct, even for identical calls; the epoch is the shared store's (empty
        without one), so a store that lost its data refuses the tokens issued before."""
        epoch = await self._state.epoch(self._scope) if self._state is not None else ""
        expires, nonce = int(time.time() + self.ttl), secrets.token_hex(8)
        return f"{expires}.{nonce}.{epoch}.{self._sign(name, arguments, expires, nonce, epoch)}"

    async def redeem(self, name: str, arguments: dict[str, Any], token: str) -> str | None:
        """None when *token* confirms exactly this call and was not redeemed before, else why not."""
        now = time.time()
        parts = token.split(".")
        if len(parts) != 4 or not parts[0].isdigit():
            return _TOKEN_MISMATCH
        expires_text, nonce, epoch, signature = parts
        expires = int(expires_text)
        if not hmac.compare_digest(signature, self._sign(name, arguments, expires, nonce, epoch)):
            return _TOKEN_MISMATCH
        if expires < now:
            return "the confirmation token has expired"
        if self._state is not None:
            # Marked used for the token's remaining life plus the clock skew replicas may have.
            first = await self._state.redeem(
                self._scope, token, epoch, int(expires - now) + CLOCK_SKEW_SECONDS
            )
            if first < 0:
                return (
                    "the confirmation token was issued before the confirmation store lost its data"
                )
            return None if first else "the confirmation token was already used"
        self._used = {t: exp for t, exp in self._used.items() if exp > now}
        if token in self._used:
            return "the confirmation token was already used"
        self._used[token] = expires
        return None


def _argument_errors(binding: ToolBinding, arguments: dict[str, Any]) -> list[str]:
    problems = []
    for error in sorted(
        binding.validator.iter_errors(arguments), key=lambda e: list(map(str, e.path))
    ):
        where = "/".join(map(str, error.absolute_path))
        problems.append(f"argument {where!r}: {error.message}" if where else error.message)
    return problems


_TOKEN_MISMATCH = "the confirmation token does not match this tool and these exact arguments"
_CONFIRM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"confirm": {"type": "boolean", "title": "Send this request?"}},
    "required": ["confirm"],
}


async def _elicit(
    ctx: ServerRequestContext, name: str, request: dict[str, Any], timeout: float
) -> bool | None:
    """Ask the user through MCP elicitation: True to send, False declined, None when the client
    cannot be asked on this connection (no elicitation capability or no back-channel)."""
    capabilities = ctx.session.client_capabilities
    if capabilities is None or capabilities.elicitation is None:
        return None
    body = (
        f" with body {json.dumps(request['body'], ensure_ascii=False)}"
        if request["body"] is not None
        else ""
    )
    message = f"{name} wants to send {request['method']} {request['url']}{body}."
    try:
        answer = await asyncio.wait_for(
            ctx.session.elicit_form(message, _CONFIRM_SCHEMA, related_request_id=ctx.request_id),
            timeout,
        )
    except (MCPError, TimeoutError):
        return None
    return answer.action == "accept" and bool((answer.content or {}).get("confirm"))


def _preview(name: str, request: dict[str, Any], token: str, ttl: float) -> CallToolResult:
    """Step one of a confirmed call: nothing was sent; show exactly what would be."""
    payload = {
        "confirmation_required": True,
        "confirmation_token": token,
        "expires_in_seconds": int(ttl),
        "request": request,
    }
    sending = f"{request['method']} {request['url']}"
    if request["body"] is not None:
        sending += " with body " + json.dumps(request["body"], ensure_ascii=False)
    text = (
        f"NOT SENT YET: {name} needs confirmation. It would send {sending}. "
        "Check it with the user, then call the tool again with the same arguments plus "
        f"confirmation_token={token!r}."
    )
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=payload)


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def create_server(client: UpstreamClient) -> Server:
    """The MCP server; *client* must be started by the caller."""
    confirmations = Confirmations(client.settings, client.state)

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
            token = arguments.pop("confirmation_token", None)
            try:
                prepared = client.prepare(binding.call, arguments, raw_body=arguments.get("body"))
                if confirmations.required(params.name, binding):
                    # Ask the user directly where the client supports elicitation; else two steps.
                    request = client.preview(prepared) if token is None else None
                    decision = (
                        await _elicit(ctx, params.name, request, confirmations.ttl)
                        if request is not None
                        else None
                    )
                    if decision is False:
                        outcome = "declined"
                        return tool_error(
                            409, "the user declined to send this request", retryable=False
                        )
                    if request is not None and decision is None:
                        outcome = "preview"
                        return _preview(
                            params.name,
                            request,
                            await confirmations.issue(params.name, arguments),
                            confirmations.ttl,
                        )
                    refused = (
                        await confirmations.redeem(params.name, arguments, token)
                        if token is not None
                        else None
                    )
                    if refused is not None:
                        outcome = "confirmation-refused"
                        return tool_error(
                            409,
                            f"{refused}; call again without confirmation_token for a new preview",
                            retryable=False,
                        )
                response = await client.send_prepared(
                    binding.call, prepared, request_id=new_request_id()
                )
            except InputError as exc:
                outcome = "invalid-arguments"
                return tool_error(400, str(exc), retryable=False)
            except StateUnavailable as exc:  # single use cannot be guaranteed: fail closed
                outcome = "store-unavailable"
                return tool_error(
                    503,
                    f"confirmation needs the shared state store: {exc}; nothing was sent",
                    retryable=True,
                )
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
        "interactive-brokers-mcp",
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
