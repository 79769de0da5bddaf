"""What the shared state store costs per call: MCP ``tools/call getaccounts`` with pacing on, in one
process (A: the in-process limiter) against the same process with ``ADAPTER_STATE_URL`` (B: the
fleet's limiter in Redis, two atomic scripts per call), in the same run, against the same nginx
origin and a Redis on loopback.

    python benchmarks/state_bench.py [--rounds 3] [--calls 3000] [-c 16]

The rate limit is set far above what the box can send (100000/s), so no call waits for its slot:
the difference is the price of the store's round trips. Each round runs A then B (order
alternating); the table shows every round and the median. Needs nginx (installed with apt-get
when missing, as root) and redis-server.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis
from drivers import Load, run_loadgen, with_cpu
from procs import Processes, free_port
from services import start_generated
from upstream import accounts_body, ensure_tools, start_origin

HERE = Path(__file__).resolve().parent
PACING = {"INTERACTIVE_BROKERS_RATE_LIMIT": "100000/s", "ADAPTER_CONFIRM": "off"}


def start_redis(procs: Processes) -> int:
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("needs redis-server (Debian: apt-get install redis-server)")
    port = free_port()
    argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    procs.start("redis", argv)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if redis.Redis(port=port).ping():
                return port
        except redis.ConnectionError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def wait_mcp(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            run_loadgen("mcp", f"http://127.0.0.1:{port}/mcp", 1, 1)
            return
        except RuntimeError:
            time.sleep(0.1)
    raise SystemExit("the MCP server did not come up")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    tools = ensure_tools()
    if not tools.nginx:
        print(f"needs nginx ({tools.note})", file=sys.stderr)
        return 1
    examples = HERE.parent / "specs" / "interactive-brokers.examples.yaml"
    loads: dict[str, list[Load]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory(prefix="naftiko-state-") as tmp, Processes(Path(tmp)) as procs:
        origin = start_origin(procs, tools.nginx, Path(tmp), accounts_body(examples))
        store = start_redis(procs)
        variants = {
            "A": PACING,
            "B": {**PACING, "ADAPTER_STATE_URL": f"redis://127.0.0.1:{store}/0"},
        }
        for round_no in range(args.rounds):
            order = ("A", "B") if round_no % 2 == 0 else ("B", "A")
            for name in order:
                service = start_generated(
                    procs, "mcp", origin, f"{name}{round_no}", **variants[name]
                )
                assert service.mcp_port is not None
                wait_mcp(service.mcp_port)
                url = f"http://127.0.0.1:{service.mcp_port}/mcp"
                run_loadgen("mcp", url, 300, args.concurrency)  # warm-up
                load = with_cpu(
                    service.proc.pid,
                    lambda u=url: run_loadgen("mcp", u, args.calls, args.concurrency),
                )
                if load.errors:
                    raise SystemExit(f"{name}: {load.errors} errors ({load.first_error})")
                loads[name].append(load)
                procs.stop(service.proc)
    print(
        f"MCP tools/call getaccounts, c={args.concurrency}, {args.calls} calls per run, pacing on;"
        " A = in-process limiter, B = the fleet's limiter in Redis (ADAPTER_STATE_URL)"
    )
    print("| variant | calls/s per round | p50 ms per round | server CPU µs/call per round |")
    print("|---|---|---|---|")
    for name, runs in loads.items():
        rps = ", ".join(f"{load.rps:,.0f}" for load in runs)
        p50 = ", ".join(f"{load.p50_ms:.2f}" for load in runs)
        cpu = ", ".join(f"{load.cpu_us_per_request or 0:.0f}" for load in runs)
        print(f"| {name} | {rps} | {p50} | {cpu} |")
    median = {name: statistics.median(load.rps for load in runs) for name, runs in loads.items()}
    p50s = {name: statistics.median(load.p50_ms for load in runs) for name, runs in loads.items()}
    cpu = {
        name: statistics.median(load.cpu_us_per_request or 0.0 for load in runs)
        for name, runs in loads.items()
    }
    added = median["A"] / median["B"] - 1
    print(
        f"\nmedian: A {median['A']:,.0f} calls/s, B {median['B']:,.0f} calls/s -> the store adds"
        f" {added:.1%} time per call (target < 15%); p50 {p50s['A']:.2f} -> {p50s['B']:.2f} ms;"
        f" server CPU {cpu['A']:.0f} -> {cpu['B']:.0f} µs/call ({cpu['B'] / cpu['A'] - 1:+.1%})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
