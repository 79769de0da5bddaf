"""Load drivers: wrk for plain HTTP, ``loadgen.py`` for MCP (and for HTTP when wrk is missing).

Both run as separate processes, so the driver's CPU use is the same whichever server is measured.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from procs import group_cpu_seconds

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Load:
    """One load run: throughput and latency of the successful requests."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    first_error: str = ""
    cpu_seconds: float | None = None  # CPU used meanwhile by the server under test

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.cpu_seconds is None or not self.requests:
            return None
        return self.cpu_seconds / self.requests * 1e6

    @property
    def cores(self) -> float | None:
        """Average cores the server used (1.0 = one core saturated)."""
        if self.cpu_seconds is None or not self.seconds:
            return None
        return self.cpu_seconds / self.seconds


def with_cpu(pgid: int, run: Callable[[], Load]) -> Load:
    """*run()*, with the CPU time process group *pgid* used meanwhile."""
    before = group_cpu_seconds(pgid)
    load = run()
    return replace(load, cpu_seconds=group_cpu_seconds(pgid) - before)


def best(loads: list[Load]) -> Load:
    """The run with the highest throughput (noise on a shared machine only slows runs down)."""
    return max(loads, key=lambda load: load.rps)


def run_wrk(wrk: str, url: str, connections: int, seconds: float) -> Load:
    """``wrk`` for *seconds* with *connections* keep-alive connections (threads: up to 2)."""
    argv = [
        wrk,
        f"-t{min(connections, 2)}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "5s",
        "-s",
        str(HERE / "wrk_report.lua"),
        url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    data = json.loads(lines[-1])
    errors = sum(data[key] for key in ("connect", "read", "write", "status", "timeout"))
    return Load(
        requests=data["requests"] - data["status"],
        seconds=data["duration_us"] / 1e6,
        errors=errors,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        first_error=f"wrk error counts: {data}" if errors else "",
    )


def run_loadgen(
    kind: str,
    url: str,
    requests: int,
    concurrency: int,
    *,
    expect: str = "",
    tool: str = "getaccounts",
    warmup: int = 0,
    max_seconds: float = 120.0,
) -> Load:
    """``loadgen.py`` (fixed count, fixed concurrency) in its own process."""
    argv = [
        sys.executable,
        str(HERE / "loadgen.py"),
        kind,
        url,
        f"-n{requests}",
        f"-c{concurrency}",
        f"--warmup={warmup}",
        f"--tool={tool}",
        f"--expect={expect}",
        f"--max-seconds={max_seconds:g}",
    ]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=2 * max_seconds + 30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed ({done.returncode}): {done.stderr[-2000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    first_error = data["first_error"] or ("stopped at --max-seconds" if data["timed_out"] else "")
    return Load(
        requests=data["requests"],
        seconds=data["seconds"],
        errors=requests - data["requests"],  # failed, or never sent before --max-seconds
        p50_ms=data["p50_ms"],
        p99_ms=data["p99_ms"],
        first_error=first_error,
    )


def wrk_version(wrk: str) -> str:
    done = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    first = (done.stdout or done.stderr).splitlines()[0]
    return first.split(" Copyright")[0].strip()
