"""Sample requests for the generated test suites: inputs chosen per type, and the upstream
request each one must produce (method, path, query)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, quote

from .model import Action, Call, Capability, Flow, Input, Mock, Source

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
    if source.kind == "step":  # in a flow's first step: only `$.<input>` can be known
        return inputs.get(source.value[2:]) if source.value.startswith("$.") else None
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
    path, _, fixed = call.operation.path.partition("?")  # a fixed query: `?action=x`
    query: dict[str, str] = dict(parse_qsl(fixed, keep_blank_values=True))
    for param in call.operation.params:
        value = values.get(param.name)
        if param.location == "path":
            path = path.replace("{" + param.name + "}", quote(_text(value), safe=""))
        elif param.location == "query" and isinstance(value, list):
            query[param.name] = _text(value[0])  # repeated parameter: the first value
        elif param.location == "query" and value is not None:
            query[param.name] = _text(value)
    return path, query


def _request(
    path: str, items: tuple[Input, ...], inputs: dict[str, Any]
) -> tuple[str, dict[str, str], dict[str, str], dict[str, Any] | None]:
    """The REST request (path, query, headers, JSON body) that carries *inputs*."""
    query: dict[str, str] = {}
    headers: dict[str, str] = {}
    body: dict[str, Any] | None = None
    for item in items:
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
            body = body or {}
            node = body
            for key in item.field[:-1]:
                node = node.setdefault(key, {})
            node[item.field[-1] if item.field else item.name] = value
    return path, query, headers, body


def _first_call(action: Action) -> Call | None:
    """The request an action sends first (a flow's first call step; a mock sends none)."""
    if isinstance(action, Call):
        return action
    return action.calls[0] if action.calls else None


def flow_payload(action: Action) -> dict[str, Any] | None:
    """For a flow: an upstream answer holding every field later steps and mappings read
    (``$.<step>.a.b`` -> ``{"a": {"b": "s1"}}``), so a canned upstream can drive all its steps."""
    if not isinstance(action, Flow):
        return None
    steps = {s.name for s in action.steps}
    payload: dict[str, Any] = {}
    typed = _mapped_types(action)
    for i, path in enumerate(action.step_paths, 1):
        names = re.findall(r"[A-Za-z0-9_@-]+", path.split("[", 1)[0])
        if len(names) < 2 or names[0] not in steps:
            continue
        node = payload
        for name in names[1:-1]:
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node.setdefault(names[-1], _SAMPLES.get(typed.get(path, ""), f"s{i}"))
    return payload


# A sample of each declared scalar type (a mapped answer field must match its outputSchema).
_SAMPLES: dict[str, Any] = {"number": 7.5, "integer": 7, "boolean": True}


def _mapped_types(flow: Flow) -> dict[str, str]:
    """JSONPath read by a mapping -> the declared type of the answer field it fills."""
    schema = flow.output.json_schema or {}
    found: dict[str, str] = {}
    for target, source in flow.mappings:
        node: Any = schema
        for name in target.split("."):
            node = (node.get("properties") or {}).get(name) if isinstance(node, dict) else None
        kind = node.get("type") if isinstance(node, dict) else None
        kinds = [kind] if isinstance(kind, str) else list(kind or [])
        scalar = next((k for k in kinds if k in _SAMPLES), "")
        for path in source.step_paths:
            found.setdefault(path, scalar)
    return found


def mock_value(node: dict[str, Any], inputs: dict[str, Any]) -> Any:
    """What a mock answers for *inputs* (mirrors the generated ``mock_answer``)."""
    if node.get("properties"):
        return {k: mock_value(child, inputs) for k, child in node["properties"].items()}
    value = _resolve(node["value"], inputs, {})
    if not isinstance(value, str):
        return value
    try:
        if node["type"] == "integer":
            return int(value)
        if node["type"] == "number":
            number = float(value)
            return int(number) if number.is_integer() and "." not in value else number
    except ValueError:
        return value
    if node["type"] == "boolean" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _secrets(cap: Capability) -> dict[str, str]:
    return {s.var: f"test-secret-{i}" for i, s in enumerate(cap.secrets, 1)}


def rest_cases(cap: Capability) -> list[tuple[Any, ...]]:
    cases: list[tuple[Any, ...]] = []
    if cap.rest is None:
        return cases
    secrets = _secrets(cap)
    for route in cap.rest.routes:
        first = _first_call(route.call)
        if first is None:
            continue  # a mock: see mock_cases
        inputs = {item.name: sample_value(item, i) for i, item in enumerate(route.inputs, 1)}
        path, query, headers, body = _request(route.path, route.inputs, inputs)
        if body is None and first.body is not None and first.body.kind == "passthrough":
            body = {"sample": True}
        up_path, up_query = _upstream(first, inputs, secrets)
        cases.append(
            (
                route.name,
                route.method,
                path,
                query,
                headers,
                body,
                first.operation.method,
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
        first = _first_call(tool.call)
        if first is None:
            continue  # a mock: see mock_cases
        arguments = {item.name: sample_value(item, i) for i, item in enumerate(tool.inputs, 1)}
        up_path, _ = _upstream(first, arguments, secrets)
        if tool.body_argument:
            arguments["body"] = {"sample": True}
        cases.append((tool.name, arguments, first.operation.method, up_path, tool.confirmable))
    return cases


def flow_payloads(cap: Capability, surface: str) -> dict[str, dict[str, Any]]:
    """Route or tool name -> the canned upstream answer its flow's test needs."""
    items: list[tuple[str, Action]] = []
    if surface == "rest" and cap.rest:
        items = [(r.name, r.call) for r in cap.rest.routes]
    elif surface == "mcp" and cap.mcp:
        items = [(t.name, t.call) for t in cap.mcp.tools]
    found = {}
    for name, action in items:
        payload = flow_payload(action)
        if payload:
            found[name] = payload
    return found


def rest_mock_cases(cap: Capability) -> list[tuple[Any, ...]]:
    """(method, adapter path, query, headers, JSON body, expected answer) per REST mock operation."""
    cases: list[tuple[Any, ...]] = []
    if cap.rest is None:
        return cases
    for route in cap.rest.routes:
        if not isinstance(route.call, Mock):
            continue
        inputs = {item.name: sample_value(item, i) for i, item in enumerate(route.inputs, 1)}
        path, query, headers, body = _request(route.path, route.inputs, inputs)
        # What the adapter reads back: query arrays arrive comma-joined as text, like any query.
        answer = mock_value(route.call.output.shape or {}, inputs)
        cases.append((route.method, path, query, headers, body, answer))
    return cases


def mcp_mock_cases(cap: Capability) -> list[tuple[Any, ...]]:
    """(tool, arguments, expected structured answer) for every MCP mock tool."""
    cases: list[tuple[Any, ...]] = []
    if cap.mcp is None:
        return cases
    for tool in cap.mcp.tools:
        if not isinstance(tool.call, Mock):
            continue
        arguments = {item.name: sample_value(item, i) for i, item in enumerate(tool.inputs, 1)}
        cases.append((tool.name, arguments, mock_value(tool.call.output.shape or {}, arguments)))
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


def forward_cases(cap: Capability) -> list[tuple[Any, ...]]:
    """(method, adapter path, query, upstream path) for every forwarded prefix."""
    if cap.rest is None:
        return []
    cases = []
    by_namespace = {u.namespace: u for u in cap.upstreams}
    for i, forward in enumerate(cap.rest.forwards):
        method = ("GET", "POST", "PUT", "DELETE")[i % 4]
        base = by_namespace[forward.namespace].base_path.rstrip("/")
        cases.append((method, forward.prefix + "/items/a%20b", {"q": "1"}, base + "/items/a%20b"))
    return cases
