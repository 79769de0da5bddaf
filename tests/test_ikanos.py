"""The Ikanos front end on its own (no ../shared needed): dialect detection, the keyed-map
shape, diagnostics on the Ikanos file's own lines, ``not supported yet``, the official beta5
schema as warnings (errors under --strict), XML answers read as JSON, bad input."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from naftiko_gen import renderer
from naftiko_gen.dialects import ALPHA2, IKANOS
from naftiko_gen.pipeline import analyse, generate
from naftiko_gen.writer import write_tree

from .conftest import fake_server, generated_package, serving_mcp

SPEC = """\
ikanos: "1.0.0-beta5"
info:
  display: Shop
  description: A small shop.
capability:
  consumes:
  - namespace: shop
    type: http
    baseUri: https://shop.example.com/v1
    resources:
      orders:
        path: /orders/{{orderId}}
        operations:
          get-order:
            method: GET
            inputParameters:
              orderId:
                in: path
  exposes:
  - type: mcp
    port: 3001
    namespace: shop-tools
    description: Shop tools.
    tools:
      get-order:
        description: One order.
        inputParameters:
          id:
            type: string
            description: The order id.
        call: shop.get-order
        with:
          orderId: shop-tools.id
"""


def _diagnostics(
    tmp_path: Path, text: str, *, strict: bool = False, name: str = "s.yaml"
) -> list[str]:
    spec = tmp_path / name
    spec.write_text(textwrap.dedent(text), encoding="utf-8")
    return [
        d.format().replace(d.file, Path(d.file).name, 1)
        for d in analyse(spec, strict=strict).diagnostics
    ]


def _errors(tmp_path: Path, text: str, **kw: bool) -> list[str]:
    return [d for d in _diagnostics(tmp_path, text, **kw) if ": error: " in d]


def test_a_valid_ikanos_spec_builds_the_shared_model(tmp_path: Path) -> None:
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    analysis = analyse(spec, strict=True)
    assert analysis.ok, [d.format() for d in analysis.diagnostics]
    cap = analysis.capability
    assert cap.source_dialect == IKANOS and cap.title == "Shop"
    (tool,) = cap.mcp.tools
    assert tool.name == "get-order"
    assert [i.name for i in tool.inputs] == ["id"]
    (upstream,) = cap.upstreams
    assert [op.name for op in upstream.operations] == ["get-order"]


def test_alpha2_still_reads_as_alpha2(tmp_path: Path) -> None:
    spec = tmp_path / "a.yaml"
    spec.write_text(
        SPEC.replace('ikanos: "1.0.0-beta5"', "naftiko: 1.0.0-alpha2"), encoding="utf-8"
    )
    # The Ikanos maps under an alpha2 root are the alpha2 front end's (located) errors.
    errors = [d for d in analyse(spec).diagnostics if d.level == "error"]
    assert errors and all(d.line > 1 for d in errors)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ('"2.0.0"', "unknown Ikanos version '2.0.0'"),
        ("1.0", "must be a string"),
        ('"1.0.0-alpha2"', "write 'naftiko: 1.0.0-alpha2'"),
        ('"1.0.0-beta9"', "unknown Ikanos version"),
    ],
)
def test_a_wrong_version_is_a_located_error(tmp_path: Path, version: str, expected: str) -> None:
    errors = _errors(tmp_path, SPEC.replace('"1.0.0-beta5"', version, 1))
    assert len(errors) == 1, errors
    assert errors[0].startswith("s.yaml:1:1: error:") and expected in errors[0]


def test_an_ikanos_version_under_the_alpha2_key(tmp_path: Path) -> None:
    errors = _errors(tmp_path, SPEC.replace('ikanos: "1.0.0-beta5"', "naftiko: 1.0.0-beta5"))
    assert errors == [
        "s.yaml:1:1: error: version '1.0.0-beta5' is an Ikanos version: from 1.0.0-alpha3 the root "
        "key is 'ikanos:' (write 'ikanos: 1.0.0-beta5') [/naftiko]"
    ]


def test_both_version_keys(tmp_path: Path) -> None:
    errors = _errors(tmp_path, "naftiko: 1.0.0-alpha2\n" + SPEC)
    assert len(errors) == 1 and "not both" in errors[0]


def test_an_older_ikanos_version_is_read_and_the_official_schema_warns(tmp_path: Path) -> None:
    diagnostics = _diagnostics(tmp_path, SPEC.replace("1.0.0-beta5", "1.0.0-beta3", 1))
    assert [d for d in diagnostics if ": error: " in d] == []
    assert any("official Ikanos beta5 schema" in d and "s.yaml:1:" in d for d in diagnostics)
    strict = _errors(tmp_path, SPEC.replace("1.0.0-beta5", "1.0.0-beta3", 1), strict=True)
    assert strict and all("official Ikanos beta5 schema" in d for d in strict)


def test_an_alpha2_list_under_an_ikanos_root_is_located(tmp_path: Path) -> None:
    text = SPEC.replace(
        """    resources:
      orders:
        path: /orders/{{orderId}}
        operations:
          get-order:
            method: GET
            inputParameters:
              orderId:
                in: path
