"""The leniency rules of issue #17, from the remaining rejections of real catalog specs (README
"Leniency"): each one's warning, where it points, what the model becomes, the --strict error;
and the near misses that stay located errors with a fix-it hint."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from naftiko_gen.pipeline import analyse

from .conftest import ROOT

SPEC = ROOT / "tests" / "golden" / "catalog-leniency" / "catalog-leniency.yaml"

# (line, column, message) of every leniency warning of the golden spec.
WARNINGS = [
    (
        12,
        7,
        "{{HR_JWT_TOKEN}} in authentication is not declared in binds; read from environment "
        "variable HR_JWT_TOKEN (declare it under binds[].keys to document it)",
    ),
    (22, 11, "'yes' is not a boolean; read as true (write true without quotes)"),
    (
        24,
        5,
        "namespace 'hr' is consumed twice (first at line 8); the same baseUri and authentication "
        "with other resources: merged into one API",
    ),
    (
        33,
        9,
        "this operation has no 'name'; read as 'health', the one name calls use in namespace "
        "'hr' that no operation has (add name: health)",
    ),
    (
        34,
        5,
        "this consumes entry has no 'namespace'; read as 'jobs', the namespace the calls name "
        "and no other entry declares (add namespace: jobs)",
    ),
    (
        40,
        9,
        "this operation has no 'name'; read as 'get-job', the one name calls use in namespace "
        "'jobs' that no operation has (add name: get-job)",
    ),
    (50, 9, "GET /v1/health is defined twice, identically (first at line 48); served once"),
    (67, 9, "'t' is not a boolean; read as true (write true without quotes)"),
    (
        71,
        9,
        "'tools.employee_id' names input 'employee_id', which is declared as 'employeeId' (the "
        "same name but for case and '-'/'_'); read as 'employeeId'",
    ),
    (
        72,
        7,
        "input 'jobId' is used but not declared here; generated as an implied argument (declare "
        "it in inputParameters to document it)",
    ),
    (
        72,
        7,
        "input 'verbose' is used but not declared here; generated as an implied argument "
        "(declare it in inputParameters to document it)",
    ),
]


def _found(analysis, level: str) -> list[tuple[int, int, str]]:
    return [
        (d.line, d.column, d.message)
        for d in analysis.diagnostics
        if d.level == level and "official alpha2 schema" not in d.message
    ]


def test_golden_spec_builds_with_one_warning_per_deviation() -> None:
    analysis = analyse(SPEC)
    assert analysis.ok, [d.format() for d in analysis.diagnostics]
    found = _found(analysis, "warning")
    for warning in WARNINGS:
        assert warning in found, (warning, found)


def test_golden_spec_model_is_what_the_author_meant() -> None:
    cap = analyse(SPEC).capability
    assert cap is not None
    # The undeclared credential is a bind variable of its own, read from HR_JWT_TOKEN.
    assert [(s.var, s.env) for s in cap.secrets] == [("HR_JWT_TOKEN", "HR_JWT_TOKEN")]
    hr = next(u for u in cap.upstreams if u.namespace == "hr")
    assert [o.name for o in hr.operations] == ["get-employee", "health"]
    assert hr.auth is not None and hr.auth.token is not None
    assert hr.auth.token.kind == "secret" and hr.auth.token.value == "HR_JWT_TOKEN"
    assert [u.namespace for u in cap.upstreams] == ["hr", "jobs"]
    param = hr.operations[0].params[0]
    assert param.name == "employee-id" and param.required is True
    assert cap.rest is not None
    assert sorted((r.method, r.path) for r in cap.rest.routes) == [
        ("GET", "/v1/employees/{id}"),
        ("GET", "/v1/health"),
    ]
    assert cap.mcp is not None
    tools = {t.name: t for t in cap.mcp.tools}
    employee = tools["get-employee"]
    assert [(i.name, i.required) for i in employee.inputs] == [("employeeId", True)]
    assert dict(employee.call.args)["employee-id"].value == "employeeId"
    job = tools["get-job"]
    assert {i.name: i.required for i in job.inputs} == {"jobId": True, "verbose": False}
    assert dict(job.call.args)["job-id"].value == "jobId"


def test_golden_spec_strict_makes_each_deviation_an_error() -> None:
    analysis = analyse(SPEC, strict=True)
    assert not analysis.ok
    errors = _found(analysis, "error")
    for warning in WARNINGS:
        assert warning in errors, (warning, errors)


BASE = """\
naftiko: 1.0.0-alpha2
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: https://api.example.test
    resources:
    - name: items
      path: /items/{id}
      operations:
      - name: get-item
        method: GET
  exposes:
  - type: mcp
    port: 9090
    namespace: api-mcp
    tools:
    - name: get-item
      description: Get an item
      inputParameters:
      - name: itemId
        type: string
        description: Item id
      call: api.get-item
      with:
        id: tools.itemId
