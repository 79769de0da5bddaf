"""Stage 3: semantic checks and resolution of a schema-valid spec into the typed model.

The walk starts here (``Resolver.resolve``); each concern is a part of its own module:
consumed APIs, authentication, references, actions, the REST and the MCP adapter.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import __version__
from ..diagnostics import Pointer, Report
from ..model import (
    Action,
    Call,
    Capability,
    Flow,
    McpAdapter,
    RestAdapter,
    Secret,
    Skill,
    SkillTool,
    Source,
    Upstream,
    calls_of,
)
from ..naming import Namer, package_name
from .actions import ActionsResolver
from .auth import AuthResolver
from .consumes import ConsumesResolver
from .mcp import McpResolver
from .references import ReferencesResolver
from .rest import RestResolver
from .shared import (
    ADAPTER_PREFIX,
    _text,
)

PEP440 = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")


def _xml_operations(rest: RestAdapter | None, mcp: McpAdapter | None) -> tuple[str, ...]:
    """The XML operations whose answers must be read as JSON: mapped by a call's outputs, or
    kept by an orchestration step (a pass-through call sends the XML on as it came)."""
    actions = [*(r.call for r in rest.routes)] if rest else []
    if mcp:
        actions += [t.call for t in mcp.tools] + [r.call for r in mcp.resources]
    keys: set[str] = set()
    for action in actions:
        if isinstance(action, Flow):
            keys.update(
                c.operation.key for c in calls_of(action) if c.operation.raw_format == "xml"
            )
        elif (
            isinstance(action, Call)
            and action.operation.raw_format == "xml"
            and action.output.kind == "mapped"
        ):
            keys.add(action.operation.key)
    return tuple(sorted(keys))


def _calls(rest: RestAdapter | None, mcp: McpAdapter | None) -> list[Call]:
    """Every upstream call of the adapters (orchestration steps included)."""
    actions: list[Action] = [r.call for r in rest.routes] if rest else []
    if mcp:
        actions += [t.call for t in mcp.tools] + [r.call for r in mcp.resources]
    return [c for a in actions for c in calls_of(a)]


def _template_secrets(template: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(template, Source):
        found.update(template.secrets)
    elif isinstance(template, dict):
        for v in template.values():
            found |= _template_secrets(v)
    elif isinstance(template, list):
        for v in template:
            found |= _template_secrets(v)
    return found


class Resolver(
    ConsumesResolver, AuthResolver, ReferencesResolver, ActionsResolver, RestResolver, McpResolver
):
    def __init__(self, data: dict[str, Any], report: Report, spec_path: Path) -> None:
        self.data = data
        self.report = report
        self.spec_path = spec_path
        self.secrets: dict[str, Secret] = {}
        self.bind_namespaces: set[str] = set()
        self.upstreams: dict[str, Upstream] = {}
        self.raw_formats: dict[str, str] = {}  # operation key -> outputRawFormat
        self._cacheable_reported: set[Pointer] = set()  # functions whose `cacheable` was reported
        self.import_depth = 0  # nesting of imported consumes files being resolved
        # namespace -> (its consumes entry, where, operation names -> where, constant namer),
        # so that a second entry of one namespace can be merged into the first.
        self.consumed_entries: dict[
            str, tuple[dict[str, Any], Pointer, dict[str, Pointer], Namer]
        ] = {}
        # (adapter namespace, operation or tool name) -> how to call it, for skills' `from`.
        self.exposed_actions: dict[tuple[str, str], str] = {}

    # ------------------------------------------------------------------ entry point
    def resolve(self) -> Capability | None:
        data = self.data
        capability = data.get("capability")
        if not isinstance(capability, dict):
            self.report.error(
                "this is a shared consumes file with no 'capability': nothing to generate; "
                "build the capability that imports it",
                (),
            )
            return None
        info = data.get("info") or {}
        if "title" in info and "label" not in info:
            self.report.warning(
                "info.title is not an official field; used as the label", ("info", "title")
            )
        self._binds([*(data.get("binds") or []), *(capability.get("binds") or [])], capability)
        self._aggregates(capability.get("aggregates") or [])
        for index, entry in enumerate(capability.get("consumes") or []):
            upstream = self._consumes(entry, ("capability", "consumes", index))
            if upstream is not None:
                self.upstreams[upstream.namespace] = upstream
        rest: RestAdapter | None = None
        mcp: McpAdapter | None = None
        skill_adapters: list[tuple[dict[str, Any], Pointer]] = []
        ports: dict[int, Pointer] = {}
        for index, exposes in enumerate(capability.get("exposes") or []):
            path: Pointer = ("capability", "exposes", index)
            kind = exposes.get("type")
            port = exposes.get("port")
            if isinstance(port, int):
                if port in ports:
                    self.report.error(
                        f"port {port} is already used by the adapter at line {self.report.position(ports[port])[0]}; "
                        "give each adapter its own port",
                        (*path, "port"),
                    )
                ports[port] = (*path, "port")
            if kind == "rest":
                if rest is not None:
                    self.report.unsupported("more than one REST adapter in one capability", path)
                    continue
                rest = self._rest(exposes, path)
            elif kind == "mcp":
                if mcp is not None:
                    self.report.unsupported("more than one MCP adapter in one capability", path)
                    continue
                mcp = self._mcp(exposes, path)
            elif kind == "skill":
                skill_adapters.append((exposes, path))
            elif kind == "control":
                self.report.unsupported("'control' adapters", (*path, "type"))
            else:
                self.report.error(
                    f"unknown adapter type {kind!r}; use 'rest' or 'mcp'", (*path, "type")
                )
        skills = tuple(
            skill
            for exposes, path in skill_adapters
            for skill in self._skills(exposes, path, rest, mcp)
        )
        if rest is None and mcp is None and not self.report.errors:
            self.report.error(
                "the capability exposes nothing: add a 'rest' or 'mcp' adapter", ("capability",)
            )
        if self.report.errors:
            return None
        label = _text(info.get("label")) or _text(info.get("title")) or package_name(self.spec_path)
        package = package_name(self.spec_path)
        used_secrets = self._used_secrets(rest, mcp)
        return Capability(
            spec_file=self.spec_path.name,
            package=package,
            dist_name=package.replace("_", "-"),
            env_prefix=ADAPTER_PREFIX,
            title=label,
            description=_text(info.get("description")),
            tags=tuple(str(t) for t in info.get("tags") or ()),
            generator_version=__version__,
            secrets=tuple(s for s in self.secrets.values() if s.var in used_secrets),
            upstreams=tuple(
                u for u in self.upstreams.values() if self._upstream_used(u, rest, mcp)
            ),
            rest=rest,
            mcp=mcp,
            skills=skills,
            stakeholders=tuple(
                (_text(p.get("fullName")), _text(p.get("email")), _text(p.get("role")))
                for p in info.get("stakeholders") or ()
                if isinstance(p, dict) and _text(p.get("fullName"))
            ),
            created=_text(info.get("created")),
            version=self._version(info.get("version")),
            modified=_text(info.get("modified")),
            xml_operations=_xml_operations(rest, mcp),
        )

    def _version(self, raw: Any) -> str:
        """``info.version`` (Ikanos): the package version, when it is one pip accepts."""
        if raw is None:
            return ""
        text = _text(raw)
        if not PEP440.match(text):
            self.report.error(
                f"info.version {text!r} becomes the package version and must be a PEP 440 "
                "version such as 1.2.0 or 2.0.0b1",
                ("info", "version"),
            )
            return ""
        return text

    # ------------------------------------------------------------------ skills
    def _skills(
        self,
        exposes: dict[str, Any],
        path: Pointer,
        rest: RestAdapter | None,
        mcp: McpAdapter | None,
    ) -> list[Skill]:
        """Skill adapters become Agent Skills files (skills/<name>/SKILL.md) describing the tools."""
        self.report.warning(
            "skill adapters are generated as SKILL.md files under skills/, not served over HTTP",
            (*path, "type"),
        )
        actions = self.exposed_actions
        skills = []
        for s_index, raw in enumerate(exposes.get("skills") or []):
            s_path: Pointer = (*path, "skills", s_index)
            name = _text(raw.get("name"))
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", name):
                self.report.error(
                    "skill names use lowercase letters, digits and '-' (at most 64)",
                    (*s_path, "name"),
                )
                continue
            if raw.get("location"):
                self.report.warning(
                    "skill 'location' is not read; SKILL.md is generated from the spec",
                    (*s_path, "location"),
                )
            front = {"name": name, "description": _text(raw.get("description"))}
            for key in (
                "license",
                "compatibility",
                "allowed-tools",
                "argument-hint",
                "user-invocable",
                "disable-model-invocation",
            ):
                if key in raw:
                    front[key] = raw[key]
            if isinstance(raw.get("metadata"), dict):
                front["metadata"] = {str(k): str(v) for k, v in raw["metadata"].items()}
            tools = []
            for t_index, tool in enumerate(raw.get("tools") or []):
                t_path: Pointer = (*s_path, "tools", t_index)
                source = tool.get("from")
                if isinstance(source, dict):
                    key = (str(source.get("sourceNamespace")), str(source.get("action")))
                    if key not in actions:
                        self.report.error(
                            f"skill tool comes from {key[0]}.{key[1]}, which no REST operation or MCP tool here exposes",
                            (*t_path, "from"),
                        )
                        continue
                    tools.append(
                        SkillTool(
                            str(tool.get("name")), _text(tool.get("description")), actions[key], ""
                        )
                    )
                elif tool.get("instruction"):
                    tools.append(
                        SkillTool(
                            str(tool.get("name")),
                            _text(tool.get("description")),
                            "",
                            str(tool["instruction"]),
                        )
                    )
                else:
                    self.report.error("a skill tool needs 'from' or 'instruction'", t_path)
            skills.append(
                Skill(
                    name=name,
                    frontmatter=front,
                    description=front["description"],
                    tools=tuple(tools),
                )
            )
        return skills

    def _upstream_used(
        self, upstream: Upstream, rest: RestAdapter | None, mcp: McpAdapter | None
    ) -> bool:
        if rest is not None and any(f.namespace == upstream.namespace for f in rest.forwards):
            return True
        return any(c.operation.namespace == upstream.namespace for c in _calls(rest, mcp))

    def _used_secrets(self, rest: RestAdapter | None, mcp: McpAdapter | None) -> set[str]:
        used: set[str] = set()
        for upstream in self.upstreams.values():
            if upstream.auth:
                used.update(upstream.auth.secrets)
            if upstream.base_url_template:
                used.update(upstream.base_url_template.secrets)
            for param in upstream.shared_params:
                if param.value:
                    used.update(param.value.secrets)
        for adapter in (rest, mcp):
            if adapter is not None and adapter.inbound is not None:
                used.update(adapter.inbound.secrets)
        for call in _calls(rest, mcp):
            for _, source in (*call.args, *call.extra_query):
                used.update(source.secrets)
            body = call.body
            if body is not None:
                for _, source in body.fields:
                    used.update(source.secrets)
                if body.text:
                    used.update(body.text.secrets)
                used.update(_template_secrets(body.template))
        return used

    # ------------------------------------------------------------------ binds
    def _binds(self, binds: list[Any], capability: dict[str, Any]) -> None:
        root_count = len(self.data.get("binds") or [])
        for index, bind in enumerate(binds):
            path: Pointer = (
                ("binds", index)
                if index < root_count
                else ("capability", "binds", index - root_count)
            )
            if not isinstance(bind, dict):
                continue
            namespace = _text(bind.get("namespace"))
            self.bind_namespaces.add(namespace)
            location = _text(bind.get("location"))
            file = ""
            if location:
                if not location.startswith("file://"):
                    scheme = location.split(":", 1)[0]
                    self.report.unsupported(
                        f"bind location scheme {scheme!r} (use file:// or environment variables)",
                        (*path, "location"),
                    )
                    continue
                file = location[len("file://") :]
                if file.startswith("/./") or file.startswith("/../"):
                    file = file[1:]  # file:///./x is relative to the working directory
            for var, env in (bind.get("keys") or {}).items():
                if var in self.secrets and self.secrets[var].env != env:
                    self.report.error(
                        f"bind variable {var!r} is declared twice with different keys",
                        (*path, "keys", var),
                    )
                self.secrets[var] = Secret(
                    var=var, env=str(env), description=_text(bind.get("description")), file=file
                )

    # ------------------------------------------------------------------ aggregates
    def _aggregates(self, aggregates: list[Any]) -> None:
        """Index aggregate functions by ``<namespace>.<name>`` for ``ref`` (inlined where used)."""
        self.functions: dict[str, tuple[dict[str, Any], Pointer]] = {}
        for a_index, aggregate in enumerate(aggregates):
            if not isinstance(aggregate, dict):
                continue
            namespace = _text(aggregate.get("namespace"))
            for f_index, function in enumerate(aggregate.get("functions") or []):
                f_path: Pointer = ("capability", "aggregates", a_index, "functions", f_index)
                if not isinstance(function, dict) or not function.get("name"):
                    self.report.error("an aggregate function needs a 'name'", f_path)
                    continue
                key = f"{namespace}.{function['name']}"
                if key in self.functions:
                    self.report.error(f"aggregate function {key!r} is defined twice", f_path)
                self.functions[key] = (function, f_path)

    def _inline_ref(
        self, raw: dict[str, Any], path: Pointer, *, rest: bool
    ) -> dict[str, Any] | None:
        """An operation or tool with its ``ref`` replaced by the aggregate function's definition;
        the referencing side's own fields win. ``semantics`` become hints."""
        ref = raw.get("ref")
        found = self.functions.get(ref) if isinstance(ref, str) else None
        if found is None:
            known = ", ".join(sorted(self.functions)) or "none"
            self.report.error(
                f"ref {ref!r} names no aggregate function (known: {known})", (*path, "ref")
            )
            return None
        function, f_path = found
        merged = {k: v for k, v in function.items() if k not in ("semantics", "name")}
        if rest:
            merged.pop(
                "inputParameters", None
            )  # REST inputs carry locations; the function's do not
        semantics = function.get("semantics") or {}
        if semantics.get("cacheable") and f_path not in self._cacheable_reported:
            self._cacheable_reported.add(f_path)
            self.report.warning(
                "semantics.cacheable is not used yet: answers carry no cache hint",
                (*f_path, "semantics", "cacheable"),
            )
        if semantics and not rest:
            hints: dict[str, Any] = {}
            if semantics.get("safe"):
                hints.update(readOnly=True, destructive=False)
            if "idempotent" in semantics:
                hints["idempotent"] = bool(semantics["idempotent"])
            merged["hints"] = {**hints, **(raw.get("hints") or {})}
        merged.update({k: v for k, v in raw.items() if k not in ("ref", "hints")})
        merged.setdefault("name", function["name"])
        merged["_bare_inputs"] = True
        return merged


def resolve(
    data: dict[str, Any], report: Report, spec_path: Path, *, dialect: str = ""
) -> Capability | None:
    """*data* in its normalized (alpha2-shaped) form, whichever dialect it was written in
    (``dialect`` is only recorded in the model)."""
    capability = Resolver(data, report, spec_path).resolve()
    if capability is not None and dialect:
        capability = replace(capability, source_dialect=dialect)
    return capability
