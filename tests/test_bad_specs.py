"""One test per class of spec error: the message and the line it points at."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from naftiko_gen.pipeline import analyse

BASE = """\
naftiko: 1.0.0-alpha2
binds:
- namespace: env
  keys:
    TOKEN: API_TOKEN
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: http://api.example.test
    authentication:
      type: bearer
      token: '{{TOKEN}}'
    resources:
    - name: items
      path: /items/{id}
      operations:
      - name: get-item
        method: GET
  exposes:
  - type: rest
    port: 8080
    namespace: api-rest
    resources:
    - path: /items/{id}
      operations:
      - method: GET
        call: api.get-item
  - type: mcp
    port: 9090
    namespace: api-mcp
    tools:
    - name: get-item
      description: Get an item
      inputParameters:
      - name: id
        type: string
        description: Item id
      call: api.get-item
      with:
        id: tools.id
"""


def _check(tmp_path: Path, text: str, *, strict: bool = False):
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    return analyse(path, strict=strict)


def _errors(analysis) -> list[tuple[int, str]]:
    return [(d.line, d.message) for d in analysis.diagnostics if d.level == "error"]


def test_base_spec_is_valid(tmp_path: Path) -> None:
    assert _check(tmp_path, BASE).ok


@pytest.mark.parametrize(
    ("old", "new", "line", "fragment"),
    [
        (
            "call: api.get-item\n  - type: mcp",
            "call: api.get-itme\n  - type: mcp",
            28,
            "has no operation 'get-itme'",
        ),
        (
            "      call: api.get-item\n      with:",
            "      call: nope.get-item\n      with:",
            39,
            "no consumed namespace 'nope'",
        ),
        ("        id: tools.id", "        id: tools.ident", 41, "refers to input 'ident'"),
        (
            "        id: tools.id",
            "        id: '{{env.MISSING}}'",
            41,
            "{{env.MISSING}} is not declared in binds",
        ),
        ("    port: 9090", "    port: 8080", 30, "port 8080 is already used"),
        ("    - path: /items/{id}", "    - path: /_adapter/items/{id}", 25, "reserved"),
        (
            "    - name: get-item\n      description",
            "    - name: get item\n      description",
            33,
            "MCP tool names may use only",
        ),
        (
            "      type: bearer",
            "      type: oauth1",
            12,
            "not supported yet: oauth1 authentication",
        ),
        (
            "    baseUri: http://api.example.test",
            "    baseUri: ftp://api.example.test",
            10,
            "does not match",
        ),
    ],
)
def test_error_class(tmp_path: Path, old: str, new: str, line: int, fragment: str) -> None:
    assert old in BASE
    analysis = _check(tmp_path, BASE.replace(old, new, 1))
    errors = _errors(analysis)
    assert not analysis.ok
    assert any(fragment in message for _, message in errors), errors
    assert any(fragment in message and at == line for at, message in errors), errors


def test_duplicate_tool_names(tmp_path: Path) -> None:
    text = BASE + """    - name: get-item
      description: again
      call: api.get-item
      with:
        id: tools.id
