"""The aiohttp floor: the smallest proxy that can be built from the generated adapter's libraries.

One aiohttp route, ``GET /iserver/accounts``, forwarded with one pooled keep-alive
``aiohttp.ClientSession`` to the origin; the upstream bytes and content type go back untouched.
Same event loop as the adapter (uvloop when installed), no access log, no middleware, no input
checks, no request id, no error mapping, no timeout. What the adapter costs above this is what the
generated code adds; what this costs is what aiohttp (server + client) costs per request.

    python benchmarks/aiohttp_floor.py ORIGIN_BASE_URL PORT
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM: web.AppKey[str] = web.AppKey("upstream", str)


async def accounts(request: web.Request) -> web.Response:
    url = request.app[UPSTREAM] + "/iserver/accounts"
    async with request.app[SESSION].get(url) as response:
        body = await response.read()
        content_type = response.headers.get("Content-Type", "application/octet-stream")
        return web.Response(
            status=response.status, body=body, headers={"Content-Type": content_type}
        )


async def session(app: web.Application) -> AsyncIterator[None]:
    app[SESSION] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
    yield
    await app[SESSION].close()


def main() -> None:
    upstream, port = sys.argv[1], int(sys.argv[2])
    try:
        import uvloop  # optional, as in the adapter
    except ImportError:
        pass
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")
    app.cleanup_ctx.append(session)
    app.router.add_get("/iserver/accounts", accounts)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
