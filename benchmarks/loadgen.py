"""Bounded closed-loop load generator: a fixed number of requests at a fixed concurrency.

Two kinds of request over one keep-alive ``aiohttp`` session:

* ``mcp``: modern (2026-07-28) MCP ``tools/call`` JSON-RPC POSTs, with the ``MCP-Protocol-Version``,
  ``Mcp-Method`` and ``Mcp-Name`` headers and the per-request ``_meta`` the revision requires. A
  call counts as an error unless it is HTTP 200, a JSON-RPC result, ``isError`` false and (with
  ``--expect``) contains the expected text.
* ``get``: plain ``GET URL`` (the REST fallback when wrk is not installed); non-2xx is an error.

Prints one JSON line: requests, errors, first_error, seconds, rps, p50_ms, p99_ms, timed_out.
Sends only to the URL given (the benchmark passes 127.0.0.1) and stops after ``-n`` requests or
``--max-seconds``, whichever comes first.

    python benchmarks/loadgen.py mcp http://127.0.0.1:9090/mcp --tool getaccounts -n 2000 -c 16
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

PROTOCOL = "2026-07-28"
REQUEST_TIMEOUT_SECONDS = 10.0


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    def fail(self, message: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or message[:300]


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an ascending list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


class McpCall:
    """One tools/call per request; JSON-RPC ids are unique per request."""

    def __init__(self, url: str, tool: str, arguments: dict[str, Any], expect: str) -> None:
        self.url = url
        self.tool = tool
        self.arguments = arguments
        self.expect = expect
        self.ids = itertools.count(1)
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": PROTOCOL,
            "Mcp-Method": "tools/call",
            "Mcp-Name": tool,
        }
        self.meta = {
            "io.modelcontextprotocol/protocolVersion": PROTOCOL,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "naftiko-bench", "version": "1"},
        }

    async def __call__(self, session: aiohttp.ClientSession) -> str | None:
        body = {
            "jsonrpc": "2.0",
            "id": next(self.ids),
            "method": "tools/call",
            "params": {"name": self.tool, "arguments": self.arguments, "_meta": self.meta},
        }
        async with session.post(self.url, data=json.dumps(body), headers=self.headers) as resp:
            text = await resp.text()
            if resp.status != 200:
                return f"HTTP {resp.status}: {text}"
        result = json.loads(text).get("result")
        if not isinstance(result, dict) or result.get("isError"):
            return f"not a successful tool result: {text}"
        if self.expect and self.expect not in text:
            return f"expected {self.expect!r} in: {text}"
        return None


class Get:
    def __init__(self, url: str, expect: str) -> None:
        self.url = url
        self.expect = expect

    async def __call__(self, session: aiohttp.ClientSession) -> str | None:
        async with session.get(self.url) as resp:
            text = await resp.text()
            if not 200 <= resp.status < 300:
                return f"HTTP {resp.status}: {text}"
        if self.expect and self.expect not in text:
            return f"expected {self.expect!r} in: {text}"
        return None


async def drive(request: McpCall | Get, total: int, concurrency: int, tally: Tally) -> None:
    """Send *total* requests with *concurrency* workers over one keep-alive session."""
    remaining = itertools.count(total, -1)  # workers take tickets until none are left
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            while next(remaining) > 0:
                started = time.perf_counter()
                try:
                    problem = await request(session)
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                if problem is None:
                    tally.latencies.append(time.perf_counter() - started)
                else:
                    tally.fail(problem)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.kind == "mcp":
        request: McpCall | Get = McpCall(
            args.url, args.tool, json.loads(args.arguments), args.expect
        )
    else:
        request = Get(args.url, args.expect)
    if args.warmup:
        await asyncio.wait_for(
            drive(request, args.warmup, args.concurrency, Tally()), args.max_seconds
        )
    tally = Tally()
    started = time.perf_counter()
    timed_out = False
    try:
        await asyncio.wait_for(
            drive(request, args.requests, args.concurrency, tally), args.max_seconds
        )
    except TimeoutError:
        timed_out = True
    seconds = time.perf_counter() - started
    latencies = sorted(tally.latencies)
    return {
        "requests": len(latencies),
        "errors": tally.errors,
        "first_error": tally.first_error,
        "seconds": round(seconds, 4),
        "rps": len(latencies) / seconds if seconds else 0.0,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "timed_out": timed_out,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("mcp", "get"))
    parser.add_argument("url")
    parser.add_argument("-n", "--requests", type=int, default=1000, help="measured requests")
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured requests first")
    parser.add_argument("--tool", default="getaccounts", help="MCP tool to call")
    parser.add_argument("--arguments", default="{}", help="MCP tool arguments (JSON object)")
    parser.add_argument("--expect", default="", help="text every response must contain")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="hard stop")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1:
        parser.error("-n and -c must be at least 1")
    print(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
