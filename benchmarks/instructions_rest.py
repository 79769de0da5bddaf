"""Instructions per proxied REST request (callgrind), for comparisons that the box's load cannot blur.

Each server runs under ``valgrind --tool=callgrind`` with instrumentation off; after a warm-up,
instrumentation is switched on for ``-n`` requests of ``GET /iserver/accounts`` (``loadgen.py``, its
own process, at ``-c`` concurrency), then off, and the process's instruction count (every thread;
not the kernel's: system calls count as the instructions that make them) is divided by the requests.
Run to run the figure moves by about 1% (±5k of ~530k: hash seeds, timer order), where CPU time on
a shared 2-core box moves by tens of percent. Valgrind runs the server ~50× slower and one thread at
a time, so whatever depends on timing (batching, a thread's wake-ups) is not measured as in a real run.

    python benchmarks/instructions_rest.py floor generated/interactive_brokers \\
        generated/interactive_brokers:ADAPTER_ACCESS_LOG=false [-n 1000] [-c 16]

A variant is ``floor`` (``aiohttp_floor.py``) or the directory of a generated package, optionally
followed by ``:NAME=value,NAME=value`` settings.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from procs import Processes, free_port, http_status
from services import generated_env, upstream_url
from upstream import accounts_body, ensure_tools, start_origin

HERE = Path(__file__).resolve().parent
READY_SECONDS = 120.0  # start-up under valgrind is slow


def available() -> bool:
    """Whether callgrind can be used here."""
    return bool(shutil.which("valgrind") and shutil.which("callgrind_control"))


def measure(procs: Processes, workdir: Path, origin: int, variant: str, n: int, c: int) -> float:
    """Instructions per request of one variant."""
    port = free_port()
    out = workdir / f"callgrind.{port}.out"
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    if variant == "floor":
        argv = [sys.executable, str(HERE / "aiohttp_floor.py"), upstream_url(origin), str(port)]
        env, cwd, probe = None, HERE, "/iserver/accounts"
    else:
        directory, _, settings = variant.partition(":")
        extra = dict(item.split("=", 1) for item in settings.split(",") if item)
        argv = [sys.executable, "-m", "interactive_brokers", "rest", "--port", str(port)]
        env, cwd, probe = {**generated_env(origin), **extra}, Path(directory), "/_adapter/health"
    proc = procs.start(f"callgrind-{port}", valgrind + argv, env=env, cwd=cwd)
    deadline = time.monotonic() + READY_SECONDS
    while http_status(port, probe, timeout=5) != 200:
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"{variant} did not start under valgrind")
        time.sleep(0.2)
    url = f"http://127.0.0.1:{port}/iserver/accounts"
    loadgen = [sys.executable, str(HERE / "loadgen.py"), "get", url, "-c", str(c)]
    subprocess.run([*loadgen, "-n", "200", "--warmup", "50"], capture_output=True, check=True)

    def control(*flags: str) -> None:
        subprocess.run(
            ["callgrind_control", *flags, str(proc.pid)], capture_output=True, check=True
        )

    control("-i", "on")
    subprocess.run([*loadgen, "-n", str(n), "--warmup", "0"], capture_output=True, check=True)
    control("-i", "off")
    control("-d")
    procs.stop(proc)
    totals = [
        int(match.group(1))
        for dump in workdir.glob(f"{out.name}*")
        if (match := re.search(r"^totals: (\d+)", dump.read_text(errors="replace"), re.M))
    ]
    return max(totals, default=0) / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", help="floor | DIR[:NAME=value,...]")
    parser.add_argument("-n", "--requests", type=int, default=1000)
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    tools = ensure_tools()
    if not (tools.nginx and available()):
        print("needs nginx and valgrind (callgrind_control)", file=sys.stderr)
        return 1
    examples = HERE.parent / "specs" / "interactive-brokers.examples.yaml"
    with tempfile.TemporaryDirectory(prefix="naftiko-ir-") as tmp, Processes(Path(tmp)) as procs:
        origin = start_origin(procs, tools.nginx, Path(tmp), accounts_body(examples))
        print(
            f"| variant | instructions per request ({args.requests} requests, c={args.concurrency}) |"
        )
        print("|---|---|")
        for variant in args.variants:
            ir = measure(procs, Path(tmp), origin, variant, args.requests, args.concurrency)
            print(f"| {variant} | {ir / 1000:.1f}k |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
