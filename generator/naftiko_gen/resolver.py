"""Stage 3: semantic checks and resolution of a schema-valid spec into the typed model.

Resolving and checking are one walk: every reference (``call``, ``with``, ``{{VAR}}``, path
placeholders) is looked up once, and a failed lookup becomes a located diagnostic. The
leniency rules follow the spec authors' evident intent (naftiko-format §5.9); each one is
documented in README.md and reported where the official engine would behave differently.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from . import __version__, jsonpath
from .diagnostics import Pointer, Report
from .dialects import load_document
from .model import (
    JSON_TYPES,
    Action,
    Annotations,
    Auth,
    Body,
    Call,
    CallStep,
    Capability,
    Flow,
    Forward,
    Input,
    LookupStep,
    McpAdapter,
    McpPrompt,
    McpResource,
    McpTool,
    Mock,
    Output,
    PromptArgument,
    RestAdapter,
    RestRoute,
    Secret,
    Skill,
    SkillTool,
    Source,
    Upstream,
    UpstreamOperation,
    UpstreamParam,
    calls_of,
)
from .naming import Namer, constant, env_name, identifier, package_name

RESERVED_REST_PREFIX = "/_adapter"
# The generated package's own settings are ADAPTER_* (ADAPTER_REST_TOKEN, ADAPTER_WORKERS, ...).
ADAPTER_PREFIX = "ADAPTER"
GENERIC_PREFIXES = ("rest", "tools", "mcp", "api", "inputs", "input", "params")
REST_SUB_PREFIXES = ("path", "query", "header", "headers", "body")
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}|\{([^{}/]+)\}")
PEP440 = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")
TEMPLATE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
UNSUPPORTED_AUTH = ("oauth1", "oauth2", "hmac", "aws-sig-v4", "aws", "certificate", "mtls", "ntlm")
AUTH_ALIASES = {"apiKey": "apikey", "api_key": "apikey", "api-key": "apikey", "bearer": "bearer"}
# `type: header` / `type: query` in catalog specs mean an API key sent there.
BODY_CONTENT_TYPES = {
    "text": "text/plain; charset=utf-8",
    "yaml": "application/yaml",
    "xml": "application/xml",
    "sparql": "application/sparql-query",
}
METHODS_WITH_BODY = ("POST", "PUT", "PATCH")
# The per-API settings of a generated package, each read as <PREFIX>_<NAME> (settings.py).
UPSTREAM_SETTINGS = (
    "BASE_URL",
    "CA_BUNDLE",
    "KEEPALIVE_INTERVAL",
    "KEEPALIVE_METHOD",
    "KEEPALIVE_PATH",
    "PRIME",
    "RATE_LIMIT",
    "RATE_WAIT",
    "RETRIES",
    "RETRY_DEADLINE",
    "TIMEOUT",
    "VERIFY_TLS",
)
# Request headers a forward never passes upstream, whatever trustedHeaders says.
FORWARD_NEVER = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
    }
)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _fold_constants(node: Any, constants: dict[str, Any]) -> Any:
    """*node* (a resolved call, flow or mock, or any part of one) with every reference to a
    constant input (a REST input with a static ``value``) replaced by that value."""
    if isinstance(node, Source):
        if node.kind == "input" and node.value in constants:
            return Source(kind="literal", value=constants[node.value])
        if node.kind == "template" and any(k == "input" and t in constants for k, t in node.parts):
            parts = tuple(
                (
                    ("text", _constant_text(constants[t]))
                    if k == "input" and t in constants
                    else (k, t)
                )
                for k, t in node.parts
            )
            if all(k == "text" for k, _ in parts):
                return Source(kind="literal", value="".join(t for _, t in parts))
            return replace(node, parts=parts)
        return node
    if is_dataclass(node) and not isinstance(node, type):
        folded = {f.name: _fold_constants(getattr(node, f.name), constants) for f in fields(node)}
        changed = {k: v for k, v in folded.items() if v is not getattr(node, k)}
        return replace(node, **changed) if changed else node
    if isinstance(node, tuple):
        return tuple(_fold_constants(item, constants) for item in node)
    if isinstance(node, list):
        return [_fold_constants(item, constants) for item in node]
    if isinstance(node, dict):
        return {k: _fold_constants(v, constants) for k, v in node.items()}
    return node


def _constant_text(value: Any) -> str:
    """A constant as text inside a template (as the generated client renders values)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _json_type(value: Any) -> str:
    return value if value in JSON_TYPES else "string"


@dataclass
class _Surface:
    """The exposing side of one call (a REST operation or an MCP tool) while it is resolved."""

    kind: str  # "rest" | "mcp" (a tool) | "resource" (an MCP resource)
    namespace: str
    inputs: dict[str, Input] = field(default_factory=dict)
    path: Pointer = ()
    # While a call's body template is resolved: `with` values by key, and whether unknown
    # placeholders become implied inputs (the catalog's `{{tools.x}}` bodies).
    with_sources: dict[str, Source] = field(default_factory=dict)
    imply: bool = False
    # Aggregate functions write `with: {x: "x"}`: a bare input name means that input.
    bare_inputs: bool = False
    # Inside an orchestration: the names of the steps that ran before the one being resolved.
    steps: tuple[str, ...] = ()
    # Inputs with a static `value` (REST or MCP): name -> the value every call uses.
    constants: dict[str, Any] = field(default_factory=dict)
    # Whether the exposing side lists inputParameters (else all its inputs are implied).
    declares_inputs: bool = False

    def add_implied(
        self, report: Report, name: str, location: str, type_: str, required: bool, description: str
    ) -> Input:
        if self.kind == "resource":
            report.error(
                f"this resource needs input {name!r}, but its URI has no {{{name}}} placeholder to fill it",
                self.path,
            )
        if self.kind in ("mcp", "resource"):
            location = "argument"
        item = Input(
            name=name,
            location=location,  # type: ignore[arg-type]
            type=type_,  # type: ignore[arg-type]
            required=required,
            description=description,
            implied=True,
        )
        self.inputs[name] = item
        what = "argument" if self.kind == "mcp" else f"{location} parameter"
        report.warning(
            f"input {name!r} is used but not declared here; generated as an implied {what} "
            f"(declare it in inputParameters to document it)",
            self.path,
        )
        return item


