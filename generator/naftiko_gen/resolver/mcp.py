"""The resolver's part for the MCP adapter: tools, resources, prompts, annotations."""

from __future__ import annotations

import re
from typing import Any

from ..diagnostics import Pointer
from ..model import (
    Annotations,
    Call,
    Input,
    McpAdapter,
    McpPrompt,
    McpResource,
    McpTool,
    Mock,
    PromptArgument,
)
from .shared import (
    TEMPLATE,
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


def _title(name: str, description: str) -> str:
    if description and len(description) <= 60 and "\n" not in description:
        return description
    return name


def _input_schema(
    inputs: tuple[Input, ...], body_argument: bool, confirmable: bool
) -> dict[str, Any]:
    properties = {i.name: i.json_schema() for i in inputs}
    if body_argument:
        properties["body"] = {
            "type": "object",
            "description": "JSON request body sent to the upstream API as-is.",
        }
    if confirmable:
        properties["confirmation_token"] = {
            "type": "string",
            "description": "Leave out at first: the tool answers with a preview of the exact request and a token. "
            "Call again with the same arguments and this token to send it.",
        }
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    required = [i.name for i in inputs if i.required]
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


PREVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Not sent yet: call again with confirmation_token to send this request.",
    "properties": {
        "confirmation_required": {"const": True},
        "confirmation_token": {"type": "string"},
        "expires_in_seconds": {"type": "integer"},
        "request": {"type": "object"},
    },
    "required": ["confirmation_required", "confirmation_token", "request"],
}


