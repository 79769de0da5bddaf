"""What two or more parts of the resolver use: patterns, the per-surface input table
(``_Surface``), the state they share (``ResolverState``) and helpers over the model."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from ..diagnostics import Pointer, Report
from ..model import (
    JSON_TYPES,
    Action,
    Call,
    Input,
    Secret,
    Source,
    Upstream,
    calls_of,
)
from ..naming import Namer

# The generated package's own settings are ADAPTER_* (ADAPTER_REST_TOKEN, ADAPTER_WORKERS, ...).
ADAPTER_PREFIX = "ADAPTER"


PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}|\{([^{}/]+)\}")


TEMPLATE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


METHODS_WITH_BODY = ("POST", "PUT", "PATCH")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _fold_constants(node: Any, constants: dict[str, Any]) -> Any:
    """*node* (a resolved call, flow or mock, or any part of one) with every reference to a
    constant input (a REST input with a static ``value``) replaced by that value."""
    if isinstance(node, Source):
        if node.kind == "input" and node.value in constants:
            return Source(kind="literal", value=constants[node.value])
        if node.kind == "template" and any(k == "input" and t in constants for k, t in node.parts):
            parts = tuple(
                (
                    ("text", _constant_text(constants[t]))
                    if k == "input" and t in constants
                    else (k, t)
                )
                for k, t in node.parts
            )
            if all(k == "text" for k, _ in parts):
                return Source(kind="literal", value="".join(t for _, t in parts))
            return replace(node, parts=parts)
        return node
    if is_dataclass(node) and not isinstance(node, type):
        folded = {f.name: _fold_constants(getattr(node, f.name), constants) for f in fields(node)}
        changed = {k: v for k, v in folded.items() if v is not getattr(node, k)}
        return replace(node, **changed) if changed else node
    if isinstance(node, tuple):
        return tuple(_fold_constants(item, constants) for item in node)
    if isinstance(node, list):
        return [_fold_constants(item, constants) for item in node]
    if isinstance(node, dict):
        return {k: _fold_constants(v, constants) for k, v in node.items()}
    return node


def _constant_text(value: Any) -> str:
    """A constant as text inside a template (as the generated client renders values)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _json_type(value: Any) -> str:
    return value if value in JSON_TYPES else "string"


@dataclass
class _Surface:
    """The exposing side of one call (a REST operation or an MCP tool) while it is resolved."""

    kind: str  # "rest" | "mcp" (a tool) | "resource" (an MCP resource)
    namespace: str
    inputs: dict[str, Input] = field(default_factory=dict)
    path: Pointer = ()
    # While a call's body template is resolved: `with` values by key, and whether unknown
    # placeholders become implied inputs (the catalog's `{{tools.x}}` bodies).
    with_sources: dict[str, Source] = field(default_factory=dict)
    imply: bool = False
    # Aggregate functions write `with: {x: "x"}`: a bare input name means that input.
    bare_inputs: bool = False
    # Inside an orchestration: the names of the steps that ran before the one being resolved.
    steps: tuple[str, ...] = ()
    # Inputs with a static `value` (REST or MCP): name -> the value every call uses.
    constants: dict[str, Any] = field(default_factory=dict)
    # Whether the exposing side lists inputParameters (else all its inputs are implied).
    declares_inputs: bool = False

    def add_implied(
        self, report: Report, name: str, location: str, type_: str, required: bool, description: str
    ) -> Input:
        if self.kind == "resource":
            report.error(
                f"this resource needs input {name!r}, but its URI has no {{{name}}} placeholder to fill it",
                self.path,
            )
        if self.kind in ("mcp", "resource"):
            location = "argument"
        item = Input(
            name=name,
            location=location,  # type: ignore[arg-type]
            type=type_,  # type: ignore[arg-type]
            required=required,
            description=description,
            implied=True,
        )
        self.inputs[name] = item
        what = "argument" if self.kind == "mcp" else f"{location} parameter"
        report.warning(
            f"input {name!r} is used but not declared here; generated as an implied {what} "
            f"(declare it in inputParameters to document it)",
            self.path,
        )
        return item


def _folded(name: str) -> str:
    return re.sub(r"[-_]", "", name).lower()


def _spelled_like(name: str, surface: _Surface) -> str | None:
    """The one declared input of *surface* whose name is *name* but for case and '-'/'_'
    (``employee_id`` -> ``employeeId``), else None."""
    matches = [
        i.name
        for i in surface.inputs.values()
        if not i.implied and i.name != name and _folded(i.name) == _folded(name)
    ]
    return matches[0] if len(matches) == 1 else None


def _close_names(name: str, known: Iterable[str]) -> list[str]:
    """The names in *known* that *name* is likely a misspelling of, best first (a fix-it hint)."""
    return difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)


def _method_of(action: Action) -> str:
    """The HTTP method that stands for an action when hints are absent: a mock reads, a flow is
    as strong as its strongest step."""
    if isinstance(action, Call):
        return action.operation.method
    methods = {c.operation.method for c in action.calls}
    for method in ("DELETE", "POST", "PATCH", "PUT"):
        if method in methods:
            return method
    return "GET"


def _description_of(action: Action) -> str:
    return action.operation.description if isinstance(action, Call) else ""


def _with_retry(action: Action, retry: bool) -> Action:
    """A call retried after transient failures when *retry*; flow steps decide per step."""
    return replace(action, retry=retry) if isinstance(action, Call) else action


def _passthrough_body(action: Action) -> bool:
    """The action forwards the caller's body (REST request body / MCP ``body`` argument)."""
    return any(c.body is not None and c.body.kind == "passthrough" for c in calls_of(action))


class ResolverState:
    """What every part of the resolver reads and writes (set by ``Resolver.__init__``)."""

    data: dict[str, Any]
    report: Report
    spec_path: Path
    secrets: dict[str, Secret]
    bind_namespaces: set[str]
    upstreams: dict[str, Upstream]
    raw_formats: dict[str, str]
    import_depth: int
    consumed_entries: dict[str, tuple[dict[str, Any], Pointer, dict[str, Pointer], Namer]]
    exposed_actions: dict[tuple[str, str], str]
