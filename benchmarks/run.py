"""naftiko-gen benchmark harness (issue 7): one command, one table, benchmarks/results.md.

    python benchmarks/run.py [--quick] [--only gen,rest,mcp,footprint] [--keep-workdir]

1. generation: wall time of ``naftiko-gen build`` for the seed spec and synthetic specs of 10,
   100 and 1,000 operations; cProfile of an in-process build when a target is missed;
2. REST adapter overhead: wrk against nginx serving a static file (direct), through the generated
   adapter, and through nginx ``proxy_pass`` (the reference proxy), at concurrency 1, 16, 64;
3. MCP ``tools/call getaccounts``: the generated MCP server against FastMCP's OpenAPI provider on
   the same upstream, same load generator, same protocol revision (2026-07-28);
4. footprint: start-up time and RSS of ``python -m interactive_brokers serve``.

Everything listens on 127.0.0.1; every load is bounded in count or time; every process started
here is stopped on exit, on Ctrl-C and on SIGTERM. Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import instructions_rest
import profile_rest
from drivers import wrk_version
from footprint_bench import import_breakdown, import_rss_kib, import_rss_steps, run_footprint
from gen_bench import profile_build, run_generation, write_synth_specs
from mcp_bench import run_mcp
from procs import Processes
from report import (
    Results,
    git_revision,
    load_average,
    local_versions,
    markdown,
    sections,
    verdicts,
)
from rest_bench import ADAPTERS, FLOOR, run_rest, urls
from services import (
    FASTMCP_REQUIREMENT,
    PACKAGE_DIR,
    REPO,
    ensure_fastmcp_venv,
    peer_versions,
    start_fastmcp,
    start_floor,
    start_generated,
    wait_mcp,
    wait_rest,
)
from upstream import (
    Tools,
    accounts_body,
    ensure_tools,
    nginx_version,
    start_origin,
    start_proxy,
)

HERE = Path(__file__).resolve().parent
SEED_SPEC = REPO / "specs" / "interactive-brokers.yaml"
SEED_EXAMPLES = REPO / "specs" / "interactive-brokers.examples.yaml"
SEED_OPERATIONS = 9
EXPECT = "DU1234567"  # the account id in the getaccounts body: every MCP result must carry it
SECTIONS = ("gen", "rest", "mcp", "footprint")
IDLE_RSS_TARGET = 80_000_000  # bytes
NAGLE_MS = (35.0, 50.0)
PROFILE_CONCURRENCY = 16  # p50 band of a Nagle + delayed-ACK stall on Linux loopback
INSTRUCTION_CONCURRENCIES = (16, 64)


@dataclass(frozen=True)
class Plan:
    seed_runs: int
    synth_runs: dict[int, int]  # operations -> builds
    profile_ops: int  # synthetic size profiled when the 1,000-operation targets are missed
    rest_seconds: float
    rest_rounds: int
    concurrencies: tuple[int, ...]
    profile_seconds: int  # py-spy sampling of the adapter and the floor on a REST miss
    instruction_requests: int  # per callgrind measurement (instructions per request)
    mcp_plan: tuple[tuple[int, int], ...]  # (concurrency, calls)
    mcp_rounds: int
    startup_runs: int
    load_seconds: float


FULL = Plan(
    seed_runs=3,
    synth_runs={10: 3, 100: 3, 1000: 2},
    profile_ops=1000,
    rest_seconds=5.0,
    rest_rounds=2,
    concurrencies=(1, 16, 64),
    profile_seconds=8,
    instruction_requests=2000,
    mcp_plan=((1, 500), (16, 3000)),
    mcp_rounds=3,
    startup_runs=3,
    load_seconds=5.0,
)
QUICK = Plan(
    seed_runs=1,
    synth_runs={10: 1, 100: 1, 1000: 1},
    profile_ops=100,
    rest_seconds=2.0,
    rest_rounds=1,
    concurrencies=(1, 16, 64),
    profile_seconds=3,
    instruction_requests=500,
    mcp_plan=((1, 150), (16, 800)),
    mcp_rounds=1,
    startup_runs=1,
    load_seconds=3.0,
)

_T0 = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def _stop_on_signal(signum: int, frame: FrameType | None) -> None:
    log(f"{signal.Signals(signum).name}: stopping every process started here")
    raise SystemExit(128 + signum)  # unwinds through Processes.__exit__: children are stopped


def describe(plan: Plan) -> dict[str, str]:
    rest = "wrk (loadgen.py GET if wrk is unavailable), keep-alive, closed loop"
    return {
        "generation": f"cold builds (NAFTIKO_GEN_CACHE=off); seed ×{plan.seed_runs}, "
        + ", ".join(f"{n:,} ops ×{k}" for n, k in plan.synth_runs.items())
        + "; best run counts",
        "REST": f"{rest}; {plan.rest_seconds:g} s per cell, concurrency "
        f"{', '.join(map(str, plan.concurrencies))}; best of {plan.rest_rounds} round(s)",
        "MCP": "loadgen.py, 2026-07-28 tools/call over keep-alive aiohttp; "
        + ", ".join(f"{n:,} calls at c={c}" for c, n in plan.mcp_plan)
        + f"; best of {plan.mcp_rounds} round(s), server order alternating",
        "footprint": f"start-up ×{plan.startup_runs}; RSS under {plan.load_seconds:g} s of "
        "REST c=64 + MCP c=16 load",
    }


def generation(results: Results, plan: Plan, workdir: Path) -> None:
    log("1. generation")
    results.gen = run_generation(
        SEED_SPEC, SEED_OPERATIONS, plan.seed_runs, plan.synth_runs, workdir, log
    )
    missed = {v.target for v in verdicts(results) if not v.ok}
    if any("seed" in target for target in missed):
        log("  seed target missed: profiling the seed spec's build")
        results.gen_profiles["seed spec"] = profile_build(SEED_SPEC, workdir)
    if any("1,000" in target or "time(1000)" in target for target in missed):
        label = f"synthetic {plan.profile_ops:,}-operation spec"
        log(f"  1,000-operation target missed: profiling the {label}'s build")
        spec = write_synth_specs(workdir, (plan.profile_ops,))[plan.profile_ops]
        results.gen_profiles[label] = profile_build(spec, workdir)


def servers(results: Results, plan: Plan, only: set[str], procs: Processes, workdir: Path) -> None:
    """Sections 2-4 share one origin nginx; a section that fails is reported, the rest run."""
    tools = ensure_tools()
    if tools.note:
        log(f"  {tools.note}")
    if not tools.nginx:
        for name in sorted(only - {"gen"}):
            results.skipped[name] = f"nginx is not available ({tools.note or 'not installed'})"
        return
    results.versions["nginx"] = nginx_version(tools.nginx)
    if tools.wrk:
        results.versions["wrk"] = wrk_version(tools.wrk)
    origin = start_origin(procs, tools.nginx, workdir, accounts_body(SEED_EXAMPLES))
    log(f"  origin nginx on 127.0.0.1:{origin}")
    steps = {
        "rest": lambda: rest_section(results, plan, procs, workdir, tools, origin),
        "mcp": lambda: mcp_section(results, plan, procs, origin),
        "footprint": lambda: footprint_section(results, plan, procs, tools, origin),
    }
    for name, step in steps.items():
        if name not in only:
            continue
        try:
            step()
        except Exception as exc:  # report it, go on with the next section
            log(f"  {name} failed: {exc}")
            results.skipped[name] = f"failed: {exc}"


def rest_section(
    results: Results, plan: Plan, procs: Processes, workdir: Path, tools: Tools, origin: int
) -> None:
    log("2. REST adapter overhead")
    assert tools.nginx is not None
    adapter = start_generated(procs, "rest", origin, "rest-adapter")
    wait_rest(procs, "rest-adapter", adapter)
    adapter2 = start_generated(procs, "rest", origin, "rest-adapter-x2", ADAPTER_WORKERS="2")
    wait_rest(procs, "rest-adapter-x2", adapter2)
    floor = start_floor(procs, origin, "aiohttp-floor")
    proxy_port = start_proxy(procs, tools.nginx, workdir, origin)
    assert adapter.rest_port and adapter2.rest_port and floor.rest_port
    targets = urls(origin, adapter.rest_port, adapter2.rest_port, floor.rest_port, proxy_port)
    pgids = {
        "direct": procs.get("nginx-origin").pid,
        "adapter": adapter.proc.pid,
        "adapter ×2": adapter2.proc.pid,
        FLOOR: floor.proc.pid,
        "nginx proxy": procs.get("nginx-proxy").pid,
    }
    results.rest_driver = "wrk" if tools.wrk else "loadgen.py, wrk unavailable"
    results.rest = run_rest(
        targets, pgids, tools.wrk, plan.concurrencies, plan.rest_seconds, plan.rest_rounds, log
    )
    missed = any(
        load.rps < 0.35 * results.rest[(c, "nginx proxy")].rps
        for (c, name), load in results.rest.items()
        if name in ADAPTERS
    )
    py_spy = profile_rest.ensure_py_spy(log) if missed and tools.wrk else None
    if py_spy and tools.wrk:
        log(f"  REST target missed: profiling the adapter and the floor ({PROFILE_CONCURRENCY=})")
        results.versions["py-spy"] = profile_rest.py_spy_version(py_spy)
        try:
            profiles = {
                name: profile_rest.profile(
                    py_spy,
                    tools.wrk,
                    pgids[name],
                    targets[name],
                    PROFILE_CONCURRENCY,
                    plan.profile_seconds,
                    workdir,
                )
                for name in ("adapter", FLOOR)
            }
        except RuntimeError as exc:  # e.g. no ptrace permission: the tables still stand
            log(f"  profile failed: {exc}")
            results.rest_profile = f"not measured: {exc}"
        else:
            results.rest_profile = profile_rest.report(profiles, PROFILE_CONCURRENCY)
    for proc in (adapter.proc, adapter2.proc, floor.proc, procs.get("nginx-proxy")):
        procs.stop(proc)
    instructions(results, plan, procs, workdir, origin)


def instructions(
    results: Results, plan: Plan, procs: Processes, workdir: Path, origin: int
) -> None:
    """Instructions per request of the adapter and the floor under callgrind: the steady figure
    beside the wall-clock ratios, which move by 10-30% between runs of the same code here."""
    if not instructions_rest.available():
        results.skipped["2c. REST instructions per request"] = "valgrind/callgrind_control missing"
        return
    log(f"  instructions per request (callgrind, {plan.instruction_requests} requests each)")
    variants = {  # name in the table -> instructions_rest variant
        FLOOR: "floor",
        "adapter": str(PACKAGE_DIR),
        "adapter, access log off": f"{PACKAGE_DIR}:ADAPTER_ACCESS_LOG=false",
    }
    for c in INSTRUCTION_CONCURRENCIES:
        for name, variant in variants.items():
            count = instructions_rest.measure(
                procs, workdir, origin, variant, plan.instruction_requests, c
            )
            results.rest_instructions[(c, name)] = count
            log(f"    c={c:<3} {name:24} {count / 1000:.1f}k")


def mcp_section(results: Results, plan: Plan, procs: Processes, origin: int) -> None:
    log("3. MCP tools/call: generated vs FastMCP")
    python = ensure_fastmcp_venv(log)
    for name, version in peer_versions(python).items():
        results.versions[f"{name} (FastMCP venv)"] = version
    ours = start_generated(procs, "mcp", origin, "mcp-generated")
    peer = start_fastmcp(procs, python, origin, "mcp-fastmcp")
    wait_mcp(procs, "mcp-generated", ours)
    wait_mcp(procs, "mcp-fastmcp", peer)
    assert ours.mcp_port is not None and peer.mcp_port is not None
    ports = {"generated": ours.mcp_port, "FastMCP": peer.mcp_port}
    pgids = {"generated": ours.proc.pid, "FastMCP": peer.proc.pid}
    results.mcp = run_mcp(ports, pgids, plan.mcp_plan, plan.mcp_rounds, EXPECT, log)
    procs.stop(ours.proc)
    procs.stop(peer.proc)


def footprint_section(
    results: Results, plan: Plan, procs: Processes, tools: Tools, origin: int
) -> None:
    log("4. footprint")
    results.footprint = run_footprint(
        procs, origin, plan.startup_runs, plan.load_seconds, tools.wrk, log
    )
    if statistics.median(results.footprint.startup_health) >= 1.0:
        results.imports = import_breakdown()
    if results.footprint.idle_kib * 1024 >= IDLE_RSS_TARGET:
        results.import_rss_kib = import_rss_kib()
        results.import_rss = import_rss_steps()


def notes(results: Results, plan: Plan, quick: bool) -> list[str]:
    out = [
        "Ratios compare systems measured side by side in this run. Each cell is the best of its "
        "rounds (noise on a shared machine only slows runs down); rounds interleave the systems.",
        "Load generators (wrk, loadgen.py) run on the same 2 cores as the servers under test.",
    ]
    if results.rest:
        out.append(
            "REST: origin and reference proxy are each one nginx worker (access log off). "
            "'adapter' is the generated package as configured by default: one process, access "
            "log on (plain format, to a file), uvloop when installed (ADAPTER_EVENT_LOOP=auto). "
            "'adapter ×2' is the same with ADAPTER_WORKERS=2: two processes, each with its own "
            "SO_REUSEPORT socket on the port. 'aiohttp floor' is benchmarks/aiohttp_floor.py: "
            "one aiohttp route proxied with one pooled ClientSession, same event loop, and "
            "nothing else (no access log, middleware, input checks, request id, error mapping "
            "or timeout): what the adapter's libraries cost before its features. "
            "'front CPU/req' is the CPU time of the process "
            "group in front (origin nginx / adapter processes / proxy nginx) per request; "
            "1.00 cores = one core saturated."
        )
        for c in plan.concurrencies:
            proxy, floor = results.rest[(c, "nginx proxy")], results.rest[(c, FLOOR)]
            for name in ADAPTERS:
                adapter = results.rest[(c, name)]
                if adapter.rps / proxy.rps >= 0.35:
                    continue
                cpu = adapter.cpu_us_per_request or 0
                out.append(
                    f"MISSED REST c={c} ({name}): {adapter.rps / proxy.rps:.0%} of nginx proxy. "
                    f"It spends {cpu:.0f} µs CPU per request against "
                    f"{proxy.cpu_us_per_request or 0:.0f} µs for nginx, so a process with a whole "
                    f"core to itself tops out near {1e6 / cpu if cpu else 0:,.0f} req/s; here "
                    f"it got {adapter.cores or 0:.2f} cores (the rest went to wrk, nginx and "
                    "anything else running on the 2 cores). The aiohttp floor, one process "
                    f"with none of the adapter's features, reaches {floor.rps / proxy.rps:.0%} "
                    f"of nginx ({floor.cpu_us_per_request or 0:.0f} µs per request)."
                )
        if results.rest_profile.startswith("wrk"):
            out.append(
                "Section 2b charges each py-spy sample to a component; the difference column is "
                "what the generated code costs over the floor, the floor column what aiohttp's "
                "server and client and the kernel's loopback TCP cost."
            )
    if results.mcp:
        out.append(
            f"MCP: both servers serve Streamable HTTP at /mcp with JSON responses, stateless. "
            f"FastMCP ({FASTMCP_REQUIREMENT}, own venv benchmarks/.venv-fastmcp) is "
            "FastMCP.from_openapi(openapi.json of the generated adapter, "
            "client=httpx2.AsyncClient(base_url=<origin>/v1/api, timeout=30)): it calls the "
            "origin directly, as the generated MCP server does. Every call is checked "
            "(HTTP 200, JSON-RPC result, isError false, the account id in the result)."
        )
        for c, _ in plan.mcp_plan:
            ours, peer = results.mcp[(c, "generated")], results.mcp[(c, "FastMCP")]
            if ours.rps / peer.rps < 1.5 or ours.p99_ms >= peer.p99_ms:
                out.append(
                    f"MISSED MCP c={c}: {ours.rps / peer.rps:.2f}× FastMCP's calls/s, p99 "
                    f"{ours.p99_ms:.2f} vs {peer.p99_ms:.2f} ms; server CPU per call "
                    f"{ours.cpu_us_per_request or 0:.0f} µs vs {peer.cpu_us_per_request or 0:.0f}"
                    " µs."
                )
        ours = results.mcp.get((1, "generated"))
        if ours and NAGLE_MS[0] <= ours.p50_ms <= NAGLE_MS[1] and (ours.cores or 0) < 0.2:
            out.append(
                f"The generated MCP server answers in {ours.p50_ms:.0f} ms at concurrency 1 while "
                f"nearly idle ({ours.cores or 0:.2f} cores): the signature of Nagle's algorithm "
                "meeting delayed ACKs (~40 ms). serve.py binds the MCP socket as "
                "socket(family, SOCK_STREAM) (proto 0), so asyncio does not set TCP_NODELAY on "
                "accepted connections and uvicorn does not either (aiohttp, on the REST port, "
                "does). Creating the socket with IPPROTO_TCP, or setting TCP_NODELAY, removes it."
            )
    for label, profile in results.gen_profiles.items():
        lines = profile.splitlines()
        summary = "; ".join(ln for ln in lines if ln.startswith(("import ", "stages:")))
        out.append(f"MISSED generation ({label}, profile in section 1b): {summary}.")
    if results.gen_profiles and quick:
        out.append("Quick mode profiles the 100-operation spec instead of the 1,000 one.")
    if results.footprint and results.imports:
        top = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in results.imports[:4])
        out.append(
            "MISSED start-up: most of it is importing the package's dependencies before any "
            f"socket is bound (section 4b; own import time: {top})."
        )
    if results.footprint and results.import_rss_kib:
        share = results.import_rss_kib / results.footprint.idle_kib
        out.append(
            f"MISSED idle RSS: importing the package alone (no socket, no request) peaks at "
            f"{results.import_rss_kib * 1024 / 1e6:.1f} MB, {share:.0%} of the idle figure: the "
            "memory is the dependencies (the MCP SDK and mcp_types with models for both protocol "
            "revisions, pydantic, aiohttp, uvicorn/starlette, jsonschema), not the adapter's state."
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer repeats")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}"
    )
    parser.add_argument("--keep-workdir", action="store_true", help="keep logs and configs")
    args = parser.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if not only <= set(SECTIONS):
        parser.error(f"--only takes {', '.join(SECTIONS)}")
    plan = QUICK if args.quick else FULL
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop_on_signal)
    # Ctrl-C raises KeyboardInterrupt even when started from a shell that ignores SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    command = "python benchmarks/run.py" + (" --quick" if args.quick else "")
    if only != set(SECTIONS):
        command += f" --only {','.join(s for s in SECTIONS if s in only)}"
    results = Results(
        mode="quick" if args.quick else "full",
        command=command,
        started=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        revision=git_revision(REPO),
        load_before=load_average(),
        versions=local_versions(),
        settings=describe(plan),
    )
    workdir = Path(tempfile.mkdtemp(prefix="naftiko-bench-"))
    log(f"work directory {workdir} ({results.mode} mode)")
    try:
        with Processes(workdir) as procs:
            if "gen" in only:
                generation(results, plan, workdir)
            if only - {"gen"}:
                servers(results, plan, only, procs, workdir)
    except KeyboardInterrupt:
        log("interrupted: every process started here has been stopped")
        return 130
    finally:
        if args.keep_workdir:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results.load_after = load_average()

    run_notes = notes(results, plan, args.quick)
    document = markdown(results, run_notes)
    (HERE / "results.md").write_text(document, encoding="utf-8")
    for title, body in sections(results):
        print(f"\n## {title}\n\n{body}")
    print("\n## Notes\n\n" + "\n".join(f"- {note}" for note in run_notes))
    print(f"\nwritten: {(HERE / 'results.md').relative_to(REPO)}  (command: {command})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