class Resolver:
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

    # ------------------------------------------------------------------ consumes
    def _consumes(self, entry: dict[str, Any], path: Pointer) -> Upstream | None:
        if "location" in entry or "import" in entry:
            return self._imported_consumes(entry, path)
        if entry.get("type", "http") != "http":
            self.report.error(
                f"consumes type {entry.get('type')!r} is unknown; use 'http'", (*path, "type")
            )
            return None
        namespace = _text(entry.get("namespace"))
        clash = next(
            (u.namespace for u in self.upstreams.values() if u.env_prefix == env_name(namespace)),
            None,
        )
        if clash is not None and clash != namespace:
            self.report.error(
                f"namespaces {clash!r} and {namespace!r} map to the same environment prefix "
                f"{env_name(namespace)}_; rename one so their settings cannot be confused",
                (*path, "namespace"),
            )
            return None
        if namespace in self.upstreams:
            return self._merge_consumes(namespace, entry, path)
        raw_auth = entry.get("authentication")
        base_url = _text(entry.get("baseUri"))
        if (
            isinstance(raw_auth, dict)
            and raw_auth.get("placement") == "path"
            and isinstance(raw_auth.get("key"), str)
            and isinstance(raw_auth.get("value"), str)
            and "{" + raw_auth["key"] + "}" in base_url
        ):
            # An API key placed in the path fills the baseUri's server variable of that name
            # (Telegram's https://api.telegram.org/bot{token}).
            base_url = base_url.replace("{" + raw_auth["key"] + "}", raw_auth["value"])
            raw_auth = None
        base_url = self._server_variables(base_url, env_name(namespace), (*path, "baseUri"))
        base_template = None
        if TEMPLATE.search(base_url):
            base_template = self._base_url_template(base_url, (*path, "baseUri"))
        if "{" in TEMPLATE.sub("", base_url):
            self.report.error(
                "baseUri has an unbalanced '{'; write server variables as {name}",
                (*path, "baseUri"),
            )
        if base_url.endswith("/"):
            self.report.warning(
                "baseUri ends with '/'; the trailing slash is dropped", (*path, "baseUri")
            )
            base_url = base_url.rstrip("/")
        auth = self._auth(raw_auth, (*path, "authentication"))
        shared = tuple(
            p
            for i, raw in enumerate(entry.get("inputParameters") or [])
            if (p := self._consumed_param(raw, (*path, "inputParameters", i), shared=True))
            is not None
        )
        names: dict[str, Pointer] = {}
        namer = Namer()
        self.consumed_entries[namespace] = (entry, path, names, namer)
        operations = self._consumed_operations(
            entry, path, namespace, auth, names, namer, len(self.upstreams)
        )
        return Upstream(
            namespace=namespace,
            env_prefix=self._settings_prefix(namespace, path),
            base_url=base_url,
            description=_text(entry.get("description")),
            auth=auth,
            operations=tuple(operations),
            shared_params=shared,
            const_name=constant(namespace),
            base_url_template=base_template,
        )

    def _merge_consumes(
        self, namespace: str, entry: dict[str, Any], path: Pointer
    ) -> Upstream | None:
        """A second ``consumes`` entry with a namespace already consumed: when it is the same API
        (same baseUri, authentication and shared parameters) with other resources, the author
        split one API in two; its operations join the first entry's (warning). Otherwise an
        error that names both entries."""
        first, first_path, names, namer = self.consumed_entries[namespace]
        first_line = self.report.position((*first_path, "namespace"))[0]
        differences = [
            what
            for key, what in (
                ("baseUri", "baseUri"),
                ("authentication", "authentication"),
                ("inputParameters", "inputParameters"),
                ("type", "type"),
            )
            if (first.get(key) or None) != (entry.get(key) or None)
        ]
        resources = [r for r in entry.get("resources") or [] if isinstance(r, dict)]
        earlier = [r for r in first.get("resources") or [] if isinstance(r, dict)]
        shared = sorted(
            {str(r.get("path")) for r in resources if r.get("path")}
            & {str(r.get("path")) for r in earlier if r.get("path")}
        )
        operation_names = {
            str(op.get("name"))
            for r in resources
            for op in r.get("operations") or []
            if isinstance(op, dict)
        }
        clashes = sorted(operation_names & set(names))
        if differences or shared or clashes:
            why = (
                f"different {' and '.join(differences)}"
                if differences
                else f"both define {'resource path' if shared else 'operation'} "
                f"{(shared or clashes)[0]!r}"
            )
            self.report.error(
                f"namespace {namespace!r} is consumed twice (first at line {first_line}) and the "
                f"two entries cannot be merged: {why}; give one a namespace of its own",
                (*path, "namespace"),
            )
            return None
        self.report.warning(
            f"namespace {namespace!r} is consumed twice (first at line {first_line}); the same "
            "baseUri and authentication with other resources: merged into one API",
            (*path, "namespace"),
        )
        upstream = self.upstreams[namespace]
        more = self._consumed_operations(
            entry,
            path,
            namespace,
            upstream.auth,
            names,
            namer,
            list(self.upstreams).index(namespace),
        )
        if entry.get("description") and not upstream.description:
            upstream = replace(upstream, description=_text(entry.get("description")))
        return replace(upstream, operations=(*upstream.operations, *more))

    def _consumed_operations(
        self,
        entry: dict[str, Any],
        path: Pointer,
        namespace: str,
        auth: Auth | None,
        names: dict[str, Pointer],
        namer: Namer,
        upstream_index: int,
    ) -> list[UpstreamOperation]:
        operations: list[UpstreamOperation] = []
        for r_index, resource in enumerate(entry.get("resources") or []):
            r_path: Pointer = (*path, "resources", r_index)
            resource_params = [
                p
                for i, raw in enumerate(resource.get("inputParameters") or [])
                if (p := self._consumed_param(raw, (*r_path, "inputParameters", i))) is not None
            ]
            for o_index, op in enumerate(resource.get("operations") or []):
                o_path: Pointer = (*r_path, "operations", o_index)
                name = _text(op.get("name"))
                if name in names:
                    self.report.error(
                        f"operation {name!r} is defined twice in namespace {namespace!r} "
                        f"(first at line {self.report.position(names[name])[0]}); calls could not tell them apart",
                        (*o_path, "name"),
                    )
                    continue
                names[name] = (*o_path, "name")
                operation = self._consumed_operation(
                    namespace, resource, resource_params, op, o_path, namer, upstream_index
                )
                if operation is not None and auth is not None and auth.body_key is not None:
                    self._check_body_key(operation, o_path)
                if operation is not None:
                    operations.append(operation)
        return operations

    def _settings_prefix(self, namespace: str, path: Pointer) -> str:
        """The prefix of this API's settings (``<PREFIX>_BASE_URL``, ``_TIMEOUT``, ...): the
        namespace in capitals, plus ``_API`` while a bind variable already has one of those names
        (WHMCS's ``{{WHMCS_BASE_URL}}/includes/api.php`` must not be read as the whole URL)."""
        prefix = env_name(namespace)
        taken = {secret.env for secret in self.secrets.values()}
        while any(f"{prefix}_{name}" in taken for name in UPSTREAM_SETTINGS):
            prefix += "_API"
        if prefix != env_name(namespace):
            clash = sorted(
                f"{env_name(namespace)}_{n}"
                for n in UPSTREAM_SETTINGS
                if f"{env_name(namespace)}_{n}" in taken
            )
            self.report.warning(
                f"bind variable {clash[0]} has the name of a setting of API {namespace!r}; "
                f"that API's settings are {prefix}_BASE_URL, {prefix}_TIMEOUT, ... instead",
                (*path, "namespace"),
            )
        return prefix

    def _check_body_key(self, operation: UpstreamOperation, path: Pointer) -> None:
        """An API key in the body (``placement: body``) needs a body it can be a field of: a
        JSON object or a form, or none (a JSON object of its own), on a method that sends one."""
        if operation.method not in METHODS_WITH_BODY:
            self.report.unsupported(
                f"an API key in the body of a {operation.method} request (the API's "
                "authentication says placement: body)",
                (*path, "method"),
            )
            return
        body = operation.body
        if body is not None and (
            body.kind in ("multipart", "text")
            or (body.kind == "json" and not isinstance(body.template, dict))
        ):
            self.report.unsupported(
                "an API key in the body of a request whose body is not a JSON object or a form",
                (*path, "body"),
            )

    def _server_variables(self, base_url: str, prefix: str, path: Pointer) -> str:
        """OpenAPI-style server variables (``https://{account}.example.com``) are deployment
        settings: each becomes the environment variable ``<PREFIX>_<NAME>``, read at start-up."""

        def setting(match: re.Match[str]) -> str:
            name = match.group(1)
            env = f"{prefix}_{env_name(name)}"
            if env not in self.secrets:
                self.report.warning(
                    f"server variable {{{name}}} in baseUri is read from environment variable {env} "
                    f"(or set {prefix}_BASE_URL to the whole URL)",
                    path,
                )
                self.secrets[env] = Secret(
                    var=env, env=env, description=f"Server variable {name} of the baseUri."
                )
            return "{{" + env + "}}"

        return re.sub(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_.-]*)\}(?!\})", setting, base_url)

    def _imported_consumes(self, entry: dict[str, Any], path: Pointer) -> Upstream | None:
        """``{import: ns, location: ./shared/x.yaml, as: alias}``: the consumes entry of namespace
        ``ns`` in that file (a shared consumes file or another capability), under ``alias``.
        Diagnostics about the imported entry name the imported file and its lines."""
        name, location = entry.get("import"), entry.get("location")
        if not isinstance(name, str) or not isinstance(location, str):
            self.report.error(
                "an imported consumes entry needs 'import' (the namespace) and 'location' (the file)",
                path,
            )
            return None
        if self.import_depth >= 4:
            self.report.error("imports nest too deeply (an import cycle?)", (*path, "location"))
            return None
        relative = location[len("file://") :] if location.startswith("file://") else location
        file = (
            self.spec_path.parent / relative.lstrip("/")
            if relative.startswith("/./")
            else self.spec_path.parent / relative
        )
        loaded = load_document(file).loaded  # either dialect, in its normalized form
        if loaded.report.errors:
            self.report.items.extend(loaded.report.items)
            self.report.error(
                f"cannot import consumes from {location!r} (see the errors above)",
                (*path, "location"),
            )
            return None
        data = loaded.data
        candidates = data.get("consumes")
        if candidates is None and isinstance(data.get("capability"), dict):
            candidates = data["capability"].get("consumes")
            prefix: Pointer = ("capability", "consumes")
        else:
            prefix = ("consumes",)
        found = [
            (i, c)
            for i, c in enumerate(candidates or [])
            if isinstance(c, dict) and c.get("namespace") == name
        ]
        if not found:
            known = ", ".join(
                sorted(str(c.get("namespace")) for c in candidates or [] if isinstance(c, dict))
            )
            self.report.error(
                f"{location!r} has no consumes namespace {name!r} (it has: {known or 'none'})",
                (*path, "import"),
            )
            return None
        index, imported = found[0]
        alias = entry.get("as") if isinstance(entry.get("as"), str) else name
        imported = {**imported, "namespace": alias}
        if entry.get("description"):
            imported["description"] = entry["description"]
        main, self.report = self.report, loaded.report
        self.import_depth += 1
        try:
            loaded.report.items = []
            upstream = self._consumes(imported, (*prefix, index))
        finally:
            self.import_depth -= 1
            self.report = main
        main.items.extend(loaded.report.items)
        return upstream

    def _base_url_template(self, base_url: str, path: Pointer) -> Source:
        """``{{VAR}}`` placeholders in baseUri: deployment configuration read at start-up."""
        for match in TEMPLATE.finditer(base_url):
            expr = match.group(1)
            head, _, tail = expr.partition(".")
            var = tail if tail and head in self.bind_namespaces | {"env"} else expr
            if var not in self.secrets and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
                self.report.warning(
                    f"baseUri placeholder {{{{{expr}}}}} is not declared in binds; read from environment variable {var}",
                    path,
                )
                self.secrets[var] = Secret(var=var, env=var)
        source = self._template(base_url, path, inputs=None)
        return (
            source
            if source.kind == "template"
            else Source(kind="template", parts=((source.kind, source.value),))
        )

    def _consumed_param(
        self, raw: dict[str, Any], path: Pointer, *, shared: bool = False
    ) -> UpstreamParam | None:
        location = raw.get("in", "query")
        if location == "environment":
            self.report.unsupported(
                "'in: environment' parameters (use a {{VAR}} from binds in 'value')", (*path, "in")
            )
            return None
        if location == "cookie":
            self.report.unsupported("cookie parameters", (*path, "in"))
            return None
        if location not in ("path", "query", "header", "body"):
            self.report.error(
                f"parameter location {location!r} is unknown; use path, query, header or body",
                (*path, "in"),
            )
            return None
        value = raw.get("value")
        source = (
            self._template(
                value,
                (*path, "value"),
                inputs=None,
                # sent on every request, like a credential: only the environment can fill it
                credential=f"API-wide parameter {raw.get('name')!r}",
            )
            if shared and value is not None
            else None
        )
        if shared and source is None:
            self.report.error("an API-wide parameter needs a 'value'", path)
            return None
        return UpstreamParam(
            name=raw["name"],
            location=location,
            required=bool(raw.get("required", location == "path")),
            type=_json_type(raw.get("type")),  # type: ignore[arg-type]
            description=_text(raw.get("description")),
            value=source,
            template=None if shared else value,
        )

    def _consumed_operation(
        self,
        namespace: str,
        resource: dict[str, Any],
        resource_params: list[UpstreamParam],
        op: dict[str, Any],
        path: Pointer,
        namer: Namer,
        upstream_index: int,
    ) -> UpstreamOperation | None:
        method = str(op.get("method", "GET")).upper()
        if method not in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
            self.report.unsupported(f"HTTP method {method}", (*path, "method"))
            return None
        raw_path = _text(resource.get("path"))
        if isinstance(op.get("path"), str) and op["path"] != raw_path:
            # Catalog specs give operations their own full path under one resource.
            self.report.warning(
                f"operation-level 'path' is not part of the format; {op['path']!r} is used as "
                f"this operation's path instead of the resource's {raw_path!r}",
                (*path, "path"),
            )
            raw_path = op["path"]
        if raw_path.startswith("?"):
            # WHMCS's `?action=GetClients`: a fixed query on the baseUri itself, not a path.
            self.report.warning(
                f"the resource path {raw_path!r} is a query string: it is appended to baseUri as is",
                (*path, "path") if "path" in op else path,
            )
        elif not raw_path.startswith("/"):
            raw_path = "/" + raw_path
        path_params: list[str] = []

        def normalise(match: re.Match[str]) -> str:
            name = (match.group(1) or match.group(2) or "").strip()
            if name not in path_params:
                path_params.append(name)
            return "{" + name + "}"

        norm_path = PLACEHOLDER.sub(normalise, raw_path)
        params: dict[str, UpstreamParam] = {p.name: p for p in resource_params}
        for i, raw in enumerate(op.get("inputParameters") or []):
            param = self._consumed_param(raw, (*path, "inputParameters", i))
            if param is None:
                continue
            if param.name in params and params[param.name].location == param.location:
                self.report.error(
                    f"parameter {param.name!r} is declared twice", (*path, "inputParameters", i)
                )
            params[param.name] = param
        for name in path_params:
            declared = params.get(name)
            head, _, tail = name.partition(".")
            if declared is None and (
                name in self.secrets
                or (tail and head in self.bind_namespaces and tail in self.secrets)
            ):
                # {{env.VAR}} / {{VAR}} in a path: a configuration value, not a caller input.
                params[name] = UpstreamParam(
                    name, "path", True, "string", "", template="{{" + name + "}}"
                )
            elif declared is None:
                params[name] = UpstreamParam(name, "path", True, "string", "")
            elif declared.location != "path" and not any(
                isinstance(raw, dict) and raw.get("name") == name and "in" in raw
                for raw in op.get("inputParameters") or []
            ):
                # No 'in' given and the name is a path placeholder: it is that placeholder.
                params[name] = replace(declared, location="path", required=True)
                self.report.warning(
                    f"parameter {name!r} has no 'in'; it fills {{{name}}} in the path",
                    (*path, "inputParameters"),
                )
            elif declared.location != "path":
                self.report.error(
                    f"{{{name}}} appears in the path but {name!r} is declared 'in: {declared.location}'",
                    (*path, "inputParameters"),
                )
        for param in params.values():
            if param.location == "path" and param.name not in path_params:
                # `/campaigns` with path parameter campaign_id: the item below the collection.
                norm_path = norm_path.rstrip("/") + "/{" + param.name + "}"
                path_params.append(param.name)
                self.report.warning(
                    f"path parameter {param.name!r} does not appear in the resource path {raw_path!r}; "
                    f"appended as its last segment ({norm_path!r}); add {{{param.name}}} to the "
                    "path to place it elsewhere",
                    (*path, "inputParameters"),
                )
        body = self._body(op.get("body"), (*path, "body")) if "body" in op else None
        self.raw_formats[f"{namespace}.{op['name']}"] = str(op.get("outputRawFormat") or "json")
        if "outputSchema" in op:
            self.report.warning(
                "outputSchema is not used yet: a non-JSON answer is passed through as the "
                "upstream sent it",
                (*path, "outputSchema"),
            )
        outputs: list[tuple[str, str]] = []
        for i, item in enumerate(op.get("outputParameters") or []):
            # What an orchestration step keeps of this operation's response: name -> JSONPath.
            selector = item.get("value", item.get("mapping")) if isinstance(item, dict) else None
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                self.report.error(
                    "a consumed output needs a 'name' and a JSONPath 'value'",
                    (*path, "outputParameters", i),
                )
            elif not isinstance(selector, str) or not selector.startswith("$"):
                self.report.error(
                    f"consumed output {item['name']!r} needs a JSONPath 'value' starting with '$'",
                    (*path, "outputParameters", i),
                )
            elif problem := jsonpath.problem(selector):
                self.report.error(problem, (*path, "outputParameters", i, "value"))
            else:
                outputs.append((item["name"], "$" if selector in ("$", "$.") else selector))
        base = (
            constant(op["name"]) if upstream_index == 0 else constant(f"{namespace}_{op['name']}")
        )
        return UpstreamOperation(
            namespace=namespace,
            name=op["name"],
            method=method,
            path=norm_path,
            path_params=tuple(path_params),
            params=tuple(params.values()),
            body=body,
            description=_text(op.get("description")) or _text(op.get("label")),
            const_name=namer.take(base),
            outputs=tuple(outputs),
            raw_format=self.raw_formats[f"{namespace}.{op['name']}"],
        )

    def _body(self, raw: Any, path: Pointer) -> Body | None:
        """Parse a consumed ``body``; its templates are resolved later, per call."""
        if isinstance(raw, str):
            as_json = _json_text(raw)
            if as_json is not None:
                self.report.warning(
                    "this text body is JSON: it is sent as a JSON template (placeholder values "
                    "are JSON-escaped, so a quote in an input cannot break the document)",
                    path,
                )
                return Body(kind="json", template=as_json)
            return Body(kind="text", template=raw, content_type="text/plain; charset=utf-8")
        if not isinstance(raw, dict):
            self.report.error("body must be a string or a mapping with 'type' and 'data'", path)
            return None
        kind = str(raw.get("type", "json"))
        data = raw.get("data")
        if kind == "json" and isinstance(data, str) and (document := _json_text(data)) is not None:
            return Body(kind="json", template=document)  # a JSON document as text
        if kind == "json":
            return Body(kind="json", template=data)
        if kind == "yaml" and isinstance(data, dict | list):
            # YAML is a superset of JSON: the mapping is sent as its JSON form, typed as YAML.
            return Body(kind="json", template=data, content_type=BODY_CONTENT_TYPES["yaml"])
        if kind in BODY_CONTENT_TYPES:
            if not isinstance(data, str):
                hint = ""
                if isinstance(data, dict) and len(data) == 1:
                    only = next(iter(data.values()))
                    if isinstance(only, str):
                        hint = f" (the whole body as text, e.g. data: {only!r}; or type: json for an object)"
                self.report.error(f"a {kind} body needs a string 'data'{hint}", (*path, "data"))
                return None
            return Body(kind="text", template=data, content_type=BODY_CONTENT_TYPES[kind])
        if kind in ("formUrlEncoded", "form") and not isinstance(data, str | dict):
            self.report.error(
                "a form body's 'data' must be a string or a mapping of field names to values",
                (*path, "data"),
            )
            return None
        if kind in ("formUrlEncoded", "form"):
            if kind == "form":
                self.report.warning(
                    "body type 'form' is not official; read as 'formUrlEncoded'", (*path, "type")
                )
            return Body(
                kind="form", template=data, content_type="application/x-www-form-urlencoded"
            )
        if kind in ("multipartForm", "multipart", "multipart/form-data"):
            return self._multipart(data, path)
        if kind in ("binary", "octet-stream", "application/octet-stream"):
            if isinstance(data, dict) and len(data) == 1:
                ((field_name, data),) = data.items()
                self.report.warning(
                    f"a {kind} body with one field: the value of {field_name!r} is sent as the raw body",
                    (*path, "data"),
                )
            if not isinstance(data, str):
                self.report.error(
                    f"a {kind} body needs 'data': a string (or one field) holding the content",
                    (*path, "data"),
                )
                return None
            return Body(kind="text", template=data, content_type="application/octet-stream")
        self.report.unsupported(f"request body type {kind!r}", (*path, "type"))
        return None

    def _multipart(self, data: Any, path: Pointer) -> Body | None:
        """multipart/form-data: the official list of parts, or a mapping of field -> value."""
        if isinstance(data, list):
            fields: dict[str, Any] = {}
            for i, part in enumerate(data):
                if not isinstance(part, dict) or not isinstance(part.get("name"), str):
                    self.report.error(
                        "a multipart part needs a 'name' and a 'value'", (*path, "data", i)
                    )
                    return None
                if "filename" in part or "contentType" in part:
                    self.report.unsupported(
                        "multipart file parts ('filename', 'contentType')", (*path, "data", i)
                    )
                    return None
                fields[part["name"]] = part.get("value")
            data = fields
        if not isinstance(data, dict):
            self.report.error(
                "a multipart body's 'data' must be a list of parts or a mapping of field names to values",
                (*path, "data"),
            )
            return None
        return Body(kind="multipart", template=data, content_type="multipart/form-data")

    def _auth(self, raw: Any, path: Pointer) -> Auth | None:
        if not isinstance(raw, dict):
            return None
        kind = AUTH_ALIASES.get(raw.get("type"), raw.get("type"))
        if kind != raw.get("type"):
            self.report.warning(
                f"authentication type {raw.get('type')!r} read as {kind!r}", (*path, "type")
            )
        if kind in ("none", "noauth", None):
            return None
        if kind == "bearer":
            return Auth(kind="bearer", token=self._required_template(raw, "token", path))
        if kind in ("basic", "digest"):
            return Auth(
                kind=kind,
                username=self._required_template(raw, "username", path),
                password=self._required_template(raw, "password", path),
            )
        if kind in ("apikey", "header", "query"):
            keys = self._apikeys(raw, "query" if kind == "query" else "header", path)
            return Auth(kind="apikey", keys=keys) if keys else None
        if kind in UNSUPPORTED_AUTH:
            self.report.unsupported(f"{kind} authentication", (*path, "type"))
            return None
        self.report.error(
            f"unknown authentication type {raw.get('type')!r}; use bearer, basic, digest or apikey",
            (*path, "type"),
        )
        return None

    def _apikeys(
        self, raw: dict[str, Any], default_placement: str, path: Pointer
    ) -> tuple[tuple[str, str, Source], ...]:
        """(placement, name, value) of every key an apikey block sends, in all the shapes seen
        in real specs; each unofficial shape is reported as a warning."""
        found: list[tuple[str, str, Any]] = []
        official = {"type", "key", "value", "placement"}
        if isinstance(raw.get("headers"), dict):
            found += [("header", str(k), v) for k, v in raw["headers"].items()]
        elif isinstance(raw.get("parameters"), list):
            for item in raw["parameters"]:
                if isinstance(item, dict) and item.get("name"):
                    found.append(
                        (item.get("in", default_placement), str(item["name"]), item.get("value"))
                    )
        elif isinstance(raw.get("header"), str) or isinstance(raw.get("query"), str):
            placement = "header" if isinstance(raw.get("header"), str) else "query"
            value = raw.get("value", raw.get("token", raw.get("key")))
            found.append((placement, raw[placement], value))
        else:
            name = raw.get("key", raw.get("name"))
            value = raw.get("value", raw.get("token"))
            placement = raw.get("placement", raw.get("in", default_placement))
            found.append((placement, name, value))
        if set(raw) - official or raw.get("type") != "apikey":
            self.report.warning(
                "this apikey shape is not official; read as key/value/placement", path
            )
        keys: list[tuple[str, str, Source]] = []
        for placement, name, value in found:
            if placement not in ("header", "query", "cookie", "body"):
                self.report.unsupported(f"apikey placement {placement!r}", path)
                continue
            if not isinstance(name, str) or not name:
                self.report.error(
                    "apikey authentication needs a 'key' (the header or query name)", path
                )
                continue
            if value is None:
                self.report.error(
                    f"apikey {name!r} needs a 'value' (e.g. '{{{{API_KEY}}}}' from binds)", path
                )
                continue
            keys.append(
                (
                    placement,
                    name,
                    self._template(value, path, inputs=None, credential="authentication"),
                )
            )
        return tuple(keys)

    def _required_template(self, raw: dict[str, Any], key: str, path: Pointer) -> Source | None:
        if key not in raw:
            self.report.error(f"{raw.get('type')} authentication needs '{key}'", path)
            return None
        return self._template(raw[key], (*path, key), inputs=None, credential="authentication")

    def _inbound(self, exposes: dict[str, Any], surface: str, path: Pointer) -> Auth | None:
        """``exposes[].authentication``: what the adapter's clients must send (bearer, basic or
        one API key in a header, query parameter or cookie), every secret from binds."""
        raw = exposes.get("authentication")
        if raw is None:
            return None
        where = (*path, "authentication")
        if not isinstance(raw, dict):
            self.report.error("authentication must be a mapping with a 'type'", where)
            return None
        if raw.get("type") in ("digest", "oauth2"):
            self.report.unsupported(
                f"inbound {raw['type']} authentication on the {surface} adapter "
                "(bearer, basic and apikey are supported)",
                (*where, "type"),
            )
            return None
        auth = self._auth(raw, where)
        if auth is None:
            return None
        if len(auth.keys) > 1:
            self.report.unsupported(
                f"more than one inbound API key on the {surface} adapter", where
            )
            return None
        if auth.body_key is not None:
            self.report.unsupported(
                f"an inbound API key in the body on the {surface} adapter", where
            )
            return None
        for source in auth.sources:
            if source.kind == "literal" and not str(source.value or ""):
                self.report.error("the inbound credential is empty: it would admit anyone", where)
                return None
            if source.kind == "literal":
                self.report.warning(
                    "the inbound credential is written in the spec; bind it ('{{VAR}}') so it "
                    "stays out of the spec and the generated code",
                    where,
                )
            elif source.inputs or source.step_paths:
                self.report.error("the inbound credential must come from binds", where)
                return None
        return auth

    # ------------------------------------------------------------------ templates and sources
    def _template(
        self, value: Any, path: Pointer, *, inputs: _Surface | None, credential: str = ""
    ) -> Source:
        """A value that may hold ``{{...}}`` placeholders: secrets anywhere, inputs where a surface
        is given. In a *credential* (what it is, for messages), an undeclared ``{{VAR}}`` is read
        from the environment variable VAR."""
        if not isinstance(value, str):
            return Source(kind="literal", value=value)
        parts: list[tuple[str, str]] = []
        pos = 0
        for match in TEMPLATE.finditer(value):
            if match.start() > pos:
                parts.append(("text", value[pos : match.start()]))
            if credential and (
                var := self._environment_credential(match.group(1), path, credential)
            ):
                parts.append(("secret", var))
            else:
                parts.append(self._placeholder(match.group(1), path, inputs))
            pos = match.end()
        if pos < len(value):
            parts.append(("text", value[pos:]))
        if not any(kind != "text" for kind, _ in parts):
            return Source(kind="literal", value=value)
        if len(parts) == 1:
            kind, text = parts[0]
            return Source(kind=kind, value=text)  # type: ignore[arg-type]
        return Source(kind="template", parts=tuple(parts))

    def _environment_credential(self, expr: str, path: Pointer, what: str) -> str:
        """``{{VAR}}`` / ``{{env.VAR}}`` in a credential, not declared in binds: the author means
        "this secret comes from the environment variable VAR" (as in baseUri); a bind variable
        of its own, with a warning. '' when *expr* is declared, or not a variable name."""
        head, _, tail = expr.partition(".")
        var = tail if tail and head in self.bind_namespaces | {"env"} else expr
        if var in self.secrets or (tail and head in self.bind_namespaces and tail in self.secrets):
            return ""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
            return ""
        if var.upper().startswith(ADAPTER_PREFIX + "_"):
            self.report.error(
                f"{{{{{expr}}}}} in {what} is not declared in binds, and environment variable "
                f"{var} cannot hold it: {ADAPTER_PREFIX}_* are the adapter's own settings; declare "
                f"it under binds[].keys with another environment variable ({var}: MY_{var})",
                path,
            )
        else:
            self.report.warning(
                f"{{{{{expr}}}}} in {what} is not declared in binds; read from environment "
                f"variable {var} (declare it under binds[].keys to document it)",
                path,
            )
        self.secrets[var] = Secret(var=var, env=var)
        return var

    def _placeholder(self, expr: str, path: Pointer, surface: _Surface | None) -> tuple[str, str]:
        if expr[:1] in ("#", "^", "/", "!", ">", "&", "{"):
            self.report.unsupported(
                f"Mustache section or partial {{{{{expr}}}}} (only {{{{name}}}} is supported)", path
            )
            return ("text", "")
        head, _, tail = expr.partition(".")
        if tail and head in self.bind_namespaces and tail in self.secrets:
            return ("secret", tail)
        if expr in self.secrets:
            return ("secret", expr)
        if surface is not None and head in surface.steps:
            return ("step", _step_path(expr))
        name = self._input_reference(expr, surface)
        if surface is not None and name is not None:
            if name in surface.inputs:
                return ("input", name)
            bound = surface.with_sources.get(name)
            if bound is not None and bound.kind in ("input", "secret", "step"):
                return (bound.kind, bound.value)
            if bound is not None and bound.kind == "literal":
                return ("text", "" if bound.value is None else str(bound.value))
            if surface.imply:
                surface.add_implied(self.report, name, "body", "string", True, "")
                return ("input", name)
            self.report.error(
                f"{{{{{expr}}}}} refers to input {name!r}, which is not an input here; "
                "declare it in inputParameters",
                path,
            )
            return ("text", "")
        if re.fullmatch(r"[A-Z][A-Z0-9_]*", expr) or (tail and head in self.bind_namespaces):
            self.report.error(
                f"{{{{{expr}}}}} is not declared in binds; add it under binds[].keys", path
            )
        else:
            hint = ""
            if re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*\.[A-Za-z_][A-Za-z0-9_]*", expr):
                hint = f"; to read it from binds, declare namespace {head!r} with keys: {{{tail}: <ENV_VAR>}}"
            self.report.error(
                f"{{{{{expr}}}}} refers to nothing known here (not a bind variable or an input){hint}",
                path,
            )
        return ("text", "")

    def _input_reference(self, expr: str, surface: _Surface | None) -> str | None:
        """``rest.x``, ``tools.x``, ``<adapter ns>.x``, ``rest.query.x`` or plain ``x`` -> ``x``."""
        if surface is None:
            return None
        parts = expr.split(".")
        if len(parts) == 1:
            return parts[0]
        prefixes = (*GENERIC_PREFIXES, surface.namespace)
        if len(parts) == 2 and parts[0] in prefixes:
            return parts[1]
        if len(parts) == 3 and parts[0] in prefixes and parts[1] in REST_SUB_PREFIXES:
            return parts[2]
        return None

    def _with_value(self, value: Any, path: Pointer, surface: _Surface) -> Source:
        if not isinstance(value, str):
            return Source(kind="literal", value=value)
        if TEMPLATE.search(value):
            return self._template(value, path, inputs=surface)
        if surface.steps and value.startswith("$"):
            return self._step_value(value, path, surface)
        head, _, tail = value.partition(".")
        if tail and head in self.bind_namespaces and tail in self.secrets:
            return Source(kind="secret", value=tail)
        if head == "env" and tail:
            self.report.error(
                f"{value!r} names bind variable {tail!r}, which is not declared in binds", path
            )
            return Source(kind="literal", value="")
        if surface.bare_inputs and value in surface.inputs:
            return Source(kind="input", value=value)
        name = self._input_reference(value, surface) if "." in value else None
        if name is not None:
            if name in surface.inputs:
                return Source(kind="input", value=name)
            if spelled := _spelled_like(name, surface):
                self.report.warning(
                    f"{value!r} names input {name!r}, which is declared as {spelled!r} (the same "
                    f"name but for case and '-'/'_'); read as {spelled!r}",
                    path,
                )
                return Source(kind="input", value=spelled)
            where = value.split(".")
            if (
                surface.kind == "rest"
                and len(where) == 3
                and where[1] in ("query", "header", "headers", "body")
            ):
                # `rest.header.x-version`: the author says where the input comes from.
                location = "header" if where[1] == "headers" else where[1]
                surface.add_implied(self.report, name, location, "string", False, "")
                return Source(kind="input", value=name)
            close = _close_names(name, surface.inputs)
            self.report.error(
                f"{value!r} refers to input {name!r}, which this {'tool' if surface.kind == 'mcp' else 'operation'} "
                "does not have (not declared, not in the path, not a parameter of the called operation); "
                + (f"did you mean {close[0]!r}?" if close else "fix the name or declare the input"),
                path,
            )
            return Source(kind="literal", value="")
        return Source(kind="literal", value=value)

    # ------------------------------------------------------------------ calls (shared by REST and MCP)
    def _find_operation(self, call: Any, path: Pointer) -> UpstreamOperation | None:
        if not isinstance(call, str) or "." not in call:
            self.report.error(
                f"call {call!r} must be '<consumes namespace>.<operation name>'", path
            )
            return None
        namespace, _, name = call.rpartition(".")
        upstream = self.upstreams.get(namespace)
        if upstream is None:
            known = ", ".join(sorted(self.upstreams)) or "none"
            # The operations of that name (but for case and '-'/'_'), the closest namespace first.
            having = {
                u.namespace: o.name
                for u in self.upstreams.values()
                for o in u.operations
                if _folded(o.name) == _folded(name)
            }
            likely = _close_names(namespace, having) or (list(having) if len(having) == 1 else [])
            hint = f"; did you mean {likely[0] + '.' + having[likely[0]]!r}?" if likely else ""
            self.report.error(
                f"call {call!r}: no consumed namespace {namespace!r} (known: {known}){hint}", path
            )
            return None
        for operation in upstream.operations:
            if operation.name == name:
                return operation
        close = [o.name for o in upstream.operations if o.name.lower() == name.lower()]
        hint = f"; did you mean {close[0]!r}?" if close else ""
        self.report.error(
            f"call {call!r}: namespace {namespace!r} has no operation {name!r}{hint}", path
        )
        return None

    def _call(self, raw: dict[str, Any], path: Pointer, surface: _Surface) -> Action | None:
        """What an exposed operation, tool or resource does: one call, steps, or mock values."""
        if "steps" in raw:
            if "call" in raw:
                self.report.error(
                    "use either 'call' or 'steps', not both (orchestration runs the steps)",
                    (*path, "call"),
                )
                return None
            return self._flow(raw, path, surface)
        if "call" not in raw:
            if raw.get("outputParameters"):
                return self._mock(raw, path, surface)
            self.report.error(
                "needs a 'call' naming the consumed operation ('<namespace>.<operation>')", path
            )
            return None
        return self._single_call(raw, path, surface)

    def _single_call(self, raw: dict[str, Any], path: Pointer, surface: _Surface) -> Call | None:
        surface.bare_inputs = bool(raw.get("_bare_inputs"))
        operation = self._find_operation(raw["call"], (*path, "call"))
        if operation is None:
            return None
        with_map = raw.get("with") or {}
        if not isinstance(with_map, dict):
            self.report.error("'with' must map parameter names to values", (*path, "with"))
            return None
        by_name = {p.name: p for p in operation.params}
        body_vars = _template_names(operation.body.template if operation.body else None, surface)
        # Inputs referenced by `with` that the surface lacks but the operation uses (as a parameter
        # or in its body template) become implied inputs.
        for key, value in with_map.items():
            if isinstance(value, str) and not TEMPLATE.search(value) and "." in value:
                name = self._input_reference(value, surface)
                if name is None or name in surface.inputs or _spelled_like(name, surface):
                    continue
                if name in by_name or (key in by_name and _relies_on_implied(surface)):
                    # `job-id: tools.jobId` with no input jobId declared anywhere: the author
                    # names the caller's input that fills the parameter job-id.
                    p = by_name.get(name) or by_name[key]
                    surface.add_implied(
                        self.report,
                        name,
                        self._implied_location(p, surface),
                        p.type,
                        p.required,
                        p.description,
                    )
                elif _folded(key) == _folded(name) and _relies_on_implied(surface):
                    # `num_children: tools.num_children`, a parameter the operation does not
                    # declare (sent as is, warned below): the caller's input of that name.
                    surface.add_implied(
                        self.report,
                        name,
                        self._implied_location(
                            UpstreamParam(
                                name,
                                "body" if operation.method in METHODS_WITH_BODY else "query",
                                False,
                                "string",
                                "",
                            ),
                            surface,
                        ),
                        "string",
                        False,
                        "",
                    )
                elif name in body_vars or key in body_vars:
                    surface.add_implied(
                        self.report,
                        name,
                        self._implied_location(
                            UpstreamParam(name, "body", True, "string", ""), surface
                        ),
                        "string",
                        True,
                        "",
                    )
        args: list[tuple[str, Source]] = []
        extra: list[tuple[str, Source]] = []
        for key, value in with_map.items():
            source = self._with_value(value, (*path, "with", key), surface)
            surface.with_sources[key] = source
            if key in by_name:
                args.append((key, source))
            elif key in body_vars:
                continue  # consumed by the body template
            else:
                self.report.warning(
                    f"'with' sets {key!r}, which {operation.key} does not declare; "
                    f"sent as a {'JSON body field' if operation.method in METHODS_WITH_BODY else 'query parameter'}",
                    (*path, "with", key),
                )
                extra.append((key, source))
        bound = {k for k, _ in args}
        for param in operation.params:
            if param.name in bound:
                continue
            if param.template is not None:
                args.append((param.name, self._template(param.template, path, inputs=surface)))
                continue
            if param.name in surface.inputs:
                args.append((param.name, Source(kind="input", value=param.name)))
                continue
            if surface.kind == "resource" and not param.required:
                continue  # nothing can fill it; an optional parameter is simply not sent
            surface.add_implied(
                self.report,
                param.name,
                self._implied_location(param, surface),
                param.type,
                param.required,
                param.description,
            )
            args.append((param.name, Source(kind="input", value=param.name)))
        surface.imply = True
        body = self._call_body(operation, path, surface)
        surface.imply = False
        output = self._output(raw.get("outputParameters"), (*path, "outputParameters"), surface)
        fmt = self.raw_formats.get(operation.key, "json")
        if output.kind == "mapped" and fmt not in ("json", "xml"):
            shape = output.shape or {}
            if shape.get("type") == "string" and shape.get("mapping") == "$":
                output = Output(kind="passthrough")  # the whole non-JSON body, as text
            else:
                self.report.unsupported(
                    f"JSONPath outputs over outputRawFormat {fmt!r}", (*path, "outputParameters")
                )
        return Call(
            operation=operation,
            args=tuple(args),
            extra_query=tuple(extra),
            body=body,
            output=output,
        )

    # ------------------------------------------------------------------ mock values and orchestration
    def _mock(self, raw: dict[str, Any], path: Pointer, surface: _Surface) -> Mock | None:
        """No call and no steps: the outputs' ``value``s are the answer (the official tutorial's step 1)."""
        output = self._output(raw.get("outputParameters"), (*path, "outputParameters"), surface)
        if output.kind != "mapped" or output.paths:
            self.report.error(
                "without a 'call' or 'steps', every output needs a static 'value' (a JSONPath "
                "'mapping' has no response to read); add a 'call' or give each output a value",
                (*path, "outputParameters"),
            )
            return None
        missing = _nodes_without_value(output.shape or {})
        if missing:
            self.report.error(
                f"mock output {missing[0]!r} has no 'value'; give it one or add a 'call'",
                (*path, "outputParameters"),
            )
            return None
        if "with" in raw:
            self.report.error("'with' needs a 'call' or 'steps' to apply to", (*path, "with"))
            return None
        return Mock(output=output)

    def _flow(self, raw: dict[str, Any], path: Pointer, surface: _Surface) -> Flow | None:
        """Orchestration: ``steps`` (call, lookup) run in order, ``mappings`` build the answer."""
        steps_raw = raw.get("steps")
        if not isinstance(steps_raw, list) or not steps_raw:
            self.report.error("'steps' must be a non-empty list", (*path, "steps"))
            return None
        steps: list[CallStep | LookupStep] = []
        kinds: dict[str, str] = {}
        ok = True
        for i, step in enumerate(steps_raw):
            s_path: Pointer = (*path, "steps", i)
            if not isinstance(step, dict):
                self.report.error("a step must be a mapping", s_path)
                ok = False
                continue
            name = step.get("name")
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
                self.report.error(
                    "a step needs a 'name' of letters, digits, '_' and '-' (later steps refer to it)",
                    (*s_path, "name"),
                )
                ok = False
                continue
            if name in kinds:
                self.report.error(f"step {name!r} is defined twice", (*s_path, "name"))
                ok = False
                continue
            if name in surface.inputs:
                self.report.error(
                    f"step {name!r} has the name of an input; rename one ('$.{name}' must mean one thing)",
                    (*s_path, "name"),
                )
                ok = False
                continue
            kind = step.get("type", "call" if "call" in step else None)
            surface.steps = tuple(kinds)
            surface.with_sources = {}  # each step's `with` applies to that step only
            if kind == "call":
                call = self._single_call(
                    {"call": step.get("call"), "with": step.get("with") or {}}, s_path, surface
                )
                if call is None:
                    ok = False
                    continue
                call = replace(call, retry=call.operation.method in ("GET", "HEAD"))
                steps.append(CallStep(name=name, call=call))
            elif kind == "lookup":
                lookup = self._lookup(step, name, s_path, surface, kinds)
                if lookup is None:
                    ok = False
                    continue
                steps.append(lookup)
            elif kind == "script":
                self.report.unsupported("script steps", (*s_path, "type"))
                ok = False
                continue
            else:
                self.report.error(
                    f"step type {kind!r} is unknown; use 'call' or 'lookup'", (*s_path, "type")
                )
                ok = False
                continue
            kinds[name] = kind
        surface.steps = tuple(kinds)
        mappings: list[tuple[str, Source]] = []
        targets: set[str] = set()
        for i, item in enumerate(raw.get("mappings") or []):
            m_path: Pointer = (*path, "mappings", i)
            target = item.get("targetName") if isinstance(item, dict) else None
            if not isinstance(target, str) or not target or "value" not in item:
                self.report.error("a mapping needs a 'targetName' and a 'value'", m_path)
                ok = False
                continue
            if any(
                target == t or target.startswith(t + ".") or t.startswith(target + ".")
                for t in targets
            ):
                self.report.error(
                    f"mapping target {target!r} overlaps another mapping's target",
                    (*m_path, "targetName"),
                )
                ok = False
                continue
            targets.add(target)
            value = item["value"]
            if isinstance(value, str) and value.startswith("$"):
                source = self._step_value(value, (*m_path, "value"), surface)
            else:
                source = self._template(value, (*m_path, "value"), inputs=surface)
            if source.secrets:
                self.report.error(
                    "a mapping may not contain a bind variable: it would hand the secret to callers",
                    (*m_path, "value"),
                )
                ok = False
            mappings.append((target, source))
        surface.steps = ()
        surface.with_sources = {}
        if not ok:
            return None
        if not any(isinstance(s, CallStep) for s in steps):
            self.report.error(
                "the steps call nothing; add a step with type 'call'", (*path, "steps")
            )
            return None
        output = self._flow_output(
            raw.get("outputParameters"), (*path, "outputParameters"), mappings
        )
        return Flow(steps=tuple(steps), mappings=tuple(mappings), output=output)

    def _lookup(
        self,
        step: dict[str, Any],
        name: str,
        path: Pointer,
        surface: _Surface,
        kinds: dict[str, str],
    ) -> LookupStep | None:
        index = step.get("index")
        if index not in kinds:
            earlier = ", ".join(kinds) or "none"
            self.report.error(
                f"lookup index {index!r} is not an earlier step (earlier steps: {earlier})",
                (*path, "index"),
            )
            return None
        match = step.get("match")
        if not isinstance(match, str) or not match:
            self.report.error(
                "a lookup needs 'match': the key field of the index entries", (*path, "match")
            )
            return None
        if "lookupValue" not in step:
            self.report.error("a lookup needs 'lookupValue': the value to find", path)
            return None
        raw_value = step["lookupValue"]
        if isinstance(raw_value, str) and raw_value.startswith("$"):
            value = self._step_value(raw_value, (*path, "lookupValue"), surface)
        elif isinstance(raw_value, str) and not TEMPLATE.search(raw_value) and "." in raw_value:
            value = self._with_value(raw_value, (*path, "lookupValue"), surface)
        else:
            value = self._template(raw_value, (*path, "lookupValue"), inputs=surface)
        fields: list[str] = []
        for i, item in enumerate(step.get("outputParameters") or []):
            field_name = item.get("name") if isinstance(item, dict) else item
            if not isinstance(field_name, str) or not field_name:
                self.report.error(
                    "lookup outputParameters are the names of the fields to keep",
                    (*path, "outputParameters", i),
                )
                return None
            fields.append(field_name)
        return LookupStep(name=name, index=index, match=match, value=value, fields=tuple(fields))

    def _step_value(self, value: str, path: Pointer, surface: _Surface) -> Source:
        """``$.<step>.<path>`` (an earlier step's result) or ``$.<input>``: a JSONPath over them."""
        head = re.match(r"\$\.?([A-Za-z0-9_-]+)", value)
        if value in ("$", "$.") or head is None:
            self.report.error(
                f"{value!r} must name an earlier step or an input: '$.<step>.<field>'", path
            )
            return Source(kind="literal", value=None)
        if head.group(1) not in surface.steps and head.group(1) not in surface.inputs:
            earlier = ", ".join(surface.steps) or "none"
            self.report.error(
                f"{value!r} refers to {head.group(1)!r}, which is neither an earlier step "
                f"(earlier steps: {earlier}) nor an input",
                path,
            )
            return Source(kind="literal", value=None)
        if problem := jsonpath.problem(value):
            self.report.error(problem, path)
            return Source(kind="literal", value=None)
        return Source(kind="step", value=value)

    def _flow_output(self, raw: Any, path: Pointer, mappings: list[tuple[str, Source]]) -> Output:
        """The typed answer of a flow: named outputs (name + type) filled by ``mappings``."""
        if not mappings:
            if raw:
                self.report.error(
                    "orchestrated outputParameters are filled by 'mappings'; add mappings "
                    "(or drop the outputs to answer with the last call's response)",
                    path,
                )
            return Output(kind="passthrough")
        props: dict[str, Any] = {}
        declared = {
            item.get("name"): item
            for item in raw or []
            if isinstance(item, dict) and item.get("name")
        }
        for target, _ in mappings:
            head = target.split(".", 1)[0]
            item = declared.get(head)
            if item is None:
                if raw:
                    self.report.warning(
                        f"mapping target {head!r} is not declared in outputParameters; typed as any",
                        path,
                    )
                props.setdefault(head, {})
                continue
            kind = _json_type(item.get("type")) if "." not in target else "object"
            props[head] = {"type": [kind, "null"]}  # null: the mapped path found nothing
        for name in declared:
            if name not in props:
                self.report.error(
                    f"output {name!r} is set by no mapping; add a mapping with targetName {name!r}",
                    path,
                )
        schema: dict[str, Any] = {"type": "object", "properties": props}
        return Output(kind="passthrough", json_schema=schema)

    def _implied_location(self, param: UpstreamParam, surface: _Surface) -> str:
        if surface.kind in ("mcp", "resource"):
            return "argument"
        return param.location if param.location in ("query", "header", "body") else "query"

    def _call_body(
        self, operation: UpstreamOperation, path: Pointer, surface: _Surface
    ) -> Body | None:
        declared = operation.body
        if declared is not None:
            if declared.kind == "json":
                return replace(
                    declared, template=self._json_template(declared.template, path, surface)
                )
            if declared.kind == "multipart":
                parts = tuple(
                    (str(k), self._template(v, path, inputs=surface))
                    for k, v in (declared.template or {}).items()
                )
                return Body(kind="multipart", fields=parts, content_type=declared.content_type)
            if declared.kind == "form":
                data = declared.template
                if isinstance(data, str):
                    return Body(
                        kind="text",
                        text=self._template(data, path, inputs=surface),
                        content_type=declared.content_type,
                    )
                fields = tuple(
                    (str(k), self._template(v, path, inputs=surface))
                    for k, v in (data or {}).items()
                )
                return Body(kind="form", fields=fields, content_type=declared.content_type)
            return Body(
                kind="text",
                text=self._template(declared.template, path, inputs=surface),
                content_type=declared.content_type,
            )
        if any(p.location == "body" for p in operation.params):
            return Body(kind="params")
        if operation.method in METHODS_WITH_BODY:
            return Body(kind="passthrough")
        return None

    def _json_template(self, data: Any, path: Pointer, surface: _Surface) -> Any:
        """JSON body data with string leaves resolved to Sources (kept as plain data when constant)."""
        if isinstance(data, dict):
            return {str(k): self._json_template(v, path, surface) for k, v in data.items()}
        if isinstance(data, list):
            return [self._json_template(v, path, surface) for v in data]
        if isinstance(data, str) and TEMPLATE.search(data):
            return self._template(data, path, inputs=surface)
        return data

    def _output(self, raw: Any, path: Pointer, surface: _Surface) -> Output:
        if not raw:
            return Output(kind="passthrough")
        if not isinstance(raw, list):
            self.report.error("outputParameters must be a list", path)
            return Output(kind="passthrough")
        if len(raw) == 1 and not raw[0].get("name"):
            shape = raw[0]
            whole = (
                shape.get("mapping") in ("$", "$.")
                and not shape.get("properties")
                and not shape.get("items")
            )
            if whole and shape.get("type") in ("object", "array", None):
                return Output(kind="passthrough")
            node = self._shape(shape, (*path, 0), surface)
        else:
            props = {}
            for i, item in enumerate(raw):
                name = item.get("name")
                if not isinstance(name, str) or not name:
                    self.report.error(
                        "with several outputParameters, each needs a 'name'", (*path, i)
                    )
                    continue
                props[name] = self._shape(item, (*path, i), surface)
            node = {"type": "object", "properties": props}
        return Output(kind="mapped", shape=node, json_schema=_output_schema(node))

    def _shape(self, raw: dict[str, Any], path: Pointer, surface: _Surface) -> dict[str, Any]:
        kind = raw.get("type", "string")
        if kind not in ("string", "number", "integer", "boolean", "object", "array"):
            self.report.error(f"output type {kind!r} is unknown", (*path, "type"))
            kind = "string"
        node: dict[str, Any] = {"type": kind}
        if "value" in raw:
            # A static value or a template over the inputs; it wins over 'mapping' (as in the engine).
            value = self._template(raw["value"], (*path, "value"), inputs=surface)
            if value.secrets:
                self.report.error(
                    "an output value may not contain a bind variable: it would hand the secret to callers",
                    (*path, "value"),
                )
            node["value"] = value
            return node
        mapping = raw.get("mapping")
        if mapping is not None:
            if not isinstance(mapping, str) or not mapping.startswith("$"):
                self.report.error(
                    f"mapping {mapping!r} must be a JSONPath starting with '$'", (*path, "mapping")
                )
            elif problem := jsonpath.problem(mapping):
                self.report.error(problem, (*path, "mapping"))
            else:
                node["mapping"] = "$" if mapping in ("$", "$.") else mapping
        if kind == "object" and raw.get("properties"):
            node["properties"] = {
                str(k): self._shape(
                    v if isinstance(v, dict) else {}, (*path, "properties", k), surface
                )
                for k, v in raw["properties"].items()
            }
        if kind == "array" and isinstance(raw.get("items"), dict):
            node["items"] = self._shape(raw["items"], (*path, "items"), surface)
        return node

    # ------------------------------------------------------------------ REST
    def _rest(self, exposes: dict[str, Any], path: Pointer) -> RestAdapter | None:
        inbound = self._inbound(exposes, "REST", path)
        namespace = _text(exposes.get("namespace"))
        routes: list[RestRoute] = []
        forwards: list[Forward] = []
        seen: dict[tuple[str, str], tuple[Pointer, Any]] = {}
        names = Namer()
        for r_index, resource in enumerate(exposes.get("resources") or []):
            r_path: Pointer = (*path, "resources", r_index)
            spec_path = _text(resource.get("path"))
            if "forward" in resource:
                forward = self._forward(resource, spec_path, r_path, inbound)
                if forward is not None:
                    forwards.append(forward)
                continue
            if not spec_path.startswith("/"):
                self.report.error(f"REST path {spec_path!r} must start with '/'", (*r_path, "path"))
                continue
            if spec_path == RESERVED_REST_PREFIX or spec_path.startswith(
                RESERVED_REST_PREFIX + "/"
            ):
                self.report.error(
                    f"REST paths under {RESERVED_REST_PREFIX}/ are reserved for the adapter's own endpoints",
                    (*r_path, "path"),
                )
                continue
            resource_path = spec_path
            for o_index, raw_op in enumerate(resource.get("operations") or []):
                o_path: Pointer = (*r_path, "operations", o_index)
                op = self._inline_ref(raw_op, o_path, rest=True) if "ref" in raw_op else raw_op
                if op is None:
                    continue
                spec_path = resource_path
                if isinstance(op.get("path"), str) and op["path"].strip("/"):
                    # Catalog style: an operation's own path, below its resource's unless it
                    # already starts with it.
                    own = "/" + op["path"].strip("/")
                    spec_path = (
                        own
                        if own == resource_path or own.startswith(resource_path.rstrip("/") + "/")
                        else resource_path.rstrip("/") + own
                    )
                    self.report.warning(
                        f"operation-level 'path' is not part of the format; served at {spec_path!r}",
                        (*o_path, "path"),
                    )
                with_map = op.get("with") if isinstance(op.get("with"), dict) else {}
                for value in with_map.values():
                    wanted = (
                        re.fullmatch(r"[A-Za-z0-9_-]+\.path\.([A-Za-z0-9_-]+)", value)
                        if isinstance(value, str)
                        else None
                    )
                    if wanted and "{" + wanted.group(1) not in spec_path.replace("{{", "{"):
                        # `rest.path.connectionId` under /v1/connections: the item below it.
                        spec_path = spec_path.rstrip("/") + "/{" + wanted.group(1) + "}"
                        self.report.warning(
                            f"{value!r} names a path parameter the path lacks; served at {spec_path!r}",
                            (*o_path, "with"),
                        )
                route_path, var_of = _route_path(spec_path)
                method = str(op.get("method", "GET")).upper()
                key = (route_path, method)
                definition = (resource.get("inputParameters"), op)
                if key in seen:
                    first, first_definition = seen[key]
                    first_line = self.report.position(first)[0]
                    if definition == first_definition:
                        # The same operation pasted twice: one route, as the author meant.
                        self.report.warning(
                            f"{method} {spec_path} is defined twice, identically (first at line "
                            f"{first_line}); served once",
                            (*o_path, "method"),
                        )
                    else:
                        self.report.error(
                            f"{method} {spec_path} is defined twice (first at line {first_line}), "
                            f"differently; {self._route_hint(spec_path, op, first_definition[1])}",
                            (*o_path, "method"),
                        )
                    continue
                seen[key] = ((*o_path, "method"), definition)
                surface = _Surface(
                    kind="rest",
                    namespace=namespace,
                    path=o_path,
                    declares_inputs=bool(
                        resource.get("inputParameters") or op.get("inputParameters")
                    ),
                )
                for name, var in var_of.items():
                    surface.inputs[name] = Input(name, "path", "string", True, "", route_var=var)
                for source_list, base in (
                    (resource.get("inputParameters") or [], (*r_path, "inputParameters")),
                    (op.get("inputParameters") or [], (*o_path, "inputParameters")),
                ):
                    for i, raw in enumerate(source_list):
                        self._declare_rest_input(raw, (*base, i), surface, var_of)
                call = self._call(op, o_path, surface)
                if call is None:
                    continue
                call = _with_retry(call, _method_of(call) in ("GET", "HEAD"))
                if op.get("name"):
                    self.exposed_actions[(namespace, str(op["name"]))] = (
                        f"REST `{method} {spec_path}`"
                    )
                summary = (
                    _text(op.get("label")) or _text(op.get("description")) or _description_of(call)
                )
                if surface.constants:
                    call = _fold_constants(call, surface.constants)
                inputs = tuple(
                    i for i in surface.inputs.values() if i.name not in surface.constants
                )
                routes.append(
                    RestRoute(
                        name=names.take(
                            identifier(
                                _text(op.get("name")) or f"{method}_{spec_path}", fallback="op"
                            )
                        ),
                        method=method,
                        path=route_path,
                        spec_path=spec_path,
                        summary=summary.split("\n")[0][:120],
                        description=_text(op.get("description"))
                        or _text(resource.get("description")),
                        inputs=inputs,
                        call=call,
                        accepts_body=_passthrough_body(call)
                        or _reads_body_params(call)
                        or any(i.location == "body" for i in inputs),
                    )
                )
        if not routes and not forwards and not self.report.errors:
            self.report.error("the REST adapter has no operations", (*path, "resources"))
        return RestAdapter(
            namespace=namespace,
            port=int(exposes.get("port") or 8080),
            address=_text(exposes.get("address")) or "127.0.0.1",
            description=_text(exposes.get("description")),
            routes=tuple(routes),
            forwards=tuple(forwards),
            inbound=inbound,
        )

    def _route_hint(self, spec_path: str, op: dict[str, Any], first: dict[str, Any]) -> str:
        """What to write so that two operations on one method and path are told apart: for the
        one whose upstream takes path parameters this path lacks, the path with them appended
        (the item below the collection, e.g. ``/v1/customer-accounts/{rcn}``)."""
        for candidate in (op, first):
            operation = self._peek_operation(candidate.get("call"))
            if operation is None:
                continue
            bound = candidate.get("with") if isinstance(candidate.get("with"), dict) else {}
            lacking = [
                n
                for n in operation.path_params
                if "{" + n + "}" not in spec_path.replace("{{", "{")
                # a value from binds is not the caller's to give
                and not (
                    isinstance(bound.get(n), str)
                    and ("{{" in bound[n] or bound[n].startswith("env."))
                )
            ]
            if lacking:
                item = spec_path.rstrip("/") + "".join("/{" + n + "}" for n in lacking)
                which = f"operation {candidate.get('name')!r}" if candidate.get("name") else "one"
                return f"serve {which} at its own path, e.g. {item!r}"
        return "give one of them its own path or method, or remove one"

    def _peek_operation(self, call: Any) -> UpstreamOperation | None:
        """The consumed operation *call* names, without reporting anything when it names none."""
        if not isinstance(call, str) or "." not in call:
            return None
        namespace, _, name = call.partition(".")
        upstream = self.upstreams.get(namespace)
        if upstream is None:
            return None
        return next((o for o in upstream.operations if o.name == name), None)

    def _forward(
        self, resource: dict[str, Any], spec_path: str, path: Pointer, inbound: Auth | None
    ) -> Forward | None:
        """``forward: {targetNamespace, trustedHeaders}``: every request below the resource path
        is proxied to that API (its credentials and shared parameters added)."""
        raw = resource["forward"]
        if resource.get("operations"):
            self.report.unsupported(
                "operations next to 'forward' on one resource", (*path, "operations")
            )
            return None
        target = raw.get("targetNamespace") if isinstance(raw, dict) else None
        if not isinstance(target, str) or target not in self.upstreams:
            known = ", ".join(sorted(self.upstreams)) or "none"
            self.report.error(
                f"forward targetNamespace {target!r} is not a consumed namespace (known: {known})",
                (*path, "forward"),
            )
            return None
        target_auth = self.upstreams[target].auth
        if target_auth is not None and target_auth.body_key is not None:
            self.report.unsupported(
                f"a forward to {target!r}, whose API key goes in the request body",
                (*path, "forward"),
            )
            return None
        # `/forward/{{path}}`: the placeholder is the rest of the path; without one, everything below.
        prefix = re.sub(r"/?(\{\{[^{}]*\}\}|\{[^{}]*\})$", "", spec_path).rstrip("/")
        if "{" in prefix or not spec_path.startswith("/"):
            self.report.error(
                "a forward path is a fixed prefix, optionally ending in one placeholder for the rest "
                "of the path (e.g. /proxy/{{path}})",
                (*path, "path"),
            )
            return None
        if (
            prefix == RESERVED_REST_PREFIX
            or prefix.startswith(RESERVED_REST_PREFIX + "/")
            or not prefix
        ):
            self.report.error(
                "a forward needs a prefix of its own (not '/', not under /_adapter/)",
                (*path, "path"),
            )
            return None
        trusted = raw.get("trustedHeaders") or []
        if not isinstance(trusted, list) or not all(
            isinstance(h, str) and re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", h) for h in trusted
        ):
            self.report.error("trustedHeaders must be a list of header names", (*path, "forward"))
            return None
        never = FORWARD_NEVER | {
            name.lower()
            for placement, name, _ in (inbound.keys if inbound else ())
            if placement == "header"
        }
        blocked = [h for h in trusted if h.lower() in never]
        if blocked:
            self.report.error(
                f"trustedHeaders may not pass {blocked[0]!r}: the adapter never forwards callers' "
                "credentials (its own inbound API key included), cookies or connection headers",
                (*path, "forward"),
            )
            return None
        return Forward(
            prefix=prefix,
            spec_path=spec_path,
            namespace=target,
            trusted_headers=tuple(trusted),
            description=_text(resource.get("description")),
        )

    def _declare_rest_input(
        self, raw: dict[str, Any], path: Pointer, surface: _Surface, var_of: dict[str, str]
    ) -> None:
        name = raw["name"]
        location = raw.get("in", "query")
        if location == "cookie":
            self.report.unsupported("cookie inputs", (*path, "in"))
            return
        if location not in ("path", "query", "header", "body"):
            self.report.error(
                f"input location {location!r} is unknown; use path, query, header or body",
                (*path, "in"),
            )
            return
        if location == "path" and name not in var_of:
            self.report.error(f"path input {name!r} does not appear in the resource path", path)
            return
        field_path: tuple[str, ...] = ()
        if "value" in raw:
            value = raw["value"]
            selector = (
                re.fullmatch(r"\$((?:\.[A-Za-z0-9_-]+)+)", value)
                if isinstance(value, str)
                else None
            )
            if location == "body" and selector:
                # `value: $.user.id`: the input is that field of the JSON body.
                field_path = tuple(selector.group(1).split(".")[1:])
            elif location == "body" and isinstance(value, str) and value.startswith("$"):
                self.report.unsupported(
                    f"JSONPath {value!r} on an exposed input (only $.field.subfield paths)",
                    (*path, "value"),
                )
            else:
                # A static value overrides the request (as in the engine): a constant, not an
                # input; every reference to it is folded into the call (see _fold_constants).
                surface.constants[name] = value
        surface.inputs[name] = Input(
            name=name,
            location=location,
            type=_json_type(raw.get("type")),  # type: ignore[arg-type]
            required=bool(raw.get("required", location == "path")),
            description=_text(raw.get("description")),
            pattern=raw.get("pattern") if isinstance(raw.get("pattern"), str) else None,
            route_var=var_of.get(name, ""),
            field=field_path,
        )
        if raw.get("pattern"):
            try:
                re.compile(raw["pattern"])
            except re.error as exc:
                self.report.error(
                    f"pattern is not a valid regular expression: {exc}", (*path, "pattern")
                )

    # ------------------------------------------------------------------ MCP
    def _mcp(self, exposes: dict[str, Any], path: Pointer) -> McpAdapter | None:
        inbound = None
        if exposes.get("transport") == "stdio" and exposes.get("authentication"):
            self.report.warning(
                "inbound authentication does not apply to stdio; ignored",
                (*path, "authentication"),
            )
        else:
            inbound = self._inbound(exposes, "MCP", path)
        transport = exposes.get("transport", "http")
        if transport not in ("http", "stdio"):
            self.report.error(
                f"MCP transport {transport!r} is unknown; use 'http' or 'stdio'",
                (*path, "transport"),
            )
            return None
        namespace = _text(exposes.get("namespace"))
        tools: list[McpTool] = []
        seen: dict[str, Pointer] = {}
        for t_index, raw_tool in enumerate(exposes.get("tools") or []):
            t_path: Pointer = (*path, "tools", t_index)
            raw = self._inline_ref(raw_tool, t_path, rest=False) if "ref" in raw_tool else raw_tool
            if raw is None:
                continue
            name = raw["name"]
            if name in seen:
                self.report.error(
                    f"tool {name!r} is defined twice (first at line {self.report.position(seen[name])[0]})",
                    (*t_path, "name"),
                )
                continue
            seen[name] = (*t_path, "name")
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", name):
                self.report.error(
                    "MCP tool names may use only letters, digits, '_', '-' and '.' (1-128 characters)",
                    (*t_path, "name"),
                )
                continue
            tool = self._tool(raw, t_path, namespace)
            if tool is not None:
                tools.append(tool)
                self.exposed_actions[(namespace, tool.name)] = f"MCP tool `{tool.name}`"
        if not tools and not self.report.errors:
            self.report.error("the MCP adapter has no tools", (*path, "tools"))
        port = exposes.get("port")
        if transport == "http" and not isinstance(port, int):
            self.report.error("an MCP adapter with transport http needs a 'port'", path)
        resources = self._unique(
            [
                self._resource(raw, (*path, "resources", i), namespace)
                for i, raw in enumerate(exposes.get("resources") or [])
            ],
            "resource",
            (*path, "resources"),
        )
        prompts = self._unique(
            [
                self._prompt(raw, (*path, "prompts", i))
                for i, raw in enumerate(exposes.get("prompts") or [])
            ],
            "prompt",
            (*path, "prompts"),
        )
        return McpAdapter(
            namespace=namespace,
            port=port if isinstance(port, int) else None,
            address=_text(exposes.get("address")) or "127.0.0.1",
            transport=transport,
            description=_text(exposes.get("description")),
            tools=tuple(tools),
            resources=resources,
            prompts=prompts,
            inbound=inbound,
        )

    def _unique(self, items: list[Any], what: str, path: Pointer) -> tuple[Any, ...]:
        seen: set[str] = set()
        kept = []
        for item in items:
            if item is None:
                continue
            key = getattr(item, "uri", None) or item.name
            if key in seen:
                self.report.error(f"{what} {key!r} is defined twice", path)
                continue
            seen.add(key)
            kept.append(item)
        return tuple(kept)

    def _resource(self, raw: dict[str, Any], path: Pointer, namespace: str) -> McpResource | None:
        if "location" in raw:
            self.report.unsupported(
                "static MCP resources from 'location' files", (*path, "location")
            )
            return None
        uri = _text(raw.get("uri"))
        if not uri or ":" not in uri:
            self.report.error(
                "a resource needs a 'uri' with a scheme, e.g. data://things/{id}", (*path, "uri")
            )
            return None
        params = re.findall(r"\{([A-Za-z_][A-Za-z0-9_-]*)\}", uri)
        pieces = re.split(r"\{[A-Za-z_][A-Za-z0-9_-]*\}", uri)
        pattern = "^" + "([^/]+)".join(re.escape(piece) for piece in pieces) + "$"
        surface = _Surface(kind="resource", namespace=namespace, path=path)
        for name in params:
            surface.inputs[name] = Input(name, "argument", "string", True, "")
        call = self._call(raw, path, surface)
        if call is None:
            return None
        if not isinstance(call, Call):
            self.report.unsupported(
                "MCP resources read by 'steps' or from mock values", (*path, "steps")
            )
            return None
        if call.output.kind == "mapped":
            self.report.unsupported(
                "outputParameters on MCP resources", (*path, "outputParameters")
            )
            return None
        return McpResource(
            name=_text(raw.get("name")) or uri,
            title=_text(raw.get("label")),
            uri=uri,
            description=_text(raw.get("description")),
            mime_type=_text(raw.get("mimeType")) or "application/json",
            params=tuple(params),
            pattern=pattern,
            call=call,
        )

    def _prompt(self, raw: dict[str, Any], path: Pointer) -> McpPrompt | None:
        if "location" in raw:
            self.report.unsupported("MCP prompts from 'location' files", (*path, "location"))
            return None
        arguments = tuple(
            PromptArgument(
                name=str(a.get("name")),
                title=_text(a.get("label")),
                description=_text(a.get("description")),
                required=bool(a.get("required", True)),
            )
            for a in raw.get("arguments") or []
            if isinstance(a, dict) and a.get("name")
        )
        names = {a.name for a in arguments}
        messages = []
        for i, message in enumerate(raw.get("template") or []):
            role = message.get("role", "user")
            if role not in ("user", "assistant"):
                self.report.error(
                    f"prompt role {role!r} must be user or assistant",
                    (*path, "template", i, "role"),
                )
                continue
            content = _text(message.get("content"))
            parts: list[tuple[str, str]] = []
            pos = 0
            for match in TEMPLATE.finditer(content):
                if match.start() > pos:
                    parts.append(("text", content[pos : match.start()]))
                name = match.group(1).split(".")[-1]
                if name not in names:
                    self.report.error(
                        f"{{{{{match.group(1)}}}}} is not an argument of prompt {raw.get('name')!r}",
                        (*path, "template", i, "content"),
                    )
                parts.append(("arg", name))
                pos = match.end()
            if pos < len(content):
                parts.append(("text", content[pos:]))
            messages.append((role, tuple(parts)))
        if not messages:
            self.report.error("a prompt needs a 'template' with at least one message", path)
            return None
        return McpPrompt(
            name=str(raw.get("name")),
            title=_text(raw.get("label")),
            description=_text(raw.get("description")),
            arguments=arguments,
            messages=tuple(messages),
        )

    def _tool(self, raw: dict[str, Any], path: Pointer, namespace: str) -> McpTool | None:
        surface = _Surface(
            kind="mcp",
            namespace=namespace,
            path=path,
            declares_inputs=bool(raw.get("inputParameters")),
        )
        for i, param in enumerate(raw.get("inputParameters") or []):
            p_path = (*path, "inputParameters", i)
            pname = param["name"]
            if pname in surface.inputs:
                self.report.error(f"input {pname!r} is declared twice", p_path)
                continue
            if pname == "body":
                self.report.error(
                    "'body' is reserved for the request body argument; rename the input", p_path
                )
                continue
            if isinstance(param.get("pattern"), str):
                try:
                    re.compile(param["pattern"])
                except re.error as exc:
                    self.report.error(
                        f"pattern is not a valid regular expression: {exc}", (*p_path, "pattern")
                    )
                    continue
            if "value" in param:
                value = param["value"]
                if isinstance(value, str) and value.startswith("$"):
                    self.report.unsupported(
                        f"JSONPath {value!r} on an MCP tool input", (*p_path, "value")
                    )
                else:
                    surface.constants[pname] = value  # a constant: folded into the call below
            surface.inputs[pname] = Input(
                name=pname,
                location="argument",
                type=_json_type(param.get("type")),  # type: ignore[arg-type]
                required=bool(param.get("required", True)),
                description=_text(param.get("description")),
                pattern=param.get("pattern") if isinstance(param.get("pattern"), str) else None,
            )
        call = self._call(raw, path, surface)
        if call is None:
            return None
        if surface.constants:
            call = _fold_constants(call, surface.constants)
        hints = raw.get("hints")
        annotations = self._annotations(hints, _method_of(call), (*path, "hints"))
        call = _with_retry(call, annotations.idempotent or annotations.read_only)
        body_argument = _passthrough_body(call)
        inputs = tuple(i for i in surface.inputs.values() if i.name not in surface.constants)
        confirmable = not isinstance(call, Mock) and (
            (annotations.destructive and not annotations.read_only)
            or (not annotations.read_only and not annotations.idempotent)
        )
        return McpTool(
            name=raw["name"],
            title=_text(raw.get("label")) or _title(raw["name"], _text(raw.get("description"))),
            description=_text(raw.get("description")) or _description_of(call) or raw["name"],
            inputs=inputs,
            input_schema=_input_schema(inputs, body_argument, confirmable),
            output_schema=(
                _with_preview(call.output.json_schema) if confirmable else call.output.json_schema
            ),
            annotations=annotations,
            call=call,
            body_argument=body_argument,
        )

    def _annotations(self, hints: Any, method: str, path: Pointer) -> Annotations:
        if not isinstance(hints, dict):
            safe = method in ("GET", "HEAD")
            return Annotations(
                read_only=safe,
                destructive=method in ("DELETE", "PUT", "PATCH"),
                idempotent=method in ("GET", "HEAD", "PUT", "DELETE"),
                open_world=True,
            )
        read_only = bool(hints.get("readOnly", False))
        destructive = bool(hints.get("destructive", True))
        if read_only and hints.get("destructive") is True:
            self.report.error(
                "hints say both readOnly and destructive; a read-only tool cannot destroy anything",
                path,
            )
        if read_only and "destructive" not in hints:
            destructive = False
        if method == "GET" and not read_only:
            self.report.warning(
                "a GET operation is exposed with readOnly false; agents will treat it as a write",
                path,
            )
        return Annotations(
            read_only=read_only,
            destructive=destructive,
            idempotent=bool(hints.get("idempotent", False)),
            open_world=bool(hints.get("openWorld", True)),
        )


