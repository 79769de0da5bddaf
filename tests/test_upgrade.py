"""``naftiko-gen upgrade``: the Ikanos beta5 form of an alpha2 spec.

The property: for the seed and every spec in ../shared/specs-sample/ that builds, ``build(spec)``
and ``build(upgrade(spec))`` are the same package except the recorded source dialect."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from naftiko_gen.cli import main
from naftiko_gen.dialects import ALPHA2, IKANOS
from naftiko_gen.pipeline import analyse, generate
from naftiko_gen.upgrade import INSTALL_HINT, upgrade_text

from .conftest import ROOT, SHARED

SEED = ROOT / "specs" / "interactive-brokers.yaml"
SAMPLES = SHARED / "specs-sample"
SAMPLE_SPECS = sorted(
    str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*") if p.suffix in (".yaml", ".yml")
)


def _package(spec: Path) -> dict[str, str] | None:
    analysis = analyse(spec)
    if not analysis.ok or analysis.capability is None:
        return None
    return {str(f.path): f.content for f in generate(analysis.capability)}


def _same_but_dialect(original: dict[str, str], upgraded: dict[str, str]) -> list[str]:
    """The files that differ other than by the recorded source dialect."""
    differ = []
    for name in sorted(set(original) | set(upgraded)):
        before = original.get(name, "").replace(f'"{ALPHA2}"', f'"{IKANOS}"')
        if before != upgraded.get(name):
            differ.append(name)
    return differ


def _check_round_trip(spec: Path, tmp_path: Path) -> None:
    original = _package(spec)
    if original is None:
        pytest.skip("the alpha2 spec itself is rejected")
    # The upgraded file sits where the original was (a copy of its folder: imports resolve) and
    # has its name (the package is named after the file).
    folder = tmp_path / "spec"
    shutil.copytree(spec.parent, folder)
    upgraded_spec = folder / spec.name
    upgraded_spec.write_text(upgrade_text(spec.read_text(encoding="utf-8")), encoding="utf-8")
    analysis = analyse(upgraded_spec)
    assert analysis.ok, [d.format() for d in analysis.diagnostics if d.level == "error"]
    assert analysis.capability is not None and analysis.capability.source_dialect == IKANOS
    upgraded = {str(f.path): f.content for f in generate(analysis.capability)}
    assert _same_but_dialect(original, upgraded) == []
    init = next(v for k, v in upgraded.items() if k.endswith("/__init__.py") and "tests" not in k)
    assert f'SPEC_FORMAT = "{IKANOS}"' in init


def test_seed_builds_the_same_package_after_upgrade(tmp_path: Path) -> None:
    _check_round_trip(SEED, tmp_path)


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="needs ../shared/specs-sample")
@pytest.mark.parametrize("name", SAMPLE_SPECS or ["(absent)"])
def test_sample_builds_the_same_package_after_upgrade(name: str, tmp_path: Path) -> None:
    _check_round_trip(SAMPLES / name, tmp_path)


SPEC = """\
naftiko: 1.0.0-alpha2
# The capability's metadata.
info:
  label: Orders   # shown as the title
  description: Orders API
capability:
  consumes:
  - type: http
    namespace: shop
    baseUri: https://shop.example.com
    description: The shop.
    resources:
    - name: orders
      path: /orders/{{orderId}}
      operations:
      - name: get-order
        method: GET
        inputParameters:
        - name: orderId
          in: path
  exposes:
  - type: mcp
    namespace: orders-mcp
    port: 3001
    description: Order tools.
    tools:
    - name: get-order
      label: Get an order
      description: One order by id.
      inputParameters:
      - name: id
        type: string
        description: The order id.
      call: shop.get-order
      with:
        orderId: tools.id   # the caller's input
