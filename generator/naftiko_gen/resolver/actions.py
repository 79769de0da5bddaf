"""The resolver's part for what a route or tool does: single calls, mock answers, ``steps`` flows,
lookups, outputs.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from .. import jsonpath
from ..diagnostics import Pointer
from ..model import (
    Action,
    Body,
    Call,
    CallStep,
    Flow,
    LookupStep,
    Mock,
    Output,
    Source,
    UpstreamOperation,
    UpstreamParam,
)
from .shared import (
    METHODS_WITH_BODY,
    TEMPLATE,
    ResolverState,
    _close_names,
    _folded,
    _json_type,
    _spelled_like,
    _Surface,
)


def _relies_on_implied(surface: _Surface) -> bool:
    """Whether *surface* (a REST operation or an MCP tool) declares no inputParameters (its
    path's placeholders aside), leaving them all to be implied: then a ``with`` value naming an
    input that exists nowhere names one more input, not a misspelt one."""
    return surface.kind in ("rest", "mcp") and not surface.declares_inputs


def _nodes_without_value(node: dict[str, Any], name: str = "") -> list[str]:
    """Leaves of a mock output shape that have no ``value``."""
    if node.get("value") is not None:
        return []
    if node.get("properties"):
        return [
            n for key, child in node["properties"].items() for n in _nodes_without_value(child, key)
        ]
    return [name or node.get("type", "output")]


def _template_names(template: Any, surface: _Surface) -> set[str]:
    """Input names referenced by ``{{...}}`` placeholders anywhere in a body template."""
    found: set[str] = set()
    if isinstance(template, str):
        for match in TEMPLATE.finditer(template):
            parts = match.group(1).split(".")
            found.add(parts[-1])
    elif isinstance(template, dict):
        for value in template.values():
            found |= _template_names(value, surface)
    elif isinstance(template, list):
        for value in template:
            found |= _template_names(value, surface)
    return found


def _output_schema(node: dict[str, Any]) -> dict[str, Any]:
    """MCP outputSchema for a mapped output; the root is always an object (arrays/scalars wrapped)."""

    def schema(n: dict[str, Any]) -> dict[str, Any]:
        kind = n["type"]
        if kind == "object":
            out: dict[str, Any] = {"type": ["object", "null"]}
            if n.get("properties"):
                out["properties"] = {k: schema(v) for k, v in n["properties"].items()}
            return out
        if kind == "array":
            out = {"type": ["array", "null"]}
            if n.get("items"):
                out["items"] = schema(n["items"])
            return out
        return {"type": [kind, "null"]}

    if node["type"] == "object":
        root = schema(node)
        root["type"] = "object"
        return root
    key = "items" if node["type"] == "array" else "value"
    return {"type": "object", "properties": {key: schema(node)}, "required": [key]}


class ActionsResolver(ResolverState):
    # ------------------------------------------------------------------ calls (shared by REST and MCP)
    def _find_operation(self, call: Any, path: Pointer) -> UpstreamOperation | None:
        if not isinstance(call, str) or "." not in call:
            self.report.error(
                f"call {call!r} must be '<consumes namespace>.<operation name>'", path
            )
            return None
        namespace, _, name = call.rpartition(".")
        upstream = self.upstreams.get(namespace)
        if upstream is None:
            known = ", ".join(sorted(self.upstreams)) or "none"
            # The operations of that name (but for case and '-'/'_'), the closest namespace first.
            having = {
                u.namespace: o.name
                for u in self.upstreams.values()
                for o in u.operations
                if _folded(o.name) == _folded(name)
            }
            likely = _close_names(namespace, having) or (list(having) if len(having) == 1 else [])
            hint = f"; did you mean {likely[0] + '.' + having[likely[0]]!r}?" if likely else ""
            self.report.error(
                f"call {call!r}: no consumed namespace {namespace!r} (known: {known}){hint}", path
            )
            return None
        for operation in upstream.operations:
            if operation.name == name:
                return operation
        close = [o.name for o in upstream.operations if o.name.lower() == name.lower()]
        hint = f"; did you mean {close[0]!r}?" if close else ""
        self.report.error(
            f"call {call!r}: namespace {namespace!r} has no operation {name!r}{hint}", path
        )
        return None

    def _call(self, raw: dict[str, Any], path: Pointer, surface: _Surface) -> Action | None:
        """What an exposed operation, tool or resource does: one call, steps, or mock values."""
        if "steps" in raw:
            if "call" in raw:
                self.report.error(
                    "use either 'call' or 'steps', not both (orchestration runs the steps)",
                    (*path, "call"),
                )
                return None
            return self._flow(raw, path, surface)
        if "call" not in raw:
            if raw.get("outputParameters"):
                return self._mock(raw, path, surface)
            self.report.error(
                "needs a 'call' naming the consumed operation ('<namespace>.<operation>')", path
            )
            return None
        return self._single_call(raw, path, surface)

    def _single_call(self, raw: dict[str, Any], path: Pointer, surface: _Surface) -> Call | None:
        surface.bare_inputs = bool(raw.get("_bare_inputs"))
        operation = self._find_operation(raw["call"], (*path, "call"))
        if operation is None:
            return None
        with_map = raw.get("with") or {}
        if not isinstance(with_map, dict):
            self.report.error("'with' must map parameter names to values", (*path, "with"))
            return None
        by_name = {p.name: p for p in operation.params}
        body_vars = _template_names(operation.body.template if operation.body else None, surface)
        # Inputs referenced by `with` that the surface lacks but the operation uses (as a parameter
        # or in its body template) become implied inputs.
        for key, value in with_map.items():
            if isinstance(value, str) and not TEMPLATE.search(value) and "." in value:
                name = self._input_reference(value, surface)
                if name is None or name in surface.inputs or _spelled_like(name, surface):
                    continue
                if name in by_name or (key in by_name and _relies_on_implied(surface)):
                    # `job-id: tools.jobId` with no input jobId declared anywhere: the author
                    # names the caller's input that fills the parameter job-id.
                    p = by_name.get(name) or by_name[key]
                    surface.add_implied(
                        self.report,
                        name,
                        self._implied_location(p, surface),
                        p.type,
                        p.required,
                        p.description,
                    )
                elif _folded(key) == _folded(name) and _relies_on_implied(surface):
                    # `num_children: tools.num_children`, a parameter the operation does not
                    # declare (sent as is, warned below): the caller's input of that name.
                    surface.add_implied(
                        self.report,
                        name,
                        self._implied_location(
                            UpstreamParam(
                                name,
                                "body" if operation.method in METHODS_WITH_BODY else "query",
                                False,
                                "string",
                                "",
                            ),
                            surface,
                        ),
                        "string",
                        False,
                        "",
                    )
                elif name in body_vars or key in body_vars:
                    surface.add_implied(
                        self.report,
                        name,
                        self._implied_location(
                            UpstreamParam(name, "body", True, "string", ""), surface
                        ),
                        "string",
                        True,
                        "",
                    )
        args: list[tuple[str, Source]] = []
        extra: list[tuple[str, Source]] = []
        for key, value in with_map.items():
            source = self._with_value(value, (*path, "with", key), surface)
            surface.with_sources[key] = source
            if key in by_name:
                args.append((key, source))
            elif key in body_vars:
                continue  # consumed by the body template
            else:
                self.report.warning(
                    f"'with' sets {key!r}, which {operation.key} does not declare; "
                    f"sent as a {'JSON body field' if operation.method in METHODS_WITH_BODY else 'query parameter'}",
                    (*path, "with", key),
                )
                extra.append((key, source))
        bound = {k for k, _ in args}
        for param in operation.params:
            if param.name in bound:
                continue
            if param.template is not None:
                args.append((param.name, self._template(param.template, path, inputs=surface)))
                continue
            if param.name in surface.inputs:
                args.append((param.name, Source(kind="input", value=param.name)))
                continue
            if surface.kind == "resource" and not param.required:
                continue  # nothing can fill it; an optional parameter is simply not sent
            surface.add_implied(
                self.report,
                param.name,
                self._implied_location(param, surface),
                param.type,
                param.required,
                param.description,
            )
            args.append((param.name, Source(kind="input", value=param.name)))
        surface.imply = True
        body = self._call_body(operation, path, surface)
        surface.imply = False
        output = self._output(raw.get("outputParameters"), (*path, "outputParameters"), surface)
        fmt = self.raw_formats.get(operation.key, "json")
        if output.kind == "mapped" and fmt not in ("json", "xml"):
            shape = output.shape or {}
            if shape.get("type") == "string" and shape.get("mapping") == "$":
                output = Output(kind="passthrough")  # the whole non-JSON body, as text
            else:
                self.report.unsupported(
                    f"JSONPath outputs over outputRawFormat {fmt!r}", (*path, "outputParameters")
                )
        return Call(
            operation=operation,
            args=tuple(args),
            extra_query=tuple(extra),
            body=body,
            output=output,
        )

    # ------------------------------------------------------------------ mock values and orchestration
    def _mock(self, raw: dict[str, Any], path: Pointer, surface: _Surface) -> Mock | None:
        """No call and no steps: the outputs' ``value``s are the answer (the official tutorial's step 1)."""
        output = self._output(raw.get("outputParameters"), (*path, "outputParameters"), surface)
        if output.kind != "mapped" or output.paths:
            self.report.error(
                "without a 'call' or 'steps', every output needs a static 'value' (a JSONPath "
                "'mapping' has no response to read); add a 'call' or give each output a value",
                (*path, "outputParameters"),
            )
            return None
        missing = _nodes_without_value(output.shape or {})
        if missing:
            self.report.error(
                f"mock output {missing[0]!r} has no 'value'; give it one or add a 'call'",
                (*path, "outputParameters"),
            )
            return None
        if "with" in raw:
            self.report.error("'with' needs a 'call' or 'steps' to apply to", (*path, "with"))
            return None
        return Mock(output=output)

    def _flow(self, raw: dict[str, Any], path: Pointer, surface: _Surface) -> Flow | None:
        """Orchestration: ``steps`` (call, lookup) run in order, ``mappings`` build the answer."""
        steps_raw = raw.get("steps")
        if not isinstance(steps_raw, list) or not steps_raw:
            self.report.error("'steps' must be a non-empty list", (*path, "steps"))
            return None
        steps: list[CallStep | LookupStep] = []
        kinds: dict[str, str] = {}
        ok = True
        for i, step in enumerate(steps_raw):
            s_path: Pointer = (*path, "steps", i)
            if not isinstance(step, dict):
                self.report.error("a step must be a mapping", s_path)
                ok = False
                continue
            name = step.get("name")
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
                self.report.error(
                    "a step needs a 'name' of letters, digits, '_' and '-' (later steps refer to it)",
                    (*s_path, "name"),
                )
                ok = False
                continue
            if name in kinds:
                self.report.error(f"step {name!r} is defined twice", (*s_path, "name"))
                ok = False
                continue
            if name in surface.inputs:
                self.report.error(
                    f"step {name!r} has the name of an input; rename one ('$.{name}' must mean one thing)",
                    (*s_path, "name"),
                )
                ok = False
                continue
            kind = step.get("type", "call" if "call" in step else None)
            surface.steps = tuple(kinds)
            surface.with_sources = {}  # each step's `with` applies to that step only
            if kind == "call":
                call = self._single_call(
                    {"call": step.get("call"), "with": step.get("with") or {}}, s_path, surface
                )
                if call is None:
                    ok = False
                    continue
                call = replace(call, retry=call.operation.method in ("GET", "HEAD"))
                steps.append(CallStep(name=name, call=call))
            elif kind == "lookup":
                lookup = self._lookup(step, name, s_path, surface, kinds)
                if lookup is None:
                    ok = False
                    continue
                steps.append(lookup)
            elif kind == "script":
                self.report.unsupported("script steps", (*s_path, "type"))
                ok = False
                continue
            else:
                self.report.error(
                    f"step type {kind!r} is unknown; use 'call' or 'lookup'", (*s_path, "type")
                )
                ok = False
                continue
            kinds[name] = kind
        surface.steps = tuple(kinds)
        mappings: list[tuple[str, Source]] = []
        targets: set[str] = set()
        for i, item in enumerate(raw.get("mappings") or []):
            m_path: Pointer = (*path, "mappings", i)
            target = item.get("targetName") if isinstance(item, dict) else None
            if not isinstance(target, str) or not target or "value" not in item:
                self.report.error("a mapping needs a 'targetName' and a 'value'", m_path)
                ok = False
                continue
            if any(
                target == t or target.startswith(t + ".") or t.startswith(target + ".")
                for t in targets
            ):
                self.report.error(
                    f"mapping target {target!r} overlaps another mapping's target",
                    (*m_path, "targetName"),
                )
                ok = False
                continue
            targets.add(target)
            value = item["value"]
            if isinstance(value, str) and value.startswith("$"):
                source = self._step_value(value, (*m_path, "value"), surface)
            else:
                source = self._template(value, (*m_path, "value"), inputs=surface)
            if source.secrets:
                self.report.error(
                    "a mapping may not contain a bind variable: it would hand the secret to callers",
                    (*m_path, "value"),
                )
                ok = False
            mappings.append((target, source))
        surface.steps = ()
        surface.with_sources = {}
        if not ok:
            return None
        if not any(isinstance(s, CallStep) for s in steps):
            self.report.error(
                "the steps call nothing; add a step with type 'call'", (*path, "steps")
            )
            return None
        output = self._flow_output(
            raw.get("outputParameters"), (*path, "outputParameters"), mappings
        )
        return Flow(steps=tuple(steps), mappings=tuple(mappings), output=output)

    def _lookup(
        self,
        step: dict[str, Any],
        name: str,
        path: Pointer,
        surface: _Surface,
        kinds: dict[str, str],
    ) -> LookupStep | None:
        index = step.get("index")
        if index not in kinds:
            earlier = ", ".join(kinds) or "none"
            self.report.error(
                f"lookup index {index!r} is not an earlier step (earlier steps: {earlier})",
                (*path, "index"),
            )
            return None
        match = step.get("match")
        if not isinstance(match, str) or not match:
            self.report.error(
                "a lookup needs 'match': the key field of the index entries", (*path, "match")
            )
            return None
        if "lookupValue" not in step:
            self.report.error("a lookup needs 'lookupValue': the value to find", path)
            return None
        raw_value = step["lookupValue"]
        if isinstance(raw_value, str) and raw_value.startswith("$"):
            value = self._step_value(raw_value, (*path, "lookupValue"), surface)
        elif isinstance(raw_value, str) and not TEMPLATE.search(raw_value) and "." in raw_value:
            value = self._with_value(raw_value, (*path, "lookupValue"), surface)
        else:
            value = self._template(raw_value, (*path, "lookupValue"), inputs=surface)
        fields: list[str] = []
        for i, item in enumerate(step.get("outputParameters") or []):
            field_name = item.get("name") if isinstance(item, dict) else item
            if not isinstance(field_name, str) or not field_name:
                self.report.error(
                    "lookup outputParameters are the names of the fields to keep",
                    (*path, "outputParameters", i),
                )
                return None
            fields.append(field_name)
        return LookupStep(name=name, index=index, match=match, value=value, fields=tuple(fields))

    def _step_value(self, value: str, path: Pointer, surface: _Surface) -> Source:
        """``$.<step>.<path>`` (an earlier step's result) or ``$.<input>``: a JSONPath over them."""
        head = re.match(r"\$\.?([A-Za-z0-9_-]+)", value)
        if value in ("$", "$.") or head is None:
            self.report.error(
                f"{value!r} must name an earlier step or an input: '$.<step>.<field>'", path
            )
            return Source(kind="literal", value=None)
        if head.group(1) not in surface.steps and head.group(1) not in surface.inputs:
            earlier = ", ".join(surface.steps) or "none"
            self.report.error(
                f"{value!r} refers to {head.group(1)!r}, which is neither an earlier step "
                f"(earlier steps: {earlier}) nor an input",
                path,
            )
            return Source(kind="literal", value=None)
        if problem := jsonpath.problem(value):
            self.report.error(problem, path)
            return Source(kind="literal", value=None)
        return Source(kind="step", value=value)

    def _flow_output(self, raw: Any, path: Pointer, mappings: list[tuple[str, Source]]) -> Output:
        """The typed answer of a flow: named outputs (name + type) filled by ``mappings``."""
        if not mappings:
            if raw:
                self.report.error(
                    "orchestrated outputParameters are filled by 'mappings'; add mappings "
                    "(or drop the outputs to answer with the last call's response)",
                    path,
                )
            return Output(kind="passthrough")
        props: dict[str, Any] = {}
        declared = {
            item.get("name"): item
            for item in raw or []
            if isinstance(item, dict) and item.get("name")
        }
        for target, _ in mappings:
            head = target.split(".", 1)[0]
            item = declared.get(head)
            if item is None:
                if raw:
                    self.report.warning(
                        f"mapping target {head!r} is not declared in outputParameters; typed as any",
                        path,
                    )
                props.setdefault(head, {})
                continue
            kind = _json_type(item.get("type")) if "." not in target else "object"
            props[head] = {"type": [kind, "null"]}  # null: the mapped path found nothing
        for name in declared:
            if name not in props:
                self.report.error(
                    f"output {name!r} is set by no mapping; add a mapping with targetName {name!r}",
                    path,
                )
        schema: dict[str, Any] = {"type": "object", "properties": props}
        return Output(kind="passthrough", json_schema=schema)

    def _implied_location(self, param: UpstreamParam, surface: _Surface) -> str:
        if surface.kind in ("mcp", "resource"):
            return "argument"
        return param.location if param.location in ("query", "header", "body") else "query"

    def _call_body(
        self, operation: UpstreamOperation, path: Pointer, surface: _Surface
    ) -> Body | None:
        declared = operation.body
        if declared is not None:
            if declared.kind == "json":
                return replace(
                    declared, template=self._json_template(declared.template, path, surface)
                )
            if declared.kind == "multipart":
                parts = tuple(
                    (str(k), self._template(v, path, inputs=surface))
                    for k, v in (declared.template or {}).items()
                )
                return Body(kind="multipart", fields=parts, content_type=declared.content_type)
            if declared.kind == "form":
                data = declared.template
                if isinstance(data, str):
                    return Body(
                        kind="text",
                        text=self._template(data, path, inputs=surface),
                        content_type=declared.content_type,
                    )
                fields = tuple(
                    (str(k), self._template(v, path, inputs=surface))
                    for k, v in (data or {}).items()
                )
                return Body(kind="form", fields=fields, content_type=declared.content_type)
            return Body(
                kind="text",
                text=self._template(declared.template, path, inputs=surface),
                content_type=declared.content_type,
            )
        if any(p.location == "body" for p in operation.params):
            return Body(kind="params")
        if operation.method in METHODS_WITH_BODY:
            return Body(kind="passthrough")
        return None

    def _json_template(self, data: Any, path: Pointer, surface: _Surface) -> Any:
        """JSON body data with string leaves resolved to Sources (kept as plain data when constant)."""
        if isinstance(data, dict):
            return {str(k): self._json_template(v, path, surface) for k, v in data.items()}
        if isinstance(data, list):
            return [self._json_template(v, path, surface) for v in data]
        if isinstance(data, str) and TEMPLATE.search(data):
            return self._template(data, path, inputs=surface)
        return data

    def _output(self, raw: Any, path: Pointer, surface: _Surface) -> Output:
        if not raw:
            return Output(kind="passthrough")
        if not isinstance(raw, list):
            self.report.error("outputParameters must be a list", path)
            return Output(kind="passthrough")
        if len(raw) == 1 and not raw[0].get("name"):
            shape = raw[0]
            whole = (
                shape.get("mapping") in ("$", "$.")
                and not shape.get("properties")
                and not shape.get("items")
            )
            if whole and shape.get("type") in ("object", "array", None):
                return Output(kind="passthrough")
            node = self._shape(shape, (*path, 0), surface)
        else:
            props = {}
            for i, item in enumerate(raw):
                name = item.get("name")
                if not isinstance(name, str) or not name:
                    self.report.error(
                        "with several outputParameters, each needs a 'name'", (*path, i)
                    )
                    continue
                props[name] = self._shape(item, (*path, i), surface)
            node = {"type": "object", "properties": props}
        return Output(kind="mapped", shape=node, json_schema=_output_schema(node))

    def _shape(self, raw: dict[str, Any], path: Pointer, surface: _Surface) -> dict[str, Any]:
        kind = raw.get("type", "string")
        if kind not in ("string", "number", "integer", "boolean", "object", "array"):
            self.report.error(f"output type {kind!r} is unknown", (*path, "type"))
            kind = "string"
        node: dict[str, Any] = {"type": kind}
        if "value" in raw:
            # A static value or a template over the inputs; it wins over 'mapping' (as in the engine).
            value = self._template(raw["value"], (*path, "value"), inputs=surface)
            if value.secrets:
                self.report.error(
                    "an output value may not contain a bind variable: it would hand the secret to callers",
                    (*path, "value"),
                )
            node["value"] = value
            return node
        mapping = raw.get("mapping")
        if mapping is not None:
            if not isinstance(mapping, str) or not mapping.startswith("$"):
                self.report.error(
                    f"mapping {mapping!r} must be a JSONPath starting with '$'", (*path, "mapping")
                )
            elif problem := jsonpath.problem(mapping):
                self.report.error(problem, (*path, "mapping"))
            else:
                node["mapping"] = "$" if mapping in ("$", "$.") else mapping
        if kind == "object" and raw.get("properties"):
            node["properties"] = {
                str(k): self._shape(
                    v if isinstance(v, dict) else {}, (*path, "properties", k), surface
                )
                for k, v in raw["properties"].items()
            }
        if kind == "array" and isinstance(raw.get("items"), dict):
            node["items"] = self._shape(raw["items"], (*path, "items"), surface)
        return node
