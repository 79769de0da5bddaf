"""Deterministic names for generated Python packages, modules, constants and environment variables."""

from __future__ import annotations

import keyword
import re
import sys
from pathlib import Path

# Import names a generated package must not take: it would shadow them for itself and its users.
_TAKEN = frozenset(sys.stdlib_module_names) | {
    "aiohttp",
    "anyio",
    "click",
    "httpx",
    "httpx2",
    "jinja2",
    "jsonpath_ng",
    "jsonschema",
    "mcp",
    "mcp_types",
    "multidict",
    "pydantic",
    "pytest",
    "starlette",
    "tests",
    "uvicorn",
    "yaml",
    "yarl",
}

_NON_IDENT = re.compile(r"[^0-9a-zA-Z]+")


def snake(text: str) -> str:
    """``Get-Account Summary`` -> ``get_account_summary``."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    return _NON_IDENT.sub("_", text).strip("_").lower()


def identifier(text: str, *, fallback: str = "x") -> str:
    """A valid, non-keyword Python identifier derived from *text*."""
    name = snake(text) or fallback
    if name[0].isdigit():
        name = f"{fallback}_{name}"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        name = f"{name}_"
    return name


def constant(text: str) -> str:
    name = identifier(text).upper()
    # `I` and `O` (and `l`) read like digits: ruff (E741) rightly refuses them as names.
    return f"{name}_OPERATION" if name in ("I", "O", "L") else name


def env_name(text: str) -> str:
    """``interactive-brokers`` -> ``INTERACTIVE_BROKERS``."""
    name = _NON_IDENT.sub("_", text).strip("_").upper()
    return name if name and not name[0].isdigit() else f"API_{name}"


def package_name(spec_path: Path) -> str:
    """Python package name for a spec file: ``specs/interactive-brokers.yaml`` -> ``interactive_brokers``."""
    stem = spec_path.name
    for suffix in (".yaml", ".yml"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    for suffix in (".naftiko", "-capability", "_capability"):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
    name = identifier(stem, fallback="capability")
    return f"{name}_adapter" if name in _TAKEN else name


class Namer:
    """Hands out unique names from a namespace, suffixing duplicates deterministically."""

    def __init__(self, reserved: tuple[str, ...] = ()) -> None:
        self.used: set[str] = set(reserved)

    def take(self, name: str) -> str:
        candidate, n = name, 2
        while candidate in self.used:
            candidate = f"{name}_{n}"
            n += 1
        self.used.add(candidate)
        return candidate
