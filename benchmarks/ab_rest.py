"""A/B of one REST adapter setting: the generated adapter with and without extra environment,
side by side against the same nginx origin, wrk at one concurrency, CPU per request.

    python benchmarks/ab_rest.py ADAPTER_ACCESS_LOG=false [--rounds 3] [--seconds 4] [-c 16]

Each round runs A (default settings) then B (the given settings); the table shows every round and the
mean, so the difference can be read against the round-to-round noise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from drivers import Load, run_wrk, with_cpu
from procs import Processes
from services import start_generated, wait_rest
from upstream import accounts_body, ensure_tools, start_origin

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+", help="NAME=value for variant B")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.settings)
    tools = ensure_tools()
    if not (tools.nginx and tools.wrk):
        print(f"needs nginx and wrk ({tools.note})", file=sys.stderr)
        return 1
    examples = HERE.parent / "specs" / "interactive-brokers.examples.yaml"
    loads: dict[str, list[Load]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory(prefix="naftiko-ab-") as tmp, Processes(Path(tmp)) as procs:
        origin = start_origin(procs, tools.nginx, Path(tmp), accounts_body(examples))
        for round_no in range(args.rounds):
            for name, env in (("A", {}), ("B", extra)):
                service = start_generated(procs, "rest", origin, f"{name}{round_no}", **env)
                wait_rest(procs, f"{name}{round_no}", service)
                url = f"http://127.0.0.1:{service.rest_port}/iserver/accounts"
                run_wrk(tools.wrk, url, args.concurrency, 1.0)  # warm-up
                load = with_cpu(
                    service.proc.pid,
                    lambda u=url: run_wrk(tools.wrk, u, args.concurrency, args.seconds),
                )
                loads[name].append(load)
                procs.stop(service.proc)
    print(f"B = {' '.join(args.settings)}; wrk c={args.concurrency}, {args.seconds:g} s per run")
    print("| variant | req/s per round | CPU µs/request per round | mean µs/request |")
    print("|---|---|---|---|")
    for name, runs in loads.items():
        cpu = [load.cpu_us_per_request or 0.0 for load in runs]
        rps = ", ".join(f"{load.rps:,.0f}" for load in runs)
        print(
            f"| {name} | {rps} | {', '.join(f'{c:.0f}' for c in cpu)} | {statistics.mean(cpu):.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
