"""Section 4: start-up time and memory of ``python -m interactive_brokers serve`` (and the idle
memory of ``python -m interactive_brokers rest``, which never loads the MCP SDK).

Start-up is measured from just before the process is started to the first 200 from
``/_adapter/health`` (and, for information, to the first successful MCP ``tools/call``). RSS is
read from /proc: idle (1 s after start-up and one call of each kind), and sampled every 100 ms
while wrk loads the REST route and ``loadgen.py`` loads the MCP tool at the same time.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from drivers import Load, run_loadgen, run_wrk
from procs import Processes, rss_kib
from services import PACKAGE_DIR, start_generated, wait_mcp, wait_rest

SAMPLE_SECONDS = 0.1


@dataclass(frozen=True)
class Footprint:
    startup_health: tuple[float, ...]
    startup_mcp: tuple[float, ...]
    idle_kib: int
    load_peak_kib: int
    peak_hwm_kib: int
    after_load_kib: int
    rest_load: Load
    mcp_load: Load
    rest_only_idle_kib: int  # ``python -m interactive_brokers rest``: the MCP SDK never loaded


def run_footprint(
    procs: Processes,
    origin_port: int,
    runs: int,
    load_seconds: float,
    wrk: str | None,
    log: Callable[[str], None],
) -> Footprint:
    health: list[float] = []
    first_call: list[float] = []
    for run_no in range(runs):
        name = f"serve-{run_no + 1}"
        service = start_generated(procs, "serve", origin_port, name)
        health.append(wait_rest(procs, name, service))
        first_call.append(wait_mcp(procs, name, service))
        log(
            f"  start-up {run_no + 1}: health {health[-1]:.3f} s, first MCP call {first_call[-1]:.3f} s"
        )
        if run_no < runs - 1:
            procs.stop(service.proc)
    pid = service.proc.pid
    rest_url = f"http://127.0.0.1:{service.rest_port}/iserver/accounts"
    mcp_url = f"http://127.0.0.1:{service.mcp_port}/mcp"
    run_loadgen("get", rest_url, 1, 1)  # one REST call; wait_mcp already made one MCP call
    time.sleep(1.0)
    idle, _ = rss_kib(pid)
    samples = [idle]
    with ThreadPoolExecutor(max_workers=2) as pool:
        if wrk:
            rest = pool.submit(run_wrk, wrk, rest_url, 64, load_seconds)
        else:
            rest = pool.submit(run_loadgen, "get", rest_url, int(500 * load_seconds), 64)
        mcp = pool.submit(
            run_loadgen, "mcp", mcp_url, int(150 * load_seconds), 16, max_seconds=3 * load_seconds
        )
        while not (rest.done() and mcp.done()):
            samples.append(rss_kib(pid)[0])
            time.sleep(SAMPLE_SECONDS)
        rest_load, mcp_load = rest.result(), mcp.result()
    time.sleep(1.0)
    after, hwm = rss_kib(pid)
    procs.stop(service.proc)
    log(f"  RSS idle {idle / 1024:.1f} MiB, peak under load {max(samples) / 1024:.1f} MiB")
    rest_only = start_generated(procs, "rest", origin_port, "rest-only")
    wait_rest(procs, "rest-only", rest_only)
    run_loadgen("get", f"http://127.0.0.1:{rest_only.rest_port}/iserver/accounts", 1, 1)
    time.sleep(1.0)
    rest_only_idle, _ = rss_kib(rest_only.proc.pid)
    procs.stop(rest_only.proc)
    log(f"  REST-only RSS idle {rest_only_idle / 1024:.1f} MiB")
    return Footprint(
        startup_health=tuple(health),
        startup_mcp=tuple(first_call),
        idle_kib=idle,
        load_peak_kib=max(samples),
        peak_hwm_kib=hwm,
        after_load_kib=after,
        rest_load=rest_load,
        mcp_load=mcp_load,
        rest_only_idle_kib=rest_only_idle,
    )


# What `python -m interactive_brokers serve` imports; uvloop only where it is installed.
SERVE_MODULES = "interactive_brokers.__main__, interactive_brokers.mcp_server" + (
    ", uvloop" if importlib.util.find_spec("uvloop") else ""
)


def import_breakdown(top: int = 8) -> list[tuple[str, float]]:
    """Seconds spent importing each top-level package when ``serve`` starts (the MCP SDK is
    imported when the MCP server starts, so its module is imported explicitly)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {SERVE_MODULES}"],
        cwd=PACKAGE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    own: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        # "import time:  self [us] | cumulative | imported package"
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        own[parts[2].strip().split(".")[0]] += int(parts[0]) / 1e6
    return sorted(own.items(), key=lambda item: item[1], reverse=True)[:top]


def import_rss_kib() -> int:
    """Peak RSS (KiB) of a process that only imports what ``serve`` imports (entry point, MCP
    server, and the event loop it picks)."""
    code = (
        f"import resource, {SERVE_MODULES}; "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PACKAGE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(done.stdout.strip())


# What ``serve`` imports, heaviest dependencies first in the order they load; each step's RSS
# growth is charged to it (a module already pulled in by an earlier step adds nothing).
RSS_STEPS = (
    "ssl",
    "asyncio",
    "aiohttp",
    "aiohttp.web",
    "uvloop",
    "pydantic",
    "uvicorn",
    "starlette",
    "jsonschema",
    "mcp_types",
    "mcp.types",
    "mcp.server",
    "interactive_brokers.__main__",
    "interactive_brokers.mcp_server",
)
_RSS_CODE = """
import importlib, importlib.util, json, sys
def rss():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
steps = [("python itself", rss())]
for name in sys.argv[1:]:
    if importlib.util.find_spec(name.split(".")[0]) is None:
        continue
    importlib.import_module(name)
    steps.append((name, rss()))
print(json.dumps(steps))
"""


def import_rss_steps() -> list[tuple[str, int]]:
    """(step, KiB of RSS it adds) for importing what ``serve`` imports, one module at a time."""
    done = subprocess.run(
        [sys.executable, "-c", _RSS_CODE, *RSS_STEPS],
        cwd=PACKAGE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    totals = json.loads(done.stdout)
    return [(totals[0][0], totals[0][1])] + [
        (name, kib - before) for (name, kib), (_, before) in zip(totals[1:], totals, strict=False)
    ]