def _json_text(text: str) -> Any:
    """A text body that is a JSON document once its placeholders are set aside: that document,
    its string leaves keeping their placeholders. None when it is not JSON."""
    if not text.strip().startswith(("{", "[")):
        return None
    held: dict[str, str] = {}

    def hold(match: re.Match[str]) -> str:
        token = f"@@naftiko-placeholder-{len(held)}@@"
        held[token] = match.group(0)
        return token

    try:
        document = json.loads(TEMPLATE.sub(hold, text))
    except ValueError:
        return None

    def restore(node: Any) -> Any:
        if isinstance(node, dict):
            return {restore(k): restore(v) for k, v in node.items()}
        if isinstance(node, list):
            return [restore(v) for v in node]
        if isinstance(node, str):
            for token, placeholder in held.items():
                node = node.replace(token, placeholder)
        return node

    return restore(document)


def _folded(name: str) -> str:
    return re.sub(r"[-_]", "", name).lower()


def _spelled_like(name: str, surface: _Surface) -> str | None:
    """The one declared input of *surface* whose name is *name* but for case and '-'/'_'
    (``employee_id`` -> ``employeeId``), else None."""
    matches = [
        i.name
        for i in surface.inputs.values()
        if not i.implied and i.name != name and _folded(i.name) == _folded(name)
    ]
    return matches[0] if len(matches) == 1 else None


