"""Hostile text through the orchestration and mock code paths: mock values, mapping targets,
lookup fields and forward descriptions. Each spec is either rejected cleanly or generates a
package that compiles, whose mock tool answers the text byte for byte, and whose flow puts the
looked-up field under the hostile mapping target."""

from __future__ import annotations

import importlib
import itertools
import json
import os
import sys
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naftiko_gen.pipeline import analyse, generate
from naftiko_gen.writer import write_tree

from .hostile_support import FRAGMENTS

# Hostile fragments and arbitrary Unicode, kept short: the long strings of the generator campaign
# (tests/test_hostile_generator.py) cost seconds of black per build here.
_TEXT = st.lists(
    st.one_of(
        st.sampled_from(FRAGMENTS[:-1]),
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=6),
    ),
    min_size=1,
    max_size=5,
).map("".join)

EXAMPLES = max(30, int(os.environ.get("NAFTIKO_FUZZ_EXAMPLES", "0")) // 20)
_COUNTER = itertools.count()
TEMPLATE_MARK = "{{"


def _spec(value: str, target: str, field: str, description: str) -> dict[str, Any]:
    return {
        "naftiko": "1.0.0-alpha2",
        "capability": {
            "consumes": [
                {
                    "type": "http",
                    "namespace": "up",
                    "baseUri": "http://127.0.0.1:9/api",
                    "resources": [
                        {
                            "name": "l",
                            "path": "/list",
                            "operations": [{"name": "list", "method": "GET"}],
                        }
                    ],
                }
            ],
            "exposes": [
                {
                    "type": "rest",
                    "port": 8081,
                    "namespace": "r",
                    "resources": [
                        {
                            "path": "/proxy/{{p}}",
                            "description": description,
                            "forward": {"targetNamespace": "up"},
                        }
                    ],
                },
                {
                    "type": "mcp",
                    "port": 9091,
                    "namespace": "m",
                    "tools": [
                        {
                            "name": "say",
                            "description": description,
                            "outputParameters": [
                                {"name": "text", "type": "string", "value": value}
                            ],
                        },
                        {
                            "name": "pick",
                            "description": "pick",
                            "hints": {"readOnly": True},
                            "inputParameters": [
                                {"name": "key", "type": "string", "description": "k"}
                            ],
                            "steps": [
                                {"type": "call", "name": "all", "call": "up.list"},
                                {
                                    "type": "lookup",
                                    "name": "one",
                                    "index": "all",
                                    "match": field,
                                    "lookupValue": "$.key",
                                },
                            ],
                            "mappings": [{"targetName": target, "value": "$.one"}],
                        },
                    ],
                },
            ],
        },
    }


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _TEXT,
    _TEXT,
    _TEXT,
    _TEXT,
)
def test_hostile_orchestration_text_is_data(
    tmp_path_factory: Any, value: str, target: str, field: str, description: str
) -> None:
    root = tmp_path_factory.mktemp("orch")
    name = f"orch-{next(_COUNTER)}"
    spec = root / f"{name}.yaml"
    text = yaml.safe_dump(_spec(value, target, field, description), allow_unicode=True)
    spec.write_text(text, encoding="utf-8")
    # What the spec says is what YAML reads (e.g. a NEL inside a quoted scalar folds to a space).
    loaded = yaml.safe_load(text)["capability"]["exposes"]
    value = loaded[1]["tools"][0]["outputParameters"][0]["value"]
    field = loaded[1]["tools"][1]["steps"][1]["match"]
    target = loaded[1]["tools"][1]["mappings"][0]["targetName"]
    description = loaded[0]["resources"][0]["description"]
    analysis = analyse(spec)
    if not analysis.ok:
        errors = [d for d in analysis.diagnostics if d.level == "error"]
        assert errors and all(d.line >= 1 for d in errors)  # a clean, located rejection
        return
    assert analysis.capability is not None
    package = analysis.capability.package
    write_tree(root / "out", generate(analysis.capability))
    for source in (root / "out").rglob("*.py"):
        compile(source.read_text(encoding="utf-8"), str(source), "exec")
    sys.path.insert(0, str(root / "out"))
    try:
        client = importlib.import_module(f"{package}.client")
        server = importlib.import_module(f"{package}.mcp_server")
        say = server.TOOLS["say"].call
        if TEMPLATE_MARK not in value:  # a template names inputs; plain text is answered as is
            assert client.mock_answer(say.answer, {}) == {"text": value}
        flow = server.TOOLS["pick"].call
        scope = {"key": "k1", "all": [{field: "k0"}, {field: "k1", "v": 1}]}
        picked = client._lookup(flow.steps[1], scope)
        assert picked == {field: "k1", "v": 1}
        answer: dict[str, Any] = {}
        client._put(answer, target, picked)
        json.dumps(answer)  # a plain JSON document, whatever the target's text
        openapi = json.loads((root / "out" / package / "openapi.json").read_text(encoding="utf-8"))
        proxied = openapi["paths"]["/proxy/{path}"]["get"]["description"]
        assert proxied.startswith(description + "\n\n")
    finally:
        sys.path.remove(str(root / "out"))
