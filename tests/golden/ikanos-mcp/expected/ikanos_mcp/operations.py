"""The consumed upstream operations of Harbour Desk (``capability.consumes`` in the spec)."""

from __future__ import annotations

from .client import Operation, Param

# berths: https://berths.example.com/v2
LIST_BERTHS = Operation(
    namespace="berths",
    name="list-berths",
    method="GET",
    path="/berths",
    params=(Param("status", "query"),),
)
GET_BERTH = Operation(
    namespace="berths",
    name="get-berth",
    method="GET",
    path="/berths/{berthId}",
    params=(Param("berthId", "path"),),
)
ASSIGN_BERTH = Operation(
    namespace="berths",
    name="assign-berth",
    method="PUT",
    path="/berths/{berthId}",
    params=(Param("berthId", "path"),),
)
# tides: https://tides.example.com
TIDES_TIDE_TABLE = Operation(
    namespace="tides",
    name="tide-table",
    method="GET",
    path="/tables/{port}",
    params=(Param("port", "path"),),
    xml=True,
)
