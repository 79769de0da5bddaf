"""The JSONPath subset the generated packages compile (with jsonpath-ng's extended parser).

A path the generated code cannot compile would break its import, so paths are checked here,
at validate time, against a grammar that jsonpath-ng accepts: ``$``, ``.name``, ``..name``,
``.*``, ``[n]``, ``[a:b]``, ``[*]``, ``['key']`` and simple filters ``[?(@.name op value)]``.
"""

from __future__ import annotations

import re

_NAME = r"[A-Za-z_][A-Za-z0-9_@-]*"
_LITERAL = r"""(?:-?\d+(?:\.\d+)?|'[^'\\]*'|"[^"\\]*"|true|false|null)"""
_FILTER = rf"\?\( *@\.{_NAME}(?:\.{_NAME})*(?: *(?:==|!=|<=|>=|<|>|=~) *{_LITERAL})? *\)"
_POSITION = r"\[ *(?:\*|-?\d+|-?\d*:-?\d*) *\]"
_INDEX = rf"""\[ *(?:\*|-?\d+|-?\d*:-?\d*|'[^'\\]*'|"[^"\\]*"|{_FILTER}) *\]"""
_SEGMENT = rf"(?:\.\.?(?:{_NAME}|\*)|\.\.{_POSITION}|{_INDEX})"
_PATH = re.compile(rf"\$(?:{_SEGMENT})*")


def problem(path: str) -> str | None:
    """Why *path* is not in the supported JSONPath subset, or None when it is."""
    if path in ("$", "$."):
        return None
    if _PATH.fullmatch(path):
        return None
    return (
        f"JSONPath {path!r} is not understood; use $.name, $..name, [n], [*], ['key'] "
        "or [?(@.field == value)] (names start with a letter or '_')"
    )
