"""The Ikanos front end (``ikanos: 1.0.0-alpha3`` ... ``1.0.0-beta5``).

Ikanos is the alpha2 capability model renamed; what changed for a reader:

* resources, operations, input and named output parameters, tools, MCP resources and
  prompts (and their arguments), skills and their tools, steps and aggregate flows are
  **keyed maps** (the key is the name) instead of lists of objects with ``name``;
* ``label`` is ``display``, ``mappings[].targetName`` is ``target``, aggregate ``functions``
  are ``flows``, an import is ``{from, import, as}`` (alpha2: ``location``);
* new fields (``tags`` on operations and tools, ``maxBinarySize``, ``tunnel``, ...).

:func:`normalize` translates a document into the alpha2-shaped structure the shared resolver
reads; every node it moves or renames is recorded in :attr:`Report.aliases`, so the resolver's
diagnostics point at the Ikanos file's own lines (a keyed entry's name is its key). What this
front end checks itself is the Ikanos *shape* (a map where Ikanos has a map, entries that are
mappings); what generation needs of the content is checked once, for both dialects, by the
shared dialect schema on the normalized form. New Ikanos constructs naftiko-gen cannot generate
yet are rejected here with ``not supported yet: <what>`` at their location.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..diagnostics import Pointer, Report
from ..validation import validate_dialect, validate_official_ikanos

# Fields new in Ikanos that naftiko-gen does not generate yet, by the object they are on.
_UNSUPPORTED_OPERATION = {
    "tags": "'tags' on operations, tools and resources",
    "maxBinarySize": "'maxBinarySize' (binary responses)",
    "outputMediaType": "'outputMediaType'",
    "responses": "'responses' on exposed operations",
    "responseBinary": "'responseBinary' on exposed operations",
}
_UNSUPPORTED_ADAPTER = {
    "maxBinarySize": "'maxBinarySize' (binary responses)",
    "ttlMs": "'ttlMs' (MCP answer caching)",
    "cacheScope": "'cacheScope' (MCP answer caching)",
}

Each = Callable[[dict[str, Any], Pointer, Pointer], dict[str, Any]]


# The words of messages about the normalized form that Ikanos spells differently.
VOCABULARY = (
    ("'targetName'", "'target'"),
    ("with targetName ", "with target "),
    ("'label'", "'display'"),
    ("'location' (the file)", "'from' (the file)"),
    ("aggregate function", "aggregate flow"),
)


def normalize(data: dict[str, Any], report: Report) -> dict[str, Any]:
    report.vocabulary = VOCABULARY
    return _Normalizer(report).root(data)


def check_dialect(data: dict[str, Any], report: Report) -> bool:
    if report.errors:  # the Ikanos shape is wrong: the normalized form is partial
        return False
    return validate_dialect(data, report)


def check_official(data: dict[str, Any], report: Report, *, strict: bool) -> None:
    validate_official_ikanos(data, report, strict=strict)


class _Normalizer:
    def __init__(self, report: Report) -> None:
        self.report = report

    # ------------------------------------------------------------------ helpers
    def alias(self, new: Pointer, source: Pointer) -> None:
        if new != source:
            self.report.aliases[new] = source

    def error(self, message: str, source: Pointer) -> None:
        self.report.add_at_source("error", message, source)

    def unsupported(self, what: str, source: Pointer) -> None:
        self.report.add_at_source("error", f"not supported yet: {what}", source)

    def copy(
        self,
        node: dict[str, Any],
        src: Pointer,
        dst: Pointer,
        renames: dict[str, str] | None = None,
        unsupported: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """*node* with its keys renamed to their alpha2 names; unsupported keys reported."""
        out: dict[str, Any] = {}
        for key, value in node.items():
            if unsupported and key in unsupported:
                self.unsupported(unsupported[key], (*src, key))
                continue
            new = (renames or {}).get(key, key)
            if new in out:
                self.error(
                    f"'{key}' and '{new}' mean the same here (Ikanos calls it '{key}'); keep one",
                    (*src, key),
                )
                continue
            out[new] = value
            if new != key:
                self.alias((*dst, new), (*src, key))
        return out

    def keyed(self, node: Any, src: Pointer, dst: Pointer, what: str, each: Each) -> list[Any]:
        """An Ikanos map ``name -> entry`` as the alpha2 list of entries with ``name``."""
        if isinstance(node, list):
            self.error(
                f"in Ikanos, {what} are a map keyed by name ('<name>:' entries), not a list "
                "('- name: ...' is the alpha2 form under 'naftiko: 1.0.0-alpha2')",
                src,
            )
            return []
        if not isinstance(node, dict):
            self.error(
                f"{what} must be a map of name -> definition, not {_kind(node)}",
                src,
            )
            return []
        out: list[Any] = []
        for key, value in node.items():
            index = len(out)
            here, there = (*src, key), (*dst, index)
            if not isinstance(value, dict):
                self.error(
                    f"{what[:-1] if what.endswith('s') else what} {key!r} must be a "
                    f"mapping of its fields, not {_kind(value)}",
                    here,
                )
                continue
            if "name" in value and value["name"] != key:
                self.error(
                    f"in Ikanos the key {key!r} is the name; remove 'name: {value['name']}' "
                    "(or rename the key)",
                    (*here, "name"),
                )
                continue
            entry = {
                "name": key,
                **each({k: v for k, v in value.items() if k != "name"}, here, there),
            }
            self.alias(there, here)
            self.alias((*there, "name"), here)
            out.append(entry)
        return out

    def listed(self, node: Any, src: Pointer, dst: Pointer, what: str, each: Each) -> list[Any]:
        """A list the two dialects share, its entries normalized by *each*."""
        if isinstance(node, dict):
            self.error(f"{what} are a list ('- ...' entries) in Ikanos too, not a map", src)
            return []
        if not isinstance(node, list):
            return node  # the shared dialect schema reports the wrong type
        out = []
        for index, value in enumerate(node):
            if isinstance(value, dict):
                out.append(each(value, (*src, index), (*dst, index)))
            else:
                out.append(value)
        return out

    # ------------------------------------------------------------------ document
    def root(self, data: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"naftiko": "1.0.0-alpha2"}
        self.alias(("naftiko",), ("ikanos",))
        for key, value in data.items():
            if key == "ikanos":
                continue
            if key == "info" and isinstance(value, dict):
                out["info"] = self.copy(value, ("info",), ("info",), {"display": "label"})
            elif key == "binds":
                out["binds"] = self.binds(value, ("binds",), ("binds",))
            elif key == "capability" and isinstance(value, dict):
                out["capability"] = self.capability(value)
            elif key == "consumes":  # a standalone consumes file
                out["consumes"] = self.listed(
                    value, ("consumes",), ("consumes",), "consumes entries", self.consumes
                )
            elif key in ("exposes", "aggregates"):
                self.error(
                    f"this is a standalone {key} file: nothing to generate; build the capability "
                    "that uses it (importing shared exposes and aggregates files is not "
                    "supported yet)",
                    (key,),
                )
            else:
                out[key] = value
        return out

    def capability(self, node: dict[str, Any]) -> dict[str, Any]:
        src: Pointer = ("capability",)
        out: dict[str, Any] = {}
        for key, value in node.items():
            here = (*src, key)
            if key == "consumes":
                out[key] = self.listed(value, here, here, "consumes entries", self.consumes)
            elif key == "exposes":
                out[key] = self.listed(value, here, here, "exposes entries", self.exposes)
            elif key == "aggregates":
                out[key] = self.listed(value, here, here, "aggregates", self.aggregate)
            elif key == "binds":
                out[key] = self.binds(value, here, here)
            else:
                out[key] = value
        return out

    def binds(self, node: Any, src: Pointer, dst: Pointer) -> Any:
        def bind(value: dict[str, Any], s: Pointer, d: Pointer) -> dict[str, Any]:
            if "from" in value or "import" in value:
                self.unsupported("imported binds entries ('from'); declare the keys inline", s)
                return {}
            return dict(value)

        return self.listed(node, src, dst, "binds", bind)

    # ------------------------------------------------------------------ consumes
    def consumes(self, node: dict[str, Any], src: Pointer, dst: Pointer) -> dict[str, Any]:
        if "from" in node or "import" in node:
            if "location" in node:
                self.error(
                    "an Ikanos import names its file with 'from', not 'location'",
                    (*src, "location"),
                )
            return self.copy(node, src, dst, {"from": "location"})
        out = self.copy(node, src, dst, unsupported={"tunnel": "'tunnel' (zero-trust overlays)"})
        if "inputParameters" in out:
            out["inputParameters"] = self.params(
                node["inputParameters"], (*src, "inputParameters"), (*dst, "inputParameters")
            )
        if "resources" in out:
            out["resources"] = self.keyed(
                node["resources"],
                (*src, "resources"),
                (*dst, "resources"),
                "resources",
                self.consumed_resource,
            )
        return out

    def params(self, node: Any, src: Pointer, dst: Pointer) -> list[Any]:
        return self.keyed(node, src, dst, "inputParameters", self.plain)

    def plain(self, node: dict[str, Any], src: Pointer, dst: Pointer) -> dict[str, Any]:
        return self.copy(node, src, dst, {"display": "label"})

    def consumed_resource(self, node: dict[str, Any], src: Pointer, dst: Pointer) -> dict[str, Any]:
        out = self.copy(node, src, dst, {"display": "label"}, _UNSUPPORTED_OPERATION)
        if "inputParameters" in out:
            out["inputParameters"] = self.params(
                node["inputParameters"], (*src, "inputParameters"), (*dst, "inputParameters")
            )
        if "operations" in out:
            out["operations"] = self.keyed(
                node["operations"],
                (*src, "operations"),
                (*dst, "operations"),
                "operations",
                self.consumed_operation,
            )
        return out

    def consumed_operation(
        self, node: dict[str, Any], src: Pointer, dst: Pointer
    ) -> dict[str, Any]:
        out = self.copy(node, src, dst, {"display": "label"}, _UNSUPPORTED_OPERATION)
        if "inputParameters" in out:
            out["inputParameters"] = self.params(
                node["inputParameters"], (*src, "inputParameters"), (*dst, "inputParameters")
            )
        if "outputParameters" in out:
            out["outputParameters"] = self.keyed(
                node["outputParameters"],
                (*src, "outputParameters"),
                (*dst, "outputParameters"),
                "outputParameters",
                self.plain,
            )
        return out

    # ------------------------------------------------------------------ exposes
    def exposes(self, node: dict[str, Any], src: Pointer, dst: Pointer) -> dict[str, Any]:
        if "from" in node or "import" in node:
            self.unsupported("imported exposes entries ('from'); write the adapter inline", src)
            return {"type": "rest"}
        out = self.copy(node, src, dst, unsupported=_UNSUPPORTED_ADAPTER)
        kind = node.get("type")
        fields: dict[str, tuple[str, Each]] = {}
        if kind == "rest":
            fields = {"resources": ("resources", self.exposed_resource)}
        elif kind == "mcp":
            fields = {
                "tools": ("tools", self.action),
                "resources": ("resources", self.action),
                "prompts": ("prompts", self.prompt),
            }
        elif kind == "skill":
            fields = {"skills": ("skills", self.skill)}
        for key, (what, each) in fields.items():
            if key in out:
                out[key] = self.keyed(node[key], (*src, key), (*dst, key), what, each)
        return out

    def exposed_resource(self, node: dict[str, Any], src: Pointer, dst: Pointer) -> dict[str, Any]:
        out = self.copy(node, src, dst, {"display": "label"}, _UNSUPPORTED_OPERATION)
        if "inputParameters" in out:
            out["inputParameters"] = self.params(
                node["inputParameters"], (*src, "inputParameters"), (*dst, "inputParameters")
            )
        if "operations" in out:
            out["operations"] = self.keyed(
                node["operations"],
                (*src, "operations"),
                (*dst, "operations"),
                "operations",
                self.action,
            )
        return out

    def action(self, node: dict[str, Any], src: Pointer, dst: Pointer) -> dict[str, Any]:
        """An exposed operation, MCP tool or resource, or aggregate flow: inputs, a call or
        steps, and outputs."""
        out = self.copy(
            node,
            src,
            dst,
            {"display": "label"},
            {**_UNSUPPORTED_OPERATION, "binary": "'binary' MCP resources"},
        )
        if "inputParameters" in out:
            out["inputParameters"] = self.params(
                node["inputParameters"], (*src, "inputParameters"), (*dst, "inputParameters")
            )
        if "steps" in out:
            out["steps"] = self.keyed(
                node["steps"], (*src, "steps"), (*dst, "steps"), "steps", self.plain
            )
        if "mappings" in out:
            out["mappings"] = self.listed(
                node["mappings"],
                (*src, "mappings"),
                (*dst, "mappings"),
                "mappings",
                lambda n, s, d: self.copy(n, s, d, {"target": "targetName"}),
            )
        outputs = node.get("outputParameters")
        if isinstance(outputs, dict):  # orchestrated or mock outputs: keyed by name
            out["outputParameters"] = self.keyed(
                outputs,
                (*src, "outputParameters"),
                (*dst, "outputParameters"),
                "outputParameters",
                self.named_output,
            )
        return out

    def named_output(self, node: dict[str, Any], src: Pointer, dst: Pointer) -> dict[str, Any]:
        out = self.copy(node, src, dst)
        items = node.get("items")
        if node.get("type") == "array" and isinstance(items, dict):
            # Ikanos: the fields of each item, keyed by name; the normalized form (what the
            # resolver reads, as real alpha2 specs write it) is one item schema: an object of
            # those properties.
            self.alias((*dst, "items", "properties"), (*src, "items"))
            out["items"] = {
                "type": "object",
                "properties": {
                    key: (
                        self.named_output(
                            value, (*src, "items", key), (*dst, "items", "properties", key)
                        )
                        if isinstance(value, dict)
                        else value
                    )
                    for key, value in items.items()
                },
            }
        props = node.get("properties")
        if isinstance(props, dict):
            out["properties"] = {
                key: (
                    self.named_output(value, (*src, "properties", key), (*dst, "properties", key))
                    if isinstance(value, dict)
                    else value
                )
                for key, value in props.items()
            }
        return out

    def prompt(self, node: dict[str, Any], src: Pointer, dst: Pointer) -> dict[str, Any]:
        out = self.copy(node, src, dst, {"display": "label"})
        if "arguments" in out:
            out["arguments"] = self.keyed(
                node["arguments"], (*src, "arguments"), (*dst, "arguments"), "arguments", self.plain
            )
        return out

    def skill(self, node: dict[str, Any], src: Pointer, dst: Pointer) -> dict[str, Any]:
        out = self.copy(node, src, dst)
        if "tools" in out:
            out["tools"] = self.keyed(
                node["tools"], (*src, "tools"), (*dst, "tools"), "tools", self.plain
            )
        return out

    # ------------------------------------------------------------------ aggregates
    def aggregate(self, node: dict[str, Any], src: Pointer, dst: Pointer) -> dict[str, Any]:
        if "from" in node or "import" in node:
            self.unsupported("imported aggregates ('from'); write the aggregate inline", src)
            return {}
        out = self.copy(node, src, dst, {"display": "label", "flows": "functions"})
        if "functions" in out and "flows" in node:
            out["functions"] = self.keyed(
                node["flows"], (*src, "flows"), (*dst, "functions"), "flows", self.action
            )
        return out


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a map"
    if value is None:
        return "empty"
    return f"a {type(value).__name__} ({value!r:.40})"
