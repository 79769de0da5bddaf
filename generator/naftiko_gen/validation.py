"""Stage 2: JSON Schema validation (draft 2020-12) of loaded spec data.

Two schemas ship with naftiko-gen: our own *dialect* schema, describing what real spec authors
write and what generation needs (its violations are errors), and an unmodified copy of the
official alpha2 schema (its violations are warnings, errors under ``--strict``).
"""

from __future__ import annotations

import contextlib
import gc
import json
import numbers
import re
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import unquote

import jsonschema
from jsonschema._utils import equal
from jsonschema.exceptions import ValidationError, best_match

from .diagnostics import Report

DIALECT_SCHEMA = "naftiko-dialect.json"
OFFICIAL_SCHEMA = "naftiko-alpha2-official.json"
OFFICIAL_IKANOS_SCHEMA = "ikanos-beta5-official.json"


@cache
def load_schema(name: str) -> dict[str, Any]:
    text = resources.files("naftiko_gen.schemas").joinpath(name).read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _validator(name: str) -> tuple[jsonschema.protocols.Validator, _Checker]:
    """The jsonschema validator of a shipped schema, pruned by its fast checker.

    The shipped schemas are constants, checked against their metaschema by the test suite
    (tests/test_validation_fast.py) rather than on every run (that check alone took a third of
    a seed build)."""
    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    checker = _Checker(schema, cls.VALIDATORS)
    return _pruned(cls, checker)(schema), checker


def _pruned(cls: Any, checker: _Checker) -> Any:
    """*cls* whose child-descending keywords skip what *checker* proves valid (such a child
    yields no error in jsonschema either, so the errors and their order are the same)."""
    keywords = cls.VALIDATORS
    find_additional = jsonschema._utils.find_additional_properties

    def properties(validator, properties, instance, schema):  # type: ignore[no-untyped-def]
        if not validator.is_type(instance, "object"):
            return
        for name, subschema in properties.items():
            if name in instance and checker.valid(subschema, instance[name]) is not True:
                yield from validator.descend(instance[name], subschema, path=name, schema_path=name)

    def items(validator, items, instance, schema):  # type: ignore[no-untyped-def]
        if (
            isinstance(items, dict)
            and "prefixItems" not in schema
            and validator.is_type(instance, "array")
        ):
            for index, item in enumerate(instance):
                if checker.valid(items, item) is not True:
                    yield from validator.descend(item, items, path=index)
            return
        yield from keywords["items"](validator, items, instance, schema)

    def additional(validator, aP, instance, schema):  # type: ignore[no-untyped-def]
        if isinstance(aP, dict) and validator.is_type(instance, "object"):
            for extra in set(find_additional(instance, schema)):
                if checker.valid(aP, instance[extra]) is not True:
                    yield from validator.descend(instance[extra], aP, path=extra)
            return
        yield from keywords["additionalProperties"](validator, aP, instance, schema)

    def ref(validator, ref, instance, schema):  # type: ignore[no-untyped-def]
        target = checker.resolve(ref)
        if target is None or not checker.usable:
            yield from validator._validate_reference(ref=ref, instance=instance)
        elif checker.valid(target, instance) is not True:
            # One resource, no dynamic refs (checker.usable): the resolver's scope cannot
            # change what the target means, so skip referencing's lookup.
            yield from validator.descend(instance, target)

    return jsonschema.validators.extend(
        cls,
        validators={
            "properties": properties,
            "items": items,
            "additionalProperties": additional,
            "$ref": ref,
        },
    )


def _errors(name: str, data: dict[str, Any]) -> Iterator[ValidationError]:
    validator, checker = _validator(name)
    checker.memo.clear()
    if checker.valid(checker.root, data) is True:
        return iter(())
    return validator.iter_errors(data)


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
    ok = validate_dialect(data, report)
    validate_official(data, report, strict=strict)
    return ok


