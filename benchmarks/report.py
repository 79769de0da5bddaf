"""Tables, target verdicts and ``results.md`` for ``run.py``."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from drivers import Load
from footprint_bench import Footprint
from gen_bench import GenResult
from rest_bench import ADAPTERS, FLOOR, TARGETS

MB = 1_000_000  # targets are in MB (10^6 bytes); /proc reports KiB


@dataclass
class Results:
    """Everything one run measured; sections that did not run stay None."""

    mode: str
    command: str
    started: str
    revision: str
    load_before: str
    load_after: str = ""
    gen: list[GenResult] | None = None
    gen_profiles: dict[str, str] = field(default_factory=dict)  # spec label -> cProfile report
    rest: dict[tuple[int, str], Load] | None = None
    rest_driver: str = ""
    rest_profile: str = ""  # py-spy report (measured when a REST throughput target is missed)
    # (concurrency, variant) -> instructions per request under callgrind
    rest_instructions: dict[tuple[int, str], float] = field(default_factory=dict)
    mcp: dict[tuple[int, str], Load] | None = None
    footprint: Footprint | None = None
    imports: list[tuple[str, float]] = field(default_factory=list)
    import_rss_kib: int = 0  # peak RSS of importing the package alone (measured on an RSS miss)
    import_rss: list[tuple[str, int]] = field(default_factory=list)  # (step, KiB) on an RSS miss
    versions: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    ok: bool

    @property
    def status(self) -> str:
        return "met" if self.ok else "MISSED"


def md_table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table padded to line up in a terminal too."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def _ms(value: float) -> str:
    return f"{value:.2f}"


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}×" if base else "n/a"


def _mem(kib: int) -> str:
    return f"{kib * 1024 / MB:.1f} MB ({kib / 1024:.1f} MiB)"


def _cpu(load: Load) -> str:
    if load.cpu_us_per_request is None or load.cores is None:
        return "n/a"
    return f"{load.cpu_us_per_request:.0f} µs ({load.cores:.2f} cores)"


# --- tables ---------------------------------------------------------------------------------


def generation_table(gen: list[GenResult]) -> str:
    rows = [
        [
            r.label,
            f"{r.operations:,}",
            f"{r.best:.2f}",
            ", ".join(f"{s:.2f}" for s in r.runs),
        ]
        for r in gen
    ]
    return md_table(["spec", "operations", "best wall s", "runs (s)"], rows)


def instructions_table(counts: dict[tuple[int, str], float]) -> str:
    """Instructions per request, and the floor's count over each variant's (the throughput a
    CPU-bound process would reach against the floor's, if every instruction cost the same)."""
    rows = []
    for (c, name), count in counts.items():
        floor = counts.get((c, FLOOR))
        share = f"{floor / count:.1%}" if floor and name != FLOOR else ""
        rows.append([str(c), name, f"{count / 1000:.1f}k", share])
    return md_table(["conc.", "path", "instructions / request", "floor ÷ path"], rows)


def rest_table(rest: dict[tuple[int, str], Load]) -> str:
    rows = []
    for c in sorted({c for c, _ in rest}):
        direct, proxy = rest[(c, "direct")], rest[(c, "nginx proxy")]
        floor = rest.get((c, FLOOR))
        for name in TARGETS:
            if (c, name) not in rest:
                continue
            load = rest[(c, name)]
            rows.append(
                [
                    str(c),
                    name,
                    f"{load.rps:,.0f}",
                    _ms(load.p50_ms),
                    _ms(load.p99_ms),
                    _ratio(load.rps, direct.rps),
                    _ratio(load.p50_ms, direct.p50_ms),
                    _ratio(load.p99_ms, direct.p99_ms),
                    f"{load.p50_ms - direct.p50_ms:+.2f}",
                    f"{load.rps / proxy.rps:.0%}" if name in (*ADAPTERS, FLOOR) else "",
                    f"{load.rps / floor.rps:.0%}" if floor and name in ADAPTERS else "",
                    _cpu(load),
                    str(load.errors),
                ]
            )
    headers = [
        "conc.",
        "path",
        "req/s",
        "p50 ms",
        "p99 ms",
        "req/s ÷ direct",
        "p50 ÷ direct",
        "p99 ÷ direct",
        "p50 added ms",
        "÷ nginx proxy",
        "÷ aiohttp floor",
        "front CPU/req",
        "errors",
    ]
    return md_table(headers, rows)


def mcp_table(mcp: dict[tuple[int, str], Load]) -> str:
    rows = []
    for c in sorted({c for c, _ in mcp}):
        peer = mcp[(c, "FastMCP")]
        for name in ("generated", "FastMCP"):
            load = mcp[(c, name)]
            rows.append(
                [
                    str(c),
                    name,
                    f"{load.requests:,}",
                    f"{load.rps:,.0f}",
                    _ms(load.p50_ms),
                    _ms(load.p99_ms),
                    _ratio(load.rps, peer.rps),
                    _ratio(load.p99_ms, peer.p99_ms),
                    _cpu(load),
                    str(load.errors),
                ]
            )
    headers = [
        "conc.",
        "server",
        "calls",
        "calls/s",
        "p50 ms",
        "p99 ms",
        "calls/s ÷ FastMCP",
        "p99 ÷ FastMCP",
        "server CPU/call",
        "errors",
    ]
    return md_table(headers, rows)


def _spread(values: tuple[float, ...]) -> str:
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:.3f} s"
    return f"{median:.3f} s (median; {min(values):.3f}–{max(values):.3f} over {len(values)})"


