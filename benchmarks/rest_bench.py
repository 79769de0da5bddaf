"""Section 2: REST adapter overhead against the origin directly and against nginx proxy_pass.

Targets, all serving the same bytes (checked before any load):

* ``direct``: the origin nginx, ``GET /v1/api/iserver/accounts``;
* ``adapter``: the generated REST adapter as configured by default (one process),
  ``GET /iserver/accounts``;
* ``adapter ×2``: the same with ``ADAPTER_WORKERS=2`` (two processes on one port, SO_REUSEPORT);
* ``aiohttp floor``: ``aiohttp_floor.py``, the bare aiohttp proxy of the same route (what the
  adapter's libraries cost before any of its features);
* ``nginx proxy``: nginx ``proxy_pass`` (one worker), ``GET /iserver/accounts``.

Per concurrency the three targets run back to back; with several rounds, each cell keeps its
best round.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

from drivers import Load, best, run_loadgen, run_wrk, with_cpu

TARGETS = ("direct", "adapter", "adapter ×2", "aiohttp floor", "nginx proxy")
ADAPTERS = ("adapter", "adapter ×2")
FLOOR = "aiohttp floor"


def urls(origin: int, adapter: int, adapter2: int, floor: int, proxy: int) -> dict[str, str]:
    return {
        "direct": f"http://127.0.0.1:{origin}/v1/api/iserver/accounts",
        "adapter": f"http://127.0.0.1:{adapter}/iserver/accounts",
        "adapter ×2": f"http://127.0.0.1:{adapter2}/iserver/accounts",
        FLOOR: f"http://127.0.0.1:{floor}/iserver/accounts",
        "nginx proxy": f"http://127.0.0.1:{proxy}/iserver/accounts",
    }


def check_same_body(targets: dict[str, str]) -> None:
    """Every target answers 200 with the origin's exact bytes."""
    bodies = {}
    for name, url in targets.items():
        with urllib.request.urlopen(url, timeout=10) as response:
            if response.status != 200:
                raise RuntimeError(f"{name}: {url} answered {response.status}")
            bodies[name] = response.read()
    if len(set(bodies.values())) != 1:
        raise RuntimeError(f"targets disagree: { {k: v[:80] for k, v in bodies.items()} }")


def run_rest(
    targets: dict[str, str],
    pgids: dict[str, int],
    wrk: str | None,
    concurrencies: tuple[int, ...],
    seconds: float,
    rounds: int,
    log: Callable[[str], None],
) -> dict[tuple[int, str], Load]:
    """{(concurrency, target): best Load}; *pgids* name each target's front process group."""
    check_same_body(targets)

    def measure(url: str, concurrency: int, duration: float) -> Load:
        if wrk:
            return run_wrk(wrk, url, concurrency, duration)
        # Fallback without wrk: a fixed count sized to roughly the same duration.
        return run_loadgen("get", url, int(800 * duration), concurrency, max_seconds=4 * duration)

    for name, url in targets.items():  # warm-up: connections, caches, lazy imports
        measure(url, 16, 1.0)
        log(f"  warmed up {name}")
    results: dict[tuple[int, str], list[Load]] = {}
    for round_no in range(rounds):
        for concurrency in concurrencies:
            for name in TARGETS:
                url = targets[name]
                load = with_cpu(pgids[name], lambda u=url, c=concurrency: measure(u, c, seconds))
                results.setdefault((concurrency, name), []).append(load)
                log(
                    f"  round {round_no + 1} c={concurrency:<3} {name:<12} {load.rps:9.0f} req/s"
                    f"  p50 {load.p50_ms:.2f} ms  p99 {load.p99_ms:.2f} ms  errors {load.errors}"
                    f"  server CPU {load.cores or 0:.2f} cores"
                )
    return {key: best(loads) for key, loads in results.items()}