# Strings that mean a boolean where the schema wants one (`required: 'f'`), case aside.
BOOLEAN_WORDS = {
    "true": True,
    "t": True,
    "yes": True,
    "y": True,
    "on": True,
    "false": False,
    "f": False,
    "no": False,
    "n": False,
    "off": False,
}


def validate_dialect(data: dict[str, Any], report: Report) -> bool:
    """Our dialect schema: its violations are errors; False when generation cannot go on.

    Two deviations whose meaning is plain are read as meant first, each with a warning: a
    boolean written as a string (``'f'``, ``'true'``) and a consumes entry without a namespace
    that the calls name (see :func:`_read_as_meant`)."""
    with _paused_gc(DIALECT_SCHEMA):
        details = _dialect_errors(data)
        # A second round: an entry's namespace, once read, lets its nameless operation be read.
        for _ in range(2):
            if not details or not _read_as_meant(data, details, report):
                break
            details = _dialect_errors(data)
        for detail in details:
            report.error(_message(detail) + _hint(data, detail), tuple(detail.absolute_path))
    return not details


def _dialect_errors(data: dict[str, Any]) -> list[ValidationError]:
    return [
        detail
        for error in sorted(
            _errors(DIALECT_SCHEMA, data), key=lambda e: list(map(str, e.absolute_path))
        )
        for detail in _explain(error)
    ]


def _wants_boolean(error: ValidationError) -> bool:
    expected = error.validator_value
    return error.validator == "type" and (
        expected == "boolean" or (isinstance(expected, list) and "boolean" in expected)
    )


