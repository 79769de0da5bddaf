"""REST adapter for Interactive Brokers Web API: an aiohttp application serving the spec's ``exposes: rest``.

Every route validates its inputs, calls the consumed operation through the shared
``UpstreamClient`` and answers with the upstream status and body. Failures on the adapter's
side are RFC 9457 ``application/problem+json`` documents that carry the request id, never a
traceback and never a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from typing import Any, Literal

from aiohttp import web
from yarl import URL

from . import logs, operations
from .client import (
    Body,
    Call,
    FromInput,
    InputError,
    Prepared,
    UpstreamClient,
    UpstreamError,
    UpstreamResponse,
    new_request_id,
)
from .inbound import Guard
from .settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CLIENT: web.AppKey[UpstreamClient] = web.AppKey("client", UpstreamClient)
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
READY_CACHE: web.AppKey[dict[str, Any]] = web.AppKey("ready_cache", dict)
OPENAPI: web.AppKey[bytes] = web.AppKey("openapi", bytes)
# The id of the request being handled (each aiohttp request runs in its own task/context).
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="")
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_READY_TTL = 5.0


@dataclass(frozen=True)
class Input:
    """One caller input: where it is read from and how it is checked."""

    name: str
    location: Literal["path", "query", "header", "body"]
    type: str = "string"
    required: bool = False
    pattern: str | None = None
    route_var: str = ""


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str
    call: Call
    inputs: tuple[Input, ...] = ()
    accepts_body: bool = False


ROUTES: tuple[Route, ...] = (
    Route(
        name="getauthstatus",
        method="POST",
        path="/iserver/auth/status",
        call=Call(operation=operations.GETAUTHSTATUS, body=Body(kind="passthrough")),
        accepts_body=True,
    ),
    Route(
        name="getaccounts",
        method="GET",
        path="/iserver/accounts",
        call=Call(operation=operations.GETACCOUNTS, retry=True),
    ),
    Route(
        name="placeorder",
        method="POST",
        path="/iserver/account/{account_id}/orders",
        call=Call(
            operation=operations.PLACEORDER,
            args={"accountId": FromInput("accountId")},
            body=Body(kind="passthrough"),
        ),
        inputs=(Input("accountId", "path", required=True, route_var="account_id"),),
        accepts_body=True,
    ),
    Route(
        name="getliveorders",
        method="GET",
        path="/iserver/account/orders",
        call=Call(operation=operations.GETLIVEORDERS, retry=True),
    ),
    Route(
        name="getpositions",
        method="GET",
        path="/portfolio/{account_id}/positions/{page_id}",
        call=Call(
            operation=operations.GETPOSITIONS,
            args={"accountId": FromInput("accountId"), "pageId": FromInput("pageId")},
            retry=True,
        ),
        inputs=(
            Input("accountId", "path", required=True, route_var="account_id"),
            Input("pageId", "path", required=True, route_var="page_id"),
        ),
    ),
    Route(
        name="getaccountsummary",
        method="GET",
        path="/portfolio/{account_id}/summary",
        call=Call(
            operation=operations.GETACCOUNTSUMMARY,
            args={"accountId": FromInput("accountId")},
            retry=True,
        ),
        inputs=(Input("accountId", "path", required=True, route_var="account_id"),),
    ),
    Route(
        name="getmarketdatasnapshot",
        method="GET",
        path="/iserver/marketdata/snapshot",
        call=Call(
            operation=operations.GETMARKETDATASNAPSHOT,
            args={"conids": FromInput("conids"), "fields": FromInput("fields")},
            retry=True,
        ),
        inputs=(
            Input("conids", "query", required=True),
            Input("fields", "query"),
        ),
    ),
    Route(
        name="getmarketdatahistory",
        method="GET",
        path="/iserver/marketdata/history",
        call=Call(
            operation=operations.GETMARKETDATAHISTORY,
            args={
                "conid": FromInput("conid"),
                "period": FromInput("period"),
                "bar": FromInput("bar"),
            },
            retry=True,
        ),
        inputs=(
            Input("conid", "query", required=True),
            Input("period", "query", required=True),
            Input("bar", "query", required=True),
        ),
    ),
    Route(
        name="searchcontracts",
        method="POST",
        path="/iserver/secdef/search",
        call=Call(operation=operations.SEARCHCONTRACTS, body=Body(kind="passthrough")),
        accepts_body=True,
    ),
)


class BadRequest(Exception):
    """The caller's request is invalid; the message says which input and why."""


