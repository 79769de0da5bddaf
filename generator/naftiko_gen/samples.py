"""Sample requests for the generated test suites: inputs chosen per type, and the upstream
request each one must produce (method, path, query)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from .model import Call, Capability, Input, Source

_SAMPLE_BY_TYPE: dict[str, Any] = {
    "integer": 7,
    "number": 2.5,
    "boolean": True,
    "object": {"key": "value"},
    "array": ["a", "b"],
}


def sample_value(item: Input, index: int) -> Any:
    if item.type != "string":
        return _SAMPLE_BY_TYPE.get(item.type, f"v{index}")
    if not item.pattern:
        return f"v{index}"
    # A value that satisfies the input's pattern: its first literal alternative, or a guess.
    literal = re.match(r"\^?\(?([A-Za-z0-9_.-]+)", item.pattern)
    candidates = [literal.group(1)] if literal else []
    candidates += [f"v{index}", "a", "1", "abc", "A1", "2024-01-01", "a@example.com"]
    for candidate in candidates:
        try:
            if re.search(item.pattern, candidate):
                return candidate
        except re.error:
            break
    return f"v{index}"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _resolve(source: Source, inputs: dict[str, Any], secrets: dict[str, str]) -> Any:
    if source.kind == "input":
        return inputs.get(source.value)
    if source.kind == "secret":
        return secrets.get(source.value, "")
    if source.kind == "template":
        out = []
        for kind, text in source.parts:
            if kind == "text":
                out.append(text)
            else:
                value = _resolve(Source(kind=kind, value=text), inputs, secrets)  # type: ignore[arg-type]
                out.append("" if value is None else _text(value))
        return "".join(out)
    return source.value


def _upstream(
    call: Call, inputs: dict[str, Any], secrets: dict[str, str]
) -> tuple[str, dict[str, str]]:
    values = {name: _resolve(source, inputs, secrets) for name, source in call.args}
    path = call.operation.path
    query: dict[str, str] = {}
    for param in call.operation.params:
        value = values.get(param.name)
        if param.location == "path":
            path = path.replace("{" + param.name + "}", quote(_text(value), safe=""))
        elif param.location == "query" and isinstance(value, list):
            query[param.name] = _text(value[0])  # repeated parameter: the first value
        elif param.location == "query" and value is not None:
            query[param.name] = _text(value)
    return path, query


def _secrets(cap: Capability) -> dict[str, str]:
    return {s.var: f"test-secret-{i}" for i, s in enumerate(cap.secrets, 1)}


def rest_cases(cap: Capability) -> list[tuple[Any, ...]]:
    cases: list[tuple[Any, ...]] = []
    if cap.rest is None:
        return cases
    secrets = _secrets(cap)
    for route in cap.rest.routes:
        inputs = {item.name: sample_value(item, i) for i, item in enumerate(route.inputs, 1)}
        path = route.path
        query: dict[str, str] = {}
        headers: dict[str, str] = {}
        body: dict[str, Any] | None = None
        for item in route.inputs:
            value = inputs[item.name]
            if item.location == "path":
                path = path.replace("{" + item.route_var + "}", quote(_text(value), safe=""))
            elif item.location == "query" and isinstance(value, list):
                query[item.name] = ",".join(_text(v) for v in value)
            elif item.location == "query":
                query[item.name] = _text(value)
            elif item.location == "header":
                headers[item.name] = _text(value)
            else:
                body = {**(body or {}), item.name: value}
        if body is None and route.call.body is not None and route.call.body.kind == "passthrough":
            body = {"sample": True}
        up_path, up_query = _upstream(route.call, inputs, secrets)
        cases.append(
            (
                route.name,
                route.method,
                path,
                query,
                headers,
                body,
                route.call.operation.method,
                up_path,
                up_query,
            )
        )
    return cases


def mcp_cases(cap: Capability) -> list[tuple[Any, ...]]:
    cases: list[tuple[Any, ...]] = []
    if cap.mcp is None:
        return cases
    secrets = _secrets(cap)
    for tool in cap.mcp.tools:
        arguments = {item.name: sample_value(item, i) for i, item in enumerate(tool.inputs, 1)}
        up_path, _ = _upstream(tool.call, arguments, secrets)
        if tool.body_argument:
            arguments["body"] = {"sample": True}
        cases.append((tool.name, arguments, tool.call.operation.method, up_path, tool.confirmable))
    return cases


def resource_cases(cap: Capability) -> list[tuple[Any, ...]]:
    """(concrete URI, upstream method, upstream path) for every MCP resource."""
    if cap.mcp is None:
        return []
    cases = []
    secrets = _secrets(cap)
    for resource in cap.mcp.resources:
        values = {name: f"v{i}" for i, name in enumerate(resource.params, 1)}
        uri = resource.uri
        for name, value in values.items():
            uri = uri.replace("{" + name + "}", value)
        up_path, _ = _upstream(resource.call, values, secrets)
        cases.append((uri, resource.call.operation.method, up_path))
    return cases


def prompt_cases(cap: Capability) -> list[tuple[Any, ...]]:
    """(prompt, arguments, expected text of each message) for every MCP prompt."""
    if cap.mcp is None:
        return []
    cases = []
    for prompt in cap.mcp.prompts:
        arguments = {a.name: f"<{a.name}>" for a in prompt.arguments}
        texts = [
            "".join(text if kind == "text" else arguments.get(text, "") for kind, text in parts)
            for _, parts in prompt.messages
        ]
        cases.append((prompt.name, arguments, texts))
    return cases
