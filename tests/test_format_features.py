"""Resolver behaviour for format features real specs use: aggregates/ref, baseUri templates,
API-key shapes, secret path placeholders, body-template inputs."""

from __future__ import annotations

import textwrap
from pathlib import Path

from naftiko_gen.pipeline import analyse

HEAD = """\
naftiko: 1.0.0-alpha2
binds:
- namespace: env
  keys:
    HOST_URL: SERVICE_URL
    SITE: SITE_ID
    KEY: API_KEY
"""


def _cap(tmp_path: Path, body: str):
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD + textwrap.dedent(body))
    analysis = analyse(path)
    assert analysis.ok, [d.format() for d in analysis.diagnostics]
    return analysis.capability, analysis.diagnostics


def test_aggregate_ref_is_inlined_with_semantics_as_hints(tmp_path: Path) -> None:
    cap, _ = _cap(
        tmp_path,
        """\
        capability:
          aggregates:
          - namespace: fc
            functions:
            - name: get-forecast
              description: Fetch the forecast.
              semantics: {safe: true, idempotent: true}
              inputParameters: [{name: location, type: string, description: City}]
              call: api.forecast
              with: {location: location}
          consumes:
          - {type: http, namespace: api, baseUri: 'http://x.test', resources: [{name: f, path: /forecast, operations: [{name: forecast, method: GET}]}]}
          exposes:
          - type: mcp
            port: 9000
            namespace: m
            tools:
            - {ref: fc.get-forecast, name: renamed}
        """,
    )
    tool = cap.mcp.tools[0]
    assert (tool.name, tool.description) == ("renamed", "Fetch the forecast.")
    assert (
        tool.annotations.read_only
        and tool.annotations.idempotent
        and not tool.annotations.destructive
    )
    assert tool.call.extra_query[0][1].kind == "input"  # bare `location` means the input


def test_metadata_the_generator_cannot_act_on_is_reported_not_dropped(tmp_path: Path) -> None:
    """semantics.cacheable and outputSchema have no effect yet: each is a warning at its line
    (once per function, however many tools reference it)."""
    _, diagnostics = _cap(
        tmp_path,
        """\
        capability:
          aggregates:
          - namespace: fc
            functions:
            - name: get-forecast
              description: Fetch the forecast.
              semantics: {safe: true, cacheable: true}
              call: api.forecast
          consumes:
          - type: http
            namespace: api
            baseUri: 'http://x.test'
            resources:
            - name: f
              path: /forecast
              operations:
              - {name: forecast, method: GET, outputRawFormat: html, outputSchema: 'div.forecast'}
          exposes:
          - type: mcp
            port: 9000
            namespace: m
            tools:
            - {ref: fc.get-forecast, name: one}
            - {ref: fc.get-forecast, name: two}
        """,
    )
    lines = (tmp_path / "spec.yaml").read_text().splitlines()
    line_of = {
        word: next(i for i, text in enumerate(lines, 1) if word in text)
        for word in ("cacheable: true", "outputSchema")
    }
    cacheable = [d for d in diagnostics if "semantics.cacheable is not used yet" in d.message]
    schema = [d for d in diagnostics if "outputSchema is not used yet" in d.message]
    assert [(d.level, d.line) for d in cacheable] == [("warning", line_of["cacheable: true"])]
    assert [(d.level, d.line) for d in schema] == [("warning", line_of["outputSchema"])]


def test_unknown_ref_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD + textwrap.dedent("""\
            capability:
              consumes:
              - {type: http, namespace: api, baseUri: 'http://x.test', resources: [{name: f, path: /f, operations: [{name: f, method: GET}]}]}
              exposes:
              - type: mcp
                port: 9000
                namespace: m
                tools:
                - {ref: nope.fn, name: t}
            """))
    errors = [d for d in analyse(path).diagnostics if d.level == "error"]
    assert (
        errors
        and "ref 'nope.fn' names no aggregate function" in errors[0].message
        and errors[0].line == 16
    )


