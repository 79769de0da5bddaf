"""``naftiko-gen upgrade SPEC [-o OUT]``: the Ikanos beta5 form of an alpha2 spec.

The inverse of the Ikanos front end (dialects/ikanos.py): lists of named objects become maps
keyed by name, ``label`` becomes ``display``, ``targetName`` ``target``, aggregate ``functions``
``flows``, an import's ``location`` ``from``. Where the generator reads an alpha2 spec
leniently, the upgraded file says explicitly what the author meant: ``with: {x: rest.x}``
(a generic prefix) names the caller's input the beta5 way, ``<adapter namespace>.x``; an exposed
resource or operation without a name gets the key the generator would have derived; an output
``{type: object, mapping: $.}`` with nothing to map (the whole upstream body, passed through)
becomes no outputs at all.

Comments survive where ruamel.yaml's round trip keeps them (on mappings that are moved, not on
the list items that become map entries). ruamel.yaml is the optional extra ``upgrade``.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import click

from .extras import UPGRADE, install_hint
from .naming import snake

IKANOS_VERSION = "1.0.0-beta5"
INSTALL_HINT = install_hint("upgrade", UPGRADE, ["ruamel.yaml"])
# `rest.x`, `tools.x`, ...: a generic prefix the generator reads as the caller's input `x`.
# (`rest.header.x` also declares where an undeclared input comes from: kept as written.)
_GENERIC = re.compile(r"^(?:rest|tools|mcp|api|inputs|input|params)\.([A-Za-z0-9_\-*]+)$")

Node = MutableMapping[str, Any]


class UpgradeError(ValueError):
    """An alpha2 document that has no faithful Ikanos form (a located message)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


def _line(node: Any) -> int:
    """The 1-based line of a ruamel node (0 for plain data)."""
    lc = getattr(node, "lc", None)
    return lc.line + 1 if lc is not None and lc.line is not None else 0


Each = Callable[[Node], None]


# --------------------------------------------------------------------------- data
def upgrade_data(data: Node) -> Node:
    """*data* (an alpha2 document: plain dicts and lists, or ruamel's commented ones), rewritten
    in place as its Ikanos beta5 form; returned for convenience."""
    _Upgrader().root(data)
    return data


def _new_map(like: Any) -> Node:
    return type(like)() if isinstance(like, MutableMapping) else {}


def _rename(node: Node, old: str, new: str) -> None:
    """Rename key *old* to *new* in place, keeping the key order."""
    if old not in node or new in node:
        return
    if hasattr(node, "insert"):  # ruamel CommentedMap: the key's comments move with it
        position = list(node).index(old)
        comment = _take_comment(node, old)
        value = node.pop(old)
        node.insert(position, new, value)
        if comment is not None:
            node.ca.items[new] = comment
        return
    items = list(node.items())
    node.clear()
    for key, value in items:
        node[new if key == old else key] = value


def _take_comment(node: Node, key: str) -> Any:
    """The comments ruamel.yaml attached to *key* of *node* (removed from it), if any."""
    ca = getattr(node, "ca", None)
    return ca.items.pop(key, None) if ca is not None else None


def _prepend(node: Node, key: str, value: Any) -> None:
    if hasattr(node, "insert"):
        node.insert(0, key, value)
        return
    items = list(node.items())
    node.clear()
    node[key] = value
    node.update(items)