def _relies_on_implied(surface: _Surface) -> bool:
    """Whether *surface* (a REST operation or an MCP tool) declares no inputParameters (its
    path's placeholders aside), leaving them all to be implied: then a ``with`` value naming an
    input that exists nowhere names one more input, not a misspelt one."""
    return surface.kind in ("rest", "mcp") and not surface.declares_inputs


def _close_names(name: str, known: Iterable[str]) -> list[str]:
    """The names in *known* that *name* is likely a misspelling of, best first (a fix-it hint)."""
    return difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)


def _route_path(spec_path: str) -> tuple[str, dict[str, str]]:
    """An exposed path as an aiohttp route, and the route variable of each placeholder name."""
    route_vars = Namer()
    var_of: dict[str, str] = {}

    def to_route(match: re.Match[str]) -> str:
        name = (match.group(1) or match.group(2) or "").strip()
        if name not in var_of:
            var_of[name] = route_vars.take(identifier(name, fallback="p"))
        return "{" + var_of[name] + "}"

    return PLACEHOLDER.sub(to_route, spec_path), var_of


def _step_path(expr: str) -> str:
    """``{{step.a.b}}`` -> ``$.step.a.b`` (the JSONPath over step results)."""
    return "$." + expr


def _nodes_without_value(node: dict[str, Any], name: str = "") -> list[str]:
    """Leaves of a mock output shape that have no ``value``."""
    if node.get("value") is not None:
        return []
    if node.get("properties"):
        return [
            n for key, child in node["properties"].items() for n in _nodes_without_value(child, key)
        ]
    return [name or node.get("type", "output")]


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


