"""Hostile-input campaign, generator side (issue 6).

* properties: specs whose free text is arbitrary Unicode, quotes, escapes, template syntax,
  comments, NUL, very long strings, and specs with edge-valid names (keywords, hyphens, dots,
  digits) are either rejected with clean diagnostics or generate a package that compiles, passes
  ``ruff check`` and ``black --check`` under its own pyproject, imports without side effects in
  an empty environment and carries every string byte for byte (MCP tools, OpenAPI);
* arbitrary text documents and structurally mutated specs never crash the pipeline;
* malformed files through the real CLI: a located error, exit 1, bounded time and memory;
* interrupted builds never leave a partial output tree.

Open bugs are pinned by ``xfail(strict=True)`` tests named ``test_bug_*``; the properties avoid
exactly those inputs (each exclusion names its pinning test) so that they keep finding new ones.
Bugs this campaign found that are fixed since are kept as ``test_regression_*`` tests.
Set ``NAFTIKO_FUZZ_EXAMPLES`` (e.g. 20000) for a longer campaign than the CI budget.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from naftiko_gen import renderer
from naftiko_gen.pipeline import Analysis, analyse, generate
from naftiko_gen.upgrade import UpgradeError, upgrade_data
from naftiko_gen.writer import write_tree

from .hostile_support import (
    IB_SPEC,
    REPO,
    TEXT_FIELDS,
    fuzz_budget,
    hostile_text,
    param_names,
    small_spec,
    tool_names,
)

# CI budgets (examples per property); NAFTIKO_FUZZ_EXAMPLES scales them all up.
TEXT_EXAMPLES = fuzz_budget(220)
NAME_EXAMPLES = fuzz_budget(36)
# The same properties over the Ikanos form of each spec (names become map keys): a smaller
# budget, the front end being the only new code on that path.
IKANOS_TEXT_EXAMPLES = fuzz_budget(40)
IKANOS_NAME_EXAMPLES = fuzz_budget(14)
DIALECTS = ["alpha2", "ikanos"]


def in_dialect(spec: dict[str, Any], dialect: str) -> dict[str, Any] | None:
    """*spec* (alpha2) as written in *dialect*: for Ikanos, its upgraded (keyed) form; None when
    it has none (two entries of one list with the same name cannot be keys of one map)."""
    if dialect == "alpha2":
        return spec
    try:
        return upgrade_data(copy.deepcopy(spec))
    except UpgradeError:
        return None


DOCUMENT_EXAMPLES = fuzz_budget(850)
MUTATION_EXAMPLES = fuzz_budget(500)

FIGURES: dict[str, Any] = {}
DIAGNOSTIC = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<level>error|warning): .+")


def record(name: str, value: Any) -> None:
    """Keep a measured figure; written as JSON lines to $NAFTIKO_HOSTILE_REPORT when set."""
    FIGURES[name] = value
    target = os.environ.get("NAFTIKO_HOSTILE_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({name: value}) + "\n")


def dump(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, allow_unicode=True, sort_keys=False, width=1 << 30)


# --------------------------------------------------------------------------- black, memoised

_FORMATTED: dict[str, str] = {}


@pytest.fixture
def memo_black(monkeypatch: pytest.MonkeyPatch) -> None:
    """black is deterministic: format each distinct rendered text once per session.

    Only a speed-up (most generated files do not depend on the hostile strings); the output is
    byte-identical to what ``naftiko-gen build`` writes.
    """
    original = renderer.format_python

    def cached(text: str, name: str) -> str:
        key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        if key not in _FORMATTED:
            _FORMATTED[key] = original(text, name)
        return _FORMATTED[key]

    monkeypatch.setattr(renderer, "format_python", cached)
    # Render in this process: the memo must outlive the build (forked workers' copies do not).
    monkeypatch.setenv("NAFTIKO_GEN_JOBS", "1")


# --------------------------------------------------------------------------- checks on one package


def assert_clean_diagnostics(analysis: Analysis) -> None:
    assert analysis.diagnostics, "a rejected spec must say why"
    for d in analysis.diagnostics:
        assert d.level in ("error", "warning")
        assert d.line >= 1 and d.column >= 1, d
        assert d.message.strip(), d
        assert DIAGNOSTIC.match(d.format().split("\n", 1)[0]), d.format()


def literal_keywords(call: ast.Call) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            continue
        try:
            out[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:
            continue  # not a literal (a name or a call): checked by the import step instead
    return out


def tools_in_source(source: str) -> tuple[dict[str, dict[str, Any]], Any]:
    """The literal keywords of every ``Tool(...)`` call and the INSTRUCTIONS constant."""
    tree = ast.parse(source)
    tools: dict[str, dict[str, Any]] = {}
    instructions: Any = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Tool":
            keywords = literal_keywords(node)
            if isinstance(keywords.get("name"), str):
                tools[keywords["name"]] = keywords
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and getattr(node.targets[0], "id", None) == "INSTRUCTIONS"
        ):
            instructions = ast.literal_eval(node.value)
    return tools, instructions


class Batch:
    """Generated packages collected during a property, linted and imported once at the end."""

    def __init__(self, root: Path, name: str) -> None:
        self.root = root
        self.name = name
        self.tried = 0
        self.accepted = 0
        self.rejected = 0
        self.jobs: list[dict[str, Any]] = []

    def spec_file(self, spec: dict[str, Any]) -> Path | None:
        text = dump(spec)
        if yaml.safe_load(text) != spec:  # not the generator's business: PyYAML round trip
            return None
        self.tried += 1
        directory = self.root / f"ex{self.tried:05d}"
        directory.mkdir()
        path = directory / "p.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    def build(self, analysis: Analysis, path: Path) -> tuple[Path, dict[str, str]]:
        """Generate and write the package; compile every module; return (dir, files)."""
        assert analysis.capability is not None
        files = generate(analysis.capability)
        project = path.parent / "out"
        write_tree(project, files)
        contents = {str(f.path): f.content for f in files}
        for name, content in contents.items():
            assert (project / name).read_text(encoding="utf-8") == content
            if name.endswith(".py"):
                compile(content, name, "exec", dont_inherit=True)
        tomllib.loads(contents["pyproject.toml"])
        self.accepted += 1
        return project, contents

    def finish(self) -> None:
        """ruff and black over every package (each under its own pyproject), then imports."""
        record(f"{self.name}.examples", self.tried)
        record(f"{self.name}.accepted", self.accepted)
        record(f"{self.name}.rejected", self.rejected)
        if not self.jobs:
            return
        started = time.monotonic()
        # ruff finds the closest pyproject.toml for every file: each project's own pinned rules.
        ruff = subprocess.run(
            [
                sys.executable,
                "-m",
                "ruff",
                "check",
                "--no-cache",
                "--output-format",
                "concise",
                *[job["dir"] for job in self.jobs],
            ],
            cwd=self.root,
            capture_output=True,
            text=True,
        )
        assert ruff.returncode == 0, ruff.stdout[-4000:] + ruff.stderr[-2000:]
        # black: identical files are checked once (most of a package does not depend on the
        # hostile strings); the config is the generated one, identical in every project.
        unique = self.root / "black-unique"
        unique.mkdir()
        for job in self.jobs:
            for path in Path(job["dir"]).rglob("*.py"):
                data = path.read_bytes()
                target = unique / f"{hashlib.sha256(data).hexdigest()}.py"
                if not target.exists():
                    target.write_bytes(data)
        config = Path(self.jobs[0]["dir"]) / "pyproject.toml"
        black = subprocess.run(
            [sys.executable, "-m", "black", "--check", "-q", "--config", str(config), str(unique)],
            capture_output=True,
            text=True,
        )
        assert black.returncode == 0, black.stdout[-2000:] + black.stderr[-4000:]
        record(f"{self.name}.black_unique_files", len(list(unique.iterdir())))
        jobs_file = self.root / "jobs.json"
        jobs_file.write_text(json.dumps(self.jobs, ensure_ascii=True), encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-B", "-c", IMPORT_CHECK, str(jobs_file)],
            cwd=self.root,
            env={},  # no environment at all: importing must not need (or read) configuration
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report["checked"] == len(self.jobs)
        assert report["failures"] == [], json.dumps(report["failures"][:5], indent=1)[:6000]
        record(f"{self.name}.lint_import_seconds", round(time.monotonic() - started, 1))


# Runs in a subprocess with an empty environment: import every module of every package and
# compare what the MCP SDK objects carry with the strings of the spec.
IMPORT_CHECK = textwrap.dedent(r"""
    import contextlib, importlib, io, json, logging, os, sys, threading
    import aiohttp, jsonschema, mcp.server, mcp.types, uvicorn, yarl  # noqa: F401  (baseline)

    def snapshot(root):
        return sorted(
            os.path.join(d, f) for d, _, files in os.walk(root) for f in files
        )

    jobs = json.load(open(sys.argv[1], encoding="utf-8"))
    failures = []
    for job in jobs:
        root, pkg = job["dir"], job["package"]
        threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
        handlers, files = list(logging.getLogger().handlers), snapshot(root)
        out, err = io.StringIO(), io.StringIO()
        sys.path.insert(0, root)
        problems = []
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                mods = {
                    name: importlib.import_module(pkg + "." + name)
                    for name in job["modules"]
                }
        except BaseException as exc:
            problems.append("import failed: %s: %s" % (type(exc).__name__, exc))
            mods = None
        if mods is not None:
            if out.getvalue() or err.getvalue():
                problems.append("import wrote output: %r" % (out.getvalue() + err.getvalue())[:200])
            if threading.active_count() != threads:
                problems.append("import started a thread")
            if len(os.listdir("/proc/self/fd")) != fds:
                problems.append("import left a file descriptor open")
            if logging.getLogger().handlers != handlers:
                problems.append("import configured the root logger")
            if snapshot(root) != files:
                problems.append("import wrote files")
            if "mcp_server" in mods:
                server = mods["mcp_server"]
                if sorted(server.TOOLS) != sorted(job["tools"]):
                    problems.append("tools %r != %r" % (sorted(server.TOOLS), sorted(job["tools"])))
                for name, want in job["tools"].items():
                    tool = server.TOOLS[name].tool if name in server.TOOLS else None
                    if tool is None:
                        continue
                    for key in ("description", "title"):
                        if key in want and getattr(tool, key) != want[key]:
                            problems.append("%s.%s: %r != %r" % (name, key, getattr(tool, key), want[key]))
                    props = tool.input_schema.get("properties", {})
                    for arg, desc in want.get("args", {}).items():
                        if props.get(arg, {}).get("description") != desc:
                            problems.append("%s.%s description differs" % (name, arg))
                    if "arg_names" in want and sorted(props) != sorted(want["arg_names"]):
                        problems.append("%s arguments %r != %r" % (name, sorted(props), want["arg_names"]))
                if "instructions" in job and server.INSTRUCTIONS != job["instructions"]:
                    problems.append("INSTRUCTIONS %r != %r" % (server.INSTRUCTIONS, job["instructions"]))
                if "note" in job:
                    for name, binding in server.TOOLS.items():
                        if binding.call.args.get("note") != job["note"]:
                            problems.append("%s: literal 'note' %r" % (name, binding.call.args.get("note")))
            if "note" in job and "rest" in mods:
                for route in mods["rest"].ROUTES:
                    if route.call.args.get("note") != job["note"]:
                        problems.append("route %s: literal 'note' %r" % (route.name, route.call.args.get("note")))
        if problems:
            failures.append({"dir": root, "problems": problems[:10]})
        for name in [m for m in sys.modules if m == pkg or m.startswith(pkg + ".")]:
            del sys.modules[name]
        sys.path.remove(root)
    print(json.dumps({"checked": len(jobs), "failures": failures}))
    """)

MODULES = ["client", "settings", "operations", "rest", "mcp_server", "serve", "__main__"]


# --------------------------------------------------------------------------- property: free text


def _few_brackets(text: str) -> bool:
    # Texts with many '{'/'[' are covered by test_regression_braces_in_text_are_not_nesting (slow parser).
    return text.count("{") + text.count("[") <= 60


@st.composite
def hostile_texts(draw: st.DrawFn) -> dict[str, str]:
    others = [f for f in TEXT_FIELDS if f not in ("label", "example")]
    fields = draw(st.lists(st.sampled_from(others), min_size=1, max_size=6, unique=True))
    texts = {name: draw(hostile_text().filter(_few_brackets)) for name in fields}
    # The label and the literal `with` value reach rest.py (the slowest file to format): vary
    # them in one example out of six.
    if draw(st.integers(0, 5)) == 0:
        texts["label"] = draw(hostile_text().filter(_few_brackets))
    if draw(st.integers(0, 5)) == 0:
        texts["example"] = draw(hostile_text().filter(_few_brackets))
    return texts


# Always tried, whatever hypothesis draws.
KNOWN_HOSTILE: list[dict[str, str]] = [
    {"example": "{{ x }}", "tool_description": "\"\"\"\\'''{% raw %}\x00"},
    {"example": "rest.nope", "label": "'''\n# noqa\r\n\u2028{{"},
    {name: "\\" for name in TEXT_FIELDS},
    {name: '"' * 3 for name in TEXT_FIELDS if name != "label"},
    {"tool_description": "x" * 100_000, "mcp_description": "\x00" * 1000, "example": "\n"},
    # many brackets in text: the loader's slow path (pure-Python parser), once per run
    {"label": "IBKR's gateway", "op_description": "x" + "{" * 3000, "tool_label": "[" * 500},
]


def check_text_package(project: Path, contents: dict[str, str], texts: dict[str, str]) -> dict:
    t = {name: f"plain {name}" for name in TEXT_FIELDS}
    t.update(texts)
    # OpenAPI: every description byte for byte; the summary is the label's first line.
    document = json.loads(contents["p/openapi.json"])
    assert document["info"]["title"] == t["label"]
    assert document["info"]["description"] == t["rest_description"]
    operation = document["paths"]["/items/{item}"]["get"]
    assert operation["description"] == t["route_description"]
    assert t["route_label"].startswith(operation.get("summary", ""))
    params = {p["name"]: p for p in operation.get("parameters", [])}
    assert params["class"]["in"] == "query"
    assert params["class"]["description"] == t["route_param_description"]
    # MCP: the literal strings in mcp_server.py (shrinkable here; the import step re-checks).
    tools, instructions = tools_in_source(contents["p/mcp_server.py"])
    tool = tools["get.item-1_x"]
    if "description" in tool:
        assert tool["description"] == t["tool_description"]
    if "title" in tool:
        assert tool["title"] == t["tool_label"]
    if "input_schema" in tool:
        props = tool["input_schema"]["properties"]
        assert props["item"]["description"] == t["arg_description"]
        assert props["class"]["description"] == t["arg_description"]
    if instructions is not None:
        assert instructions == t["mcp_description"]
    return {
        "dir": str(project),
        "package": "p",
        "modules": MODULES,
        "tools": {
            "get.item-1_x": {
                "description": t["tool_description"],
                "title": t["tool_label"],
                "args": {"item": t["arg_description"], "class": t["arg_description"]},
            }
        },
        "instructions": t["mcp_description"],
        # the literal `with` value, sent upstream as written (checked on the imported objects)
        "note": t["example"],
    }


@pytest.mark.parametrize("dialect", DIALECTS)
def test_hostile_text_is_rejected_cleanly_or_carried_byte_for_byte(
    tmp_path: Path, memo_black: None, dialect: str
) -> None:
    batch = Batch(tmp_path, f"text.{dialect}")

    @settings(
        max_examples=TEXT_EXAMPLES if dialect == "alpha2" else IKANOS_TEXT_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(texts=hostile_texts())
    @example(texts=KNOWN_HOSTILE[0])
    @example(texts=KNOWN_HOSTILE[1])
    @example(texts=KNOWN_HOSTILE[2])
    @example(texts=KNOWN_HOSTILE[3])
    @example(texts=KNOWN_HOSTILE[4])
    @example(texts=KNOWN_HOSTILE[5])
    def prop(texts: dict[str, str]) -> None:
        spec = in_dialect(small_spec(texts), dialect)
        assume(spec is not None)
        assert spec is not None
        path = batch.spec_file(spec)
        assume(path is not None)
        assert path is not None
        analysis = analyse(path)
        if not analysis.ok:
            batch.rejected += 1
            assert_clean_diagnostics(analysis)
            # Only the literal `with` value is interpreted ({{...}}, rest.x, env.X): free text
            # (labels, descriptions, tags) must never make a spec invalid.
            errors = [d for d in analysis.diagnostics if d.level == "error"]
            assert all("/with/" in d.pointer for d in errors), [d.format() for d in errors]
            return
        project, contents = batch.build(analysis, path)
        batch.jobs.append(check_text_package(project, contents, texts))

    prop()
    batch.finish()


# --------------------------------------------------------------------------- property: names


@st.composite
def hostile_names(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "tools": draw(st.lists(tool_names(), min_size=1, max_size=4, unique=True)),
        "query_names": draw(st.lists(param_names(), min_size=0, max_size=4, unique=True)),
        "path_name": draw(param_names()),
        "op_name": draw(
            st.one_of(
                st.sampled_from(
                    ["get-item", "class", "import", "9x", "a.b", "GET", "_", "x-", "i", "O"]
                ),
                st.from_regex(r"[A-Za-z0-9_\-]{1,20}", fullmatch=True),
            )
        ),
    }


@pytest.mark.parametrize("dialect", DIALECTS)
def test_edge_valid_names_are_rejected_cleanly_or_generate(
    tmp_path: Path, memo_black: None, dialect: str
) -> None:
    """In Ikanos the names are map keys: the same names, in the same places, as keys."""
    batch = Batch(tmp_path, f"names.{dialect}")

    @settings(
        max_examples=NAME_EXAMPLES if dialect == "alpha2" else IKANOS_NAME_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(names=hostile_names())
    def prop(names: dict[str, Any]) -> None:
        spec = in_dialect(small_spec(**names), dialect)
        assume(spec is not None)
        assert spec is not None
        path = batch.spec_file(spec)
        assume(path is not None)
        assert path is not None
        analysis = analyse(path)
        if not analysis.ok:
            batch.rejected += 1
            assert_clean_diagnostics(analysis)
            return
        project, contents = batch.build(analysis, path)
        queries = names["query_names"]
        document = json.loads(contents["p/openapi.json"])
        operation = document["paths"]["/items/{item}"]["get"]
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert set(queries) <= declared
        tools, _ = tools_in_source(contents["p/mcp_server.py"])
        assert sorted(tools) == sorted(names["tools"])
        batch.jobs.append(
            {
                "dir": str(project),
                "package": "p",
                "modules": MODULES,
                "tools": {
                    name: {"arg_names": sorted({"item", *queries})} for name in names["tools"]
                },
            }
        )

    prop()
    batch.finish()


# --------------------------------------------------------------------------- property: catalog leniency

LENIENCY_EXAMPLES = fuzz_budget(16)
BOOLEAN_WORDS = ["true", "false", "t", "f", "yes", "no", "y", "n", "on", "off"]


@st.composite
def leniency_cases(draw: st.DrawFn) -> dict[str, Any]:
    """The issue-17 leniency rules with edge names: an undeclared credential variable, a tool
    that declares no inputs and names one in `with`, a boolean as a string, a split namespace."""
    word = draw(st.sampled_from(BOOLEAN_WORDS))
    return {
        "var": draw(
            st.one_of(
                st.sampled_from(
                    ["class", "import", "_", "PATH", "UP_BASE_URL", "ADAPTER_REST_TOKEN", "X" * 80]
                ),
                st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True),
                st.from_regex(r"[A-Za-z0-9_.\- ]{1,12}", fullmatch=True),
            )
        ),
        "implied": draw(param_names()),
        "boolean": draw(
            st.one_of(
                st.just(word),
                st.just(word.upper()),
                st.just(word.capitalize()),
                st.text(max_size=6),
            )
        ),
        "split": draw(st.booleans()),
    }


def test_catalog_leniency_with_edge_names_is_rejected_cleanly_or_generates(
    tmp_path: Path, memo_black: None
) -> None:
    batch = Batch(tmp_path, "leniency")

    @settings(
        max_examples=LENIENCY_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=leniency_cases())
    @example(case={"var": "UP_BASE_URL", "implied": "class", "boolean": "f", "split": True})
    @example(case={"var": "import", "implied": "import", "boolean": "maybe", "split": False})
    def prop(case: dict[str, Any]) -> None:
        spec = small_spec()
        consumes = spec["capability"]["consumes"]
        consumes[0]["authentication"] = {"type": "bearer", "token": "{{" + case["var"] + "}}"}
        if case["split"]:
            consumes.append(
                {
                    **{
                        k: consumes[0][k]
                        for k in ("type", "namespace", "baseUri", "authentication")
                    },
                    "resources": [
                        {
                            "name": "more",
                            "path": "/more",
                            "operations": [{"name": "more", "method": "GET"}],
                        }
                    ],
                }
            )
        tools = spec["capability"]["exposes"][1]["tools"]
        tools[0]["inputParameters"][0]["required"] = case["boolean"]
        tools.append(
            {
                "name": "implied",
                "description": "no inputs declared",
                "call": "up.get-item",
                "with": {"class": "tools." + case["implied"]},
            }
        )
        path = batch.spec_file(spec)
        assume(path is not None)
        assert path is not None
        analysis = analyse(path)
        if not analysis.ok:
            batch.rejected += 1
            assert_clean_diagnostics(analysis)
            if case["boolean"].strip().lower() not in BOOLEAN_WORDS:
                assert any("write true or false" in d.message for d in analysis.diagnostics)
            return
        assert case["boolean"].strip().lower() in BOOLEAN_WORDS
        cap = analysis.capability
        assert cap is not None
        assert case["var"] in {s.var for s in cap.secrets}
        assert [u.namespace for u in cap.upstreams] == ["up"]
        assert len(cap.upstreams[0].operations) == (2 if case["split"] else 1)
        strict = analyse(path, strict=True)
        assert not strict.ok
        assert any(
            f"{{{{{case['var']}}}}} in authentication is not declared in binds" in d.message
            for d in strict.diagnostics
            if d.level == "error"
        )
        project, _ = batch.build(analysis, path)
        batch.jobs.append(
            {
                "dir": str(project),
                "package": "p",
                "modules": MODULES,
                "tools": {
                    "get.item-1_x": {},
                    "implied": {"arg_names": sorted({case["implied"], "id", "note"})},
                },
            }
        )

    prop()
    batch.finish()


# --------------------------------------------------------------------------- property: documents

YAML_PIECES = [
    "naftiko: 1.0.0-alpha2\n",
    "info:\n  label: x\n",
    "capability:\n",
    "  exposes:\n",
    "  - type: rest\n",
    "    port: 8080\n",
    ": ",
    "- ",
    "? ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "*b",
    "!!binary aGk=",
    "!!set {a}",
    "!!python/object:os.system",
    "!foo ",
    "<<: ",
    "|\n",
    ">-\n",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "%TAG ! tag:x,2000:\n",
    "'",
    '"',
    "\\",
    "\n",
    "  ",
    "\t",
    "#",
    "~",
    "null",
    ".nan",
    "-.inf",
    "0x1F",
    "0o17",
    "1_000",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "yes",
    "off",
    "=",
    "\ufeff",
    "\u2028",
    "\x85",
    "{{x}}",
    "é",
]


@st.composite
def yaml_documents(draw: st.DrawFn) -> str:
    pieces = st.one_of(st.sampled_from(YAML_PIECES), st.text(min_size=1, max_size=6))
    return "".join(draw(st.lists(pieces, max_size=40)))


def test_arbitrary_documents_never_crash_the_pipeline(tmp_path: Path) -> None:
    path = tmp_path / "doc.yaml"
    seen = {"documents": 0, "errors": 0}

    @settings(
        max_examples=DOCUMENT_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(text=yaml_documents())
    def prop(text: str) -> None:
        path.write_text(text, encoding="utf-8")
        analysis = analyse(path)  # must not raise
        seen["documents"] += 1
        if not analysis.ok:
            seen["errors"] += 1
            assert_clean_diagnostics(analysis)

    prop()
    record("documents.examples", seen["documents"])
    record("documents.rejected", seen["errors"])


# --------------------------------------------------------------------------- property: mutations

SEEDS = [
    small_spec(),
    yaml.safe_load(IB_SPEC.read_text(encoding="utf-8")),
    yaml.safe_load((REPO / "tests/golden/full-feature/full-feature.yaml").read_text("utf-8")),
]
JUNK: list[Any] = [
    None,
    0,
    -1,
    1.5,
    True,
    "",
    "x",
    "{{x}}",
    "{{ env.NOPE }}",
    "{x}",
    "/",
    "/{a}/{a}",
    "a.b",
    "rest.zz",
    "$",
    "$.a[",
    "GET",
    "TRACE",
    "path",
    "query",
    "header",
    "cookie",
    "json",
    "form",
    "object",
    "array",
    [],
    {},
    [1],
    ["x"],
    {"a": 1},
    {"name": "q", "in": "query"},
    {"type": "json"},
    10**30,
]
KEYS = ["type", "name", "in", "path", "with", "call", "body", "value", "mapping", "items"]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


@st.composite
def mutated_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(list(_paths(spec))[1:]))
        parent = spec
        for key in where[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            parent[where[-1]] = copy.deepcopy(draw(st.sampled_from(JUNK)))
        elif action == "delete":
            del parent[where[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS))] = copy.deepcopy(draw(st.sampled_from(JUNK)))
        else:
            parent.append(copy.deepcopy(parent[where[-1]]))
    return spec


def test_mutated_specs_are_rejected_cleanly(tmp_path: Path) -> None:
    """Validation never raises, whatever shape a node takes (generation of accepted specs is the
    business of the two properties above; the crashes found are test_regression_resolver_*).
    """
    # Regression test: found by the hostile-input campaign, fixed in abd77d4. Was: the resolver
    # crashes (AttributeError/TypeError/KeyError) on schema-valid specs with wrongly shaped
    # exposed REST resources, inputs and outputs
    path = tmp_path / "m.yaml"

    @settings(
        max_examples=MUTATION_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(spec=mutated_specs())
    def prop(spec: dict[str, Any]) -> None:
        path.write_text(dump(spec), encoding="utf-8")
        analysis = analyse(path)
        if not analysis.ok:
            assert_clean_diagnostics(analysis)

    prop()


# --------------------------------------------------------------------------- generator bugs


def _mutated(change: Any) -> dict[str, Any]:
    spec = small_spec()
    change(spec)
    return spec


def _rest_op(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["capability"]["exposes"][0]["resources"][0]["operations"][0]


def _tool(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["capability"]["exposes"][1]["tools"][0]


def _consumed_op(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["capability"]["consumes"][0]["resources"][0]["operations"][0]


RESOLVER_CRASHES = {
    "rest-operation-is-a-string": lambda s: s["capability"]["exposes"][0]["resources"][0].update(
        operations=["GET"]
    ),
    "rest-operations-is-a-number": lambda s: s["capability"]["exposes"][0]["resources"][0].update(
        operations=5
    ),
    "rest-input-without-name": lambda s: _rest_op(s).update(inputParameters=[{"in": "query"}]),
    "rest-input-name-is-a-mapping": lambda s: _rest_op(s).update(
        inputParameters=[{"name": {"a": 1}, "in": "query"}]
    ),
    "rest-input-is-a-string": lambda s: _rest_op(s).update(inputParameters=["q"]),
    "rest-inputs-is-a-number": lambda s: _rest_op(s).update(inputParameters=1.5),
    "rest-input-pattern-is-a-number": lambda s: _rest_op(s).update(
        inputParameters=[{"name": "class", "in": "query", "pattern": 5}]
    ),
    "rest-output-is-a-string": lambda s: _rest_op(s).update(outputParameters=["x"]),
    "output-properties-is-a-string": lambda s: _tool(s).update(
        outputParameters=[{"type": "object", "mapping": "$.a", "properties": "x"}]
    ),
    "form-body-data-is-a-list": lambda s: _consumed_op(s).update(
        method="POST", body={"type": "formUrlEncoded", "data": ["a"]}
    ),
}


@pytest.mark.parametrize("case", sorted(RESOLVER_CRASHES))
def test_regression_resolver_crashes_on_schema_valid_shapes(case: str, tmp_path: Path) -> None:
    """Regression test: found by the hostile-input campaign, fixed in abd77d4. Was: resolver.py
    assumes the shape of nodes the dialect schema leaves open (exposes[].resources[] is just
    'object'; outputParameters items, form body data, input 'pattern' unchecked) and raises
    instead of reporting a located error
    """
    path = tmp_path / "p.yaml"
    path.write_text(dump(_mutated(RESOLVER_CRASHES[case])), encoding="utf-8")
    analysis = analyse(path)  # raises today
    assert not analysis.ok
    assert_clean_diagnostics(analysis)


def test_regression_invalid_regex_in_mcp_input_is_accepted(tmp_path: Path) -> None:
    """Regression test: found by the hostile-input campaign, fixed in abd77d4. Was: an MCP tool
    input 'pattern' that is not a valid regex is accepted (the REST side rejects it); every call
    of the generated tool then raises re.error
    """
    spec = small_spec()
    _tool(spec)["inputParameters"][0]["pattern"] = "("
    path = tmp_path / "p.yaml"
    path.write_text(dump(spec), encoding="utf-8")
    analysis = analyse(path)
    assert not analysis.ok, "an invalid regex must be a validation error"


@pytest.mark.parametrize("method", ["GET POST", "5", "CONNECT"])
def test_regression_exposed_rest_method_is_not_validated(method: str, tmp_path: Path) -> None:
    """Regression test: found by the hostile-input campaign, fixed in abd77d4. Was: the method of
    an exposed REST operation is not validated; 'GET POST' makes the generated app raise
    ValueError at start-up, '5'/'CONNECT' become routes
    """
    spec = small_spec()
    _rest_op(spec)["method"] = method
    path = tmp_path / "p.yaml"
    path.write_text(dump(spec), encoding="utf-8")
    analysis = analyse(path)
    assert not analysis.ok, f"REST method {method!r} was accepted"
    assert_clean_diagnostics(analysis)


def _build_project(tmp_path: Path, spec: dict[str, Any], file_name: str = "p.yaml") -> Path:
    path = tmp_path / file_name
    path.write_text(dump(spec), encoding="utf-8")
    analysis = analyse(path)
    assert analysis.ok, [d.format() for d in analysis.diagnostics]
    assert analysis.capability is not None
    project = tmp_path / "out"
    write_tree(project, generate(analysis.capability))
    return project


def test_a_spec_cannot_widen_the_bind_address(tmp_path: Path) -> None:
    """`address: 0.0.0.0` in the spec does not make the generated servers listen everywhere."""
    spec = small_spec()
    for exposes in spec["capability"]["exposes"]:
        exposes["address"] = "0.0.0.0"
    project = _build_project(tmp_path, spec)
    main = (project / "p" / "__main__.py").read_text(encoding="utf-8")
    defaults = re.findall(r'"--host", default="([^"]+)"', main)
    assert defaults and set(defaults) == {"127.0.0.1"}, defaults
    assert "0.0.0.0" not in main


def test_regression_namespaces_with_colliding_env_prefixes(tmp_path: Path) -> None:
    """Regression test: found by the hostile-input campaign, fixed in abd77d4. Was: two consumed
    namespaces that differ only in punctuation ('u_p', 'u-p') get the same environment prefix
    (U_P_): U_P_BASE_URL (and _TIMEOUT, _CA_BUNDLE, _VERIFY_TLS) silently re-points both
    upstreams, so one API's credentials go to the other's host
    """
    spec = small_spec()
    consumes = spec["capability"]["consumes"]
    other = copy.deepcopy(consumes[0])
    consumes[0]["namespace"], other["namespace"] = "u_p", "u-p"
    other["baseUri"] = "http://127.0.0.1:8/other"
    consumes.append(other)
    _rest_op(spec)["call"] = "u_p.get-item"
    second = copy.deepcopy(_tool(spec))
    _tool(spec)["call"] = "u_p.get-item"
    second.update(name="other", call="u-p.get-item")
    spec["capability"]["exposes"][1]["tools"].append(second)
    path = tmp_path / "p.yaml"
    path.write_text(dump(spec), encoding="utf-8")
    analysis = analyse(path)
    if not analysis.ok:  # rejecting the ambiguity is a fix too
        assert_clean_diagnostics(analysis)
        return
    assert analysis.capability is not None
    project = tmp_path / "out"
    write_tree(project, generate(analysis.capability))
    probe = (
        "import json; from p.settings import load_settings\n"
        "s = load_settings({'U_P_BASE_URL': 'http://127.0.0.1:1/x'})\n"
        "print(json.dumps(sorted(u.base_url for u in s.upstreams.values())))"
    )
    result = subprocess.run(
        [sys.executable, "-B", "-c", probe], cwd=project, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-1500:]
    urls = json.loads(result.stdout)
    assert len(set(urls)) == 2, f"one variable re-pointed both upstreams: {urls}"


def test_regression_confusable_text_fails_ruff(tmp_path: Path) -> None:
    """Regression test: found by the hostile-input campaign, fixed in abd77d4. Was: spec text with
    confusable characters (Cyrillic 'А', fullwidth 'Ｈ') makes the generated project fail its own
    'ruff check' (RUF001/RUF002: the generated pyproject does not ignore them, the generator's
    own does)
    """
    spec = small_spec({"tool_description": "Аccount Ｈistory", "label": "Вrokers"})
    project = _build_project(tmp_path, spec)
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout[-3000:]


@pytest.mark.parametrize(
    "label",
    [
        pytest.param("Brokers\x7f API", id="DEL"),
        pytest.param("Brokers\x00\x1f\u2028 API", id="controls"),
        pytest.param("Brokers 🚀 API", id="emoji"),
        pytest.param("\U00010000", id="U+10000"),
    ],
)
def test_regression_label_breaks_pyproject(label: str, tmp_path: Path) -> None:
    """Regression test: info.label goes into pyproject.toml's description and must stay valid TOML,
    exactly. Was: DEL left raw, and characters outside the BMP written as JSON surrogate pairs."""
    project = _build_project(tmp_path, small_spec({"label": label}))
    document = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert document["project"]["description"].endswith(label)


BRACE_TEXTS = {
    # a plain scalar may contain '{' and '[' anywhere but at its start
    "plain-scalar": "  description: Templates look like x" + "{" * 70,
    # the apostrophe of a plain scalar is not a quote: the quoted text after it is still quoted
    "apostrophe-then-quoted": "  label: IBKR's gateway\n  description: '" + "{{" * 40 + "'",
}


@pytest.mark.parametrize("case", sorted(BRACE_TEXTS))
def test_regression_braces_in_text_are_not_nesting(case: str, tmp_path: Path) -> None:
    """Regression test: the first guard against the libyaml segfault counted every '{' and '['
    (in plain scalars, or quoted after an apostrophe) and rejected valid specs; many brackets now
    only switch to the pure-Python parser."""
    lines = dump(small_spec()).splitlines()
    lines = [line for line in lines if not line.startswith(("  label:", "  description:"))]
    at = lines.index("info:") + 1
    spec = "\n".join([*lines[:at], BRACE_TEXTS[case], *lines[at:]]) + "\n"
    assert yaml.safe_load(spec)["info"]["description"].count("{") >= 70  # valid YAML, as meant
    path = tmp_path / "p.yaml"
    path.write_text(spec, encoding="utf-8")
    analysis = analyse(path)
    assert analysis.ok, [d.format() for d in analysis.diagnostics if d.level == "error"]


@pytest.mark.parametrize("op_name", ["i", "O", "-i-"])
def test_regression_ambiguous_operation_constant(op_name: str, tmp_path: Path) -> None:
    """Regression test: an operation called 'i' or 'o' became `I = Operation(...)`, which failed
    the generated project's own ruff check (E741); such constants now get an _OPERATION suffix."""
    project = _build_project(tmp_path, small_spec(op_name=op_name))
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout[-2000:]


