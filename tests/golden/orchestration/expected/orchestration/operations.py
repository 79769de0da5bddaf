"""The consumed upstream operations of Shop orchestration (``capability.consumes`` in the spec)."""

from __future__ import annotations

from .client import Operation, Param

# shop: http://localhost:7000/api
LIST_PRODUCTS = Operation(
    namespace="shop",
    name="list-products",
    method="GET",
    path="/products",
)
CREATE_ORDER = Operation(
    namespace="shop",
    name="create-order",
    method="POST",
    path="/orders",
    outputs={"orderId": "$.id"},
)
GET_ORDER = Operation(
    namespace="shop",
    name="get-order",
    method="GET",
    path="/orders/{orderId}",
    params=(Param("orderId", "path"),),
)