class _Upgrader:
    """Rewrites a document in place. A node can be shared (a YAML alias, or one list object in
    two places of plain data): each shared list is converted once and the result shared again;
    a shared ``with`` is copied before a namespace-specific rewrite."""

    def __init__(self) -> None:
        self.converted: dict[int, tuple[Any, Node]] = {}  # id(list) -> (list, its map)
        self.injectors: dict[int, tuple[Any, list[Any]]] = {}  # id -> (with, original items)

    def keyed(
        self, node: Node, field: str, each: Each | None = None, *, key_of: Any = None
    ) -> None:
        """``field: [{name: a, ...}, ...]`` -> ``field: {a: {...}, ...}`` (entries upgraded)."""
        items = node.get(field)
        if not isinstance(items, list):
            return
        done = self.converted.get(id(items))
        if done is not None and done[0] is items:
            node[field] = done[1]
            return
        result = _new_map(node)
        for index, item in enumerate(items):
            if not isinstance(item, MutableMapping):
                continue
            name = item.pop("name", None)
            key = str(name) if name is not None else (key_of(item, index) if key_of else "")
            key = key or f"entry-{index + 1}"
            if name is None:  # an invented key: numbered like the generator numbers names
                unique, n = key, 2
                while unique in result:
                    unique, n = f"{key}-{n}", n + 1
                key = unique
            if key in result:
                raise UpgradeError(
                    f"two {field} entries are named {key!r}: a keyed map cannot hold both; "
                    "rename one (the generator reads them as one)",
                    _line(item),
                )
            if each is not None:
                each(item)
            result[key] = item
        node[field] = result
        self.converted[id(items)] = (items, result)  # the list is kept alive: ids stay unique

    def display(self, node: Node) -> None:
        _rename(node, "label", "display")

    # ------------------------------------------------------------------ document
    def root(self, data: Node) -> None:
        comment = _take_comment(data, "naftiko")
        data.pop("naftiko", None)
        _prepend(data, "ikanos", IKANOS_VERSION)
        if comment is not None:
            data.ca.items["ikanos"] = comment
        info = data.get("info")
        if isinstance(info, MutableMapping):
            if "label" not in info:
                _rename(info, "title", "label")  # the generator reads a title as the label
            self.display(info)
        capability = data.get("capability")
        if isinstance(capability, MutableMapping):
            for entry in capability.get("consumes") or []:
                if isinstance(entry, MutableMapping):
                    self.consumes(entry)
            for entry in capability.get("exposes") or []:
                if isinstance(entry, MutableMapping):
                    self.exposes(entry)
            for entry in capability.get("aggregates") or []:
                if isinstance(entry, MutableMapping):
                    self.aggregate(entry)
        for entry in data.get("consumes") or []:  # a shared consumes file
            if isinstance(entry, MutableMapping):
                self.consumes(entry)

    # ------------------------------------------------------------------ consumes
    def consumes(self, node: Node) -> None:
        if "import" in node or "location" in node:
            _rename(node, "location", "from")
            return
        self.keyed(node, "inputParameters")
        self.keyed(node, "resources", self.consumed_resource)

    def consumed_resource(self, node: Node) -> None:
        self.display(node)
        self.keyed(node, "inputParameters")
        self.keyed(node, "operations", self.consumed_operation)

    def consumed_operation(self, node: Node) -> None:
        self.display(node)
        self.keyed(node, "inputParameters")
        self.keyed(node, "outputParameters")

    # ------------------------------------------------------------------ exposes
    def exposes(self, node: Node) -> None:
        namespace = str(node.get("namespace") or "")
        kind = node.get("type")
        if kind == "rest":
            self.keyed(
                node,
                "resources",
                lambda r: self.exposed_resource(r, namespace),
                key_of=lambda r, i: _kebab(str(r.get("path") or "")) or f"resource-{i + 1}",
            )
        elif kind == "mcp":
            self.keyed(node, "tools", lambda t: self.action(t, namespace))
            self.keyed(node, "resources", lambda t: self.action(t, namespace))
            self.keyed(node, "prompts", self.prompt)
        elif kind == "skill":
            self.keyed(node, "skills", self.skill)

    def exposed_resource(self, node: Node, namespace: str) -> None:
        self.display(node)
        self.keyed(node, "inputParameters")
        path = str(node.get("path") or "")
        self.keyed(
            node,
            "operations",
            lambda o: self.action(o, namespace),
            # The name the generator gives an unnamed operation: its aggregate function's, or
            # its route's.
            key_of=lambda o, i: (
                str(o["ref"]).rpartition(".")[2]
                if isinstance(o.get("ref"), str)
                else _kebab(f"{o.get('method', 'GET')}_{path}")
            ),
        )

    def action(self, node: Node, namespace: str) -> None:
        """An exposed operation, tool, MCP resource or aggregate flow."""
        self.display(node)
        self.keyed(node, "inputParameters")
        orchestrated = "steps" in node or ("call" not in node and "ref" not in node)
        self.keyed(node, "steps", lambda s: self.step(s, namespace))
        self.with_(node, namespace)
        for mapping in node.get("mappings") or []:
            if isinstance(mapping, MutableMapping):
                _rename(mapping, "targetName", "target")
        outputs = node.get("outputParameters")
        if not orchestrated and _whole_body(outputs):
            # `[{type: object, mapping: $.}]` with nothing to map: the generator passes the
            # upstream body through (the engine would answer {}); beta5 says it with no outputs.
            del node["outputParameters"]
            return
        if (
            orchestrated
            and isinstance(outputs, list)
            and all(isinstance(o, MutableMapping) and "name" in o for o in outputs)
        ):
            self.keyed(node, "outputParameters", self.named_output)

    def step(self, node: Node, namespace: str) -> None:
        self.with_(node, namespace)

    def with_(self, node: Node, namespace: str) -> None:
        """``x: rest.x`` (a generic prefix the generator reads as the caller's input) -> the beta5
        form ``x: <adapter namespace>.x``."""
        injector = node.get("with")
        if not isinstance(injector, MutableMapping) or not namespace:
            return
        seen = self.injectors.get(id(injector))
        if seen is not None and seen[0] is injector:
            # Shared with another operation (a YAML alias): rewrite a copy of the original.
            injector = node["with"] = type(injector)(seen[1])
        self.injectors[id(injector)] = (injector, list(injector.items()))
        for key, value in list(injector.items()):
            if isinstance(value, str):
                match = _GENERIC.match(value.strip())
                if match:
                    injector[key] = f"{namespace}.{match.group(1)}"

    def named_output(self, node: Node) -> None:
        items = node.get("items")
        if isinstance(items, list):  # official alpha2: a list of named fields
            holder = {"items": items}
            self.keyed(holder, "items", self.named_output)
            node["items"] = holder["items"]
        elif (
            isinstance(items, MutableMapping)
            and items.get("type") == "object"
            and isinstance(items.get("properties"), MutableMapping)
        ):
            node["items"] = items["properties"]  # Ikanos: the item's fields, keyed
        properties = node.get("properties")
        if isinstance(properties, MutableMapping):
            for child in properties.values():
                if isinstance(child, MutableMapping):
                    self.named_output(child)

    def prompt(self, node: Node) -> None:
        self.display(node)
        self.keyed(node, "arguments", self.display)

    def skill(self, node: Node) -> None:
        self.keyed(node, "tools")

    def aggregate(self, node: Node) -> None:
        self.display(node)
        namespace = str(node.get("namespace") or "")
        self.keyed(node, "functions", lambda f: self.action(f, namespace))
        _rename(node, "functions", "flows")


