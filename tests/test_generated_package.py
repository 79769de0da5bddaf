"""The generated package is product code: lint-clean, formatted, and its own tests pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from naftiko_gen.pipeline import analyse, generate
from naftiko_gen.writer import write_tree

from .conftest import ROOT

CASES = ["interactive-brokers", "minimal", "full-feature", "orchestration"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("generated")
    projects = {}
    for case in CASES:
        analysis = analyse(ROOT / "tests" / "golden" / case / f"{case}.yaml")
        assert analysis.capability is not None
        write_tree(out / analysis.capability.package, generate(analysis.capability))
        projects[case] = out / analysis.capability.package
    return projects


@pytest.mark.parametrize("case", CASES)
def test_ruff_and_black_clean(built: dict[str, Path], case: str) -> None:
    project = built[case]
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    black = subprocess.run(
        [sys.executable, "-m", "black", "--check", "-q", "."],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert black.returncode == 0, black.stderr


@pytest.mark.parametrize("case", CASES)
def test_generated_tests_pass(built: dict[str, Path], case: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=built[case],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


@pytest.mark.parametrize("case", CASES)
def test_import_has_no_side_effects(built: dict[str, Path], case: str) -> None:
    project = built[case]
    package = next(p.name for p in project.iterdir() if (p / "__init__.py").exists())
    code = f"import {package}.client, {package}.operations, {package}.serve; print('ok')"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=project, capture_output=True, text=True, env={"PATH": ""}
    )
    assert result.returncode == 0 and result.stdout == "ok\n", result.stderr


def test_rest_only_runs_never_import_the_mcp_sdk() -> None:
    """The MCP SDK (about 50 MB and 0.5 s of imports) loads when an MCP server starts: the REST
    adapter's modules, the entry point and serve.py do without it."""
    project = ROOT / "generated" / "interactive_brokers"
    code = (
        "import sys, interactive_brokers.__main__, interactive_brokers.serve, "
        "interactive_brokers.rest; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'mcp', 'mcp_types', 'uvicorn'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=project, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"