class UnsupportedMediaType(Exception):
    """The request body is not JSON."""


def problem(
    request: web.Request, status: int, title: str, detail: str, **extra: Any
) -> web.Response:
    """An RFC 9457 problem document."""
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": REQUEST_ID.get(),
    }
    body.update(extra)
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/problem+json"
    )


def _coerce(item: Input, raw: Any) -> Any:
    """Check (and for text sources convert) one input value against its declared type."""
    kind = item.type
    if isinstance(raw, str) and item.location != "body":
        try:
            if kind == "integer":
                return int(raw)
            if kind == "number":
                return float(raw)
            if kind == "boolean":
                if raw.lower() in ("true", "1"):
                    return True
                if raw.lower() in ("false", "0"):
                    return False
                raise ValueError(raw)
            if kind in ("object", "array"):
                value = json.loads(raw)
                if not isinstance(value, dict if kind == "object" else list):
                    raise ValueError(raw)
                return value
        except ValueError:
            raise BadRequest(f"{item.location} parameter {item.name!r} must be {kind}") from None
        if item.pattern is not None and not re.search(item.pattern, raw):
            raise BadRequest(
                f"{item.location} parameter {item.name!r} does not match {item.pattern!r}"
            )
        return raw
    if isinstance(raw, list) and kind == "array":
        return raw
    expected: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
        "object": dict,
        "array": list,
    }
    if not isinstance(raw, expected[kind]) or (
        kind in ("integer", "number") and isinstance(raw, bool)
    ):
        raise BadRequest(f"body field {item.name!r} must be {kind}")
    if item.pattern is not None and isinstance(raw, str) and not re.search(item.pattern, raw):
        raise BadRequest(f"body field {item.name!r} does not match {item.pattern!r}")
    return raw


async def _read_body(request: web.Request) -> bytes:
    """The request body's bytes (empty when there is none); an unreadable body is a BadRequest."""
    if not request.body_exists:
        return b""
    try:
        return await request.read()
    except (web.HTTPRequestEntityTooLarge, asyncio.CancelledError):
        raise
    except Exception:  # aiohttp's payload/decoding errors: a body we cannot read is the caller's
        raise BadRequest(
            "the request body cannot be read (bad Content-Encoding or framing)"
        ) from None


async def _read_json(request: web.Request) -> Any:
    raw = await _read_body(request)
    if not raw.strip():
        return None
    # Only JSON is accepted: other types are how a web page would smuggle a "simple" request.
    mime = request.content_type
    if mime != "application/json" and not mime.endswith("+json"):
        raise UnsupportedMediaType(
            f"send the body as application/json, not {mime or 'no Content-Type'}"
        )
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadRequest("the request body is not valid JSON (or nests too deeply)") from None


def _reject_constant(token: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259), whatever Python's json module accepts.
    raise ValueError(token)


async def _gather(route: Route, request: web.Request) -> tuple[dict[str, Any], Any]:
    """The route's inputs from the request, validated, plus the JSON body (if the route takes one)."""
    body = await _read_json(request) if route.accepts_body else None
    fields = body if isinstance(body, dict) else {}
    if (
        any(i.location == "body" for i in route.inputs)
        and body is not None
        and not isinstance(body, dict)
    ):
        raise BadRequest("the request body must be a JSON object")
    inputs: dict[str, Any] = {}
    for item in route.inputs:
        if item.location == "path":
            raw: Any = request.match_info.get(item.route_var)
        elif item.location == "query" and item.type == "array":
            # Arrays: repeated (?a=1&a=2), comma-separated (?a=1,2) or a JSON array.
            values = request.query.getall(item.name, [])
            if len(values) == 1 and values[0].startswith("["):
                raw = values[0]
            elif len(values) == 1:
                raw = [v for v in values[0].split(",") if v]
            else:
                raw = values or None
        elif item.location == "query":
            raw = request.query.get(item.name)
        elif item.location == "header":
            raw = request.headers.get(item.name)
        else:
            raw = fields.get(item.name)
        if raw is None or raw == "":
            if item.required:
                raise BadRequest(f"missing required {item.location} parameter {item.name!r}")
            continue
        inputs[item.name] = _coerce(item, raw)
    return inputs, body


def _passed_through(upstream: UpstreamResponse) -> web.Response:
    """The upstream status and bytes untouched, with the upstream content type."""
    if upstream.status in (204, 304):  # no body; a 304 keeps its validators (ETag, ...)
        return web.Response(status=upstream.status, headers=upstream.headers)
    headers = upstream.headers
    if upstream.content_type:
        headers = (*headers, ("Content-Type", upstream.content_type))
    return web.Response(status=upstream.status, body=upstream.body, headers=headers)


def _handler(route: Route, client: UpstreamClient) -> Handler:
    if not route.inputs and not route.accepts_body:
        # Nothing to read from the request: the upstream request is the same every time, so it
        # is prepared once, here (unless it cannot be sent: then every request says why, below).
        with contextlib.suppress(InputError):
            return _fixed_handler(route, client, client.prepare(route.call, {}))

    async def handle(request: web.Request) -> web.StreamResponse:
        inputs, body = await _gather(route, request)
        upstream = await client.send(route.call, inputs, request_id=REQUEST_ID.get(), raw_body=body)
        return _passed_through(upstream)

    handle.__name__ = route.name
    return handle


def _fixed_handler(route: Route, client: UpstreamClient, prepared: Prepared) -> Handler:
    """A route's handler that only sends *prepared* (credentials are added as it is sent)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        upstream = await client.send_prepared(route.call, prepared, request_id=REQUEST_ID.get())
        return _passed_through(upstream)

    handle.__name__ = route.name
    return handle


_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@functools.lru_cache(maxsize=256)  # every request asks; a client sends the same Host each time
def _host_allowed(value: str, allowed: tuple[str, ...]) -> bool:
    """Whether a Host (``name[:port]``) is localhost or configured in ADAPTER_ALLOWED_HOSTS."""
    try:
        url = URL(f"http://{value}")
    except ValueError:
        return False
    host = (url.host or "").lower()
    return host in _LOCAL_HOSTS or host in allowed or f"{host}:{url.port}" in allowed


def _refuse_foreign(request: web.Request, allowed: tuple[str, ...]) -> web.Response | None:
    """DNS-rebinding and CSRF guard: a request must name this adapter's host, and a browser's
    Origin must be local or allowed (the caller leaves the /_adapter/ probes open)."""
    if not _host_allowed(request.headers.get("Host", ""), allowed):
        return problem(
            request, 403, "Forbidden", "this Host is not allowed (see ADAPTER_ALLOWED_HOSTS)"
        )
    origin = request.headers.get("Origin")
    if origin is not None:
        try:
            authority = URL(origin).authority
        except ValueError:
            authority = ""
        if not authority or not _host_allowed(authority, allowed):
            return problem(request, 403, "Forbidden", "requests from this Origin are not allowed")
    return None


def _refuse_unauthenticated(request: web.Request, guard: Guard | None) -> web.Response | None:
    """Inbound authentication (the spec's, or ADAPTER_REST_TOKEN); the caller leaves the /_adapter/ probes open."""
    if guard is None or guard.admits(_credential(request, guard)):
        return None
    response = problem(request, 401, "Unauthorized", guard.hint)
    response.headers["WWW-Authenticate"] = guard.challenge
    return response


def _credential(request: web.Request, guard: Guard) -> str | None:
    """The value at the guard's placement and name (None when the request has none)."""
    return request.headers.get(guard.name)


def _front(settings: Settings) -> Callable[[Handler, bool], Handler]:
    """What every request goes through, wrapped around each route's handler once, at start-up
    (an aiohttp middleware would add two coroutine layers and a lookup to every request): the
    request id, the Host/Origin guard and inbound authentication (*guarded* handlers: all but the
    /_adapter/ probes), problem+json for every failure, and one access-log line per request."""
    allowed = settings.allowed_hosts
    guard = settings.rest_guard
    log_access = (
        _access_log(json_lines=settings.log_format == "json") if settings.access_log else None
    )
    max_body_bytes = settings.max_body_bytes

    def front(handler: Handler, guarded: bool = True) -> Handler:
        async def fronted(request: web.Request) -> web.StreamResponse:
            incoming = request.headers.get("X-Request-Id")
            request_id = (
                incoming
                if incoming is not None and _VALID_REQUEST_ID.fullmatch(incoming)
                else new_request_id()
            )
            REQUEST_ID.set(request_id)
            started = time.perf_counter()
            try:
                refusal = None
                if guarded:
                    refusal = _refuse_foreign(request, allowed) or _refuse_unauthenticated(
                        request, guard
                    )
                response = refusal or await handler(request)
            except UnsupportedMediaType as exc:
                response = problem(request, 415, "Unsupported media type", str(exc))
            except BadRequest as exc:
                response = problem(request, 400, "Bad request", str(exc))
            except InputError as exc:
                response = problem(request, 400, "Bad request", str(exc))
            except UpstreamError as exc:
                response = problem(
                    request, exc.status, exc.title, exc.detail, retryable=exc.retryable
                )
                if exc.retry_after is not None:
                    response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
            except web.HTTPRequestEntityTooLarge:
                response = problem(
                    request,
                    413,
                    "Payload too large",
                    f"request bodies are limited to {max_body_bytes} bytes",
                )
            except web.HTTPMethodNotAllowed as exc:
                response = problem(
                    request, 405, "Method not allowed", f"{request.method} is not allowed here"
                )
                response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                response = problem(
                    request,
                    exc.status,
                    exc.reason,
                    f"{request.method} {request.path}: {exc.reason.lower()}",
                )
            except asyncio.CancelledError:
                raise
            except Exception:  # the caller gets a problem document, the log gets the traceback
                log.exception(
                    "unhandled error in %s %s (request %s)",
                    request.method,
                    request.path,
                    request_id,
                )
                response = problem(
                    request,
                    500,
                    "Internal error",
                    "the adapter failed; see its log for the request id",
                )
            response.headers["X-Request-Id"] = request_id
            if log_access is not None:
                log_access(request, response.status, time.perf_counter() - started, request_id)
            return response

        fronted.__name__ = handler.__name__
        return fronted

    return front


def _unrouted(resources: tuple[web.AbstractResource, ...]) -> Handler:
    """The handler of every request no route takes: 405 with ``Allow`` when the path is a route's
    (the methods of every route it matches), else 404; *resources* are the routes' resources."""

    async def unrouted(request: web.Request) -> web.StreamResponse:
        methods: set[str] = set()
        for resource in resources:
            _, allowed = await resource.resolve(request)
            methods |= allowed
        if methods:
            raise web.HTTPMethodNotAllowed(request.method, methods)
        raise web.HTTPNotFound()

    return unrouted


def _access_log(*, json_lines: bool) -> Callable[[web.Request, int, float, str], None]:
    """The access log's line writer (call it after ``logs.configure``): one line per request, a
    JSON object with *json_lines*. The path is the raw (still percent-encoded) one, without the
    query: query strings may carry secrets and are never logged, and encoded CR/LF cannot forge
    log lines."""
    write = logs.access_writer()

    def log_json(request: web.Request, status: int, seconds: float, request_id: str) -> None:
        write(
            json.dumps(
                {
                    "method": request.method,
                    "path": request.raw_path.split("?", 1)[0],
                    "status": status,
                    "ms": round(seconds * 1000, 2),
                    "request_id": request_id,
                }
            )
        )

    def log_text(request: web.Request, status: int, seconds: float, request_id: str) -> None:
        write(
            f'{request.method} {request.raw_path.split("?", 1)[0]} {status} {seconds * 1000:.1f}ms id={request_id}'
        )

    return log_json if json_lines else log_text


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    """Ready when every upstream is usable: its keep-alive says the session is alive or, without a
    keep-alive, it answers HTTP at all (cached for a few seconds)."""
    cache = request.app[READY_CACHE]
    now = time.monotonic()
    if now - cache.get("at", -_READY_TTL) >= _READY_TTL:
        cache["checks"] = await request.app[CLIENT].probe()
        cache["store"] = await request.app[CLIENT].store_ready()
        cache["at"] = now
    checks = cache["checks"]
    document: dict[str, Any] = {"upstreams": checks}
    if cache["store"] is not None:  # the shared state store (ADAPTER_STATE_URL)
        document["store"] = {"ok": cache["store"]}
    ok = all(c["ok"] for c in checks.values()) and cache["store"] is not False
    return web.json_response(
        {"status": "ready" if ok else "unavailable", **document}, status=200 if ok else 503
    )


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI], content_type="application/json")