"""


def _analyse(tmp_path: Path, text: str, **kwargs):
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    return analyse(path, **kwargs)


def test_base_spec_is_valid(tmp_path: Path) -> None:
    assert _analyse(tmp_path, BASE).ok


# Near misses: where the meaning is not plain, a located error that names the defect and a hint.
@pytest.mark.parametrize(
    ("old", "new", "line", "column", "message"),
    [
        (
            "        id: tools.itemId\n",
            "        id: tools.item_idd\n",
            26,
            9,
            "'tools.item_idd' refers to input 'item_idd', which this tool does not have (not "
            "declared, not in the path, not a parameter of the called operation); did you mean "
            "'itemId'?",
        ),
        (
            "        description: Item id\n",
            "        description: Item id\n        required: maybe\n",
            24,
            9,
            "'maybe' is not of type 'boolean'; write true or false",
        ),
        (
            "      - name: get-item\n        method: GET\n",
            "      - name: get-item\n        method: GET\n"
            "  - type: http\n    namespace: api\n    baseUri: https://other.example.test\n"
            "    resources:\n    - name: more\n      path: /more\n      operations:\n"
            "      - name: more\n        method: GET\n",
            14,
            5,
            "namespace 'api' is consumed twice (first at line 5) and the two entries cannot be "
            "merged: different baseUri; give one a namespace of its own",
        ),
        (
            "      - name: get-item\n        method: GET\n",
            "      - name: get-item\n        method: GET\n"
            "  - type: http\n    namespace: api\n    baseUri: https://api.example.test\n"
            "    resources:\n    - name: again\n      path: /again/{id}\n      operations:\n"
            "      - name: get-item\n        method: GET\n",
            14,
            5,
            "namespace 'api' is consumed twice (first at line 5) and the two entries cannot be "
            "merged: both define operation 'get-item'; give one a namespace of its own",
        ),
        (
            "  - type: http\n    namespace: api\n",
            "  - type: http\n    baseUri: https://a.example.test\n  - type: http\n",
            4,
            5,
            "'namespace' is a required property; add namespace: (the calls name 'api')",
        ),
        (
            "    namespace: api-mcp\n",
            "    namespace: api-mcp\n    authentication:\n      type: bearer\n"
            "      token: '{{lower-case token}}'\n",
            19,
            7,
            "{{lower-case token}} refers to nothing known here (not a bind variable or an input)",
        ),
        (
            "      call: api.get-item\n",
            "      call: apis.getItem\n",
            24,
            7,
            "call 'apis.getItem': no consumed namespace 'apis' (known: api); did you mean "
            "'api.get-item'?",
        ),
        (
            "      - name: get-item\n        method: GET\n",
            "      - method: GET\n      - method: POST\n",
            11,
            9,
            "'name' is a required property; add name: (calls use 'get-item' in 'api')",
        ),
        (
            "    namespace: api-mcp\n",
            "    namespace: api-mcp\n    authentication:\n      type: bearer\n"
            "      token: '{{ADAPTER_MCP_TOKEN}}'\n",
            19,
            7,
            "{{ADAPTER_MCP_TOKEN}} in authentication is not declared in binds, and environment "
            "variable ADAPTER_MCP_TOKEN cannot hold it: ADAPTER_* are the adapter's own settings; "
            "declare it under binds[].keys with another environment variable (ADAPTER_MCP_TOKEN: "
            "MY_ADAPTER_MCP_TOKEN)",
        ),
        (
            "    namespace: api-mcp\n",
            "    namespace: api-mcp\n    authentication:\n      type: bearer\n"
            "      token: '{{hr.JWT_TOKEN}}'\n",
            19,
            7,
            "{{hr.JWT_TOKEN}} refers to nothing known here (not a bind variable or an input); to "
            "read it from binds, declare namespace 'hr' with keys: {JWT_TOKEN: <ENV_VAR>}",
        ),
    ],
    ids=[
        "misspelt-input",
        "boolean-word",
        "consumed-twice-other-base",
        "consumed-twice-same-operation",
        "two-entries-without-namespace",
        "credential-not-a-variable",
        "misspelt-call",
        "two-operations-without-name",
        "credential-named-like-an-adapter-setting",
        "credential-in-an-undeclared-bind-namespace",
    ],
)
def test_near_miss_is_a_located_error_with_a_hint(
    tmp_path: Path, old: str, new: str, line: int, column: int, message: str
) -> None:
    assert old in BASE
    analysis = _analyse(tmp_path, BASE.replace(old, new, 1))
    assert not analysis.ok
    errors = _found(analysis, "error")
    assert (line, column, message) in errors, errors


def test_route_defined_twice_differently_names_both_lines_and_the_item_path(
    tmp_path: Path,
) -> None:
    text = BASE.replace(
        "  - type: mcp\n",
        "  - type: rest\n    port: 8080\n    namespace: api-rest\n    resources:\n"
        "    - path: /items\n      operations:\n      - method: GET\n        call: api.get-item\n"
        "        with:\n          id: '1'\n      - method: GET\n        name: get-one\n"
        "        call: api.get-item\n  - type: mcp\n",
    )
    analysis = _analyse(tmp_path, text)
    assert not analysis.ok
    assert (
        24,
        9,
        "GET /items is defined twice (first at line 20), differently; serve operation "
        "'get-one' at its own path, e.g. '/items/{id}'",
    ) in _found(analysis, "error"), _found(analysis, "error")


def test_declared_credential_needs_no_warning(tmp_path: Path) -> None:
    text = "binds:\n- namespace: env\n  keys:\n    API_TOKEN: API_TOKEN\n" + BASE.replace(
        "    baseUri: https://api.example.test\n",
        "    baseUri: https://api.example.test\n    authentication:\n      type: bearer\n"
        "      token: '{{API_TOKEN}}'\n",
    )
    analysis = _analyse(tmp_path, text)
    assert analysis.ok, [d.format() for d in analysis.diagnostics]
    assert not [m for _, _, m in _found(analysis, "warning") if "binds" in m]


def test_undeclared_credential_in_an_apikey_and_inbound(tmp_path: Path) -> None:
    text = BASE.replace(
        "    baseUri: https://api.example.test\n",
        "    baseUri: https://api.example.test\n    authentication:\n      type: apikey\n"
        "      key: X-Api-Key\n      value: '{{env.ITEMS_KEY}}'\n      placement: header\n",
    ).replace(
        "    namespace: api-mcp\n",
        "    namespace: api-mcp\n    authentication:\n      type: bearer\n"
        "      token: '{{MCP_TOKEN}}'\n",
    )
    analysis = _analyse(tmp_path, text)
    assert analysis.ok, [d.format() for d in analysis.diagnostics]
    messages = [m for _, _, m in _found(analysis, "warning")]
    assert any(
        m.startswith("{{env.ITEMS_KEY}} in authentication is not declared") for m in messages
    )
    assert any(m.startswith("{{MCP_TOKEN}} in authentication is not declared") for m in messages)
    cap = analysis.capability
    assert cap is not None
    assert {(s.var, s.env) for s in cap.secrets} == {
        ("ITEMS_KEY", "ITEMS_KEY"),
        ("MCP_TOKEN", "MCP_TOKEN"),
    }
    assert not _analyse(tmp_path, text, strict=True).ok


def test_undeclared_variable_in_an_api_wide_parameter(tmp_path: Path) -> None:
    text = BASE.replace(
        "    baseUri: https://api.example.test\n",
        "    baseUri: https://api.example.test\n    inputParameters:\n    - name: Authorization\n"
        "      in: header\n      value: 'Bearer {{ZOOMINFO_JWT_TOKEN}}'\n",
    )
    analysis = _analyse(tmp_path, text)
    assert analysis.ok, [d.format() for d in analysis.diagnostics]
    assert (
        10,
        7,
        "{{ZOOMINFO_JWT_TOKEN}} in API-wide parameter 'Authorization' is not declared in binds; "
        "read from environment variable ZOOMINFO_JWT_TOKEN (declare it under binds[].keys to "
        "document it)",
    ) in _found(analysis, "warning")
    cap = analysis.capability
    assert cap is not None
    assert [(s.var, s.env) for s in cap.secrets] == [("ZOOMINFO_JWT_TOKEN", "ZOOMINFO_JWT_TOKEN")]
    (param,) = cap.upstreams[0].shared_params
    assert param.value is not None
    assert param.value.parts == (("text", "Bearer "), ("secret", "ZOOMINFO_JWT_TOKEN"))
    assert not _analyse(tmp_path, text, strict=True).ok
