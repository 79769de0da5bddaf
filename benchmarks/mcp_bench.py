"""Section 3: MCP ``tools/call getaccounts``: the generated MCP server against FastMCP.

Both servers speak Streamable HTTP at ``/mcp`` with JSON responses, stateless, and call the same
origin nginx. The same load generator (``loadgen.py``: modern 2026-07-28 requests over one
keep-alive aiohttp session, fixed count, fixed concurrency) drives both. Within a round the two
servers run back to back, the order alternating per round; each cell keeps its best round.
"""

from __future__ import annotations

from collections.abc import Callable

from drivers import Load, best, run_loadgen, with_cpu

SERVERS = ("generated", "FastMCP")
TOOL = "getaccounts"
WARMUP_CALLS = 200


def run_mcp(
    ports: dict[str, int],
    pgids: dict[str, int],
    plan: tuple[tuple[int, int], ...],
    rounds: int,
    expect: str,
    log: Callable[[str], None],
) -> dict[tuple[int, str], Load]:
    """{(concurrency, server): best Load}; *plan* is ((concurrency, calls), ...)."""
    urls = {server: f"http://127.0.0.1:{ports[server]}/mcp" for server in SERVERS}
    for server, url in urls.items():  # warm-up: connections, lazy imports, caches
        load = run_loadgen("mcp", url, WARMUP_CALLS, 16, expect=expect, tool=TOOL)
        log(f"  warmed up {server}: {load.requests} calls, {load.errors} errors")
    results: dict[tuple[int, str], list[Load]] = {}
    for round_no in range(rounds):
        order = SERVERS if round_no % 2 == 0 else SERVERS[::-1]
        for concurrency, calls in plan:
            for server in order:
                load = with_cpu(
                    pgids[server],
                    lambda u=urls[server], c=concurrency, n=calls: run_loadgen(
                        "mcp", u, n, c, expect=expect, tool=TOOL
                    ),
                )
                results.setdefault((concurrency, server), []).append(load)
                log(
                    f"  round {round_no + 1} c={concurrency:<3} {server:<10} {load.rps:7.0f} calls/s"
                    f"  p50 {load.p50_ms:.2f} ms  p99 {load.p99_ms:.2f} ms  errors {load.errors}"
                    f"  server CPU {load.cpu_us_per_request or 0:.0f} us/call"
                    + (f"  ({load.first_error[:120]})" if load.first_error else "")
                )
    return {key: best(loads) for key, loads in results.items()}