def test_base_uri_templates_secret_paths_and_apikey_shapes(tmp_path: Path) -> None:
    cap, diagnostics = _cap(
        tmp_path,
        """\
        capability:
          consumes:
          - type: http
            namespace: api
            baseUri: '{{env.HOST_URL}}/v2'
            authentication: {type: header, header: X-Key, value: '{{KEY}}'}
            resources:
            - {name: s, path: '/sites/{{env.SITE}}/items', operations: [{name: items, method: GET}]}
          - type: http
            namespace: other
            baseUri: 'https://{{UNDECLARED_HOST}}'
            authentication: {type: apikey, in: query, name: token, value: '{{KEY}}'}
            resources:
            - {name: s, path: /ping, operations: [{name: ping, method: GET}]}
          exposes:
          - type: mcp
            port: 9000
            namespace: m
            tools:
            - {name: items, description: i, call: api.items}
            - {name: ping, description: p, call: other.ping}
        """,
    )
    api, other = cap.upstreams
    assert api.base_url_template.parts == (("secret", "HOST_URL"), ("text", "/v2"))
    assert api.base_path == "/v2"
    assert api.auth.keys[0][:2] == ("header", "X-Key")
    assert other.auth.keys[0][:2] == ("query", "token")
    assert {s.var for s in cap.secrets} == {"HOST_URL", "SITE", "KEY", "UNDECLARED_HOST"}
    site_arg = dict(cap.mcp.tools[0].call.args)["env.SITE"]
    assert site_arg.kind == "secret" and site_arg.value == "SITE"
    messages = [d.message for d in diagnostics if d.level == "warning"]
    assert any("UNDECLARED_HOST" in m and "read from environment variable" in m for m in messages)
    assert any("apikey shape is not official" in m for m in messages)


def test_body_template_inputs_from_with(tmp_path: Path) -> None:
    cap, diagnostics = _cap(
        tmp_path,
        """\
        capability:
          consumes:
          - type: http
            namespace: api
            baseUri: 'http://x.test'
            resources:
            - name: orders
              path: /orders
              operations:
              - name: submit
                method: POST
                body: {type: json, data: {email: '{{tools.email}}', n: '{{tools.count}}'}}
          exposes:
          - type: mcp
            port: 9000
            namespace: m
            tools:
            - name: submit
              description: s
              call: api.submit
              with: {email: tools.email, count: tools.count}
        """,
    )
    tool = cap.mcp.tools[0]
    assert [i.name for i in tool.inputs] == ["email", "count"]
    assert all(i.implied for i in tool.inputs)
    assert tool.call.extra_query == ()  # consumed by the body template, not sent as query
    assert sum("implied argument" in d.message for d in diagnostics) == 2


def test_skill_tools_must_come_from_exposed_operations(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD + textwrap.dedent("""\
            capability:
              consumes:
              - {type: http, namespace: api, baseUri: 'http://x.test', resources: [{name: f, path: /f, operations: [{name: f, method: GET}]}]}
              exposes:
              - {type: mcp, port: 9000, namespace: m, tools: [{name: t, description: d, call: api.f}]}
              - type: skill
                port: 9001
                namespace: s
                skills:
                - name: ok-skill
                  description: fine
                  tools: [{name: t, from: {sourceNamespace: m, action: t}}]
                - name: bad-skill
                  description: broken
                  tools: [{name: x, from: {sourceNamespace: m, action: missing}}]
            """))
    errors = [d for d in analyse(path).diagnostics if d.level == "error"]
    assert len(errors) == 1 and "m.missing" in errors[0].message and errors[0].line == 22


