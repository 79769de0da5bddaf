"""The command line as users meet it: exit codes, messages, atomic builds and the drift gate."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner
from naftiko_gen.cli import main

from .conftest import ROOT

SEED = ROOT / "specs" / "interactive-brokers.yaml"


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_validate_seed_ok() -> None:
    result = _run("validate", str(SEED))
    assert result.exit_code == 0, result.output
    assert "warning: not valid against the official alpha2 schema" in result.output


def test_validate_strict_fails_on_seed() -> None:
    result = _run("validate", "--strict", str(SEED))
    assert result.exit_code == 1
    assert ": error: not valid against the official alpha2 schema" in result.output


def test_validate_reports_file_line_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "naftiko: 1.0.0-alpha2\ncapability:\n  exposes:\n  - type: rest\n    port: nope\n"
    )
    result = _run("validate", str(bad))
    assert result.exit_code == 1
    assert "bad.yaml:5:5: error: 'nope' is not of type 'integer'" in result.output


def test_usage_error_exit_code() -> None:
    assert _run("validate").exit_code == 2
    assert _run("frobnicate").exit_code == 2


def test_build_then_check_then_drift(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    result = _run("build", str(SEED), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "9 operations" in result.output and "9 tools" in result.output
    assert _run("check", str(SEED), "-o", str(out)).exit_code == 0
    client = out / "interactive_brokers" / "interactive_brokers" / "client.py"
    client.write_text(client.read_text() + "# hand edit\n")
    drift = _run("check", str(SEED), "-o", str(out))
    assert drift.exit_code == 1
    assert "+++ b/interactive_brokers/client.py" in drift.output
    assert "-# hand edit" in drift.output


def test_failed_build_leaves_previous_output_untouched(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    spec = tmp_path / "interactive-brokers.yaml"
    shutil.copy(SEED, spec)
    assert _run("build", str(spec), "-o", str(out)).exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    spec.write_text(
        spec.read_text().replace(
            "call: interactive-brokers.getaccounts", "call: interactive-brokers.nope"
        )
    )
    result = _run("build", str(spec), "-o", str(out))
    assert result.exit_code == 1
    assert "nothing was written" in result.output
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert before == after
    assert sorted(p.name for p in out.iterdir()) == ["interactive_brokers"]


def test_committed_generated_output_is_up_to_date() -> None:
    # Exactly what CI and the pre-commit hook run, `naftiko-gen check specs/*.yaml`: the glob also
    # matches the mock examples files, which are skipped.
    specs = sorted(str(p) for p in (ROOT / "specs").glob("*.yaml"))
    assert any(s.endswith(".examples.yaml") for s in specs)
    result = _run("check", *specs, "-o", str(ROOT / "generated"))
    assert result.exit_code == 0, result.output
    assert "examples" not in result.output


def test_version_and_help() -> None:
    assert "naftiko-gen" in _run("--version").output
    assert "naftiko-gen check" in _run("--help").output


def test_demo_says_in_one_line_why_the_mock_did_not_start(tmp_path: Path) -> None:
    """A demo whose mock upstream cannot start names it at once (not a 30 s wait, not a traceback)."""
    import socket
    import subprocess
    import sys

    shutil.copy(SEED, tmp_path / "interactive-brokers.yaml")
    (tmp_path / "interactive-brokers.examples.yaml").write_text("nope: [\n")
    sockets = [socket.socket() for _ in range(3)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [str(sock.getsockname()[1]) for sock in sockets]
    for sock in sockets:
        sock.close()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "naftiko_gen",
            "demo",
            "--check",
            "interactive-brokers.yaml",
            *("-o", "out", "--upstream-port", ports[0]),
            *("--rest-port", ports[1], "--mcp-port", ports[2]),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=25,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "interactive-brokers.examples.yaml:2:1: error: invalid YAML" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "Error: the mock upstream exited with code 2 before it came up (its errors are above)"
    )
