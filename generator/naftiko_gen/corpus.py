"""``naftiko-gen corpus DIR``: validate -> build -> compile -> ruff (-> tests) over a folder of specs,
with a tally by outcome and reason. For measuring how much of the real world we handle."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import click

from . import extras
from .pipeline import analyse, generate
from .writer import write_tree

_QUOTED = re.compile(r"'[^']*'|\{\{[^}]*\}\}|\{[^}]*\}")


@dataclass
class Outcome:
    spec: Path
    status: str  # rejected | built | lint-failed | tests-failed | passed
    reason: str = ""
    warnings: int = 0
    dialect: str = ""  # "naftiko 1.0.0-alpha2", "ikanos 1.0.0-beta5", "" (neither)


def _reason(message: str) -> str:
    """A message with its specifics (names, values) blanked, so that alike failures group."""
    return _QUOTED.sub("…", message)


def _run(command: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def examine(spec: Path, workdir: Path, *, run_tests: bool) -> Outcome:
    analysis = analyse(spec)
    dialect = analysis.dialect
    warnings = sum(d.level == "warning" for d in analysis.diagnostics)
    if not analysis.ok or analysis.capability is None:
        first = next(d for d in analysis.diagnostics if d.level == "error")
        return Outcome(spec, "rejected", _reason(first.message), warnings, dialect)
    target = workdir / analysis.capability.package
    write_tree(target, generate(analysis.capability))
    compiled = _run([sys.executable, "-m", "compileall", "-q", "."], target, 120)
    if compiled.returncode:
        return Outcome(spec, "lint-failed", "does not compile", warnings, dialect)
    ruff = _run([sys.executable, "-m", "ruff", "check", "--no-cache", "-q", "."], target, 120)
    if ruff.returncode:
        return Outcome(
            spec,
            "lint-failed",
            "ruff: " + (ruff.stdout.splitlines() or ["?"])[0],
            warnings,
            dialect,
        )
    if not run_tests:
        return Outcome(spec, "built", "", warnings, dialect)
    tests = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], target, 600)
    if tests.returncode:
        return Outcome(
            spec, "tests-failed", (tests.stdout.splitlines() or ["?"])[-1], warnings, dialect
        )
    return Outcome(spec, "passed", "", warnings, dialect)


@click.command("corpus")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--tests/--no-tests",
    "run_tests",
    default=True,
    show_default=True,
    help="Run each generated package's own tests.",
)
@click.option("-v", "--verbose", is_flag=True, help="One line per spec.")
def corpus_command(directory: Path, run_tests: bool, verbose: bool) -> None:
    """Run validate -> build -> compile -> ruff (-> tests) over every spec under DIRECTORY."""
    if run_tests and (absent := extras.missing(extras.CORPUS)):
        # The generated tests run in this interpreter, so it needs what the packages need.
        click.echo(extras.install_hint("corpus", extras.CORPUS, absent), err=True)
        sys.exit(2)
    specs = sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="naftiko-corpus-") as tmp:
        for index, spec in enumerate(specs):
            outcome = examine(spec, Path(tmp) / str(index), run_tests=run_tests)
            outcomes.append(outcome)
            if verbose:
                click.echo(f"{outcome.status:13} {spec.relative_to(directory)}  {outcome.reason}")
    statuses = Counter(o.status for o in outcomes)
    click.echo(
        f"\n{len(outcomes)} specs: " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    )
    for dialect in sorted({o.dialect for o in outcomes}):
        mine = Counter(o.status for o in outcomes if o.dialect == dialect)
        click.echo(
            f"  {dialect or 'no usable version key'}: {sum(mine.values())} specs: "
            + ", ".join(f"{n} {s}" for s, n in sorted(mine.items()))
        )
    click.echo(
        f"warnings on accepted specs: {sum(o.warnings for o in outcomes if o.status != 'rejected')}"
    )
    reasons = Counter(o.reason for o in outcomes if o.status == "rejected")
    if reasons:
        click.echo("\nrejected, by first error:")
        for reason, n in reasons.most_common():
            click.echo(f"  {n:3}  {reason}")
    failures = [o for o in outcomes if o.status in ("lint-failed", "tests-failed")]
    for o in failures:
        click.echo(f"FAILED {o.status}: {o.spec}: {o.reason}", err=True)
    sys.exit(1 if failures else 0)