def footprint_table(results: Results) -> str:
    fp = results.footprint
    assert fp is not None
    rows = [
        ["start-up to first /_adapter/health 200", _spread(fp.startup_health)],
        ["start-up to first MCP tools/call result", _spread(fp.startup_mcp)],
        ["RSS idle (after start-up + 1 call each)", _mem(fp.idle_kib)],
        ["RSS idle of `rest` (REST only, after start-up + 1 call)", _mem(fp.rest_only_idle_kib)],
        [
            "RSS peak under load (sampled / VmHWM)",
            f"{_mem(fp.load_peak_kib)} / {_mem(fp.peak_hwm_kib)}",
        ],
        ["RSS after load (+1 s)", _mem(fp.after_load_kib)],
        *(
            [["RSS of only importing the package", _mem(results.import_rss_kib)]]
            if results.import_rss_kib
            else []
        ),
        [
            "load while sampling",
            f"REST c=64 {fp.rest_load.rps:,.0f} req/s ({fp.rest_load.errors} errors) + "
            f"MCP c=16 {fp.mcp_load.rps:,.0f} calls/s ({fp.mcp_load.errors} errors)",
        ],
    ]
    return md_table(["measure (python -m interactive_brokers serve)", "value"], rows)


# --- targets --------------------------------------------------------------------------------


def verdicts(results: Results) -> list[Verdict]:
    out: list[Verdict] = []
    if results.gen:
        by_ops = {r.operations: r for r in results.gen if r.label.startswith("synthetic")}
        seed = next(r for r in results.gen if r.label == "seed spec")
        out.append(Verdict("generation: seed spec < 1 s", f"{seed.best:.2f} s", seed.best < 1))
        if 1000 in by_ops:
            t = by_ops[1000].best
            out.append(Verdict("generation: 1,000 ops < 15 s", f"{t:.2f} s", t < 15))
        if 1000 in by_ops and 100 in by_ops:
            ratio = by_ops[1000].best / by_ops[100].best
            out.append(
                Verdict("generation: time(1000)/time(100) ≤ 12", f"{ratio:.1f}", ratio <= 12)
            )
    if results.rest:
        for c in sorted({c for c, _ in results.rest}):
            proxy = results.rest[(c, "nginx proxy")]
            for name in ADAPTERS:
                if (c, name) not in results.rest:
                    continue
                share = results.rest[(c, name)].rps / proxy.rps
                out.append(
                    Verdict(
                        f"REST c={c}: {name} ≥ 35% of nginx proxy req/s",
                        f"{share:.0%}",
                        share >= 0.35,
                    )
                )
        for c in sorted({c for c, _ in results.rest}):
            floor = results.rest.get((c, FLOOR))
            for name in ADAPTERS:
                if floor is None or (c, name) not in results.rest:
                    continue
                share = results.rest[(c, name)].rps / floor.rps
                out.append(
                    Verdict(
                        f"REST c={c}: {name} ≥ 90% of aiohttp floor req/s",
                        f"{share:.0%}",
                        share >= 0.9,
                    )
                )
        if (1, "adapter") in results.rest:
            added = results.rest[(1, "adapter")].p50_ms - results.rest[(1, "direct")].p50_ms
            out.append(
                Verdict("REST c=1: p50 added latency ≤ 1 ms", f"{added:+.2f} ms", added <= 1)
            )
            out.append(
                Verdict("REST c=1: p50 added latency ≤ 0.3 ms", f"{added:+.2f} ms", added <= 0.3)
            )
    if results.mcp:
        for c in sorted({c for c, _ in results.mcp}):
            ours, peer = results.mcp[(c, "generated")], results.mcp[(c, "FastMCP")]
            speed = ours.rps / peer.rps
            out.append(Verdict(f"MCP c={c}: ≥ 1.5× FastMCP calls/s", f"{speed:.2f}×", speed >= 1.5))
            out.append(
                Verdict(
                    f"MCP c={c}: p99 lower than FastMCP",
                    f"{ours.p99_ms:.2f} vs {peer.p99_ms:.2f} ms",
                    ours.p99_ms < peer.p99_ms,
                )
            )
    if results.footprint:
        fp = results.footprint
        idle = fp.idle_kib * 1024 / MB
        out.append(Verdict("footprint: RSS idle < 80 MB", _mem(fp.idle_kib), idle < 80))
        rest_only = fp.rest_only_idle_kib * 1024 / MB
        out.append(
            Verdict(
                "footprint: REST-only RSS idle ≤ 55 MB",
                _mem(fp.rest_only_idle_kib),
                rest_only <= 55,
            )
        )
        start = statistics.median(fp.startup_health)
        out.append(Verdict("footprint: start-up < 1 s (median)", f"{start:.3f} s", start < 1))
    return out


