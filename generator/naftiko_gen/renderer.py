"""Stage 4: render the model through the Jinja templates and format the result.

Every string that comes from a spec reaches generated source through one of the escaping
filters here (``py``: a Python literal; ``doc``: text safe inside a docstring or comment;
``md``: a Markdown table cell) and never raw. Python output is formatted with black, in
process, once per file.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import multiprocessing
import os
import signal
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import black
import jinja2

from .model import (
    Action,
    Auth,
    Body,
    CallStep,
    Capability,
    Flow,
    Input,
    LookupStep,
    Mock,
    Source,
    Upstream,
    environment,
)
from .openapi import openapi_document
from .samples import (
    flow_payloads,
    forward_cases,
    mcp_cases,
    mcp_mock_cases,
    prompt_cases,
    resource_cases,
    rest_cases,
    rest_mock_cases,
)

BLACK_MODE = black.Mode(target_versions={black.TargetVersion.PY311}, line_length=100)


@dataclass(frozen=True)
class RenderedFile:
    path: PurePosixPath  # relative to the generated project directory
    content: str


def py(value: Any) -> str:
    """A Python literal for plain data; deterministic (dicts keep spec order)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py(k)}: {py(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(py(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(py(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    raise TypeError(f"cannot render {type(value).__name__} as a Python literal")


def doc(value: Any) -> str:
    """Text safe inside a triple-quoted docstring or a comment: one line, every quote escaped."""
    return repr(str(value))[1:-1].replace('"', '\\"')


def toml_string(value: Any) -> str:
    """A TOML basic string: printable ASCII as is, everything else escaped (\\uXXXX or
    \\UXXXXXXXX; TOML, unlike JSON, has no surrogate pairs)."""
    out = ['"']
    for char in str(value):
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def md(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    text = " ".join(str(value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def source(value: Source | None) -> str:
    """Python expression for a value source (see the generated client's Value type)."""
    if value is None:
        return "None"
    if value.kind == "input":
        return f"FromInput({py(value.value)})"
    if value.kind == "secret":
        return f"FromSecret({py(value.value)})"
    if value.kind == "step":
        return f"FromStep({py(value.value)})"
    if value.kind == "template":
        parts = []
        for kind, text in value.parts:
            parts.append(py(text) if kind == "text" else source(Source(kind=kind, value=text)))  # type: ignore[arg-type]
        return f"Template(({', '.join(parts)},))"
    return py(value.value)


def _template_expr(value: Any) -> str:
    if isinstance(value, Source):
        return source(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py(str(k))}: {_template_expr(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_template_expr(v) for v in value) + "]"
    return py(value)


def _body_expr(body: Body) -> str:
    args = [f"kind={py(body.kind)}"]
    if body.content_type != "application/json":
        args.append(f"content_type={py(body.content_type)}")
    if body.kind == "json":
        args.append(f"template={_template_expr(body.template)}")
    elif body.kind in ("form", "multipart"):
        args.append("template={" + ", ".join(f"{py(k)}: {source(s)}" for k, s in body.fields) + "}")
    elif body.kind == "text":
        args.append(f"template={source(body.text)}")
    return f"Body({', '.join(args)})"


def _shape_expr(node: dict[str, Any]) -> str:
    args = [py(node["type"])]
    if node.get("mapping"):
        args.append(f"mapping={py(node['mapping'])}")
    if node.get("properties"):
        props = ", ".join(f"{py(k)}: {_shape_expr(v)}" for k, v in node["properties"].items())
        args.append(f"properties={{{props}}}")
    if node.get("items"):
        args.append(f"items={_shape_expr(node['items'])}")
    if node.get("value") is not None:
        args.append(f"value={source(node['value'])}")
    return f"Shape({', '.join(args)})"


def _step_expr(step: CallStep | LookupStep) -> str:
    if isinstance(step, CallStep):
        return f"CallStep({py(step.name)}, {call(step.call)})"
    fields = f", fields={py(step.fields)}" if step.fields else ""
    return (
        f"LookupStep({py(step.name)}, index={py(step.index)}, match={py(step.match)}, "
        f"value={source(step.value)}{fields})"
    )


def call(value: Action) -> str:
    """Python expression constructing the generated client's ``Call``/``Flow``/``Mock`` for *value*."""
    if isinstance(value, Mock):
        return f"Mock({_shape_expr(value.output.shape or {})})"
    if isinstance(value, Flow):
        args = ["steps=(" + ", ".join(_step_expr(s) for s in value.steps) + ",)"]
        if value.mappings:
            args.append(
                "mappings={" + ", ".join(f"{py(t)}: {source(s)}" for t, s in value.mappings) + "}"
            )
        return f"Flow({', '.join(args)})"
    args = [f"operation=operations.{value.operation.const_name}"]
    if value.args:
        args.append("args={" + ", ".join(f"{py(k)}: {source(s)}" for k, s in value.args) + "}")
    if value.extra_query:
        args.append(
            "extra={" + ", ".join(f"{py(k)}: {source(s)}" for k, s in value.extra_query) + "}"
        )
    if value.body is not None:
        args.append(f"body={_body_expr(value.body)}")
    if value.output.kind == "mapped" and value.output.shape:
        args.append(f"shape={_shape_expr(value.output.shape)}")
    if value.retry:
        args.append("retry=True")
    return f"Call({', '.join(args)})"


def secret_expr(value: Source) -> str:
    """Python expression for a value made of text and secrets, over ``load_settings``'s ``secrets``."""
    if value.kind == "secret":
        return f"secrets[{py(value.value)}]"
    if value.kind != "template":
        return py(str(value.value))
    parts = [py(text) if kind == "text" else f"secrets[{py(text)}]" for kind, text in value.parts]
    return " + ".join(parts)


def guard_expr(auth: Auth) -> str:
    """Python expression for the inbound ``Guard`` of *auth*, over ``load_settings``'s ``secrets``."""
    if auth.kind == "apikey":
        placement, name, value = auth.keys[0]
        return f'Guard("apikey", {secret_expr(value)}, name={py(name)}, placement={py(placement)})'
    if auth.kind == "basic":
        assert auth.username is not None and auth.password is not None
        return f'Guard("basic", {secret_expr(auth.username)} + ":" + {secret_expr(auth.password)})'
    assert auth.token is not None
    return f'Guard("bearer", {secret_expr(auth.token)})'


def needs_expr(needs: tuple[tuple[str, str], ...]) -> str:
    """``((environment variable, value), ...)`` of the secrets an inbound guard is made of."""
    items = "".join(f"({py(env)}, secrets[{py(var)}]), " for var, env in needs)
    return f"({items})"


def base_url_expr(upstream: Upstream) -> str:
    """Default base URL: the spec's literal, or an expression over the loaded secrets."""
    if upstream.base_url_template is None:
        return py(upstream.base_url)
    return secret_expr(upstream.base_url_template)


def input_kwargs(item: Input) -> str:
    out = ""
    if item.type != "string":
        out += f", type={py(item.type)}"
    if item.required:
        out += ", required=True"
    if item.pattern:
        out += f", pattern={py(item.pattern)}"
    if item.route_var:
        out += f", route_var={py(item.route_var)}"
    if item.field:
        out += f", field={py(item.field)}"
    return out


@cache
def environment_jinja() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("naftiko_gen.templates"))),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(
        py=py,
        doc=doc,
        md=md,
        source=source,
        call=call,
        input_kwargs=input_kwargs,
        base_url_expr=base_url_expr,
        secret_expr=secret_expr,
        guard_expr=guard_expr,
        needs_expr=needs_expr,
    )
    env.filters["json"] = lambda v: json.dumps(v, ensure_ascii=False)
    env.filters["toml"] = toml_string
    return env


def _plan(cap: Capability) -> list[tuple[str, str]]:
    """(template, output path) pairs: templates are named after the file they produce."""
    pkg = cap.package
    plan = [
        ("pyproject.toml.jinja", "pyproject.toml"),
        ("README.md.jinja", "README.md"),
        ("Dockerfile.jinja", "Dockerfile"),
        ("deploy/kubernetes.yaml.jinja", "deploy/kubernetes.yaml"),
        ("package/__init__.py.jinja", f"{pkg}/__init__.py"),
        ("package/__main__.py.jinja", f"{pkg}/__main__.py"),
        ("package/settings.py.jinja", f"{pkg}/settings.py"),
        ("package/client.py.jinja", f"{pkg}/client.py"),
        ("package/operations.py.jinja", f"{pkg}/operations.py"),
        ("package/serve.py.jinja", f"{pkg}/serve.py"),
        ("package/logs.py.jinja", f"{pkg}/logs.py"),
        ("tests/__init__.py.jinja", "tests/__init__.py"),
        ("tests/conftest.py.jinja", "tests/conftest.py"),
    ]
    if cap.uses_shared_state:
        plan.append(("package/state.py.jinja", f"{pkg}/state.py"))
    if cap.rest or cap.mcp_http:
        plan.append(("package/inbound.py.jinja", f"{pkg}/inbound.py"))
    if cap.xml_operations:
        plan.append(("package/formats.py.jinja", f"{pkg}/formats.py"))
    if cap.rest:
        plan += [
            ("package/rest.py.jinja", f"{pkg}/rest.py"),
            ("tests/test_rest.py.jinja", "tests/test_rest.py"),
        ]
    if cap.mcp:
        plan += [
            ("package/mcp_server.py.jinja", f"{pkg}/mcp_server.py"),
            ("tests/test_mcp.py.jinja", "tests/test_mcp.py"),
        ]
    return plan


def _cache_dir() -> Path | None:
    """Where formatted files are remembered (``NAFTIKO_GEN_CACHE=off`` disables it)."""
    setting = os.environ.get("NAFTIKO_GEN_CACHE", "")
    if setting.lower() in ("0", "off", "no", "false"):
        return None
    base = (
        Path(setting)
        if setting
        else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "naftiko-gen"
    )
    return base / f"black-{black.__version__}"


def format_python(text: str, name: str) -> str:
    """black, in process; results are cached by content hash (black is most of a build's time,
    and a rebuild or ``check`` mostly formats what it formatted before). Same input, same output."""
    cache = _cache_dir()
    key = hashlib.sha256(repr(BLACK_MODE).encode() + b"\0" + text.encode()).hexdigest()
    if cache is not None:
        try:
            return (cache / key[:2] / key).read_text(encoding="utf-8")
        except OSError:
            pass
    try:
        formatted = black.format_str(text, mode=BLACK_MODE)
    except black.parsing.InvalidInput as exc:  # a template bug, never a spec problem
        raise RuntimeError(f"generated {name} is not valid Python: {exc}") from exc
    if cache is not None:
        with contextlib.suppress(OSError):
            folder = cache / key[:2]
            folder.mkdir(parents=True, exist_ok=True)
            temporary = folder / f".{key}.{os.getpid()}"
            temporary.write_text(formatted, encoding="utf-8")
            os.replace(temporary, folder / key)  # atomic: readers never see half a file
    return formatted


# Rough relative cost of rendering + formatting each template (black dominates; measured on
# the seed and a 1,000-operation spec): the costliest start first so two workers end together.
_COST = {
    "package/mcp_server.py.jinja": 10,
    "package/rest.py.jinja": 9,
    "package/operations.py.jinja": 6,
    "tests/test_rest.py.jinja": 5,
    "tests/test_mcp.py.jinja": 5,
    "package/client.py.jinja": 3,
    "package/settings.py.jinja": 2,
    "package/serve.py.jinja": 2,
}

# What a forked worker renders: set before the pool forks, read (inherited) by the workers.
_JOBS: list[tuple[str, str, dict[str, Any]]] = []


_FORMATTED_SINCE_COLLECT = [0]  # characters of Python formatted since the last collection


def _render_one(index: int) -> tuple[int, str]:
    template_name, out, context = _JOBS[index]
    text = environment_jinja().get_template(template_name).render(context)
    if out.endswith(".py"):
        # black allocates millions of small objects, nearly all freed by refcounting; the
        # cyclic collector would walk the growing heap over and over (a third of black's time
        # on big files). Collect once afterwards instead.
        paused = gc.isenabled()
        gc.disable()
        try:
            text = format_python(text, out)
            # black's syntax trees are cyclic (parent links): once a few megabytes of source
            # have been formatted, free them in one pass over what is young (survivors of
            # earlier passes are not walked again). Small projects never pay for a pass.
            _FORMATTED_SINCE_COLLECT[0] += len(text)
            if _FORMATTED_SINCE_COLLECT[0] > 2_000_000:
                _FORMATTED_SINCE_COLLECT[0] = 0
                gc.collect(0)
        finally:
            if paused:
                gc.enable()
    return index, text


def _worker_start() -> None:
    # Ctrl-C is the parent's to handle (it stops the workers); no tracebacks from here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Everything inherited from the parent stays alive: never walk it again in this worker.
    gc.freeze()


def _workers(jobs: int) -> int:
    """Processes to render with: ``NAFTIKO_GEN_JOBS`` when set, else one per usable CPU."""
    setting = os.environ.get("NAFTIKO_GEN_JOBS", "")
    if setting.isdigit() and int(setting) > 0:
        wanted = int(setting)
    else:
        try:
            wanted = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            wanted = os.cpu_count() or 1
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1  # pragma: no cover - Windows: render in process
    if multiprocessing.current_process().daemon:
        return 1  # a pool's worker may not start processes of its own
    return max(1, min(wanted, jobs))


def render(cap: Capability) -> list[RenderedFile]:
    """The whole generated project, in a stable order."""
    return start_render(cap).result()


class PendingRender:
    """A project being rendered (see ``start_render``): ``result()`` waits for it, ``cancel()``
    stops it."""

    def __init__(self, cap: Capability) -> None:
        self.cap = cap
        context = {
            "cap": cap,
            "env_vars": environment(cap),
            "rest_cases": rest_cases(cap),
            "mcp_cases": mcp_cases(cap),
            "rest_mock_cases": rest_mock_cases(cap),
            "mcp_mock_cases": mcp_mock_cases(cap),
            "rest_payloads": flow_payloads(cap, "rest"),
            "forward_cases": forward_cases(cap),
            "mcp_payloads": flow_payloads(cap, "mcp"),
            "resource_cases": resource_cases(cap),
            "prompt_cases": prompt_cases(cap),
        }
        jobs = [(template_name, out, context) for template_name, out in _plan(cap)]
        jobs += [
            ("skills/SKILL.md.jinja", f"skills/{skill.name}/SKILL.md", {**context, "skill": skill})
            for skill in cap.skills
        ]
        self.jobs = jobs
        self.order = sorted(range(len(jobs)), key=lambda i: -_COST.get(jobs[i][0], 1))
        self.pool: Any = None
        self.results: Any = None
        workers = _workers(len(jobs))
        if workers > 1:
            _JOBS[:] = jobs  # inherited by the workers, which fork here
            try:
                self.pool = multiprocessing.get_context("fork").Pool(workers, _worker_start)
                self.results = self.pool.imap_unordered(_render_one, self.order, chunksize=1)
            finally:
                _JOBS.clear()

    def result(self) -> list[RenderedFile]:
        texts: dict[int, str] = {}
        if self.pool is None:
            _JOBS[:] = self.jobs
            try:
                texts.update(map(_render_one, self.order))
            finally:
                _JOBS.clear()
            extra = _openapi_file(self.cap)
        else:
            try:
                extra = _openapi_file(self.cap)  # while the workers format
                texts.update(self.results)
            finally:
                self.cancel()
        files = [RenderedFile(PurePosixPath(self.jobs[i][1]), texts[i]) for i in texts]
        return sorted(files + extra, key=lambda f: str(f.path))

    def cancel(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None


def start_render(cap: Capability) -> PendingRender:
    """Start rendering *cap*'s project. Files are rendered and formatted independently (same
    input, same bytes), by forked worker processes when more than one CPU is usable (black is
    most of a build's time), so the caller can do other work meanwhile."""
    return PendingRender(cap)


def _openapi_file(cap: Capability) -> list[RenderedFile]:
    if not cap.rest:
        return []
    text = json.dumps(openapi_document(cap), indent=2, ensure_ascii=False) + "\n"
    return [RenderedFile(PurePosixPath(cap.package, "openapi.json"), text)]