def _method_of(action: Action) -> str:
    """The HTTP method that stands for an action when hints are absent: a mock reads, a flow is
    as strong as its strongest step."""
    if isinstance(action, Call):
        return action.operation.method
    methods = {c.operation.method for c in action.calls}
    for method in ("DELETE", "POST", "PATCH", "PUT"):
        if method in methods:
            return method
    return "GET"


def _description_of(action: Action) -> str:
    return action.operation.description if isinstance(action, Call) else ""


def _with_retry(action: Action, retry: bool) -> Action:
    """A call retried after transient failures when *retry*; flow steps decide per step."""
    return replace(action, retry=retry) if isinstance(action, Call) else action


def _passthrough_body(action: Action) -> bool:
    """The action forwards the caller's body (REST request body / MCP ``body`` argument)."""
    return any(c.body is not None and c.body.kind == "passthrough" for c in calls_of(action))


def _reads_body_params(action: Action) -> bool:
    return any(c.body is not None and c.body.kind == "params" for c in calls_of(action))


def _title(name: str, description: str) -> str:
    if description and len(description) <= 60 and "\n" not in description:
        return description
    return name


def _template_names(template: Any, surface: _Surface) -> set[str]:
    """Input names referenced by ``{{...}}`` placeholders anywhere in a body template."""
    found: set[str] = set()
    if isinstance(template, str):
        for match in TEMPLATE.finditer(template):
            parts = match.group(1).split(".")
            found.add(parts[-1])
    elif isinstance(template, dict):
        for value in template.values():
            found |= _template_names(value, surface)
    elif isinstance(template, list):
        for value in template:
            found |= _template_names(value, surface)
    return found


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