"""


def test_upgraded_text_is_keyed_explicit_and_keeps_comments(tmp_path: Path) -> None:
    text = upgrade_text(SPEC)
    assert text.startswith("ikanos: 1.0.0-beta5\n")
    assert "naftiko:" not in text
    # Comments kept on the mappings that moved.
    assert "# The capability's metadata." in text
    assert "# shown as the title" in text and "# the caller's input" in text
    # Keyed maps, `display`, and the beta5 way of naming the caller's input.
    assert "display: Orders" in text and "display: Get an order" in text
    assert "- name:" not in text
    assert "orderId: orders-mcp.id" in text
    spec = tmp_path / "orders.yaml"
    spec.write_text(text, encoding="utf-8")
    analysis = analyse(spec, strict=True)  # strict: also valid against the official beta5 schema
    assert analysis.ok, [d.format() for d in analysis.diagnostics]
    (tool,) = analysis.capability.mcp.tools
    assert tool.name == "get-order" and tool.title == "Get an order"


def test_cli_writes_the_file_and_refuses_an_ikanos_input(tmp_path: Path) -> None:
    spec, out = tmp_path / "orders.yaml", tmp_path / "orders.ikanos.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    result = CliRunner().invoke(main, ["upgrade", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").startswith("ikanos: 1.0.0-beta5")
    again = CliRunner().invoke(main, ["upgrade", str(out)])
    assert again.exit_code == 1
    assert "already an Ikanos document" in again.output


def test_cli_reports_an_unusable_spec_located(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("naftiko: 1.0.0-alpha2\ncapability: [\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["upgrade", str(spec)])
    assert result.exit_code == 1
    assert "bad.yaml:" in result.output and "error" in result.output
    assert "Traceback" not in result.output


def test_without_ruamel_the_command_names_the_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "orders.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    monkeypatch.setitem(sys.modules, "ruamel", None)
    monkeypatch.setitem(sys.modules, "ruamel.yaml", None)
    result = CliRunner().invoke(main, ["upgrade", str(spec)])
    assert result.exit_code == 2
    assert result.output.strip() == INSTALL_HINT
    assert "pip install 'naftiko-gen[upgrade]'" in INSTALL_HINT


def test_shared_nodes_are_upgraded_once_and_with_per_adapter(tmp_path: Path) -> None:
    # One YAML anchor for the inputs and the `with` of a REST operation and an MCP tool.
    text = SPEC.replace(
        "      inputParameters:\n      - name: id\n        type: string\n        description: The order id.\n",
        "      inputParameters: &inputs\n      - name: id\n        type: string\n        description: The order id.\n",
    ).replace(
        "      with:\n        orderId: tools.id   # the caller's input\n",
        "      with: &with\n        orderId: tools.id\n",
    )
    text += (
        "    - name: get-order-again\n      description: The same.\n      inputParameters: *inputs\n"
        "      call: shop.get-order\n      with: *with\n"
        "  - type: rest\n    namespace: orders-rest\n    port: 8080\n    resources:\n"
        "    - path: /orders/{id}\n      operations:\n      - method: GET\n"
        "        call: shop.get-order\n        with: *with\n"
    )
    original = tmp_path / "a" / "orders.yaml"
    original.parent.mkdir()
    original.write_text(text, encoding="utf-8")
    upgraded = tmp_path / "b" / "orders.yaml"
    upgraded.parent.mkdir()
    result = upgrade_text(text)
    upgraded.write_text(result, encoding="utf-8")
    assert "orderId: orders-rest.id" in result and "orderId: orders-mcp.id" in result
    before, after = _package(original), _package(upgraded)
    assert before is not None and after is not None
    assert _same_but_dialect(before, after) == []


def test_two_entries_with_one_name_have_no_keyed_form(tmp_path: Path) -> None:
    text = SPEC.replace(
        "        - name: orderId\n          in: path\n",
        "        - name: orderId\n          in: path\n        - name: orderId\n          in: query\n",
    )
    spec = tmp_path / "dup.yaml"
    spec.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["upgrade", str(spec)])
    assert result.exit_code == 1
    line = text.splitlines().index("        - name: orderId", 20) + 1
    assert result.output.startswith(
        f"{spec}:{line}:1: error: two inputParameters entries are named 'orderId'"
    )


def test_upgraded_seed_deviates_from_beta5_only_where_beta5_has_no_form(tmp_path: Path) -> None:
    """What stays a beta5 warning: the seed's consumed parameters carry type/required/description
    (read for the inputs they imply), and its REST adapter a description (the OpenAPI one)."""
    spec = tmp_path / "interactive-brokers.yaml"
    spec.write_text(upgrade_text(SEED.read_text(encoding="utf-8")), encoding="utf-8")
    analysis = analyse(spec)
    assert analysis.ok
    official = [d for d in analysis.diagnostics if "official Ikanos beta5 schema" in d.message]
    consumed = re.compile(
        r"^/capability/consumes/0/resources/[^/]+/operations/[^/]+/inputParameters/[^/]+$"
    )
    assert official, "the seed deviates from beta5 too"
    for d in official:
        assert consumed.match(d.pointer) or d.pointer == "/capability/exposes/0", d.format()
    # The pass-through outputs ({type: object, mapping: $.}) became no outputs at all.
    assert "mapping: $." not in spec.read_text(encoding="utf-8")
