"""The consumed upstream operations of Fleet \"Ops\" \\ API (``capability.consumes`` in the spec)."""

from __future__ import annotations

from .client import Operation, Param

# fleet: https://fleet.example.test/api/v2
GET_VEHICLE = Operation(
    namespace="fleet",
    name="get-vehicle",
    method="GET",
    path="/vehicles/{vehicle-id}",
    params=(
        Param("vehicle-id", "path"),
        Param("expand", "query"),
        Param("X-Trace", "header"),
    ),
)
UPDATE_VEHICLE = Operation(
    namespace="fleet",
    name="update-vehicle",
    method="PATCH",
    path="/vehicles/{vehicle-id}",
    params=(Param("vehicle-id", "path"),),
)
CREATE_TRIP = Operation(
    namespace="fleet",
    name="create-trip",
    method="POST",
    path="/trips",
    params=(
        Param("origin", "body"),
        Param("destination", "body"),
        Param("seats", "body"),
    ),
)
LIST_TRIPS = Operation(
    namespace="fleet",
    name="list-trips",
    method="GET",
    path="/trips",
    params=(
        Param("limit", "query"),
        Param("tags", "query"),
    ),
)
# weather: http://weather.example.test
WEATHER_FORECAST = Operation(
    namespace="weather",
    name="forecast",
    method="GET",
    path="/forecast",
    params=(Param("city", "query"),),
)
# archive: http://archive.example.test
ARCHIVE_ADD_NOTE = Operation(
    namespace="archive",
    name="add-note",
    method="POST",
    path="/notes",
)