@pytest.mark.parametrize("stem", ["email", "mcp", "calendar", "secrets"])
def test_regression_spec_named_like_a_module_shadows_it(stem: str, tmp_path: Path) -> None:
    """Regression test: found by the hostile-input campaign, fixed in abd77d4. Was: the package is
    named after the spec file; a spec named like a stdlib module or a runtime dependency
    (email.yaml, mcp.yaml, calendar.yaml, secrets.yaml) shadows it and the generated package
    cannot be imported or started
    """
    project = _build_project(tmp_path, small_spec(), file_name=f"{stem}.yaml")
    packages = [p.name for p in project.iterdir() if (p / "__init__.py").exists()]
    package = next(p for p in packages if p != "tests")
    result = subprocess.run(
        [
            sys.executable,
            "-B",
            "-c",
            f"import {package}.rest, {package}.mcp_server, {package}.serve",
        ],
        cwd=project,
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-1500:]


# --------------------------------------------------------------------------- malformed files, CLI


def _bomb() -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        text += f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]\n"
    return text


def _write_malformed(kind: str, directory: Path) -> Path:
    path = directory / f"{kind}.yaml"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "binary":
        path.write_bytes(bytes(range(256)) * 16)
    elif kind == "latin-1":
        path.write_bytes("naftiko: 1.0.0-alpha2\ninfo:\n  label: caf\xe9\n".encode("latin-1"))
    elif kind == "utf-16":
        path.write_bytes("naftiko: 1.0.0-alpha2\n".encode("utf-16"))
    elif kind == "yaml-bomb":
        path.write_text(_bomb())
    elif kind == "wide-aliases":
        path.write_text("a: &x [1,2,3,4,5,6,7,8,9,10]\nb: [" + ",".join(["*x"] * 30000) + "]\n")
    elif kind == "deep-block-nesting":
        path.write_text("".join("  " * i + f"k{i}:\n" for i in range(400)) + "  " * 400 + "v\n")
    elif kind == "deep-flow-nesting-10k":
        path.write_text("a: " + "[" * 10_000 + "]" * 10_000 + "\n")
    elif kind == "duplicate-keys":
        path.write_text("naftiko: 1.0.0-alpha2\ninfo:\n  label: a\n  label: b\n")
    elif kind == "50-MB":
        with open(path, "w") as handle:
            handle.write("naftiko: 1.0.0-alpha2\ninfo:\n  description: '")
            chunk = "x" * (1 << 20)
            for _ in range(50):
                handle.write(chunk)
            handle.write("'\n")
    elif kind == "directory":
        path.mkdir()
    elif kind == "missing":
        pass
    elif kind == "list-root":
        path.write_text("- a\n- b\n")
    elif kind == "merge-key":
        path.write_text("a: &a {x: 1}\nb:\n  <<: *a\n")
    elif kind == "python-tag":
        path.write_text("naftiko: !!python/object/apply:os.system ['echo PWNED']\n")
    elif kind == "invalid-yaml":
        path.write_text("naftiko: [1.0.0\ninfo: {\n")
    elif kind == "tab-indent":
        path.write_text("naftiko: 1\n\tinfo: x\n")
    elif kind == "surrogate-escape":
        path.write_text('naftiko: "\\ud800"\n')
    else:  # pragma: no cover
        raise AssertionError(kind)
    return path