def test_file_binds_and_spec_declared_inbound_token(tmp_path: Path) -> None:
    import subprocess
    import sys

    from naftiko_gen.pipeline import generate
    from naftiko_gen.writer import write_tree

    spec = tmp_path / "filebinds.yaml"
    spec.write_text(textwrap.dedent("""\
            naftiko: 1.0.0-alpha2
            binds:
            - namespace: registry-env
              location: file:///./shared/secrets.yaml
              keys: {TOKEN: api-token, INBOUND: mcp-token}
            capability:
              consumes:
              - type: http
                namespace: api
                baseUri: http://x.test
                authentication: {type: bearer, token: '{{TOKEN}}'}
                resources: [{name: f, path: /f, operations: [{name: f, method: GET}]}]
              exposes:
              - type: mcp
                port: 9000
                namespace: m
                authentication: {type: bearer, token: '{{INBOUND}}'}
                tools: [{name: t, description: d, call: api.f}]
            """))
    analysis = analyse(spec)
    assert analysis.ok, [d.format() for d in analysis.diagnostics]
    project = tmp_path / "out" / "filebinds"
    write_tree(project, generate(analysis.capability))
    work = tmp_path / "run"
    (work / "shared").mkdir(parents=True)
    (work / "shared" / "secrets.yaml").write_text(
        "api-token: from-file\nmcp-token: inbound-secret\n"
    )
    code = (
        "import os, sys; sys.path.insert(0, sys.argv[1]);"
        "from filebinds.settings import load_settings, ConfigError\n"
        "s = load_settings(dict(os.environ)); print(s.secrets['TOKEN'], s.mcp_guard.secret)"
    )

    def run(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code, str(project)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
        )

    assert run({}, work).stdout.split() == ["from-file", "inbound-secret"]
    assert run({"api-token": "from-env", "ADAPTER_MCP_TOKEN": "override"}, work).stdout.split() == [
        "from-env",
        "override",
    ]
    missing = run({}, tmp_path)
    assert (
        missing.returncode != 0
        and "the bind file ./shared/secrets.yaml cannot be read" in missing.stderr
    )


def test_catalog_paths_server_variables_and_key_placements(tmp_path: Path) -> None:
    cap, diagnostics = _cap(
        tmp_path,
        """\
        capability:
          consumes:
          - type: http
            namespace: store
            baseUri: 'https://{account}.example.com:{port}/v1'
            authentication: {type: apikey, key: session, value: '{{KEY}}', placement: cookie}
            resources:
            - name: items
              path: /items
              operations:
              - {name: list, method: GET}
              - {name: one, method: GET, inputParameters: [{name: itemId, in: path}]}
              - {name: children, method: GET, path: '/items/{parentId}/children', inputParameters: [{name: parentId, in: path}]}
          - type: http
            namespace: bot
            baseUri: 'https://api.example.org/bot{token}'
            authentication: {type: apikey, key: token, value: '{{KEY}}', placement: path}
            resources:
            - {name: me, path: /getMe, operations: [{name: me, method: GET}]}
          exposes:
          - type: mcp
            port: 9000
            namespace: m
            tools:
            - {name: one, description: o, call: store.one}
            - {name: children, description: c, call: store.children}
            - {name: me, description: m, call: bot.me}
        """,
    )
    store, bot = cap.upstreams
    assert [p for k, p in store.base_url_template.parts if k == "secret"] == [
        "STORE_ACCOUNT",
        "STORE_PORT",
    ]
    assert {s.var: s.env for s in cap.secrets}["STORE_PORT"] == "STORE_PORT"
    assert store.auth.keys[0][:2] == ("cookie", "session")
    paths = {o.name: o.path for o in store.operations}
    assert paths == {
        "list": "/items",
        "one": "/items/{itemId}",  # a path parameter missing from the path: the last segment
        "children": "/items/{parentId}/children",  # the operation's own path
    }
    # The key placed in the path fills the baseUri variable of that name; no other auth is sent.
    assert bot.auth is None
    assert bot.base_url_template.parts == (
        ("text", "https://api.example.org/bot"),
        ("secret", "KEY"),
    )
    warnings = " ".join(d.message for d in diagnostics if d.level == "warning")
    assert (
        "server variable {account} in baseUri is read from environment variable STORE_ACCOUNT"
        in warnings
    )
    assert "appended as its last segment" in warnings and "operation-level 'path'" in warnings


