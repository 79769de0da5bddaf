"""The consumed upstream operations of REST only (``capability.consumes`` in the spec)."""

from __future__ import annotations

from .client import Operation

# users: http://localhost:7100/v1
CREATE = Operation(
    namespace="users",
    name="create",
    method="POST",
    path="/users",
)