class ProblemRequestHandler(web.RequestHandler):
    """aiohttp's per-connection protocol, answering with problem+json where aiohttp would answer
    in text/plain: requests its HTTP parser rejects before the application sees them (a request
    line or header over 8190 bytes, an unknown method, a malformed request line or header, a body
    that does not decode), and any error that escapes the fronted handlers.

    aiohttp has no public hook for these answers (aio-libs/aiohttp#3287): ``handle_error`` is the
    method that builds them; the override keeps its contract (one response, connection closed).
    """

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # a response is half sent: no second one can follow
            raise ConnectionError("the response is sent already; closing the connection")
        request_id = new_request_id()  # a rejected request has no readable X-Request-Id
        REQUEST_ID.set(request_id)  # (this runs in the request's own task and context)
        if status >= 500:
            log.error("unhandled error (request %s)", request_id, exc_info=exc)
            detail = "the adapter failed; see its log for the request id"
        else:
            # One line, no traceback: malformed requests are the caller's problem, not ours.
            log.info(
                "rejected malformed HTTP from %s: %s (request %s)",
                request.remote,
                type(exc).__name__,
                request_id,
            )
            # aiohttp's message starts with a one-line summary (the offending bytes, repr-escaped).
            summary = (message or "").partition("\n")[0].rstrip(":") or "malformed request"
            detail = f"the request is not valid HTTP/1.1: {summary}"
        response = problem(request, status, HTTPStatus(status).phrase, detail)
        response.headers["X-Request-Id"] = request_id
        response.force_close()
        return response


