"""Stage 2: JSON Schema validation (draft 2020-12) of loaded spec data.

Two schemas ship with naftiko-gen: our own *dialect* schema, describing what real spec authors
write and what generation needs (its violations are errors), and an unmodified copy of the
official alpha2 schema (its violations are warnings, errors under ``--strict``).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from .diagnostics import Report

DIALECT_SCHEMA = "naftiko-dialect.json"
OFFICIAL_SCHEMA = "naftiko-alpha2-official.json"


@cache
def load_schema(name: str) -> dict[str, Any]:
    text = resources.files("naftiko_gen.schemas").joinpath(name).read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _explain(error: ValidationError) -> list[ValidationError]:
    """The leaf errors that explain *error*.

    For oneOf/anyOf failures the summary ("not valid under any of the given schemas") helps
    nobody; pick the branch the author evidently meant (the one whose ``type`` discriminator
    matched, else the one that got deepest) and report its errors instead.
    """
    if not error.context:
        return [error]
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)

    def discriminator_failed(errors: list[ValidationError]) -> bool:
        return any(
            e.validator in ("const", "enum") and e.relative_path and e.relative_path[-1] == "type"
            for e in errors
        )

    candidates = [errs for errs in branches.values() if not discriminator_failed(errs)]
    if not candidates:
        return _explain(best_match(error.context))
    chosen = max(candidates, key=lambda errs: (max(len(e.absolute_path) for e in errs), -len(errs)))
    leaves: list[ValidationError] = []
    for sub in chosen:
        leaves.extend(_explain(sub))
    return leaves


def _message(error: ValidationError) -> str:
    message = error.message
    if len(message) > 300:
        message = message[:297] + "..."
    return message


def validate_schema(data: dict[str, Any], report: Report, *, strict: bool) -> bool:
    """Check *data* against both schemas; return False when generation cannot go on."""
    ok = True
    for error in sorted(
        _validator(DIALECT_SCHEMA).iter_errors(data), key=lambda e: list(map(str, e.absolute_path))
    ):
        for detail in _explain(error):
            report.error(_message(detail), tuple(detail.absolute_path))
        ok = False
    level = "error" if strict else "warning"
    for error in sorted(
        _validator(OFFICIAL_SCHEMA).iter_errors(data), key=lambda e: list(map(str, e.absolute_path))
    ):
        for detail in _explain(error):
            report.add(
                level,
                f"not valid against the official alpha2 schema: {_message(detail)}",
                tuple(detail.absolute_path),
            )
    return ok
