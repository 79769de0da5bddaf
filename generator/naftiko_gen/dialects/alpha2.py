"""The ``naftiko: 1.0.0-alpha2`` front end: the normalized form is the document itself."""

from __future__ import annotations

from typing import Any

from ..diagnostics import Report
from ..validation import validate_dialect, validate_official


def normalize(data: dict[str, Any], report: Report) -> dict[str, Any]:
    return data


def check_dialect(data: dict[str, Any], report: Report) -> bool:
    return validate_dialect(data, report)


def check_official(data: dict[str, Any], report: Report, *, strict: bool) -> None:
    validate_official(data, report, strict=strict)
