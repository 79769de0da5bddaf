"""The consumed upstream operations of Catalog leniency (``capability.consumes`` in the spec)."""

from __future__ import annotations

from .client import Operation, Param

# hr: https://hr.example.test/v1
GET_EMPLOYEE = Operation(
    namespace="hr",
    name="get-employee",
    method="GET",
    path="/employees/{employee-id}",
    params=(Param("employee-id", "path"),),
)
HEALTH = Operation(
    namespace="hr",
    name="health",
    method="GET",
    path="/health",
)
# jobs: https://jobs.example.test
JOBS_GET_JOB = Operation(
    namespace="jobs",
    name="get-job",
    method="GET",
    path="/jobs/{job-id}",
    params=(Param("job-id", "path"),),
)