MALFORMED = [
    "empty",
    "binary",
    "latin-1",
    "utf-16",
    "yaml-bomb",
    "wide-aliases",
    "deep-block-nesting",
    "deep-flow-nesting-10k",
    "duplicate-keys",
    "50-MB",
    "directory",
    "missing",
    "list-root",
    "merge-key",
    "python-tag",
    "invalid-yaml",
    "tab-indent",
    "surrogate-escape",
]
MAX_SECONDS = 10.0
MAX_RSS_MB = 400


def _peak_rss_mb(pid: int, previous: float) -> float:
    """VmHWM of a running process (per address space: it restarts at exec, unlike ru_maxrss)."""
    try:
        if b"naftiko_gen" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return previous  # still the forked test process, before exec
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return max(previous, int(line.split()[1]) / 1024)
    except (OSError, ValueError):
        pass
    return previous


def _limit_memory() -> None:
    # A hard ceiling too: a runaway allocation fails in the child instead of swapping the host.
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def run_cli_measured(*args: str, timeout: float = 60.0) -> tuple[int, str, float, float]:
    """``python -m naftiko_gen ARGS``: (exit code, output, seconds, peak RSS in MB)."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "naftiko_gen", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=REPO,
        preexec_fn=_limit_memory,
    )
    assert process.stdout is not None
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(process.stdout.read()), daemon=True)
    reader.start()
    peak = 0.0
    while process.poll() is None:
        peak = _peak_rss_mb(process.pid, peak)
        if time.monotonic() - started > timeout:
            process.kill()
            process.wait()
            raise AssertionError(f"{args} did not finish in {timeout} s")
        time.sleep(0.005)
    reader.join(10)
    process.stdout.close()
    elapsed = time.monotonic() - started
    return process.returncode, b"".join(chunks).decode("utf-8", "replace"), elapsed, peak


@pytest.fixture(scope="module")
def malformed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("malformed")


@pytest.mark.parametrize("kind", MALFORMED)
def test_malformed_file_is_a_located_error(kind: str, malformed_dir: Path) -> None:
    path = _write_malformed(kind, malformed_dir)
    code, output, seconds, rss_mb = run_cli_measured("validate", str(path), timeout=30)
    record(
        f"malformed.{kind}", {"exit": code, "seconds": round(seconds, 2), "rss_mb": round(rss_mb)}
    )
    assert "Traceback" not in output, output[-3000:]
    assert code == 1, (code, output[-2000:])
    first = output.splitlines()[0]
    match = DIAGNOSTIC.match(first)
    assert match and match["level"] == "error", output[:1000]
    assert path.name in match["file"]
    assert seconds < MAX_SECONDS, seconds
    assert rss_mb < MAX_RSS_MB, rss_mb
    if kind == "50-MB":
        path.unlink()


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("deep-flow-nesting-50k", id="deep-flow-nesting-50k"),
        pytest.param("huge-integer", id="huge-integer"),
        pytest.param("impossible-date", id="impossible-date"),
        pytest.param("unknown-tag", id="unknown-tag"),
        pytest.param("python-name-tag", id="python-name-tag"),
    ],
)
def test_regression_malformed_scalars_and_nesting_crash_the_cli(kind: str, tmp_path: Path) -> None:
    """Regression test: found by the hostile-input campaign, fixed in abd77d4. Was: loader.py: flow
    nesting ~50k deep (a 100 kB file) segfaults libyaml's composer (exit -11, no message); an
    integer of more than 4300 digits, an impossible date (created: 2026-02-30) and a scalar with
    a tag PyYAML cannot construct (!foo, !!python/name:os.system) raise
    ValueError/ConstructorError from _Converter.convert: Traceback, not a located error
    """
    path = tmp_path / f"{kind}.yaml"
    if kind == "deep-flow-nesting-50k":
        path.write_text("a: " + "[" * 50_000 + "]" * 50_000 + "\n")
    elif kind == "huge-integer":
        path.write_text("naftiko: 1.0.0-alpha2\ninfo:\n  label: " + "9" * 5000 + "\n")
    elif kind == "unknown-tag":
        path.write_text("naftiko: !foo 1.0.0-alpha2\n")
    elif kind == "python-name-tag":
        path.write_text("naftiko: 1.0.0-alpha2\ninfo:\n  label: !!python/name:os.system\n")
    else:
        path.write_text("naftiko: 1.0.0-alpha2\ninfo:\n  label: x\n  created: 2026-02-30\n")
    code, output, _, _ = run_cli_measured("validate", str(path), timeout=30)
    assert "Traceback" not in output and code == 1, (code, output[-1500:])
    assert DIAGNOSTIC.match(output.splitlines()[0])


# --------------------------------------------------------------------------- interrupted builds


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def leftovers(output: Path, package: str) -> list[str]:
    return sorted(p.name for p in output.iterdir() if p.name != package)


@pytest.fixture
def previous_build(tmp_path: Path, memo_black: None) -> tuple[Path, Path, dict[str, bytes]]:
    """A spec, its output directory holding a complete previous build, and that tree's bytes."""
    spec = tmp_path / "p.yaml"
    spec.write_text(dump(small_spec({"tool_description": "first build"})), encoding="utf-8")
    output = tmp_path / "generated"
    analysis = analyse(spec)
    assert analysis.capability is not None
    write_tree(output / "p", generate(analysis.capability))
    before = tree_bytes(output / "p")
    # the next build changes every file it touches
    spec.write_text(dump(small_spec({"tool_description": "second build"})), encoding="utf-8")
    return spec, output, before


