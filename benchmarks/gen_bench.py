"""Section 1: wall time of ``naftiko-gen build`` (the whole process) per spec size."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from synth_spec import synth_spec

HERE = Path(__file__).resolve().parent
BUILD_TIMEOUT_SECONDS = 300.0
# Every timed build is cold: black's formatting cache (renderer.format_python) is off, so a
# repeat of the same spec costs what the first build did.
COLD = {**os.environ, "NAFTIKO_GEN_CACHE": "off"}


@dataclass(frozen=True)
class GenResult:
    label: str
    operations: int
    runs: tuple[float, ...]

    @property
    def best(self) -> float:
        return min(self.runs)


def naftiko_gen_command() -> list[str]:
    """The console script of this interpreter's environment (no pyenv shim in between)."""
    script = Path(sys.executable).with_name("naftiko-gen")
    if script.exists():
        return [str(script)]
    found = shutil.which("naftiko-gen")
    return [found] if found else [sys.executable, "-m", "naftiko_gen"]


def time_build(spec: Path, output: Path) -> float:
    """Seconds for one cold ``naftiko-gen build SPEC -o OUTPUT`` process, start to exit."""
    started = time.perf_counter()
    done = subprocess.run(
        [*naftiko_gen_command(), "build", str(spec), "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
        env=COLD,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"naftiko-gen build {spec} failed:\n{done.stderr[-2000:]}")
    return elapsed


def write_synth_specs(workdir: Path, sizes: tuple[int, ...]) -> dict[int, Path]:
    specs = {}
    for n in sizes:
        path = workdir / "specs" / f"synthetic-{n}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(synth_spec(n), encoding="utf-8")
        specs[n] = path
    return specs


def run_generation(
    seed: Path,
    seed_operations: int,
    seed_runs: int,
    synth_runs: dict[int, int],
    workdir: Path,
    log: Callable[[str], None],
) -> list[GenResult]:
    """Build times of the seed spec and of a synthetic spec per size in *synth_runs* (size: k)."""
    jobs = [("seed spec", seed_operations, seed, seed_runs)]
    specs = write_synth_specs(workdir, tuple(synth_runs))
    jobs += [(f"synthetic {n:,}", n, path, synth_runs[n]) for n, path in specs.items()]
    # Interleave the repeats (A B C D A B C D ...) so slow phases of a shared machine hit all sizes.
    runs: dict[str, list[float]] = {label: [] for label, *_ in jobs}
    for round_no in range(max(k for *_, k in jobs)):
        for label, _, spec, k in jobs:
            if round_no < k:
                output = workdir / "gen-out" / f"{spec.stem}-{round_no}"
                runs[label].append(time_build(spec, output))
                shutil.rmtree(output, ignore_errors=True)
                log(f"  build {label}: {runs[label][-1]:.2f} s")
    return [GenResult(label, ops, tuple(runs[label])) for label, ops, _, _ in jobs]


def profile_build(spec: Path, workdir: Path, top: int = 15) -> str:
    """The in-process cProfile report of one build (``profile_build.py``)."""
    output = workdir / "gen-out" / f"profile-{spec.stem}"
    done = subprocess.run(
        [sys.executable, str(HERE / "profile_build.py"), str(spec), str(output), f"--top={top}"],
        capture_output=True,
        text=True,
        timeout=3 * BUILD_TIMEOUT_SECONDS,
        check=False,
        env=COLD,
    )
    shutil.rmtree(output, ignore_errors=True)
    if done.returncode != 0:
        return f"(profiling failed: {done.stderr[-1000:]})"
    return done.stdout.rstrip()
