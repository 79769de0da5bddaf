"""Configuration from the environment; see the README for the table of variables.

Secrets are read here once and live only in ``Settings.secrets``: they are never logged,
and ``Settings`` does not print them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


class ConfigError(Exception):
    """A missing or malformed environment variable; the message names it."""


@dataclass(frozen=True)
class UpstreamSettings:
    base_url: str
    timeout: float
    verify_tls: bool
    ca_bundle: str | None


@dataclass(frozen=True)
class Settings:
    upstreams: dict[str, UpstreamSettings]
    secrets: dict[str, str] = field(repr=False)
    log_format: str = "plain"
    max_body_bytes: int = 1024 * 1024
    mcp_token: str | None = field(default=None, repr=False)
    allowed_hosts: tuple[str, ...] = ()


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
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


def _upstream(environ: Mapping[str, str], prefix: str, default_url: str) -> UpstreamSettings:
    base_url = environ.get(f"{prefix}_BASE_URL", "").strip() or default_url
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{prefix}_BASE_URL must start with http:// or https://")
    ca_bundle = environ.get(f"{prefix}_CA_BUNDLE", "").strip() or None
    if ca_bundle and not os.path.isfile(ca_bundle):
        raise ConfigError(f"{prefix}_CA_BUNDLE names a file that does not exist")
    return UpstreamSettings(
        base_url=base_url.rstrip("/"),
        timeout=_number(environ, f"{prefix}_TIMEOUT", 30.0),
        verify_tls=_flag(environ, f"{prefix}_VERIFY_TLS", True),
        ca_bundle=ca_bundle,
    )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the adapters' configuration; raise ConfigError naming the first bad variable."""
    environ = os.environ if environ is None else environ
    secrets: dict[str, str] = {}
    if "INTERACTIVE_BROKERS_TOKEN" not in environ:
        raise ConfigError(
            "INTERACTIVE_BROKERS_TOKEN is not set (set it empty to send no credential)"
        )
    secrets["INTERACTIVE_BROKERS_TOKEN"] = environ["INTERACTIVE_BROKERS_TOKEN"]
    log_format = environ.get("ADAPTER_LOG_FORMAT", "plain").strip() or "plain"
    if log_format not in ("plain", "json"):
        raise ConfigError("ADAPTER_LOG_FORMAT must be plain or json")
    max_body = int(_number(environ, "ADAPTER_MAX_BODY_BYTES", 1024 * 1024))
    return Settings(
        upstreams={
            "interactive-brokers": _upstream(
                environ, "INTERACTIVE_BROKERS", "https://localhost:5000/v1/api"
            ),
        },
        secrets=secrets,
        log_format=log_format,
        max_body_bytes=max_body,
        mcp_token=environ.get("ADAPTER_MCP_TOKEN") or None,
        allowed_hosts=tuple(
            h.strip() for h in environ.get("ADAPTER_ALLOWED_HOSTS", "").split(",") if h.strip()
        ),
    )