def _input_schema(
    inputs: tuple[Input, ...], body_argument: bool, confirmable: bool
) -> dict[str, Any]:
    properties = {i.name: i.json_schema() for i in inputs}
    if body_argument:
        properties["body"] = {
            "type": "object",
            "description": "JSON request body sent to the upstream API as-is.",
        }
    if confirmable:
        properties["confirmation_token"] = {
            "type": "string",
            "description": "Leave out at first: the tool answers with a preview of the exact request and a token. "
            "Call again with the same arguments and this token to send it.",
        }
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    required = [i.name for i in inputs if i.required]
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


PREVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Not sent yet: call again with confirmation_token to send this request.",
    "properties": {
        "confirmation_required": {"const": True},
        "confirmation_token": {"type": "string"},
        "expires_in_seconds": {"type": "integer"},
        "request": {"type": "object"},
    },
    "required": ["confirmation_required", "confirmation_token", "request"],
}


def _with_preview(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """A confirmable tool answers either its output or a confirmation preview."""
    if schema is None:
        return None
    return {"type": "object", "anyOf": [schema, PREVIEW_SCHEMA]}


def _output_schema(node: dict[str, Any]) -> dict[str, Any]:
    """MCP outputSchema for a mapped output; the root is always an object (arrays/scalars wrapped)."""

    def schema(n: dict[str, Any]) -> dict[str, Any]:
        kind = n["type"]
        if kind == "object":
            out: dict[str, Any] = {"type": ["object", "null"]}
            if n.get("properties"):
                out["properties"] = {k: schema(v) for k, v in n["properties"].items()}
            return out
        if kind == "array":
            out = {"type": ["array", "null"]}
            if n.get("items"):
                out["items"] = schema(n["items"])
            return out
        return {"type": [kind, "null"]}

    if node["type"] == "object":
        root = schema(node)
        root["type"] = "object"
        return root
    key = "items" if node["type"] == "array" else "value"
    return {"type": "object", "properties": {key: schema(node)}, "required": [key]}


def resolve(
    data: dict[str, Any], report: Report, spec_path: Path, *, dialect: str = ""
) -> Capability | None:
    """*data* in its normalized (alpha2-shaped) form, whichever dialect it was written in
    (``dialect`` is only recorded in the model)."""
    capability = Resolver(data, report, spec_path).resolve()
    if capability is not None and dialect:
        capability = replace(capability, source_dialect=dialect)
    return capability