""",
        """    resources:
    - name: orders
      path: /orders/{{orderId}}
      operations:
      - name: get-order
        method: GET
""",
    )
    errors = _errors(tmp_path, text)
    assert errors[0].startswith("s.yaml:10:5: error: in Ikanos, resources are a map keyed by name")
    assert "alpha2 form" in errors[0] and "[/capability/consumes/0/resources]" in errors[0]


def test_a_map_where_a_list_is_expected_is_located(tmp_path: Path) -> None:
    text = SPEC.replace("  exposes:\n  - type: mcp\n", "  exposes:\n    mcp:\n      type: mcp\n")
    text = text.replace("\n    port: 3001", "\n      port: 3001")
    errors = _errors(
        tmp_path,
        text.split("    namespace: shop-tools")[0] + "      namespace: x\n      tools: {}\n",
    )
    assert any(
        e.startswith("s.yaml:19:3: error: exposes entries are a list") for e in errors
    ), errors


def test_an_entry_that_is_not_a_mapping(tmp_path: Path) -> None:
    text = SPEC.replace(
        "              orderId:\n                in: path\n", "              orderId: path\n"
    )
    errors = _errors(tmp_path, text)
    assert errors[0].startswith("s.yaml:17:15: error: inputParameter 'orderId' must be a mapping")


def test_duplicate_keys_in_a_keyed_map(tmp_path: Path) -> None:
    text = SPEC.replace(
        "      get-order:\n        description: One order.",
        "      get-order:\n        description: dup\n        call: shop.get-order\n"
        "      get-order:\n        description: One order.",
    )
    errors = _errors(tmp_path, text)
    assert len(errors) == 1
    assert errors[0].startswith(
        "s.yaml:28:7: error: duplicate key 'get-order' (first defined on line 25)"
    )


def test_name_inside_a_keyed_entry_must_agree_with_its_key(tmp_path: Path) -> None:
    text = SPEC.replace(
        "        description: One order.", "        name: other\n        description: One order."
    )
    errors = _errors(tmp_path, text)
    assert errors == [
        "s.yaml:26:9: error: in Ikanos the key 'get-order' is the name; remove 'name: other' "
        "(or rename the key) [/capability/exposes/0/tools/get-order/name]"
    ]


def test_resolver_diagnostics_point_at_the_ikanos_keys(tmp_path: Path) -> None:
    errors = _errors(tmp_path, SPEC.replace("call: shop.get-order", "call: shop.get-orders"))
    assert errors == [
        "s.yaml:31:9: error: call 'shop.get-orders': namespace 'shop' has no operation "
        "'get-orders' [/capability/exposes/0/tools/get-order/call]"
    ]
    errors = _errors(tmp_path, SPEC.replace("orderId: shop-tools.id", "orderId: shop-tools.nope"))
    assert len(errors) == 1, errors
    assert errors[0].startswith("s.yaml:33:11: error: 'shop-tools.nope' refers to input 'nope'")
    assert errors[0].endswith("[/capability/exposes/0/tools/get-order/with/orderId]")


def test_display_is_the_label_and_its_diagnostics_name_display(tmp_path: Path) -> None:
    text = SPEC.replace(
        "        description: One order.", "        display: 5\n        description: One order."
    )
    diagnostics = _diagnostics(tmp_path, text)
    located = [d for d in diagnostics if "/tools/get-order/display" in d]
    assert located and all(d.startswith("s.yaml:26:9:") for d in located), diagnostics


@pytest.mark.parametrize(
    ("insert_after", "field", "what"),
    [
        ("            method: GET\n", "            tags: [a]\n", "'tags' on operations"),
        ("            method: GET\n", "            maxBinarySize: 10MB\n", "'maxBinarySize'"),
        ("    baseUri: https://shop.example.com/v1\n", "    tunnel: {type: ziti}\n", "'tunnel'"),
        ("    port: 3001\n", "    ttlMs: 100\n", "'ttlMs'"),
        ("        description: One order.\n", "        tags: [x]\n", "'tags' on operations, tools"),
    ],
)
def test_new_ikanos_fields_are_not_supported_yet_at_their_line(
    tmp_path: Path, insert_after: str, field: str, what: str
) -> None:
    text = SPEC.replace(insert_after, insert_after + field, 1)
    line = text[: text.index(field)].count("\n") + 1
    errors = _errors(tmp_path, text)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"s.yaml:{line}:") and f"not supported yet: {what}" in errors[0]


def test_imported_exposes_are_not_supported_yet(tmp_path: Path) -> None:
    text = SPEC + "  - from: ./shared.yml\n    import: more-tools\n"
    errors = _errors(tmp_path, text)
    assert errors == [
        "s.yaml:34:5: error: not supported yet: imported exposes entries ('from'); write the "
        "adapter inline [/capability/exposes/1]"
    ]


def test_imported_consumes_from_an_ikanos_file_are_located_there(tmp_path: Path) -> None:
    (tmp_path / "shared.yml").write_text(
        textwrap.dedent("""\
            ikanos: 1.0.0-beta5
            consumes:
            - namespace: shop
              type: http
              baseUri: https://shop.example.com/v1
              resources:
                orders:
                  path: /orders/{{orderId}}
                  operations:
                    get-order:
                      method: GET
                      inputParameters:
                        orderId:
                          in: somewhere
            """),
        encoding="utf-8",
    )
    head, _, tail = SPEC.partition("  consumes:\n")
    tail = tail[tail.index("  exposes:") :]
    text = head + "  consumes:\n  - import: shop\n    from: ./shared.yml\n" + tail
    errors = _errors(tmp_path, text)
    assert any(e.startswith("shared.yml:14:") or "/shared.yml:14:" in e for e in errors), errors


# --------------------------------------------------------------------------- XML answers

XML_SPEC = """\
ikanos: "1.0.0-beta5"
capability:
  consumes:
  - namespace: dock
    type: http
    baseUri: http://127.0.0.1:1/api
    resources:
      vessels:
        path: /vessels
        operations:
          list-vessels:
            method: GET
            outputRawFormat: xml
  exposes:
  - type: mcp
    port: 3001
    namespace: dock-tools
    tools:
      list-vessels:
        description: Vessels.
        call: dock.list-vessels
        outputParameters:
        - type: array
          mapping: "$.vessel"
          items:
            type: object
            properties:
              code: {type: string, mapping: "$.code"}
              tons: {type: number, mapping: "$.tons"}
              kind: {type: string, mapping: "$.kind"}
