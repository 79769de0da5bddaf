"""The consumed upstream operations of Minimal (``capability.consumes`` in the spec)."""

from __future__ import annotations

from .client import Operation

# echo: http://127.0.0.1:9999
PING = Operation(
    namespace="echo",
    name="ping",
    method="GET",
    path="/ping",
)
