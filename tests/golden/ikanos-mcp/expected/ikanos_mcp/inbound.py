"""Inbound authentication: what clients of the MCP server must send.

A surface's ``Guard`` is a bearer token from ``ADAPTER_MCP_TOKEN``
when set; else the spec's ``exposes[].authentication`` (bearer); see ``settings.py``.
Credentials are compared in constant time and are never logged or echoed.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Literal

REALM = "ikanos_mcp"


@dataclass(frozen=True)
class Guard:
    """One surface's credential check."""

    scheme: Literal["bearer"]
    secret: str = field(repr=False)  # the token
    # Where the credential is read: the Authorization header.
    name: str = "Authorization"
    placement: Literal["header"] = "header"

    def admits(self, value: str | None) -> bool:
        """Whether *value* (what the request carries at ``placement``/``name``) is the credential."""
        if value is None:
            return False
        # "<scheme> <credentials>"; the scheme is case-insensitive (RFC 9110, section 11.1).
        scheme, _, credentials = value.strip().partition(" ")
        if scheme.lower() != self.scheme:
            return False
        credentials = credentials.strip()
        return _same(credentials, self.secret)

    @property
    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value of a 401."""
        return f'Bearer realm="{REALM}"'

    @property
    def hint(self) -> str:
        """What a refused client should send (never the credential itself)."""
        return "send Authorization: Bearer <token>"


def _same(supplied: str, expected: str) -> bool:
    # Constant time: how much of a guess matches must not show in the answer's timing.
    return hmac.compare_digest(
        supplied.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )
