"""Configuration from the environment; see the README for the table of variables.

Secrets are read here once and live only in ``Settings.secrets``: they are never logged,
and ``Settings`` does not print them.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .inbound import Guard


class ConfigError(Exception):
    """A missing or malformed environment variable; the message names it."""


@dataclass(frozen=True)
class UpstreamSettings:
    base_url: str
    timeout: float
    verify_tls: bool
    ca_bundle: str | None
    rate_limit: float | None = None  # requests per second
    rate_wait: float = 5.0
    rate_share: float = 1.0  # of rate_limit, when this process paces alone (no shared state)
    keepalive_path: str = ""
    keepalive_method: str = "POST"
    keepalive_interval: float = 60.0
    prime: tuple[tuple[str, str], ...] = ()  # (method, path): called before the first request
    retries: int = 2
    retry_deadline: float = 10.0


@dataclass(frozen=True)
class Settings:
    upstreams: dict[str, UpstreamSettings]
    secrets: dict[str, str] = field(repr=False)
    log_format: str = "plain"
    state_url: str = field(default="", repr=False)  # Redis shared by every process and replica
    event_loop: str = "asyncio"  # asyncio | uvloop
    allowed_hosts: tuple[str, ...] = ()  # besides localhost; also the Origins accepted
    mcp_guard: Guard | None = field(default=None, repr=False)  # what MCP HTTP clients must send


def _number(
    environ: Mapping[str, str], name: str, default: float, *, minimum: float | None = None
) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}")
    if minimum is None and value <= 0:
        raise ConfigError(f"{name} must be greater than 0")
    return value


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _rate(environ: Mapping[str, str], name: str) -> float | None:
    """``10/s``, ``600/min``, ``2/h`` or a bare number (per second) -> requests per second."""
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return None
    count, _, unit = raw.partition("/")
    per = {
        "": 1.0,
        "s": 1.0,
        "sec": 1.0,
        "second": 1.0,
        "m": 60.0,
        "min": 60.0,
        "minute": 60.0,
        "h": 3600.0,
        "hour": 3600.0,
    }
    try:
        rate = float(count) / per[unit.strip()]
    except (ValueError, KeyError):
        raise ConfigError(f"{name} must look like 10/s or 600/min, got {raw!r}") from None
    if rate <= 0:
        raise ConfigError(f"{name} must be positive")
    return rate


def _prime_call(name: str, item: str) -> tuple[str, str]:
    """One priming call: ``GET /iserver/accounts`` (a bare path means GET) -> (method, path)."""
    method, _, path = item.strip().rpartition(" ")
    method = method.strip().upper() or "GET"
    if method not in ("GET", "POST") or not path.startswith("/"):
        raise ConfigError(
            f"{name} lists calls like 'GET /path', comma-separated; got {item.strip()!r}"
        )
    return method, path


def _upstream(environ: Mapping[str, str], prefix: str, default_url: str) -> UpstreamSettings:
    base_url = environ.get(f"{prefix}_BASE_URL", "").strip() or default_url
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"{prefix}_BASE_URL (or the spec's baseUri variables) must give an http:// or https:// URL"
        )
    ca_bundle = environ.get(f"{prefix}_CA_BUNDLE", "").strip() or None
    if ca_bundle and not os.path.isfile(ca_bundle):
        raise ConfigError(f"{prefix}_CA_BUNDLE names a file that does not exist")
    keepalive_path = environ.get(f"{prefix}_KEEPALIVE_PATH", "").strip()
    if keepalive_path and not keepalive_path.startswith("/"):
        raise ConfigError(f"{prefix}_KEEPALIVE_PATH must start with '/'")
    method = environ.get(f"{prefix}_KEEPALIVE_METHOD", "POST").strip().upper() or "POST"
    if method not in ("GET", "POST", "HEAD"):
        raise ConfigError(f"{prefix}_KEEPALIVE_METHOD must be GET, POST or HEAD")
    prime = tuple(
        _prime_call(f"{prefix}_PRIME", item)
        for item in environ.get(f"{prefix}_PRIME", "").split(",")
        if item.strip()
    )
    return UpstreamSettings(
        base_url=base_url.rstrip("/"),
        timeout=_number(environ, f"{prefix}_TIMEOUT", 30.0),
        verify_tls=_flag(environ, f"{prefix}_VERIFY_TLS", True),
        ca_bundle=ca_bundle,
        rate_limit=_rate(environ, f"{prefix}_RATE_LIMIT"),
        rate_wait=_number(environ, f"{prefix}_RATE_WAIT", 5.0),
        keepalive_path=keepalive_path,
        keepalive_method=method,
        keepalive_interval=_number(environ, f"{prefix}_KEEPALIVE_INTERVAL", 60.0),
        prime=prime,
        retries=int(_number(environ, f"{prefix}_RETRIES", 2.0, minimum=0)),
        retry_deadline=_number(environ, f"{prefix}_RETRY_DEADLINE", 10.0),
    )


def _guard(
    environ: Mapping[str, str],
    override: str,
    declared: Guard | None = None,
    needs: tuple[tuple[str, str], ...] = (),
) -> Guard | None:
    """A surface's inbound guard: a bearer token from *override* when set (it replaces the
    spec's), else *declared*, the spec's, whose secrets (*needs*: variable, value) must not be
    empty: an empty expected credential would admit clients that send an empty one."""
    token = environ.get(override, "").strip()
    if token:
        return Guard("bearer", token)
    for name, value in needs:
        if not value:
            raise ConfigError(
                f"{name} is empty, but it is the credential clients must send (the spec's inbound "
                f"authentication); set it, or set {override}"
            )
    return declared


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the adapters' configuration; raise ConfigError naming the first bad variable."""
    environ = os.environ if environ is None else environ
    secrets: dict[str, str] = {}
    if "HARBOUR_API_TOKEN" not in environ:
        raise ConfigError("HARBOUR_API_TOKEN is not set (set it empty to send no credential)")
    secrets["HARBOUR_TOKEN"] = environ["HARBOUR_API_TOKEN"]
    if "HARBOUR_DESK_TOKEN" not in environ:
        raise ConfigError(
            "HARBOUR_DESK_TOKEN is not set (the credential clients must send: the spec's inbound authentication)"
        )
    secrets["DESK_TOKEN"] = environ["HARBOUR_DESK_TOKEN"]
    log_format = environ.get("ADAPTER_LOG_FORMAT", "plain").strip() or "plain"
    if log_format not in ("plain", "json"):
        raise ConfigError("ADAPTER_LOG_FORMAT must be plain or json")
    event_loop = environ.get("ADAPTER_EVENT_LOOP", "auto").strip().lower() or "auto"
    if event_loop not in ("auto", "asyncio", "uvloop"):
        raise ConfigError("ADAPTER_EVENT_LOOP must be auto, asyncio or uvloop")
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    if event_loop == "uvloop" and not has_uvloop:
        raise ConfigError("ADAPTER_EVENT_LOOP=uvloop, but uvloop is not installed")
    if event_loop == "auto":
        event_loop = "uvloop" if has_uvloop else "asyncio"
    state_url = environ.get("ADAPTER_STATE_URL", "").strip()
    if state_url and not state_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("ADAPTER_STATE_URL must be a redis://, rediss:// or unix:// URL")
    if state_url and importlib.util.find_spec("redis") is None:
        raise ConfigError(
            "ADAPTER_STATE_URL is set, but redis-py is not installed: pip install 'ikanos-mcp[redis]'"
        )
    return Settings(
        upstreams={
            "berths": _upstream(environ, "BERTHS", "https://berths.example.com/v2"),
            "tides": _upstream(environ, "TIDES", "https://tides.example.com"),
        },
        secrets=secrets,
        log_format=log_format,
        event_loop=event_loop,
        state_url=state_url,
        allowed_hosts=tuple(
            h.strip().lower()
            for h in environ.get("ADAPTER_ALLOWED_HOSTS", "").split(",")
            if h.strip()
        ),
        mcp_guard=_guard(
            environ,
            "ADAPTER_MCP_TOKEN",
            Guard("bearer", secrets["DESK_TOKEN"]),
            (("HARBOUR_DESK_TOKEN", secrets["DESK_TOKEN"]),),
        ),
    )