def verdict_table(items: list[Verdict]) -> str:
    return md_table(
        ["target", "measured", "status"], [[v.target, v.measured, v.status] for v in items]
    )


# --- context --------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    debian = Path("/etc/debian_version")
    return {
        "CPU": f"{cpu}, {os.cpu_count()} logical cores",
        "memory": mem,
        "OS": f"{platform.system()} {platform.release()}"
        + (f", Debian {debian.read_text().strip()}" if debian.exists() else ""),
    }


def local_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("naftiko-gen", "black", "jsonschema", "jinja2", "aiohttp", "mcp", "uvicorn"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def git_revision(repo: Path) -> str:
    """HEAD and whether the tree differs from it (read-only: no index refresh)."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{head}" + (" (with uncommitted changes)" if dirty else "")


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min)"


# --- the document ---------------------------------------------------------------------------


def sections(results: Results) -> list[tuple[str, str]]:
    """(title, body) of each section that ran, then skipped ones."""
    out: list[tuple[str, str]] = []
    items = verdicts(results)
    out.append(("Targets", verdict_table(items) if items else "(nothing measured)"))
    if results.gen:
        by_ops = {r.operations: r for r in results.gen if r.label.startswith("synthetic")}
        body = generation_table(results.gen)
        if 1000 in by_ops and 100 in by_ops:
            body += f"\n\ntime(1000)/time(100) = {by_ops[1000].best / by_ops[100].best:.1f}"
        out.append(("1. Generation: `naftiko-gen build`, whole process", body))
    for label, profile in results.gen_profiles.items():
        title = f"1b. Generation profile: {label} (cProfile, in process)"
        out.append((title, f"```\n{profile}\n```"))
    if results.rest:
        out.append((f"2. REST adapter overhead ({results.rest_driver})", rest_table(results.rest)))
    if results.rest_profile:
        title = "2b. REST profile: where a request's CPU goes, adapter vs aiohttp floor (py-spy)"
        out.append((title, results.rest_profile))
    if results.rest_instructions:
        title = "2c. REST instructions per request (callgrind, `instructions_rest.py`)"
        body = (
            "`GET /iserver/accounts` after a warm-up, the whole server process (not the kernel); "
            "about ±1% run to run, where wall-clock ratios here move by 10-30%.\n\n"
            + instructions_table(results.rest_instructions)
        )
        out.append((title, body))
    if results.mcp:
        out.append(("3. MCP tools/call getaccounts: generated vs FastMCP", mcp_table(results.mcp)))
    if results.footprint:
        out.append(("4. Footprint", footprint_table(results)))
    if results.imports:
        rows = [[name, f"{seconds:.3f}"] for name, seconds in results.imports]
        body = md_table(["top-level package", "import s (own time)"], rows)
        out.append(("4b. Start-up: import time by package (python -X importtime)", body))
    if results.import_rss:
        rows = [[name, _mem(kib)] for name, kib in results.import_rss]
        rows.append(["total", _mem(sum(kib for _, kib in results.import_rss))])
        body = md_table(["import (in this order)", "RSS it adds"], rows)
        out.append(("4c. Idle RSS: what each import adds (VmRSS, one process)", body))
    for name, reason in results.skipped.items():
        out.append((f"{name}: not measured", reason))
    return out


def markdown(results: Results, notes: list[str]) -> str:
    context = {
        **machine(),
        "date": results.started,
        "repository": results.revision,
        "load average before → after": f"{results.load_before} → {results.load_after}",
    }
    parts = [
        "# naftiko-gen benchmarks",
        f"Command: `{results.command}` ({results.mode} mode). Generated by `benchmarks/run.py`; "
        "do not edit by hand.",
        "## Machine",
        md_table(["", ""], [[k, v] for k, v in context.items()]),
        "## Versions",
        md_table(["component", "version"], [[k, v] for k, v in results.versions.items()]),
        "## Settings",
        md_table(["setting", "value"], [[k, v] for k, v in results.settings.items()]),
    ]
    for title, body in sections(results):
        parts += [f"## {title}", body]
    if notes:
        parts += ["## Notes", "\n".join(f"- {note}" for note in notes)]
    return "\n\n".join(parts) + "\n"