"""


async def test_xml_answers_are_mapped_like_json(tmp_path: Path) -> None:
    answers = [
        b'<?xml version="1.0"?><vessels xmlns="urn:x"><vessel kind="tug"><code>V1</code>'
        b"<tons>12.5</tons></vessel><vessel><code>V2</code><tons>7</tons></vessel></vessels>",
        b'<?xml version="1.0"?><!DOCTYPE v [<!ENTITY a "aaaa">]><vessels>&a;</vessels>',
        b"not xml at all <",
    ]

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=answers.pop(0), content_type="application/xml")

    with generated_package(tmp_path, "dock.yaml", XML_SPEC) as package:
        settings_mod = importlib.import_module(f"{package}.settings")
        async with fake_server(handle) as server:
            settings = settings_mod.load_settings(
                {"DOCK_BASE_URL": str(server.make_url("/api")), "DOCK_RETRIES": "0"}
            )
            async with serving_mcp(package, settings) as mcp:
                ok = await mcp.call_tool("list-vessels", {})
                entities = await mcp.call_tool("list-vessels", {})
                garbage = await mcp.call_tool("list-vessels", {})
    assert not ok.is_error, ok.content
    assert ok.structured_content["items"] == [
        {"code": "V1", "tons": 12.5, "kind": "tug"},
        {"code": "V2", "tons": 7, "kind": None},
    ]
    assert entities.is_error and "DOCTYPE" in json.dumps(entities.model_dump(mode="json"))
    assert garbage.is_error and "not XML" in json.dumps(garbage.model_dump(mode="json"))


def test_dialect_constants() -> None:
    assert ALPHA2 == "naftiko 1.0.0-alpha2" and IKANOS == "ikanos 1.0.0-beta5"


# --------------------------------------------------------------------------- hostile keys

HOSTILE_KEYS = [
    "a'b",
    'a"b',
    "a\nb",
    "a b",
    "é-ü",
    "{{x}}",
    "../x",
    "__import__('os').system('x')",
    "x" * 200,
    "class",
    "1",
    "a\u202eb",
    "a/b",
    "a.b",
    "-",
    "$ref",
    "a#b",
    "\\",
]
KEY_PLACES = ["tool", "tool-input", "resource", "operation", "consumed-param", "namespace"]


def _with_key(place: str, key: str) -> dict:
    spec = yaml.safe_load(SPEC)
    consumes = spec["capability"]["consumes"][0]
    tools = spec["capability"]["exposes"][0]["tools"]
    tool = tools["get-order"]
    if place == "tool":
        tools[key] = tools.pop("get-order")
    elif place == "tool-input":
        tool["inputParameters"] = {key: tool["inputParameters"]["id"]}
        tool["with"] = {"orderId": f"shop-tools.{key}"}
    elif place == "resource":
        consumes["resources"] = {key: consumes["resources"]["orders"]}
    elif place == "operation":
        ops = consumes["resources"]["orders"]["operations"]
        ops[key] = ops.pop("get-order")
        tool["call"] = f"shop.{key}"
    elif place == "consumed-param":
        resource = consumes["resources"]["orders"]
        resource["path"] = "/orders/{{" + key + "}}"
        resource["operations"]["get-order"]["inputParameters"] = {key: {"in": "path"}}
        tool["with"] = {key: "shop-tools.id"}
    elif place == "namespace":
        consumes["namespace"] = key
        tool["call"] = f"{key}.get-order"
    return spec


@pytest.fixture(scope="module")
def hostile_keys_built(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], object]:
    """Every (place, key): the analysis, and the package written when it was accepted."""
    root = tmp_path_factory.mktemp("hostile-keys")
    results: dict[tuple[str, str], object] = {}
    # black is deterministic and most generated files do not depend on the key: format each
    # distinct text once (only a speed-up; the output is what `naftiko-gen build` writes).
    formatted: dict[str, str] = {}
    original = renderer.format_python

    def memo(text: str, name: str) -> str:
        if text not in formatted:
            formatted[text] = original(text, name)
        return formatted[text]

    patch = pytest.MonkeyPatch()
    patch.setattr(renderer, "format_python", memo)
    patch.setenv("NAFTIKO_GEN_JOBS", "1")  # render in this process, where the memo lives
    for p_index, place in enumerate(KEY_PLACES):
        for k_index, key in enumerate(HOSTILE_KEYS):
            folder = root / f"{p_index}-{k_index}"
            folder.mkdir()
            spec = folder / "k.yaml"
            spec.write_text(yaml.safe_dump(_with_key(place, key), sort_keys=False), "utf-8")
            analysis = analyse(spec)
            if analysis.ok:
                write_tree(folder / "out", generate(analysis.capability))
            results[(place, key)] = analysis
    patch.undo()
    results[("root", "")] = root
    return results


@pytest.mark.parametrize("place", KEY_PLACES)
def test_hostile_keys_are_located_errors_or_safe_packages(
    hostile_keys_built: dict, place: str
) -> None:
    for key in HOSTILE_KEYS:
        analysis = hostile_keys_built[(place, key)]
        if not analysis.ok:
            errors = [d for d in analysis.diagnostics if d.level == "error"]
            assert errors, key
            for d in errors:
                assert d.line > 1 and d.column >= 1 and d.message.strip(), (key, d.format())
                assert "Traceback" not in d.message
            continue
        cap = analysis.capability
        # Keys are names: they reach Python only as escaped data or sanitized identifiers.
        for upstream in cap.upstreams:
            assert upstream.env_prefix.isidentifier() and upstream.env_prefix.isupper()
            assert all(op.const_name.isidentifier() for op in upstream.operations)
        if place == "tool":
            assert [t.name for t in cap.mcp.tools] == [key]


def test_hostile_key_packages_compile_and_are_ruff_clean(hostile_keys_built: dict) -> None:
    root = hostile_keys_built[("root", "")]
    projects = sorted(str(p.parent) for p in root.glob("*/out/pyproject.toml"))
    assert len(projects) > len(KEY_PLACES), "most hostile keys should still build"
    compiled = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *projects], capture_output=True, text=True
    )
    assert compiled.returncode == 0, compiled.stdout[-3000:]
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "-q", *projects],
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout[-3000:]


# --------------------------------------------------------------------------- the CLI


def test_validate_build_and_check_work_the_same_for_ikanos(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from naftiko_gen.cli import main

    spec, out = tmp_path / "shop.yaml", tmp_path / "generated"
    spec.write_text(SPEC, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["validate", "--strict", str(spec)]).exit_code == 0
    assert runner.invoke(main, ["build", str(spec), "-o", str(out), "-q"]).exit_code == 0
    checked = runner.invoke(main, ["check", str(spec), "-o", str(out)])
    assert checked.exit_code == 0 and "is up to date" in checked.output
    spec.write_text(SPEC.replace("One order.", "One order, by id."), encoding="utf-8")
    drift = runner.invoke(main, ["check", str(spec), "-o", str(out)])
    assert drift.exit_code == 1 and "is out of date" in drift.output
    assert "One order, by id." in drift.output  # the diff


def test_corpus_tallies_by_dialect(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from naftiko_gen.corpus import corpus_command

    from .conftest import ROOT

    (tmp_path / "shop.yaml").write_text(SPEC, encoding="utf-8")
    (tmp_path / "minimal.yaml").write_bytes(
        (ROOT / "tests" / "golden" / "minimal" / "minimal.yaml").read_bytes()
    )
    (tmp_path / "broken.yaml").write_text(SPEC.replace("1.0.0-beta5", "3"), encoding="utf-8")
    (tmp_path / "old.yaml").write_text(
        SPEC.replace("display: Shop", "display: 5"), encoding="utf-8"
    )
    result = CliRunner().invoke(corpus_command, [str(tmp_path), "--no-tests"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "4 specs: 2 built, 2 rejected" in lines
    assert f"  {IKANOS}: 2 specs: 1 built, 1 rejected" in lines
    assert f"  {ALPHA2}: 1 specs: 1 built" in lines
    assert "  no usable version key: 1 specs: 1 rejected" in lines


def test_info_version_is_the_package_version(tmp_path: Path) -> None:
    spec = tmp_path / "shop.yaml"
    spec.write_text(
        SPEC.replace("  display: Shop\n", "  display: Shop\n  version: 2.1.0b1\n"), "utf-8"
    )
    analysis = analyse(spec, strict=True)
    assert analysis.ok, [d.format() for d in analysis.diagnostics]
    files = {str(f.path): f.content for f in generate(analysis.capability)}
    assert 'version = "2.1.0b1"' in files["pyproject.toml"]
    assert '__version__ = "2.1.0b1"' in files["shop/__init__.py"]
    errors = _errors(
        tmp_path, SPEC.replace("  display: Shop\n", "  display: Shop\n  version: v2\n")
    )
    assert errors == [
        "s.yaml:4:3: error: info.version 'v2' becomes the package version and must be a PEP 440 "
        "version such as 1.2.0 or 2.0.0b1 [/info/version]"
    ]


def test_messages_use_the_ikanos_words(tmp_path: Path) -> None:
    text = """\
    ikanos: "1.0.0-beta5"
    capability:
      consumes:
      - namespace: shop
        type: http
        baseUri: https://shop.example.com/v1
        resources:
          orders:
            path: /orders
            operations:
              list: {method: GET}
      exposes:
      - type: mcp
        port: 3001
        namespace: t
        tools:
          x:
            description: d
            steps:
              one: {type: call, call: shop.list}
            mappings:
            - value: $.one.a
            outputParameters:
              b: {type: string}
    """
    errors = _errors(tmp_path, text)
    assert errors[0] == (
        "s.yaml:22:11: error: a mapping needs a 'target' and a 'value' "
        "[/capability/exposes/0/tools/x/mappings/0]"
    )
    assert not any("targetName" in e for e in errors), errors