def _calls(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(namespace, operation) of every ``call`` of the exposing side, in order, once each."""
    capability = data.get("capability") if isinstance(data.get("capability"), dict) else {}
    found: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            call = node.get("call")
            if isinstance(call, str) and "." in call:
                namespace, _, operation = call.partition(".")
                if (namespace, operation) not in found:
                    found.append((namespace, operation))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(capability.get("exposes"))
    return found


def _consumes_entries(data: dict[str, Any]) -> list[Any]:
    capability = data.get("capability") if isinstance(data.get("capability"), dict) else {}
    consumes = capability.get("consumes")
    return consumes if isinstance(consumes, list) else []


def _called_namespaces(data: dict[str, Any]) -> list[str]:
    """The namespaces the spec's ``call``s name that no consumes entry declares, in order."""
    declared = {
        c["namespace"]
        for c in _consumes_entries(data)
        if isinstance(c, dict) and isinstance(c.get("namespace"), str)
    }
    found: list[str] = []
    for namespace, _ in _calls(data):
        if namespace not in declared and namespace not in found:
            found.append(namespace)
    return found


def _nameless_operation(data: dict[str, Any], error: ValidationError) -> str | None:
    """The namespace of the consumed operation *error* says lacks its name, else None."""
    path = tuple(error.absolute_path)
    if (
        error.validator == "required"
        and len(path) == 7
        and path[:2] == ("capability", "consumes")
        and path[3] == "resources"
        and path[5] == "operations"
        and "'name'" in error.message
    ):
        entry = _consumes_entries(data)[path[2]]
        namespace = entry.get("namespace") if isinstance(entry, dict) else None
        return namespace if isinstance(namespace, str) else None
    return None


def _uncalled_names(data: dict[str, Any], namespace: str) -> list[str]:
    """The operation names that calls use in *namespace* and none of its operations has."""
    declared = {
        op.get("name")
        for entry in _consumes_entries(data)
        if isinstance(entry, dict) and entry.get("namespace") == namespace
        for resource in entry.get("resources") or []
        if isinstance(resource, dict)
        for op in resource.get("operations") or []
        if isinstance(op, dict)
    }
    return [o for n, o in _calls(data) if n == namespace and o not in declared]


def _nameless_consumes(data: dict[str, Any], error: ValidationError) -> int | None:
    """The index of the consumes entry *error* says lacks its namespace, else None."""
    path = tuple(error.absolute_path)
    if (
        error.validator == "required"
        and len(path) == 3
        and path[:2] == ("capability", "consumes")
        and isinstance(path[2], int)
        and "'namespace'" in error.message
    ):
        return path[2]
    return None


def _read_as_meant(data: dict[str, Any], details: list[ValidationError], report: Report) -> bool:
    """Fix, in *data*, what the author evidently meant, warning for each; True when anything
    was fixed. A boolean as a string (``'f'``) is that boolean; a consumes entry without a
    namespace is the one namespace that the calls name and no entry declares, when it is the
    only entry without one (or the ``name`` it was given instead, when the calls use that); a
    consumed operation without a name is the one name calls use in its namespace that no
    operation has, when it is the only operation there without one."""
    fixed = False
    nameless = [i for d in details if (i := _nameless_consumes(data, d)) is not None]
    called = _called_namespaces(data)
    nameless_ops = [n for d in details if (n := _nameless_operation(data, d)) is not None]
    for detail in details:
        path = tuple(detail.absolute_path)
        if (namespace := _nameless_operation(data, detail)) is not None:
            uncalled = _uncalled_names(data, namespace)
            if nameless_ops.count(namespace) == 1 and len(uncalled) == 1:
                detail.instance["name"] = uncalled[0]
                report.warning(
                    f"this operation has no 'name'; read as {uncalled[0]!r}, the one name calls "
                    f"use in namespace {namespace!r} that no operation has (add name: {uncalled[0]})",
                    path,
                )
                fixed = True
            continue
        if _wants_boolean(detail) and isinstance(detail.instance, str):
            value = BOOLEAN_WORDS.get(detail.instance.strip().lower())
            if value is None or not path:
                continue
            _parent(data, path)[path[-1]] = value
            report.warning(
                f"{detail.instance!r} is not a boolean; read as {str(value).lower()} "
                f"(write {str(value).lower()} without quotes)",
                path,
            )
            fixed = True
        elif (index := _nameless_consumes(data, detail)) is not None:
            entry = detail.instance
            named = entry.get("name") if isinstance(entry.get("name"), str) else None
            if named is not None and named in called:
                namespace = named
                how = f"its 'name' {named!r}, which the calls use"
            elif len(nameless) == 1 and len(called) == 1:
                namespace = called[0]
                how = f"{namespace!r}, the namespace the calls name and no other entry declares"
            else:
                continue
            entry["namespace"] = namespace
            if named == namespace:
                del entry["name"]
            report.warning(
                f"this consumes entry has no 'namespace'; read as {how} (add namespace: {namespace})",
                ("capability", "consumes", index),
            )
            fixed = True
    return fixed


def _hint(data: dict[str, Any], detail: ValidationError) -> str:
    """A fix-it hint for an error that :func:`_read_as_meant` could not read as meant."""
    if _wants_boolean(detail):
        return "; write true or false"
    if (namespace := _nameless_operation(data, detail)) is not None:
        uncalled = _uncalled_names(data, namespace)
        if uncalled:
            return f"; add name: (calls use {', '.join(map(repr, uncalled))} in {namespace!r})"
        return f"; add name: (the name calls use, as in call: {namespace}.<name>)"
    if _nameless_consumes(data, detail) is not None:
        called = _called_namespaces(data)
        if called:
            return f"; add namespace: (the calls name {', '.join(map(repr, called))})"
        return "; add namespace: (the name calls use, as in call: <namespace>.<operation>)"
    return ""


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    node = data
    for key in path[:-1]:
        node = node[key]
    return node


def validate_official(data: dict[str, Any], report: Report, *, strict: bool) -> None:
    """The official alpha2 schema: its violations are warnings (errors under ``--strict``)."""
    _validate_official(OFFICIAL_SCHEMA, "alpha2", data, report, strict=strict)


def validate_official_ikanos(data: dict[str, Any], report: Report, *, strict: bool) -> None:
    """The official Ikanos beta5 schema, on the document as written (not its normalized form):
    its violations are warnings (errors under ``--strict``)."""
    _validate_official(OFFICIAL_IKANOS_SCHEMA, "Ikanos beta5", data, report, strict=strict)


def _validate_official(
    name: str, label: str, data: dict[str, Any], report: Report, *, strict: bool
) -> None:
    level = "error" if strict else "warning"
    with _paused_gc(name):
        for error in sorted(_errors(name, data), key=lambda e: list(map(str, e.absolute_path))):
            for detail in _explain(error):
                report.add_at_source(
                    level,
                    f"not valid against the official {label} schema: {_message(detail)}",
                    tuple(detail.absolute_path),
                )


@contextlib.contextmanager
def _paused_gc(name: str) -> Iterator[None]:
    # A big spec makes many long-lived objects; the cyclic collector would walk them all
    # again and again while jsonschema allocates (refcounting frees almost everything).
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        _validator(name)[1].memo.clear()
        if paused:
            gc.enable()


# --------------------------------------------------------------------------- fast path
#
# jsonschema is exact but slow: on a 1,000-operation spec it spends seconds proving that
# thousands of well-formed subtrees are well-formed. _Checker compiles a schema into plain
# functions answering "valid?" with True, False or None (not sure: a keyword it does not
# model). Only a definite True is ever acted on: the validator class below skips descending
# into a child (or the whole document) that is certainly valid, where jsonschema would have
# yielded no error at all. Every error still comes from jsonschema itself, in its own order,
# so messages, paths and ``context`` are unchanged.

_Check = Callable[[Any], "bool | None"]

# Keywords jsonschema's 2020-12 validator acts on that _Checker does not model: a schema
# using one of them answers None. Keywords outside VALIDATORS are annotations (ignored by
# jsonschema too).
_UNMODELLED = frozenset(
    {
        "$dynamicRef",
        "contains",
        "dependentRequired",
        "dependentSchemas",
        "if",
        "maxProperties",
        "minProperties",
        "multipleOf",
        "patternProperties",
        "prefixItems",
        "propertyNames",
        "unevaluatedItems",
        "uniqueItems",
    }
)

_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: not isinstance(v, bool) and isinstance(v, numbers.Number),
    "integer": lambda v: not isinstance(v, bool)
    and (isinstance(v, int) or (isinstance(v, float) and v.is_integer())),
}


