"""The generated package is product code: lint-clean, formatted, and its own tests pass."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from naftiko_gen.pipeline import analyse, generate
from naftiko_gen.writer import write_tree

from .conftest import ROOT
from .hostile_support import free_port

CASES = [
    "interactive-brokers",
    "minimal",
    "full-feature",
    "orchestration",
    "rest-only",
    "mcp-stdio",
    "ikanos-mcp",
    "ikanos-rest",
]


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
    package = next(
        p.name for p in project.iterdir() if (p / "__init__.py").exists() and p.name != "tests"
    )
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


@pytest.mark.parametrize("workers", ["1", "2"])
def test_rest_only_package_serves_and_drains(built: dict[str, Path], workers: str) -> None:
    """A capability without MCP: its entry point serves REST (one or two processes, each asking
    for the spec's inbound bearer token) and stops cleanly on SIGTERM."""
    port = free_port()
    env = {
        **os.environ,
        "ADAPTER_WORKERS": workers,
        "PYTHONPATH": str(built["rest-only"]),
        "USERS_ADAPTER_TOKEN": "users-adapter-token",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "rest_only", "rest", "--port", str(port)],
        cwd=built["rest-only"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_adapter/health") as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "the REST adapter did not start"
                time.sleep(0.1)
        for _ in range(4):  # new connections: with two workers, both answer
            refused = urllib.request.Request(f"http://127.0.0.1:{port}/users", method="POST")
            with pytest.raises(urllib.error.HTTPError) as answer:
                urllib.request.urlopen(refused)
            assert answer.value.code == 401
            assert answer.value.headers["WWW-Authenticate"] == 'Bearer realm="rest_only"'
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Traceback" not in output


async def test_stdio_only_package_answers_over_stdio(built: dict[str, Path]) -> None:
    """A stdio-only MCP capability: the SDK's stdio client lists its tools and calls the mock."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_stdio", "mcp"],
        cwd=str(built["mcp-stdio"]),
        env={**os.environ, "PYTHONPATH": str(built["mcp-stdio"])},
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = [t.name for t in (await session.list_tools()).tools]
        result = await session.call_tool("about", {})
    assert tools == ["get-note", "about"]
    assert result.structured_content == {"name": "notes-mcp", "version": 2}