async def listen(runner: web.AppRunner, sock: socket.socket) -> asyncio.AbstractServer:
    """Serve *runner*'s application on the listening *sock*; ``runner.cleanup()`` still drains
    its connections (close the returned server first so no new ones arrive)."""
    server = runner.server
    assert server is not None, "call runner.setup() first"
    loop = asyncio.get_running_loop()
    # web.SockSite would do the same with aiohttp's own RequestHandler.
    return await loop.create_server(
        lambda: ProblemRequestHandler(server, loop=loop, access_log=None), sock=sock
    )


def create_app(settings: Settings, client: UpstreamClient) -> web.Application:
    """The REST application; *client* must be started by the caller (see ``__main__``)."""
    front = _front(settings)
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[CLIENT] = client
    app[READY_CACHE] = {}
    app[OPENAPI] = resources.files(__package__).joinpath("openapi.json").read_bytes()
    router = app.router
    # The probes stay open: no Host/Origin guard, no inbound authentication.
    router.add_get("/_adapter/health", front(health, False), allow_head=False)
    router.add_get("/_adapter/ready", front(ready, False), allow_head=False)
    router.add_get("/_adapter/openapi.json", front(openapi, False), allow_head=False)
    for route in ROUTES:
        router.add_route(route.method, route.path, front(_handler(route, client)))
    # What no route takes gets its 404 or 405 from the fronted handler too (aiohttp's own are
    # text/plain); the router tries these last, as the least specific paths. Any path: one with
    # an encoded newline too (``.`` would not match it).
    unrouted = _unrouted(tuple(router.resources()))
    router.add_route("*", r"/_adapter/{path:[\s\S]*}", front(unrouted, False))
    router.add_route("*", r"/{path:[\s\S]*}", front(unrouted))
    return app
