"""The shipped JSON schemas, and the fast validity checker that prunes jsonschema's descent.

validation._Checker may only answer True where jsonschema finds no error; these tests compare
the two on every subtree of the seed and golden specs and on mutated copies of them.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import jsonschema
import pytest
import yaml
from naftiko_gen import validation

from .conftest import ROOT

SPECS = [
    ROOT / "specs" / "interactive-brokers.yaml",
    ROOT / "tests" / "golden" / "full-feature" / "full-feature.yaml",
    ROOT / "tests" / "golden" / "minimal" / "minimal.yaml",
]
SCHEMAS = [validation.DIALECT_SCHEMA, validation.OFFICIAL_SCHEMA]
VALUES: list[Any] = [None, 1, 2.5, True, "x", "GET", "", [], {}, ["a"], {"type": "string"}, -3]


@pytest.mark.parametrize("name", SCHEMAS)
def test_shipped_schema_is_valid_against_its_metaschema(name: str) -> None:
    schema = validation.load_schema(name)
    jsonschema.validators.validator_for(schema).check_schema(schema)


def _plain(name: str) -> jsonschema.protocols.Validator:
    schema = validation.load_schema(name)
    return jsonschema.validators.validator_for(schema)(schema)


def _agree(name: str, data: Any) -> None:
    """Wherever the checker says valid, plain jsonschema agrees, for each schema and subtree."""
    plain = _plain(name)
    _, checker = validation._validator(name)
    checker.memo.clear()
    try:
        subschemas = [checker.root, *checker.root.get("$defs", {}).values()]
        stack = [data]
        while stack:
            node = stack.pop()
            for schema in subschemas:
                answer = checker.valid(schema, node)
                if answer is not None:
                    assert answer == plain.evolve(schema=schema).is_valid(node), (schema, node)
            if isinstance(node, dict):
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    finally:
        checker.memo.clear()


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
@pytest.mark.parametrize("name", SCHEMAS)
def test_checker_agrees_with_jsonschema(name: str, spec) -> None:
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    _, checker = validation._validator(name)
    assert checker.usable
    _agree(name, data)


def _paths(node: Any, path: tuple = ()):
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


@pytest.mark.parametrize("seed", range(24))
def test_mutated_specs_report_what_plain_jsonschema_reports(seed: int) -> None:
    rng = random.Random(seed)
    spec = SPECS[seed % len(SPECS)]
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    paths = [p for p in _paths(data) if p]
    for _ in range(rng.choice([1, 2, 3])):
        path = rng.choice(paths)
        parent = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            if rng.random() < 0.3:
                del parent[path[-1]]
            else:
                parent[path[-1]] = copy.deepcopy(rng.choice(VALUES))
        except (KeyError, IndexError, TypeError):
            pass
    for name in SCHEMAS:
        plain = sorted(
            (list(map(str, e.absolute_path)), e.message) for e in _plain(name).iter_errors(data)
        )
        pruned = sorted(
            (list(map(str, e.absolute_path)), e.message) for e in validation._errors(name, data)
        )
        validation._validator(name)[1].memo.clear()
        assert pruned == plain