def test_imported_consumes_with_alias_and_located_errors(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "api.yml").write_text(textwrap.dedent("""\
            naftiko: 1.0.0-alpha2
            consumes:
            - namespace: other
              type: http
              baseUri: http://o.test
              resources: [{name: o, path: /o, operations: [{name: o, method: GET}]}]
            - namespace: weather
              type: http
              baseUri: http://w.test
              resources:
              - {name: f, path: '/forecast/{{city}}', operations: [{name: forecast, method: GET}]}
            """))
    cap, diagnostics = _cap(
        tmp_path,
        """\
        capability:
          consumes:
          - {import: weather, location: ./shared/api.yml, as: wx}
          exposes:
          - type: mcp
            port: 9000
            namespace: m
            tools:
            - {name: forecast, description: f, call: wx.forecast}
        """,
    )
    (upstream,) = cap.upstreams
    assert (upstream.namespace, upstream.base_url) == ("wx", "http://w.test")
    assert upstream.operations[0].path == "/forecast/{city}"
    # Warnings about the imported entry name the imported file and its line.
    implied = [d for d in diagnostics if "implied" in d.message]
    assert implied and implied[0].file.endswith("spec.yaml")

    broken = tmp_path / "broken.yaml"
    broken.write_text(HEAD + textwrap.dedent("""\
            capability:
              consumes:
              - {import: weather, location: ./shared/nope.yml}
              - {import: missing, location: ./shared/api.yml}
              exposes:
              - {type: mcp, port: 9000, namespace: m, tools: [{name: t, description: t, call: wx.x}]}
            """))
    errors = [d for d in analyse(broken).diagnostics if d.level == "error"]
    messages = [(Path(d.file).name, d.line, d.message) for d in errors]
    assert ("nope.yml", 1, "file not found") in messages, messages
    assert any(
        line == 11 and "has no consumes namespace 'missing' (it has: other, weather)" in m
        for _, line, m in messages
    ), messages


def test_rest_location_references_and_document_bodies(tmp_path: Path) -> None:
    cap, diagnostics = _cap(
        tmp_path,
        """\
        capability:
          consumes:
          - type: http
            namespace: api
            baseUri: http://x.test
            resources:
            - name: c
              path: /connections/{id}
              operations:
              - {name: get, method: GET, inputParameters: [{name: id, in: path}, {name: X-Version, in: header}]}
            - name: d
              path: /definitions
              operations:
              - {name: put-def, method: POST, body: {type: yaml, data: {definition: '{{tools.definition}}'}}}
              - {name: raw, method: POST, body: {type: json, data: '{{tools.payload}}'}}
          exposes:
          - type: rest
            port: 8080
            namespace: r
            resources:
            - path: /connections
              operations:
              - method: GET
                call: api.get
                with: {X-Version: rest.header.x-version, id: rest.path.id}
          - type: mcp
            port: 9000
            namespace: m
            tools:
            - {name: put-def, description: p, call: api.put-def, inputParameters: [{name: definition, type: string, description: d}]}
            - {name: raw, description: r, call: api.raw, inputParameters: [{name: payload, type: object, description: p}]}
        """,
    )
    route = cap.rest.routes[0]
    assert route.spec_path == "/connections/{id}"  # rest.path.id: the item below /connections
    assert {(i.name, i.location) for i in route.inputs} == {("id", "path"), ("x-version", "header")}
    put_def, raw = (t.call for t in cap.mcp.tools)
    assert put_def.body.kind == "json" and put_def.body.content_type == "application/yaml"
    assert raw.body.kind == "json" and raw.body.template.kind == "input"  # the whole document
    assert any("names a path parameter the path lacks" in d.message for d in diagnostics)


def test_parameter_without_in_named_in_the_path_is_the_path_parameter(tmp_path: Path) -> None:
    cap, diagnostics = _cap(
        tmp_path,
        """\
        capability:
          consumes:
          - type: http
            namespace: api
            baseUri: http://x.test
            resources:
            - name: t
              path: /targets
              operations:
              - {name: activate, method: POST, path: '/activate/{targetId}', inputParameters: [{name: targetId, type: string}]}
          exposes:
          - {type: mcp, port: 9000, namespace: m, tools: [{name: activate, description: a, call: api.activate}]}
        """,
    )
    (param,) = cap.upstreams[0].operations[0].params
    assert (param.name, param.location, param.required) == ("targetId", "path", True)
    assert any("has no 'in'; it fills {targetId}" in d.message for d in diagnostics)
