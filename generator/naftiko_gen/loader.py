"""Stage 1: read a YAML spec into plain data, remembering where every node came from.

Defends against hostile files: size bound, strict UTF-8, duplicate keys, non-mapping roots,
alias expansion bombs and pathological nesting all give a located error, never a traceback.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .diagnostics import Diagnostic, Pointer, Report

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64

try:  # libyaml is much faster when available; the pure-Python composer behaves the same.
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader


@dataclass
class LoadedSpec:
    """A parsed spec: its data plus a report that maps JSON paths to source positions."""

    path: Path
    data: dict[str, Any]
    report: Report
    text: str


class _Abort(Exception):
    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # pragma: no cover - different drive on Windows
        return str(path)


class _Converter:
    """Turns a composed YAML node graph into data, recording positions and counting nodes."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.nodes = 0
        self._scalar = yaml.constructor.SafeConstructor()

    def convert(self, node: yaml.Node, path: Pointer, depth: int) -> Any:
        self.nodes += 1
        mark = node.start_mark
        if self.nodes > MAX_NODES:
            raise _Abort(
                f"document expands to more than {MAX_NODES} nodes (YAML alias bomb?)",
                mark.line + 1,
                mark.column + 1,
            )
        if depth > MAX_DEPTH:
            raise _Abort(f"nesting deeper than {MAX_DEPTH} levels", mark.line + 1, mark.column + 1)
        self.report.positions.setdefault(path, (mark.line + 1, mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise _Abort(
                        "YAML merge keys ('<<') are not supported in specs; write the keys out",
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                    )
                try:
                    key = (
                        self._scalar.construct_object(key_node)
                        if isinstance(key_node, yaml.ScalarNode)
                        else None
                    )
                except (ValueError, OverflowError, yaml.constructor.ConstructorError):
                    key = None
                if not isinstance(key, str | int | float | bool) or key is None:
                    raise _Abort(
                        "mapping keys must be plain scalars",
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                    )
                key = str(key) if not isinstance(key, str) else key
                if key in result:
                    raise _Abort(
                        f"duplicate key {key!r} (first defined on line "
                        f"{self.report.positions[(*path, key)][0]}); remove one of them",
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                    )
                child = (*path, key)
                self.report.positions[child] = (
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
                result[key] = self.convert(value_node, child, depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        try:
            value = self._scalar.construct_object(node)
        except (ValueError, OverflowError, yaml.constructor.ConstructorError) as exc:
            problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
            raise _Abort(
                f"cannot read this value: {problem}", mark.line + 1, mark.column + 1
            ) from None
        if isinstance(value, bytes | set):
            raise _Abort(
                "binary and set values are not allowed in specs", mark.line + 1, mark.column + 1
            )
        if not isinstance(value, str | int | float | bool | type(None)):
            # Timestamps and dates: keep the author's text; the schema checks the format.
            value = node.value
        return value


def load_spec(path: str | Path) -> LoadedSpec:
    """Read and parse *path*. Errors are in ``result.report``; ``data`` is ``{}`` when unusable."""
    # Composing a big spec creates hundreds of thousands of objects that all stay alive until
    # the end: the cyclic collector would walk them again and again (half of a big load).
    paused = gc.isenabled()
    gc.disable()
    try:
        return _load_spec(Path(path))
    finally:
        if paused:
            gc.enable()


def _load_spec(path: Path) -> LoadedSpec:
    report = Report(_display(path))
    empty = LoadedSpec(path, {}, report, "")
    if not path.exists():
        report.error("file not found")
        return empty
    if path.is_dir():
        report.error("is a directory, not a spec file")
        return empty
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            report.error(f"file is {size} bytes; specs are limited to {MAX_FILE_BYTES} bytes")
            return empty
        raw = path.read_bytes()
    except OSError as exc:
        report.error(f"cannot read file: {exc.strerror or exc}")
        return empty
    if b"\x00" in raw:
        report.error("file contains NUL bytes: not a text YAML file")
        return empty
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        report.positions[()] = (line, 1)
        report.error(f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})")
        return empty
    if text.startswith("\ufeff"):
        text = text[1:]
    # libyaml's C composer recurses without bound and can crash the process on deep flow
    # nesting; when a quick scan sees many brackets, compose with the pure-Python loader, whose
    # recursion ends in a RecursionError (reported below) instead.
    loader = yaml.SafeLoader if _many_brackets(text) else _Loader
    try:
        node = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            report.positions[()] = (mark.line + 1, mark.column + 1)
        report.error(f"invalid YAML: {exc.problem or exc.context}")
        return empty
    except yaml.YAMLError as exc:
        report.error(f"invalid YAML: {exc}")
        return empty
    except RecursionError:
        report.error(f"nesting too deep (more than {MAX_DEPTH} levels)")
        return empty
    if node is None:
        report.error("file is empty; a spec starts with 'naftiko: 1.0.0-alpha2'")
        return LoadedSpec(path, {}, report, text)
    if not isinstance(node, yaml.MappingNode):
        report.positions[()] = (node.start_mark.line + 1, node.start_mark.column + 1)
        report.error("the document root must be a mapping (naftiko:, info:, capability: ...)")
        return LoadedSpec(path, {}, report, text)
    try:
        data = _Converter(report).convert(node, (), 0)
    except _Abort as exc:
        report.items.append(Diagnostic(report.file, exc.line, exc.column, "error", str(exc)))
        return LoadedSpec(path, {}, report, text)
    except RecursionError:
        report.error(f"nesting too deep (more than {MAX_DEPTH} levels)")
        return LoadedSpec(path, {}, report, text)
    return LoadedSpec(path, data, report, text)


def _many_brackets(text: str) -> bool:
    """Whether ``[``/``{`` could nest deeper than the limit (a cheap over-estimate: brackets
    inside scalars count too, which only costs the slower pure-Python parser)."""
    depth = 0
    for char in text:
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif char in "]}" and depth:
            depth -= 1
    return False
