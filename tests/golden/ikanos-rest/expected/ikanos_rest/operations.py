"""The consumed upstream operations of Yard Works (``capability.consumes`` in the spec)."""

from __future__ import annotations

from .client import Operation, Param

# yard: https://yard.example.com/api
GET_HULL = Operation(
    namespace="yard",
    name="get-hull",
    method="GET",
    path="/hulls/{hullId}",
    params=(Param("hullId", "path"),),
    outputs={"hull-name": "$.name", "crew-ids": "$.crew"},
)
LIST_CREW = Operation(
    namespace="yard",
    name="list-crew",
    method="GET",
    path="/crew",
)
CREATE_ORDER = Operation(
    namespace="yard",
    name="create-order",
    method="POST",
    path="/orders",
)
# archive: https://archive.example.com
ARCHIVE_LIST_DOCS = Operation(
    namespace="archive",
    name="list-docs",
    method="GET",
    path="/docs",
)
