"""The consumed upstream operations of Interactive Brokers Web API (``capability.consumes`` in the spec)."""

from __future__ import annotations

from .client import Operation, Param

# interactive-brokers: https://localhost:5000/v1/api
GETAUTHSTATUS = Operation(
    namespace="interactive-brokers",
    name="getauthstatus",
    method="POST",
    path="/iserver/auth/status",
)
GETACCOUNTS = Operation(
    namespace="interactive-brokers",
    name="getaccounts",
    method="GET",
    path="/iserver/accounts",
)
PLACEORDER = Operation(
    namespace="interactive-brokers",
    name="placeorder",
    method="POST",
    path="/iserver/account/{accountId}/orders",
    params=(Param("accountId", "path"),),
)
GETLIVEORDERS = Operation(
    namespace="interactive-brokers",
    name="getliveorders",
    method="GET",
    path="/iserver/account/orders",
)
GETPOSITIONS = Operation(
    namespace="interactive-brokers",
    name="getpositions",
    method="GET",
    path="/portfolio/{accountId}/positions/{pageId}",
    params=(
        Param("accountId", "path"),
        Param("pageId", "path"),
    ),
)
GETACCOUNTSUMMARY = Operation(
    namespace="interactive-brokers",
    name="getaccountsummary",
    method="GET",
    path="/portfolio/{accountId}/summary",
    params=(Param("accountId", "path"),),
)
GETMARKETDATASNAPSHOT = Operation(
    namespace="interactive-brokers",
    name="getmarketdatasnapshot",
    method="GET",
    path="/iserver/marketdata/snapshot",
    params=(
        Param("conids", "query"),
        Param("fields", "query"),
    ),
)
GETMARKETDATAHISTORY = Operation(
    namespace="interactive-brokers",
    name="getmarketdatahistory",
    method="GET",
    path="/iserver/marketdata/history",
    params=(
        Param("conid", "query"),
        Param("period", "query"),
        Param("bar", "query"),
    ),
)
SEARCHCONTRACTS = Operation(
    namespace="interactive-brokers",
    name="searchcontracts",
    method="POST",
    path="/iserver/secdef/search",
)