def _all(results: Iterable[bool | None]) -> bool | None:
    """Tri-state AND, stopping at the first False."""
    answer: bool | None = True
    for result in results:
        if result is False:
            return False
        if result is None:
            answer = None
    return answer


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Number)


class _Checker:
    """Tri-state validity of instances under the subschemas of one root schema."""

    def __init__(self, root: dict[str, Any], keywords: Iterable[str]) -> None:
        self.root = root
        self.base = root.get("$id", "")
        self.keywords = frozenset(keywords)
        self._compiled: dict[int, _Check] = {}
        self._targets: dict[str, Any] = {}
        # (schema id, instance id) -> answer; valid only while the instance is alive, so it is
        # emptied before and after every run (see _errors / validate_schema).
        self.memo: dict[tuple[int, int], bool | None] = {}
        # Refs are resolved against the root only: a nested resource would change the scope.
        self.usable = self._single_resource(root, top=True)

    def _single_resource(self, node: Any, *, top: bool = False) -> bool:
        if isinstance(node, dict):
            if not top and isinstance(node.get("$id"), str):
                return False
            if any(k in node for k in ("$anchor", "$dynamicAnchor", "$recursiveRef")):
                return False
            return all(self._single_resource(v) for v in node.values())
        if isinstance(node, list):
            return all(self._single_resource(v) for v in node)
        return True

    def resolve(self, ref: Any) -> Any:
        """The subschema a local ``$ref`` points to; None when not a local JSON pointer."""
        if not isinstance(ref, str):
            return None
        try:
            return self._targets[ref]
        except KeyError:
            target = self._targets[ref] = self._resolve(ref)
            return target

    def _resolve(self, ref: str) -> Any:
        if self.base and ref.startswith(self.base + "#"):
            ref = ref[len(self.base) :]
        if ref == "#":
            return self.root
        if not ref.startswith("#/"):
            return None
        node: Any = self.root
        for part in ref[2:].split("/"):
            part = unquote(part).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node

    def valid(self, schema: Any, instance: Any) -> bool | None:
        if not self.usable:
            return None
        return self.check(schema)(instance)

    def check(self, schema: Any) -> _Check:
        if schema is True:
            return lambda instance: True
        if schema is False:
            return lambda instance: False
        if not isinstance(schema, dict):
            return lambda instance: None
        key = id(schema)
        found = self._compiled.get(key)
        if found is None:
            # A placeholder first: recursive schemas reach themselves through $ref.
            self._compiled[key] = lambda instance: self._compiled[key](instance)
            found = self._compiled[key] = self._memoised(key, self._compile(schema))
        return found

    def _memoised(self, key: int, check: _Check) -> _Check:
        """Answers for containers are remembered for one run: jsonschema asks again about
        every subtree on the way down to an error."""
        memo = self.memo

        def run(instance: Any) -> bool | None:
            if type(instance) is dict or type(instance) is list:
                pair = (key, id(instance))
                try:
                    return memo[pair]
                except KeyError:
                    answer = memo[pair] = check(instance)
                    return answer
            return check(instance)

        return run

    def _compile(self, schema: dict[str, Any]) -> _Check:
        checks: list[_Check] = []
        for keyword, value in schema.items():
            if keyword not in self.keywords:
                continue  # an annotation for jsonschema as well
            if keyword in _UNMODELLED:
                return lambda instance: None
            made = self._keyword(keyword, value, schema)
            if made is not None:
                checks.append(made)
        if not checks:
            return lambda instance: True
        if len(checks) == 1:
            return checks[0]

        def every(instance: Any) -> bool | None:
            answer: bool | None = True
            for check in checks:
                result = check(instance)
                if result is False:
                    return False
                if result is None:
                    answer = None
            return answer

        return every

    def _keyword(self, keyword: str, value: Any, schema: dict[str, Any]) -> _Check | None:
        if keyword == "format":
            return None  # an annotation: the validators here have no format checker
        if keyword == "$ref":
            target = self.resolve(value)
            if target is None:
                return lambda instance: None
            return lambda instance: self.check(target)(instance)
        if keyword == "type":
            names = [value] if isinstance(value, str) else value
            if not isinstance(names, list) or not all(n in _TYPES for n in names):
                return lambda instance: None
            tests = [_TYPES[n] for n in names]
            return lambda instance: any(test(instance) for test in tests)
        if keyword == "properties":
            if not isinstance(value, dict):
                return lambda instance: None
            subs = [(name, self.check(sub)) for name, sub in value.items()]

            def properties(instance: Any) -> bool | None:
                answer: bool | None = True
                if isinstance(instance, dict):
                    for name, sub in subs:
                        if name in instance:
                            result = sub(instance[name])
                            if result is False:
                                return False
                            if result is None:
                                answer = None
                return answer

            return properties
        if keyword == "required":
            if not isinstance(value, list):
                return lambda instance: None
            names = list(value)
            return lambda instance: not isinstance(instance, dict) or all(
                n in instance for n in names
            )
        if keyword == "additionalProperties":
            known = schema.get("properties", {})
            if not isinstance(known, dict):
                return lambda instance: None
            if isinstance(value, dict):
                sub = self.check(value)

                def additional(instance: Any) -> bool | None:
                    if not isinstance(instance, dict):
                        return True
                    return _all(sub(v) for k, v in instance.items() if k not in known)

                return additional
            if not value:
                return lambda instance: not isinstance(instance, dict) or all(
                    k in known for k in instance
                )
            return None
        if keyword == "items":
            if value is True:
                return None
            if value is False:
                return lambda instance: not isinstance(instance, list) or not instance
            sub = self.check(value)

            def items(instance: Any) -> bool | None:
                answer: bool | None = True
                if isinstance(instance, list):
                    for item in instance:
                        result = sub(item)
                        if result is False:
                            return False
                        if result is None:
                            answer = None
                return answer

            return items
        if keyword == "const":
            return lambda instance: equal(instance, value)
        if keyword == "enum":
            return lambda instance: any(equal(instance, each) for each in value)
        if keyword == "pattern":
            compiled = re.compile(value)
            return lambda instance: not isinstance(instance, str) or bool(compiled.search(instance))
        if keyword in ("minLength", "maxLength"):
            low = keyword == "minLength"
            return lambda instance: not isinstance(instance, str) or (
                len(instance) >= value if low else len(instance) <= value
            )
        if keyword in ("minItems", "maxItems"):
            low = keyword == "minItems"
            return lambda instance: not isinstance(instance, list) or (
                len(instance) >= value if low else len(instance) <= value
            )
        if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            compare = {
                "minimum": lambda a: a >= value,
                "maximum": lambda a: a <= value,
                "exclusiveMinimum": lambda a: a > value,
                "exclusiveMaximum": lambda a: a < value,
            }[keyword]
            return lambda instance: not _is_number(instance) or compare(instance)
        if keyword in ("allOf", "anyOf", "oneOf", "not"):
            subs = [self.check(s) for s in value] if keyword != "not" else [self.check(value)]
            if keyword == "allOf":
                return lambda instance: _all(sub(instance) for sub in subs)
            if keyword == "anyOf":
                return lambda instance: _any(sub(instance) for sub in subs)
            if keyword == "oneOf":
                return lambda instance: _one(sub(instance) for sub in subs)
            return lambda instance: _not(subs[0](instance))
        if keyword == "unevaluatedProperties":
            sub = self.check(value)

            def unevaluated(instance: Any) -> bool | None:
                if not isinstance(instance, dict):
                    return True
                evaluated = self.evaluated(schema, instance)
                if evaluated is None:
                    return None
                return _all(sub(v) for k, v in instance.items() if k not in evaluated)

            return unevaluated
        return lambda instance: None

    def evaluated(self, schema: Any, instance: dict[str, Any]) -> set[str] | None:
        """jsonschema's find_evaluated_property_keys_by_schema, or None when unsure."""
        if not isinstance(schema, dict):
            return set()
        keys: set[str] = set()
        if "$ref" in schema:
            target = self.resolve(schema["$ref"])
            found = None if target is None else self.evaluated(target, instance)
            if found is None:
                return None
            keys |= found
        if any(k in schema for k in ("$dynamicRef", "patternProperties", "dependentSchemas", "if")):
            return None
        properties = schema.get("properties")
        if isinstance(properties, dict):
            keys |= properties.keys() & instance.keys()
        for keyword in ("additionalProperties", "unevaluatedProperties"):
            if keyword in schema:
                sub = self.check(schema[keyword])
                for k, v in instance.items():
                    result = sub(v)
                    if result is None:
                        return None
                    if result:
                        keys.add(k)
        for keyword in ("allOf", "oneOf", "anyOf"):
            for subschema in schema.get(keyword, []):
                result = self.check(subschema)(instance)
                if result is None:
                    return None
                if result:
                    found = self.evaluated(subschema, instance)
                    if found is None:
                        return None
                    keys |= found
        return keys


def _any(results: Iterable[bool | None]) -> bool | None:
    answer: bool | None = False
    for result in results:
        if result is True:
            return True
        if result is None:
            answer = None
    return answer


def _one(results: Iterable[bool | None]) -> bool | None:
    valid = 0
    unsure = False
    for result in results:
        if result is True:
            valid += 1
            if valid > 1:
                return False
        elif result is None:
            unsure = True
    if unsure:
        return None
    return valid == 1


def _not(result: bool | None) -> bool | None:
    return None if result is None else not result