def test_keyboard_interrupt_inside_write_tree_keeps_the_previous_output(
    previous_build: tuple[Path, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, output, before = previous_build
    analysis = analyse(spec)
    assert analysis.capability is not None
    files = generate(analysis.capability)
    calls = {"n": 0}
    real_fsync = os.fsync

    def interrupted_fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", interrupted_fsync)
    with pytest.raises(KeyboardInterrupt):
        write_tree(output / "p", files)
    monkeypatch.undo()
    assert calls["n"] == 4
    assert tree_bytes(output / "p") == before
    assert leftovers(output, "p") == []


def test_regression_keyboard_interrupt_during_the_swap_loses_the_output(
    previous_build: tuple[Path, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression test: found by the hostile-input campaign, fixed in abd77d4. Was: writer.py: an
    interrupt between the two renames of the swap (target->backup done, staging->target not)
    removes the staging tree and leaves no output at all: generated/<pkg> is missing until the
    next build's _recover()
    """
    spec, output, before = previous_build
    analysis = analyse(spec)
    assert analysis.capability is not None
    files = generate(analysis.capability)
    real_replace = os.replace
    calls = {"n": 0}

    def interrupted_replace(src: Any, dst: Any) -> None:
        real_replace(src, dst)
        calls["n"] += 1
        if calls["n"] == 1:  # the old tree was just moved aside (a signal lands here)
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt):
        write_tree(output / "p", files)
    monkeypatch.undo()
    assert (output / "p").is_dir(), f"no output left: {sorted(os.listdir(output))}"
    assert tree_bytes(output / "p") == before


# A real `naftiko-gen build` process that receives SIGINT (or SIGKILL) from itself at a chosen
# point of the write: deterministic, and the same signal path as a Ctrl-C.
SIGNALLED_BUILD = textwrap.dedent("""
    import os, signal, sys
    # A shell's background job inherits SIGINT ignored; a Ctrl-C at a terminal is not.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sig, after = getattr(signal, sys.argv[1]), int(sys.argv[2])
    real_fsync, calls = os.fsync, [0]
    def fsync(fd):
        real_fsync(fd)
        calls[0] += 1
        if calls[0] == after:
            os.kill(os.getpid(), sig)
    os.fsync = fsync
    from naftiko_gen.cli import main
    main(sys.argv[3:], prog_name="naftiko-gen")
    """)


SIGNALLED = [sys.executable, "-c", SIGNALLED_BUILD]


def signalled_build(signame: str, after: int, spec: Path, output: Path) -> tuple[int, str]:
    result = subprocess.run(
        [*SIGNALLED, signame, str(after), "build", str(spec), "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("after", [1, 7])
def test_sigint_mid_write_keeps_the_previous_output(
    after: int, previous_build: tuple[Path, Path, dict[str, bytes]]
) -> None:
    spec, output, before = previous_build
    code, text = signalled_build("SIGINT", after, spec, output)
    assert code != 0, text
    assert "Traceback" not in text, text[-2000:]
    assert tree_bytes(output / "p") == before
    assert leftovers(output, "p") == []


def test_sigint_at_random_moments_never_leaves_a_partial_tree(tmp_path: Path) -> None:
    """Real Ctrl-C timing: SIGINT a build of a large spec after increasing delays."""
    spec = tmp_path / "big.yaml"
    data = small_spec({"tool_description": "v1"}, tools=[f"tool-{i}" for i in range(60)])
    spec.write_text(dump(data), encoding="utf-8")
    output = tmp_path / "generated"
    code, text, build_seconds, _ = run_cli_measured("build", str(spec), "-o", str(output))
    assert code == 0, text
    before = tree_bytes(output / "big")
    data["capability"]["exposes"][1]["tools"][0]["description"] = "v2"
    spec.write_text(dump(data), encoding="utf-8")
    outcomes = []
    for fraction in (0.6, 0.85, 0.95, 1.0):
        process = subprocess.Popen(
            [sys.executable, "-m", "naftiko_gen", "build", str(spec), "-o", str(output)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        time.sleep(build_seconds * fraction)
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=120)
        after = tree_bytes(output / "big")
        assert leftovers(output, "big") == []
        if after != before:  # the build won the race: then the new tree is complete
            assert b"v2" in after["big/mcp_server.py"]
            assert set(after) == set(before)
            before = after
            data["capability"]["exposes"][1]["tools"][0]["description"] += "+"
            spec.write_text(dump(data), encoding="utf-8")
        # (a Ctrl-C that lands while Python is still importing prints its usual traceback)
        outcomes.append(process.returncode)
    record("interrupt.outcomes", outcomes)


def test_regression_killed_build_leaves_a_staging_tree_behind(
    previous_build: tuple[Path, Path, dict[str, bytes]],
) -> None:
    """Regression test: found by the hostile-input campaign, fixed in abd77d4. Was: writer.py: a
    build killed mid-write (SIGKILL, OOM, power loss) leaves its staging directory
    (.<pkg>.*.tmp) in the output directory forever: _recover() only handles the .naftiko-old
    backup, so every crash adds a partial tree
    """
    spec, output, before = previous_build
    code, _ = signalled_build("SIGKILL", 3, spec, output)
    assert code == -signal.SIGKILL
    assert tree_bytes(output / "p") == before
    code, text, _, _ = run_cli_measured("build", str(spec), "-o", str(output))
    assert code == 0, text
    assert leftovers(output, "p") == [], "a later successful build did not clean up"


def test_failed_build_writes_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "p.yaml"
    spec.write_text(dump(small_spec()), encoding="utf-8")
    output = tmp_path / "generated"
    assert run_cli_measured("build", str(spec), "-o", str(output))[0] == 0
    before = tree_bytes(output / "p")
    broken = small_spec()
    _tool(broken)["call"] = "up.nope"
    spec.write_text(dump(broken), encoding="utf-8")
    code, text, _, _ = run_cli_measured("build", str(spec), "-o", str(output))
    assert code == 1 and "Traceback" not in text, text
    assert tree_bytes(output / "p") == before
    assert leftovers(output, "p") == []
    shutil.rmtree(output)
