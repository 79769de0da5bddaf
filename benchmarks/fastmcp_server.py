"""The peer for the MCP benchmark: FastMCP's OpenAPI provider over the same upstream.

Runs inside ``benchmarks/.venv-fastmcp`` (FastMCP is never installed into the project's
environment). It reads the generated REST adapter's OpenAPI document, so FastMCP exposes the same
operations (``getaccounts`` ...) as tools, and sends them with an ``httpx2`` client whose base URL
is the upstream itself (``.../v1/api``): no REST adapter in between. Transport settings match the
generated server: Streamable HTTP at ``/mcp``, JSON responses (no SSE), stateless.

    .venv-fastmcp/bin/python fastmcp_server.py OPENAPI_JSON UPSTREAM_BASE_URL PORT
"""

from __future__ import annotations

import argparse
import asyncio
import json

import httpx2
from fastmcp import FastMCP

UPSTREAM_TIMEOUT_SECONDS = 30.0  # the generated adapter's default INTERACTIVE_BROKERS_TIMEOUT


async def serve(openapi_path: str, upstream: str, port: int) -> None:
    with open(openapi_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    async with httpx2.AsyncClient(base_url=upstream, timeout=UPSTREAM_TIMEOUT_SECONDS) as client:
        server = FastMCP.from_openapi(spec, client=client, name="interactive-brokers-fastmcp")
        await server.run_http_async(
            show_banner=False,
            host="127.0.0.1",
            port=port,
            path="/mcp",
            log_level="warning",
            json_response=True,
            stateless_http=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("openapi", help="OpenAPI document (JSON) of the generated REST adapter")
    parser.add_argument("upstream", help="upstream base URL, e.g. http://127.0.0.1:8081/v1/api")
    parser.add_argument("port", type=int, help="port to serve MCP on (127.0.0.1)")
    args = parser.parse_args()
    asyncio.run(serve(args.openapi, args.upstream, args.port))


if __name__ == "__main__":
    main()
