"""State shared by every process and replica of these adapters: ``ADAPTER_STATE_URL`` (Redis).

Without a state URL each process keeps its own state: pacing (``*_RATE_LIMIT``) is this process's share of the limit, and each process runs
its own keep-alive and priming calls. With one, every process that shares the URL shares them:
- pacing is one limiter per upstream (GCRA on the store's clock), and requests leave at least one
  interval apart across processes even when a timer fires late;
- keep-alive and priming calls are made by one process per interval (a lease), and the others read
  its verdict.

Every operation is one atomic Lua script or command; a store that cannot be reached raises
StateUnavailable, and each caller decides what that means (pacing
falls back to the per-process share). redis-py is imported only when a state URL is set (the
package's ``redis`` extra).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

STORE_TIMEOUT_SECONDS = 1.0  # a store slower than this counts as down
_PACING_FALLBACK = "pacing falls back to this process's share of the rate limit"
# A timer may fire this much early (the event loop's clock resolution) without a second round trip.
DEPART_TOLERANCE_SECONDS = 0.001
# Hash fields are microseconds on the store's clock (redis TIME): replicas' clocks never meet.
# They are written with '%.0f': a plain integer whatever number formatting a Redis version's Lua uses.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, max_wait, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'next', 'left')
local start = math.max(tonumber(state[1] or '0'), now)
if start - now > max_wait then
  return {0, start - now, 0}
end
redis.call('HSET', KEYS[1], 'next', string.format('%.0f', start + interval))
redis.call('PEXPIRE', KEYS[1], math.ceil((start + interval - now) / 1000) + 60000)
if start == now and tonumber(state[2] or '0') + interval - tolerance <= now then
  redis.call('HSET', KEYS[1], 'left', string.format('%.0f', now))
  return {1, 0, 1}
end
return {1, start - now, 0}
"""
_DEPART = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local gap = tonumber(redis.call('HGET', KEYS[1], 'left') or '0') + tonumber(ARGV[1]) - now
if gap > tonumber(ARGV[2]) then
  return gap
end
redis.call('HSET', KEYS[1], 'left', string.format('%.0f', now))
return 0
"""
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


def _tolerance(interval: float) -> int:
    """Microseconds a request may leave early: a timer's resolution, at most a tenth of *interval*."""
    return round(min(DEPART_TOLERANCE_SECONDS, interval / 10) * 1e6)


class StateUnavailable(Exception):
    """The shared store did not answer in time (or refused the command)."""


class SharedState:
    """The fleet's shared state in Redis; keys live under ``naftiko:<package>:``."""

    def __init__(self, url: str, package: str) -> None:
        self._url = url
        self._prefix = f"naftiko:{package}:"
        self._holder = secrets.token_hex(8)  # this process, as a lease holder
        self._redis: Redis | None = None
        self._scripts: dict[str, Any] = {}  # name -> registered Lua script (EVALSHA)
        self._errors: tuple[type[BaseException], ...] = (OSError, TimeoutError)
        self.up = True  # the last command's verdict
        self._degraded: set[str] = set()  # what has been warned about in this outage

    async def start(self) -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import RedisError

        # One retry: a pooled connection the store closed (it restarted) is replaced at once.
        self._redis = Redis.from_url(
            self._url,
            socket_timeout=STORE_TIMEOUT_SECONDS,
            socket_connect_timeout=STORE_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 1),
        )
        self._errors = (RedisError, OSError, TimeoutError)
        scripts: dict[str, str] = {"reserve": _RESERVE, "depart": _DEPART, "lease": _LEASE}
        self._scripts = {
            name: self._redis.register_script(source) for name, source in scripts.items()
        }
        if not await self.ping():
            log.warning(
                "the shared state store is not reachable yet; the adapters start without it"
            )

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    def _limiter_key(self, limiter: str) -> str:
        # The upstream's base URL is part of the name: hashed, as it may carry a secret.
        return self.key("rate", hashlib.sha256(limiter.encode()).hexdigest()[:24])

    async def _call(self, what: str, command: Callable[[Redis], Awaitable[Any]]) -> Any:
        """Run *command* on the store; raise StateUnavailable if it fails. *what* it means for the
        caller is logged once per outage."""
        if self._redis is None:
            raise StateUnavailable("the shared state store is not started")
        try:
            result = await command(self._redis)
        except self._errors as exc:
            if what not in self._degraded:
                log.warning("shared state store unreachable (%s): %s", type(exc).__name__, what)
                self._degraded.add(what)
            self.up = False
            raise StateUnavailable(
                f"the shared state store is unreachable ({type(exc).__name__})"
            ) from None
        if not self.up:
            log.info("shared state store reachable again")
            self._degraded.clear()
        self.up = True
        return result

    async def _script(self, what: str, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self._call(what, lambda _: self._scripts[name](keys=keys, args=args))

    async def ping(self) -> bool:
        """Whether the store answers now (readiness)."""
        try:
            await self._call("readiness", lambda redis: redis.ping())
        except StateUnavailable:
            return False
        return True

    async def reserve(
        self, limiter: str, interval: float, max_wait: float
    ) -> tuple[bool, float, bool]:
        """Reserve the next slot of *limiter*, which spaces requests *interval* s apart: (granted,
        seconds to wait for it, departed). Not granted when the wait would exceed *max_wait*
        (nothing is reserved then). Departed: the slot is now and the request may leave at once
        (recorded as it would be by ``depart``, so the common case costs one round trip)."""
        args = [round(interval * 1e6), round(max_wait * 1e6), _tolerance(interval)]
        granted, wait, departed = await self._script(
            _PACING_FALLBACK, "reserve", [self._limiter_key(limiter)], args
        )
        return bool(granted), wait / 1e6, bool(departed)

    async def depart(self, limiter: str, interval: float) -> float:
        """Record a request leaving now, unless the one before left less than *interval* s ago
        (less a timer's tolerance): then the seconds to wait before asking again."""
        args = [round(interval * 1e6), _tolerance(interval)]
        return (
            await self._script(_PACING_FALLBACK, "depart", [self._limiter_key(limiter)], args) / 1e6
        )

    async def lease(self, name: str, seconds: float) -> bool:
        """Hold (or renew) the lease *name* for *seconds*: True for the one process that has it."""
        granted = await self._script(
            f"{name} runs in every process",
            "lease",
            [self.key("lease", name)],
            [self._holder, round(seconds * 1000)],
        )
        return bool(granted)

    async def publish(self, name: str, value: Any, seconds: float) -> None:
        """A verdict (JSON) for the other processes, kept *seconds*."""
        document = json.dumps(value)
        await self._call(
            name,
            lambda redis: redis.set(self.key("verdict", name), document, px=round(seconds * 1000)),
        )

    async def verdict(self, name: str) -> Any:
        """The last verdict published under *name*, or None."""
        raw = await self._call(name, lambda redis: redis.get(self.key("verdict", name)))
        return None if raw is None else json.loads(raw)

    async def forget(self, name: str) -> None:
        """Drop a published verdict."""
        await self._call(name, lambda redis: redis.delete(self.key("verdict", name)))
