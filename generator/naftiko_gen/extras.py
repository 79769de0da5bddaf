"""What each command needs beyond the base install, and the one-line error that says how to get it.

The base install (jinja2, pyyaml, jsonschema, black, click) is what ``validate``, ``build`` and
``check`` need. The commands that serve HTTP or run generated packages need more, brought by the
package extras declared in pyproject.toml (keep the two in step; tests/test_wheel.py checks
them against a plain install):

- ``mock``: the simulated upstream serves with aiohttp;
- ``demo``: the mock plus the generated IBKR package, run in this interpreter (aiohttp, the MCP
  SDK, uvicorn, jsonpath-ng; the MCP SDK brings cryptography for the mock's certificate);
- ``corpus``: also lints (ruff) and runs each generated package's tests (pytest);
- ``upgrade``: ruamel.yaml, the YAML round trip that keeps comments.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Extra:
    name: str
    # (module to import, distribution that provides it)
    modules: tuple[tuple[str, str], ...]


MOCK = Extra("mock", (("aiohttp", "aiohttp"),))
DEMO = Extra(
    "demo",
    (*MOCK.modules, ("mcp", "mcp"), ("uvicorn", "uvicorn"), ("jsonpath_ng", "jsonpath-ng")),
)
# `corpus --no-tests` lints but runs no generated tests.
CORPUS_LINT = Extra("corpus", (("ruff", "ruff"),))
CORPUS = Extra(
    "corpus",
    (
        *DEMO.modules,
        *CORPUS_LINT.modules,
        ("pytest", "pytest"),
        ("pytest_asyncio", "pytest-asyncio"),
    ),
)

# `naftiko-gen upgrade` round-trips YAML with its comments.
UPGRADE = Extra("upgrade", (("ruamel.yaml", "ruamel.yaml"),))

# The extra each lazily loaded command needs before its module can even be imported.
COMMANDS = {"mock": MOCK, "demo": DEMO, "corpus": CORPUS_LINT, "upgrade": UPGRADE}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing(extra: Extra) -> list[str]:
    """The distributions of *extra* whose modules cannot be imported here."""
    return [dist for module, dist in extra.modules if not _installed(module)]


def _names(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def install_hint(command: str, extra: Extra, absent: list[str]) -> str:
    """One line: what *command* lacks and the exact pip command (for this interpreter) that brings it."""
    pip = f"{shlex.quote(sys.executable)} -m pip install 'naftiko-gen[{extra.name}]'"
    verb = "is" if len(absent) == 1 else "are"
    return (
        f"naftiko-gen {command} needs {_names(absent)}, which {verb} not installed; "
        f"install the '{extra.name}' extra: {pip}"
    )