def _whole_body(outputs: Any) -> bool:
    """The resolver's pass-through rule for a call's outputs (resolver/actions.py, ``ActionsResolver._output``)."""
    if not isinstance(outputs, list) or len(outputs) != 1:
        return False
    shape = outputs[0]
    return (
        isinstance(shape, MutableMapping)
        and not shape.get("name")
        and shape.get("mapping") in ("$", "$.")
        and not shape.get("properties")
        and not shape.get("items")
        and shape.get("type") in ("object", "array", None)
    )


def _kebab(text: str) -> str:
    return snake(text).replace("_", "-").strip("-")


# --------------------------------------------------------------------------- text
def upgrade_text(text: str) -> str:
    """The Ikanos beta5 form of the alpha2 document *text*, comments kept where they can be.
    Raises ImportError without ruamel.yaml."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=2, offset=0)
    data = yaml.load(text)
    if not isinstance(data, MutableMapping):
        raise ValueError("the document root is not a mapping")
    upgrade_data(data)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


@click.command("upgrade")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the Ikanos file here (default: standard output).",
)
def upgrade_command(spec: Path, output: Path | None) -> None:
    """Write the Ikanos beta5 form of the alpha2 spec SPEC (the CLI checks ruamel.yaml first)."""
    from .dialects import ALPHA2, prepare
    from .loader import load_spec

    document = prepare(load_spec(spec))
    errors = document.loaded.report.errors
    if not errors and document.dialect != ALPHA2:
        click.echo(f"{spec}: already an Ikanos document; nothing to upgrade", err=True)
        sys.exit(1)
    if errors:
        for diagnostic in document.loaded.report.sorted():
            click.echo(diagnostic.format(), err=True)
        sys.exit(1)
    try:
        text = upgrade_text(spec.read_text(encoding="utf-8"))
    except UpgradeError as exc:
        click.echo(f"{spec}:{exc.line or 1}:1: error: {exc}", err=True)
        sys.exit(1)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"{spec} -> {output} (ikanos: {IKANOS_VERSION})", err=True)
