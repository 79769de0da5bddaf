"""The consumed upstream operations of MCP over stdio (``capability.consumes`` in the spec)."""

from __future__ import annotations

from .client import Operation, Param

# notes: http://localhost:7200
GET_NOTE = Operation(
    namespace="notes",
    name="get-note",
    method="GET",
    path="/notes/{noteId}",
    params=(Param("noteId", "path"),),
)
