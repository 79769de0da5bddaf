"""The resolver's part for the REST adapter: routes, forwards, inputs."""

from __future__ import annotations

import re
from typing import Any

from ..diagnostics import Pointer
from ..model import (
    Action,
    Auth,
    Forward,
    Input,
    RestAdapter,
    RestRoute,
    UpstreamOperation,
    calls_of,
)
from ..naming import Namer, identifier
from .shared import (
    PLACEHOLDER,
    ResolverState,
    _description_of,
    _fold_constants,
    _json_type,
    _method_of,
    _passthrough_body,
    _Surface,
    _text,
    _with_retry,
)

RESERVED_REST_PREFIX = "/_adapter"


# Request headers a forward never passes upstream, whatever trustedHeaders says.
FORWARD_NEVER = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
    }
)


def _route_path(spec_path: str) -> tuple[str, dict[str, str]]:
    """An exposed path as an aiohttp route, and the route variable of each placeholder name."""
    route_vars = Namer()
    var_of: dict[str, str] = {}

    def to_route(match: re.Match[str]) -> str:
        name = (match.group(1) or match.group(2) or "").strip()
        if name not in var_of:
            var_of[name] = route_vars.take(identifier(name, fallback="p"))
        return "{" + var_of[name] + "}"

    return PLACEHOLDER.sub(to_route, spec_path), var_of


def _reads_body_params(action: Action) -> bool:
    return any(c.body is not None and c.body.kind == "params" for c in calls_of(action))


class RestResolver(ResolverState):
    # ------------------------------------------------------------------ REST
    def _rest(self, exposes: dict[str, Any], path: Pointer) -> RestAdapter | None:
        inbound = self._inbound(exposes, "REST", path)
        namespace = _text(exposes.get("namespace"))
        routes: list[RestRoute] = []
        forwards: list[Forward] = []
        seen: dict[tuple[str, str], tuple[Pointer, Any]] = {}
        names = Namer()
        for r_index, resource in enumerate(exposes.get("resources") or []):
            r_path: Pointer = (*path, "resources", r_index)
            spec_path = _text(resource.get("path"))
            if "forward" in resource:
                forward = self._forward(resource, spec_path, r_path, inbound)
                if forward is not None:
                    forwards.append(forward)
                continue
            if not spec_path.startswith("/"):
                self.report.error(f"REST path {spec_path!r} must start with '/'", (*r_path, "path"))
                continue
            if spec_path == RESERVED_REST_PREFIX or spec_path.startswith(
                RESERVED_REST_PREFIX + "/"
            ):
                self.report.error(
                    f"REST paths under {RESERVED_REST_PREFIX}/ are reserved for the adapter's own endpoints",
                    (*r_path, "path"),
                )
                continue
            resource_path = spec_path
            for o_index, raw_op in enumerate(resource.get("operations") or []):
                o_path: Pointer = (*r_path, "operations", o_index)
                op = self._inline_ref(raw_op, o_path, rest=True) if "ref" in raw_op else raw_op
                if op is None:
                    continue
                spec_path = resource_path
                if isinstance(op.get("path"), str) and op["path"].strip("/"):
                    # Catalog style: an operation's own path, below its resource's unless it
                    # already starts with it.
                    own = "/" + op["path"].strip("/")
                    spec_path = (
                        own
                        if own == resource_path or own.startswith(resource_path.rstrip("/") + "/")
                        else resource_path.rstrip("/") + own
                    )
                    self.report.warning(
                        f"operation-level 'path' is not part of the format; served at {spec_path!r}",
                        (*o_path, "path"),
                    )
                with_map = op.get("with") if isinstance(op.get("with"), dict) else {}
                for value in with_map.values():
                    wanted = (
                        re.fullmatch(r"[A-Za-z0-9_-]+\.path\.([A-Za-z0-9_-]+)", value)
                        if isinstance(value, str)
                        else None
                    )
                    if wanted and "{" + wanted.group(1) not in spec_path.replace("{{", "{"):
                        # `rest.path.connectionId` under /v1/connections: the item below it.
                        spec_path = spec_path.rstrip("/") + "/{" + wanted.group(1) + "}"
                        self.report.warning(
                            f"{value!r} names a path parameter the path lacks; served at {spec_path!r}",
                            (*o_path, "with"),
                        )
                route_path, var_of = _route_path(spec_path)
                method = str(op.get("method", "GET")).upper()
                key = (route_path, method)
                definition = (resource.get("inputParameters"), op)
                if key in seen:
                    first, first_definition = seen[key]
                    first_line = self.report.position(first)[0]
                    if definition == first_definition:
                        # The same operation pasted twice: one route, as the author meant.
                        self.report.warning(
                            f"{method} {spec_path} is defined twice, identically (first at line "
                            f"{first_line}); served once",
                            (*o_path, "method"),
                        )
                    else:
                        self.report.error(
                            f"{method} {spec_path} is defined twice (first at line {first_line}), "
                            f"differently; {self._route_hint(spec_path, op, first_definition[1])}",
                            (*o_path, "method"),
                        )
                    continue
                seen[key] = ((*o_path, "method"), definition)
                surface = _Surface(
                    kind="rest",
                    namespace=namespace,
                    path=o_path,
                    declares_inputs=bool(
                        resource.get("inputParameters") or op.get("inputParameters")
                    ),
                )
                for name, var in var_of.items():
                    surface.inputs[name] = Input(name, "path", "string", True, "", route_var=var)
                for source_list, base in (
                    (resource.get("inputParameters") or [], (*r_path, "inputParameters")),
                    (op.get("inputParameters") or [], (*o_path, "inputParameters")),
                ):
                    for i, raw in enumerate(source_list):
                        self._declare_rest_input(raw, (*base, i), surface, var_of)
                call = self._call(op, o_path, surface)
                if call is None:
                    continue
                call = _with_retry(call, _method_of(call) in ("GET", "HEAD"))
                if op.get("name"):
                    self.exposed_actions[(namespace, str(op["name"]))] = (
                        f"REST `{method} {spec_path}`"
                    )
                summary = (
                    _text(op.get("label")) or _text(op.get("description")) or _description_of(call)
                )
                if surface.constants:
                    call = _fold_constants(call, surface.constants)
                inputs = tuple(
                    i for i in surface.inputs.values() if i.name not in surface.constants
                )
                routes.append(
                    RestRoute(
                        name=names.take(
                            identifier(
                                _text(op.get("name")) or f"{method}_{spec_path}", fallback="op"
                            )
                        ),
                        method=method,
                        path=route_path,
                        spec_path=spec_path,
                        summary=summary.split("\n")[0][:120],
                        description=_text(op.get("description"))
                        or _text(resource.get("description")),
                        inputs=inputs,
                        call=call,
                        accepts_body=_passthrough_body(call)
                        or _reads_body_params(call)
                        or any(i.location == "body" for i in inputs),
                    )
                )
        if not routes and not forwards and not self.report.errors:
            self.report.error("the REST adapter has no operations", (*path, "resources"))
        return RestAdapter(
            namespace=namespace,
            port=int(exposes.get("port") or 8080),
            address=_text(exposes.get("address")) or "127.0.0.1",
            description=_text(exposes.get("description")),
            routes=tuple(routes),
            forwards=tuple(forwards),
            inbound=inbound,
        )

    def _route_hint(self, spec_path: str, op: dict[str, Any], first: dict[str, Any]) -> str:
        """What to write so that two operations on one method and path are told apart: for the
        one whose upstream takes path parameters this path lacks, the path with them appended
        (the item below the collection, e.g. ``/v1/customer-accounts/{rcn}``)."""
        for candidate in (op, first):
            operation = self._peek_operation(candidate.get("call"))
            if operation is None:
                continue
            bound = candidate.get("with") if isinstance(candidate.get("with"), dict) else {}
            lacking = [
                n
                for n in operation.path_params
                if "{" + n + "}" not in spec_path.replace("{{", "{")
                # a value from binds is not the caller's to give
                and not (
                    isinstance(bound.get(n), str)
                    and ("{{" in bound[n] or bound[n].startswith("env."))
                )
            ]
            if lacking:
                item = spec_path.rstrip("/") + "".join("/{" + n + "}" for n in lacking)
                which = f"operation {candidate.get('name')!r}" if candidate.get("name") else "one"
                return f"serve {which} at its own path, e.g. {item!r}"
        return "give one of them its own path or method, or remove one"

    def _peek_operation(self, call: Any) -> UpstreamOperation | None:
        """The consumed operation *call* names, without reporting anything when it names none."""
        if not isinstance(call, str) or "." not in call:
            return None
        namespace, _, name = call.partition(".")
        upstream = self.upstreams.get(namespace)
        if upstream is None:
            return None
        return next((o for o in upstream.operations if o.name == name), None)

    def _forward(
        self, resource: dict[str, Any], spec_path: str, path: Pointer, inbound: Auth | None
    ) -> Forward | None:
        """``forward: {targetNamespace, trustedHeaders}``: every request below the resource path
        is proxied to that API (its credentials and shared parameters added)."""
        raw = resource["forward"]
        if resource.get("operations"):
            self.report.unsupported(
                "operations next to 'forward' on one resource", (*path, "operations")
            )
            return None
        target = raw.get("targetNamespace") if isinstance(raw, dict) else None
        if not isinstance(target, str) or target not in self.upstreams:
            known = ", ".join(sorted(self.upstreams)) or "none"
            self.report.error(
                f"forward targetNamespace {target!r} is not a consumed namespace (known: {known})",
                (*path, "forward"),
            )
            return None
        target_auth = self.upstreams[target].auth
        if target_auth is not None and target_auth.body_key is not None:
            self.report.unsupported(
                f"a forward to {target!r}, whose API key goes in the request body",
                (*path, "forward"),
            )
            return None
        # `/forward/{{path}}`: the placeholder is the rest of the path; without one, everything below.
        prefix = re.sub(r"/?(\{\{[^{}]*\}\}|\{[^{}]*\})$", "", spec_path).rstrip("/")
        if "{" in prefix or not spec_path.startswith("/"):
            self.report.error(
                "a forward path is a fixed prefix, optionally ending in one placeholder for the rest "
                "of the path (e.g. /proxy/{{path}})",
                (*path, "path"),
            )
            return None
        if (
            prefix == RESERVED_REST_PREFIX
            or prefix.startswith(RESERVED_REST_PREFIX + "/")
            or not prefix
        ):
            self.report.error(
                "a forward needs a prefix of its own (not '/', not under /_adapter/)",
                (*path, "path"),
            )
            return None
        trusted = raw.get("trustedHeaders") or []
        if not isinstance(trusted, list) or not all(
            isinstance(h, str) and re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", h) for h in trusted
        ):
            self.report.error("trustedHeaders must be a list of header names", (*path, "forward"))
            return None
        never = FORWARD_NEVER | {
            name.lower()
            for placement, name, _ in (inbound.keys if inbound else ())
            if placement == "header"
        }
        blocked = [h for h in trusted if h.lower() in never]
        if blocked:
            self.report.error(
                f"trustedHeaders may not pass {blocked[0]!r}: the adapter never forwards callers' "
                "credentials (its own inbound API key included), cookies or connection headers",
                (*path, "forward"),
            )
            return None
        return Forward(
            prefix=prefix,
            spec_path=spec_path,
            namespace=target,
            trusted_headers=tuple(trusted),
            description=_text(resource.get("description")),
        )

    def _declare_rest_input(
        self, raw: dict[str, Any], path: Pointer, surface: _Surface, var_of: dict[str, str]
    ) -> None:
        name = raw["name"]
        location = raw.get("in", "query")
        if location == "cookie":
            self.report.unsupported("cookie inputs", (*path, "in"))
            return
        if location not in ("path", "query", "header", "body"):
            self.report.error(
                f"input location {location!r} is unknown; use path, query, header or body",
                (*path, "in"),
            )
            return
        if location == "path" and name not in var_of:
            self.report.error(f"path input {name!r} does not appear in the resource path", path)
            return
        field_path: tuple[str, ...] = ()
        if "value" in raw:
            value = raw["value"]
            selector = (
                re.fullmatch(r"\$((?:\.[A-Za-z0-9_-]+)+)", value)
                if isinstance(value, str)
                else None
            )
            if location == "body" and selector:
                # `value: $.user.id`: the input is that field of the JSON body.
                field_path = tuple(selector.group(1).split(".")[1:])
            elif location == "body" and isinstance(value, str) and value.startswith("$"):
                self.report.unsupported(
                    f"JSONPath {value!r} on an exposed input (only $.field.subfield paths)",
                    (*path, "value"),
                )
            else:
                # A static value overrides the request (as in the engine): a constant, not an
                # input; every reference to it is folded into the call (see _fold_constants).
                surface.constants[name] = value
        surface.inputs[name] = Input(
            name=name,
            location=location,
            type=_json_type(raw.get("type")),  # type: ignore[arg-type]
            required=bool(raw.get("required", location == "path")),
            description=_text(raw.get("description")),
            pattern=raw.get("pattern") if isinstance(raw.get("pattern"), str) else None,
            route_var=var_of.get(name, ""),
            field=field_path,
        )
        if raw.get("pattern"):
            try:
                re.compile(raw["pattern"])
            except re.error as exc:
                self.report.error(
                    f"pattern is not a valid regular expression: {exc}", (*path, "pattern")
                )