"""
    errors = _errors(_check(tmp_path, text))
    assert any("tool 'get-item' is defined twice" in m and line == 42 for line, m in errors), errors


def test_duplicate_operation_names(tmp_path: Path) -> None:
    text = BASE.replace(
        "      - name: get-item\n        method: GET\n",
        "      - name: get-item\n        method: GET\n      - name: get-item\n        method: POST\n",
    )
    errors = _errors(_check(tmp_path, text))
    assert any(
        "operation 'get-item' is defined twice" in m and line == 20 for line, m in errors
    ), errors


def test_duplicate_rest_method_and_path(tmp_path: Path) -> None:
    text = BASE.replace(
        "      - method: GET\n        call: api.get-item\n",
        "      - method: GET\n        call: api.get-item\n      - method: GET\n        name: again\n"
        "        call: api.get-item\n",
    )
    errors = _errors(_check(tmp_path, text))
    assert (
        29,
        "GET /items/{id} is defined twice (first at line 27), differently; "
        "give one of them its own path or method, or remove one",
    ) in errors, errors


def test_hint_contradiction_is_an_error(tmp_path: Path) -> None:
    text = BASE.replace(
        "      description: Get an item\n",
        "      description: Get an item\n      hints:\n        readOnly: true\n        destructive: true\n",
    )
    errors = _errors(_check(tmp_path, text))
    assert any("both readOnly and destructive" in m and line == 35 for line, m in errors), errors


def test_get_exposed_read_write_is_a_warning(tmp_path: Path) -> None:
    text = BASE.replace(
        "      description: Get an item\n",
        "      description: Get an item\n      hints:\n        readOnly: false\n",
    )
    analysis = _check(tmp_path, text)
    assert analysis.ok
    assert any(d.level == "warning" and "readOnly false" in d.message for d in analysis.diagnostics)


def test_unsupported_features_are_named(tmp_path: Path) -> None:
    text = BASE.replace(
        "      call: api.get-item\n      with:",
        "      steps: [{type: script, name: s, file: x.js}]\n      with:",
    )
    errors = _errors(_check(tmp_path, text))
    assert any(m == "not supported yet: script steps" and line == 39 for line, m in errors), errors


def test_call_and_steps_together_is_an_error(tmp_path: Path) -> None:
    text = BASE.replace(
        "      call: api.get-item\n      with:",
        "      steps: [{type: call, name: s, call: api.get-item}]\n      call: api.get-item\n      with:",
    )
    errors = _errors(_check(tmp_path, text))
    assert any("either 'call' or 'steps'" in m and line == 40 for line, m in errors), errors


def test_strict_turns_deviations_into_errors(tmp_path: Path) -> None:
    text = BASE.replace(
        "    namespace: api-rest\n", "    namespace: api-rest\n    description: REST adapter\n"
    )
    assert _check(tmp_path, text).ok
    strict = _check(tmp_path, text, strict=True)
    assert not strict.ok
    assert any("official alpha2 schema" in m and line == 21 for line, m in _errors(strict))


def test_seed_deviations_are_exactly_three_families() -> None:
    seed = Path(__file__).resolve().parents[1] / "specs" / "interactive-brokers.yaml"
    analysis = analyse(seed)
    assert analysis.ok
    official = [d.message for d in analysis.diagnostics if "official alpha2 schema" in d.message]
    families = {
        (
            "consumed-param-extras"
            if "'description'" in m and "'type'" in m
            else (
                "rest-description"
                if "('description' was unexpected)" in m
                else (
                    "object-without-properties" if "'properties' is a required property" in m else m
                )
            )
        )
        for m in official
    }
    assert families == {"consumed-param-extras", "rest-description", "object-without-properties"}
    assert not any(d.level == "error" for d in analysis.diagnostics)


def test_rest_without_the_path_parameter_takes_it_as_query(tmp_path: Path) -> None:
    """The Naftiko sandboxes expose GET /get-app for an upstream /apps/{app-id}: the REST caller
    gives it as a query parameter (a warning says so)."""
    analysis = _check(tmp_path, BASE.replace("    - path: /items/{id}", "    - path: /items"))
    assert analysis.ok, [d.format() for d in analysis.diagnostics]
    route = analysis.capability.rest.routes[0]
    assert [(i.name, i.location, i.required) for i in route.inputs if i.name == "id"] == [
        ("id", "query", True)
    ]
    assert any("implied query parameter" in d.message for d in analysis.diagnostics)


def test_jsonpath_the_generated_code_cannot_compile_is_a_located_error(tmp_path: Path) -> None:
    text = BASE + "      outputParameters:\n      - {type: string, mapping: '$.items[0'}\n"
    errors = _errors(_check(tmp_path, text))
    assert any(
        "JSONPath '$.items[0' is not understood" in m and line == 43 for line, m in errors
    ), errors