def _with_preview(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """A confirmable tool answers either its output or a confirmation preview."""
    if schema is None:
        return None
    return {"type": "object", "anyOf": [schema, PREVIEW_SCHEMA]}


class McpResolver(ResolverState):
    # ------------------------------------------------------------------ MCP
    def _mcp(self, exposes: dict[str, Any], path: Pointer) -> McpAdapter | None:
        inbound = None
        if exposes.get("transport") == "stdio" and exposes.get("authentication"):
            self.report.warning(
                "inbound authentication does not apply to stdio; ignored",
                (*path, "authentication"),
            )
        else:
            inbound = self._inbound(exposes, "MCP", path)
        transport = exposes.get("transport", "http")
        if transport not in ("http", "stdio"):
            self.report.error(
                f"MCP transport {transport!r} is unknown; use 'http' or 'stdio'",
                (*path, "transport"),
            )
            return None
        namespace = _text(exposes.get("namespace"))
        tools: list[McpTool] = []
        seen: dict[str, Pointer] = {}
        for t_index, raw_tool in enumerate(exposes.get("tools") or []):
            t_path: Pointer = (*path, "tools", t_index)
            raw = self._inline_ref(raw_tool, t_path, rest=False) if "ref" in raw_tool else raw_tool
            if raw is None:
                continue
            name = raw["name"]
            if name in seen:
                self.report.error(
                    f"tool {name!r} is defined twice (first at line {self.report.position(seen[name])[0]})",
                    (*t_path, "name"),
                )
                continue
            seen[name] = (*t_path, "name")
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", name):
                self.report.error(
                    "MCP tool names may use only letters, digits, '_', '-' and '.' (1-128 characters)",
                    (*t_path, "name"),
                )
                continue
            tool = self._tool(raw, t_path, namespace)
            if tool is not None:
                tools.append(tool)
                self.exposed_actions[(namespace, tool.name)] = f"MCP tool `{tool.name}`"
        if not tools and not self.report.errors:
            self.report.error("the MCP adapter has no tools", (*path, "tools"))
        port = exposes.get("port")
        if transport == "http" and not isinstance(port, int):
            self.report.error("an MCP adapter with transport http needs a 'port'", path)
        resources = self._unique(
            [
                self._resource(raw, (*path, "resources", i), namespace)
                for i, raw in enumerate(exposes.get("resources") or [])
            ],
            "resource",
            (*path, "resources"),
        )
        prompts = self._unique(
            [
                self._prompt(raw, (*path, "prompts", i))
                for i, raw in enumerate(exposes.get("prompts") or [])
            ],
            "prompt",
            (*path, "prompts"),
        )
        return McpAdapter(
            namespace=namespace,
            port=port if isinstance(port, int) else None,
            address=_text(exposes.get("address")) or "127.0.0.1",
            transport=transport,
            description=_text(exposes.get("description")),
            tools=tuple(tools),
            resources=resources,
            prompts=prompts,
            inbound=inbound,
        )

    def _unique(self, items: list[Any], what: str, path: Pointer) -> tuple[Any, ...]:
        seen: set[str] = set()
        kept = []
        for item in items:
            if item is None:
                continue
            key = getattr(item, "uri", None) or item.name
            if key in seen:
                self.report.error(f"{what} {key!r} is defined twice", path)
                continue
            seen.add(key)
            kept.append(item)
        return tuple(kept)

    def _resource(self, raw: dict[str, Any], path: Pointer, namespace: str) -> McpResource | None:
        if "location" in raw:
            self.report.unsupported(
                "static MCP resources from 'location' files", (*path, "location")
            )
            return None
        uri = _text(raw.get("uri"))
        if not uri or ":" not in uri:
            self.report.error(
                "a resource needs a 'uri' with a scheme, e.g. data://things/{id}", (*path, "uri")
            )
            return None
        params = re.findall(r"\{([A-Za-z_][A-Za-z0-9_-]*)\}", uri)
        pieces = re.split(r"\{[A-Za-z_][A-Za-z0-9_-]*\}", uri)
        pattern = "^" + "([^/]+)".join(re.escape(piece) for piece in pieces) + "$"
        surface = _Surface(kind="resource", namespace=namespace, path=path)
        for name in params:
            surface.inputs[name] = Input(name, "argument", "string", True, "")
        call = self._call(raw, path, surface)
        if call is None:
            return None
        if not isinstance(call, Call):
            self.report.unsupported(
                "MCP resources read by 'steps' or from mock values", (*path, "steps")
            )
            return None
        if call.output.kind == "mapped":
            self.report.unsupported(
                "outputParameters on MCP resources", (*path, "outputParameters")
            )
            return None
        return McpResource(
            name=_text(raw.get("name")) or uri,
            title=_text(raw.get("label")),
            uri=uri,
            description=_text(raw.get("description")),
            mime_type=_text(raw.get("mimeType")) or "application/json",
            params=tuple(params),
            pattern=pattern,
            call=call,
        )

    def _prompt(self, raw: dict[str, Any], path: Pointer) -> McpPrompt | None:
        if "location" in raw:
            self.report.unsupported("MCP prompts from 'location' files", (*path, "location"))
            return None
        arguments = tuple(
            PromptArgument(
                name=str(a.get("name")),
                title=_text(a.get("label")),
                description=_text(a.get("description")),
                required=bool(a.get("required", True)),
            )
            for a in raw.get("arguments") or []
            if isinstance(a, dict) and a.get("name")
        )
        names = {a.name for a in arguments}
        messages = []
        for i, message in enumerate(raw.get("template") or []):
            role = message.get("role", "user")
            if role not in ("user", "assistant"):
                self.report.error(
                    f"prompt role {role!r} must be user or assistant",
                    (*path, "template", i, "role"),
                )
                continue
            content = _text(message.get("content"))
            parts: list[tuple[str, str]] = []
            pos = 0
            for match in TEMPLATE.finditer(content):
                if match.start() > pos:
                    parts.append(("text", content[pos : match.start()]))
                name = match.group(1).split(".")[-1]
                if name not in names:
                    self.report.error(
                        f"{{{{{match.group(1)}}}}} is not an argument of prompt {raw.get('name')!r}",
                        (*path, "template", i, "content"),
                    )
                parts.append(("arg", name))
                pos = match.end()
            if pos < len(content):
                parts.append(("text", content[pos:]))
            messages.append((role, tuple(parts)))
        if not messages:
            self.report.error("a prompt needs a 'template' with at least one message", path)
            return None
        return McpPrompt(
            name=str(raw.get("name")),
            title=_text(raw.get("label")),
            description=_text(raw.get("description")),
            arguments=arguments,
            messages=tuple(messages),
        )

    def _tool(self, raw: dict[str, Any], path: Pointer, namespace: str) -> McpTool | None:
        surface = _Surface(
            kind="mcp",
            namespace=namespace,
            path=path,
            declares_inputs=bool(raw.get("inputParameters")),
        )
        for i, param in enumerate(raw.get("inputParameters") or []):
            p_path = (*path, "inputParameters", i)
            pname = param["name"]
            if pname in surface.inputs:
                self.report.error(f"input {pname!r} is declared twice", p_path)
                continue
            if pname == "body":
                self.report.error(
                    "'body' is reserved for the request body argument; rename the input", p_path
                )
                continue
            if isinstance(param.get("pattern"), str):
                try:
                    re.compile(param["pattern"])
                except re.error as exc:
                    self.report.error(
                        f"pattern is not a valid regular expression: {exc}", (*p_path, "pattern")
                    )
                    continue
            if "value" in param:
                value = param["value"]
                if isinstance(value, str) and value.startswith("$"):
                    self.report.unsupported(
                        f"JSONPath {value!r} on an MCP tool input", (*p_path, "value")
                    )
                else:
                    surface.constants[pname] = value  # a constant: folded into the call below
            surface.inputs[pname] = Input(
                name=pname,
                location="argument",
                type=_json_type(param.get("type")),  # type: ignore[arg-type]
                required=bool(param.get("required", True)),
                description=_text(param.get("description")),
                pattern=param.get("pattern") if isinstance(param.get("pattern"), str) else None,
            )
        call = self._call(raw, path, surface)
        if call is None:
            return None
        if surface.constants:
            call = _fold_constants(call, surface.constants)
        hints = raw.get("hints")
        annotations = self._annotations(hints, _method_of(call), (*path, "hints"))
        call = _with_retry(call, annotations.idempotent or annotations.read_only)
        body_argument = _passthrough_body(call)
        inputs = tuple(i for i in surface.inputs.values() if i.name not in surface.constants)
        confirmable = not isinstance(call, Mock) and (
            (annotations.destructive and not annotations.read_only)
            or (not annotations.read_only and not annotations.idempotent)
        )
        return McpTool(
            name=raw["name"],
            title=_text(raw.get("label")) or _title(raw["name"], _text(raw.get("description"))),
            description=_text(raw.get("description")) or _description_of(call) or raw["name"],
            inputs=inputs,
            input_schema=_input_schema(inputs, body_argument, confirmable),
            output_schema=(
                _with_preview(call.output.json_schema) if confirmable else call.output.json_schema
            ),
            annotations=annotations,
            call=call,
            body_argument=body_argument,
        )

    def _annotations(self, hints: Any, method: str, path: Pointer) -> Annotations:
        if not isinstance(hints, dict):
            safe = method in ("GET", "HEAD")
            return Annotations(
                read_only=safe,
                destructive=method in ("DELETE", "PUT", "PATCH"),
                idempotent=method in ("GET", "HEAD", "PUT", "DELETE"),
                open_world=True,
            )
        read_only = bool(hints.get("readOnly", False))
        destructive = bool(hints.get("destructive", True))
        if read_only and hints.get("destructive") is True:
            self.report.error(
                "hints say both readOnly and destructive; a read-only tool cannot destroy anything",
                path,
            )
        if read_only and "destructive" not in hints:
            destructive = False
        if method == "GET" and not read_only:
            self.report.warning(
                "a GET operation is exposed with readOnly false; agents will treat it as a write",
                path,
            )
        return Annotations(
            read_only=read_only,
            destructive=destructive,
            idempotent=bool(hints.get("idempotent", False)),
            open_world=bool(hints.get("openWorld", True)),
        )
