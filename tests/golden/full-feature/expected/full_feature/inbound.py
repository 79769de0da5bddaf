"""Inbound authentication: what clients of the REST adapter and the MCP server must send.

A surface's ``Guard`` is a bearer token from ``ADAPTER_REST_TOKEN`` / ``ADAPTER_MCP_TOKEN``
when set; else the spec's ``exposes[].authentication`` (apikey, basic, bearer); see ``settings.py``.
Credentials are compared in constant time and are never logged or echoed.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass, field
from typing import Literal

REALM = "full_feature"


@dataclass(frozen=True)
class Guard:
    """One surface's credential check."""

    scheme: Literal["apikey", "basic", "bearer"]
    secret: str = field(repr=False)  # the token, 'user:password', the API key
    # Where the credential is read: the Authorization header,
    # or the API key's header, query parameter or cookie.
    name: str = "Authorization"
    placement: Literal["header"] = "header"

    def admits(self, value: str | None) -> bool:
        """Whether *value* (what the request carries at ``placement``/``name``) is the credential."""
        if value is None:
            return False
        if self.scheme == "apikey":
            return _same(value, self.secret)
        # "<scheme> <credentials>"; the scheme is case-insensitive (RFC 9110, section 11.1).
        scheme, _, credentials = value.strip().partition(" ")
        if scheme.lower() != self.scheme:
            return False
        credentials = credentials.strip()
        if self.scheme == "basic":
            try:
                credentials = base64.b64decode(credentials, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return False
        return _same(credentials, self.secret)

    @property
    def challenge(self) -> str | None:
        """The ``WWW-Authenticate`` value of a 401 (none for API keys: there is no standard one)."""
        if self.scheme == "apikey":
            return None
        if self.scheme == "basic":
            return f'Basic realm="{REALM}", charset="UTF-8"'
        return f'Bearer realm="{REALM}"'

    @property
    def hint(self) -> str:
        """What a refused client should send (never the credential itself)."""
        if self.scheme == "apikey":
            return f"send the API key in the {self.placement} {self.name!r}"
        if self.scheme == "basic":
            return "send Authorization: Basic <base64 of user:password>"
        return "send Authorization: Bearer <token>"


def _same(supplied: str, expected: str) -> bool:
    # Constant time: how much of a guess matches must not show in the answer's timing.
    return hmac.compare_digest(
        supplied.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )
