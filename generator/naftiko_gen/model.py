"""The typed intermediate model: a spec with every reference resolved.

Templates see only these objects. Everything a template needs is precomputed here (names,
sources, schemas, flags), so the templates stay loops and simple conditionals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ParamLocation = Literal["path", "query", "header", "cookie", "body"]
JsonType = Literal["string", "number", "integer", "boolean", "array", "object"]
SourceKind = Literal["input", "literal", "secret", "template"]
JSON_TYPES: tuple[str, ...] = ("string", "number", "integer", "boolean", "array", "object")


@dataclass(frozen=True)
class Source:
    """Where a value comes from at call time.

    ``input``: the caller's input called ``value``; ``literal``: the constant ``value``;
    ``secret``: the bind variable ``value``; ``template``: ``parts``, a sequence of
    (kind, text) pairs with kind ``text``, ``input`` or ``secret``, joined as strings.
    """

    kind: SourceKind
    value: Any = None
    parts: tuple[tuple[str, str], ...] = ()

    @property
    def inputs(self) -> tuple[str, ...]:
        if self.kind == "input":
            return (self.value,)
        return tuple(text for kind, text in self.parts if kind == "input")

    @property
    def secrets(self) -> tuple[str, ...]:
        if self.kind == "secret":
            return (self.value,)
        return tuple(text for kind, text in self.parts if kind == "secret")


@dataclass(frozen=True)
class Secret:
    """A bind variable (``{{VAR}}`` in the spec) read from the environment at start-up."""

    var: str
    env: str
    description: str = ""
    file: str = (
        ""  # a bind `location: file://...`: a flat YAML/JSON map read when the variable is unset
    )


@dataclass(frozen=True)
class Auth:
    """Outbound authentication of one consumed namespace."""

    kind: Literal["bearer", "basic", "digest", "apikey"]
    token: Source | None = None
    username: Source | None = None
    password: Source | None = None
    keys: tuple[tuple[str, str, Source], ...] = ()  # apikey: (placement, name, value)

    @property
    def sources(self) -> tuple[Source, ...]:
        found = [s for s in (self.token, self.username, self.password) if s is not None]
        return (*found, *(value for _, _, value in self.keys))

    @property
    def secrets(self) -> tuple[str, ...]:
        found: list[str] = []
        for source in self.sources:
            if source is not None:
                found.extend(source.secrets)
        return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class UpstreamParam:
    """A parameter of a consumed operation and where it goes in the upstream request."""

    name: str
    location: ParamLocation
    required: bool
    type: JsonType
    description: str
    value: Source | None = None  # API-wide parameters: the fixed value (static or {{VAR}})
    template: Any = None  # operation parameters: a spec 'value', resolved per call


@dataclass(frozen=True)
class Body:
    """How the upstream request body is made.

    ``passthrough``: the caller's JSON body (REST) / the ``body`` argument (MCP), as-is.
    ``params``: a JSON object of the operation's ``in: body`` parameters.
    ``json``: a JSON document whose string leaves may be templates (``template``).
    ``form``: form-urlencoded fields (``fields``), each a Source.
    ``text``: a string template sent with ``content_type``.
    """

    kind: Literal["passthrough", "params", "json", "form", "text"]
    template: Any = None
    fields: tuple[tuple[str, Source], ...] = ()
    text: Source | None = None
    content_type: str = "application/json"


@dataclass(frozen=True)
class UpstreamOperation:
    namespace: str
    name: str
    method: str
    path: str  # relative to the base URL, placeholders normalised to {name}
    path_params: tuple[str, ...]
    params: tuple[UpstreamParam, ...]
    body: Body | None
    description: str
    const_name: str  # Python constant holding this operation in the generated code

    @property
    def key(self) -> str:
        return f"{self.namespace}.{self.name}"


@dataclass(frozen=True)
class Upstream:
    """One consumed HTTP API (a ``consumes`` entry)."""

    namespace: str
    env_prefix: str
    base_url: str  # as written (placeholders included)
    description: str
    auth: Auth | None
    operations: tuple[UpstreamOperation, ...]
    shared_params: tuple[UpstreamParam, ...]
    const_name: str
    base_url_template: Source | None = None  # set when baseUri holds {{VAR}} placeholders

    @property
    def base_path(self) -> str:
        """The path part of the base URL (what follows the last placeholder when templated)."""
        if self.base_url_template is None:
            rest = self.base_url.split("://", 1)[-1]
            return "/" + rest.partition("/")[2] if "/" in rest else ""
        tail = self.base_url_template.parts[-1] if self.base_url_template.parts else ("", "")
        return tail[1] if tail[0] == "text" and tail[1].startswith("/") else ""


@dataclass(frozen=True)
class Output:
    """What the caller gets back from a successful upstream response.

    ``passthrough``: the upstream body untouched. ``mapped``: ``shape`` built by JSONPath.
    """

    kind: Literal["passthrough", "mapped"]
    shape: dict[str, Any] | None = None  # {"type", "mapping"?, "properties"?, "items"?, "value"?}
    json_schema: dict[str, Any] | None = None

    @property
    def paths(self) -> tuple[str, ...]:
        found: list[str] = []

        def walk(node: dict[str, Any]) -> None:
            if node.get("mapping"):
                found.append(node["mapping"])
            for child in (node.get("properties") or {}).values():
                walk(child)
            if node.get("items"):
                walk(node["items"])

        if self.shape:
            walk(self.shape)
        return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class Input:
    """One input of an exposed operation or tool, as the caller provides it."""

    name: str
    location: Literal["path", "query", "header", "body", "argument"]
    type: JsonType
    required: bool
    description: str
    pattern: str | None = None
    implied: bool = False  # added by naftiko-gen (not declared by the exposing side)
    route_var: str = ""  # aiohttp match_info key for path inputs

    def json_schema(self, *, description: bool = True) -> dict[str, Any]:
        """JSON Schema of this input (MCP inputSchema properties, OpenAPI parameters and bodies)."""
        schema: dict[str, Any] = {"type": self.type}
        if description and self.description:
            schema["description"] = self.description
        if self.pattern and self.type == "string":
            schema["pattern"] = self.pattern
        return schema


@dataclass(frozen=True)
class Call:
    """An exposed operation or tool bound to a consumed operation."""

    operation: UpstreamOperation
    args: tuple[tuple[str, Source], ...]  # upstream param name -> source
    extra_query: tuple[tuple[str, Source], ...]  # `with` keys that are not declared params
    body: Body | None
    output: Output
    retry: bool = False  # idempotent (hints, or GET/HEAD): may be re-sent after a transient failure


@dataclass(frozen=True)
class RestRoute:
    name: str
    method: str
    path: str  # aiohttp route path
    spec_path: str  # as written in the spec, for docs
    summary: str
    description: str
    inputs: tuple[Input, ...]
    call: Call
    accepts_body: bool


@dataclass(frozen=True)
class RestAdapter:
    namespace: str
    port: int
    address: str
    description: str
    routes: tuple[RestRoute, ...]

    @property
    def uses_mapped_output(self) -> bool:
        return calls_use_mapped_output(tuple(r.call for r in self.routes))


@dataclass(frozen=True)
class Annotations:
    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool


@dataclass(frozen=True)
class McpTool:
    name: str
    title: str
    description: str
    inputs: tuple[Input, ...]
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    annotations: Annotations
    call: Call
    body_argument: bool  # the tool takes a free-form `body` object argument

    @property
    def destructive(self) -> bool:
        return self.annotations.destructive and not self.annotations.read_only

    @property
    def unsafe_write(self) -> bool:
        """Changes something and is not safe to repeat: confirmed under the default policy."""
        return not self.annotations.read_only and not self.annotations.idempotent

    @property
    def confirmable(self) -> bool:
        return self.destructive or self.unsafe_write


@dataclass(frozen=True)
class McpResource:
    """An MCP resource read from the upstream; a URI with ``{param}`` placeholders is a template."""

    name: str
    title: str
    uri: str
    description: str
    mime_type: str
    params: tuple[str, ...]
    pattern: str  # regex matching concrete URIs; group i holds params[i]
    call: Call

    @property
    def is_template(self) -> bool:
        return bool(self.params)


@dataclass(frozen=True)
class PromptArgument:
    name: str
    title: str
    description: str
    required: bool


@dataclass(frozen=True)
class McpPrompt:
    """A prompt template; message parts are ("text", literal) or ("arg", argument name)."""

    name: str
    title: str
    description: str
    arguments: tuple[PromptArgument, ...]
    messages: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]


@dataclass(frozen=True)
class McpAdapter:
    namespace: str
    port: int | None
    address: str
    transport: Literal["http", "stdio"]
    description: str
    tools: tuple[McpTool, ...]
    resources: tuple[McpResource, ...] = ()
    prompts: tuple[McpPrompt, ...] = ()
    inbound_token: Source | None = None  # the spec's `authentication: bearer` for MCP clients

    @property
    def uses_mapped_output(self) -> bool:
        return calls_use_mapped_output(tuple(t.call for t in self.tools))

    @property
    def static_resources(self) -> tuple[McpResource, ...]:
        return tuple(r for r in self.resources if not r.is_template)

    @property
    def resource_templates(self) -> tuple[McpResource, ...]:
        return tuple(r for r in self.resources if r.is_template)

    @property
    def confirmable(self) -> bool:
        return any(t.confirmable for t in self.tools)


@dataclass(frozen=True)
class SkillTool:
    name: str
    description: str
    exposed_as: str  # e.g. "MCP tool `getaccounts`"; empty for instruction tools
    instruction: str  # an instruction file the skill's author keeps next to SKILL.md


@dataclass(frozen=True)
class Skill:
    """An Agent Skill (``exposes: skill``), emitted as skills/<name>/SKILL.md."""

    name: str
    description: str
    frontmatter: dict[str, Any]
    tools: tuple[SkillTool, ...]


@dataclass(frozen=True)
class Capability:
    """The whole resolved spec: what the templates render."""

    spec_file: str
    package: str  # Python import name
    dist_name: str  # distribution / console-script name
    env_prefix: str  # prefix of adapter-level settings
    title: str
    description: str
    tags: tuple[str, ...]
    generator_version: str
    secrets: tuple[Secret, ...]
    upstreams: tuple[Upstream, ...]
    rest: RestAdapter | None
    mcp: McpAdapter | None
    skills: tuple[Skill, ...] = ()

    @property
    def calls(self) -> tuple[Call, ...]:
        calls: list[Call] = []
        if self.rest:
            calls.extend(r.call for r in self.rest.routes)
        if self.mcp:
            calls.extend(t.call for t in self.mcp.tools)
            calls.extend(r.call for r in self.mcp.resources)
        return tuple(calls)

    @property
    def package_version(self) -> str:
        return "0.1.0"

    @property
    def uses_mapped_output(self) -> bool:
        return any(c.output.kind == "mapped" for c in self.calls)

    @property
    def jsonpaths(self) -> tuple[str, ...]:
        found: list[str] = []
        for call in self.calls:
            found.extend(p for p in call.output.paths if p != "$")
        return tuple(dict.fromkeys(found))

    @property
    def uses_bind_files(self) -> bool:
        return any(s.file for s in self.secrets)

    @property
    def uses_retries(self) -> bool:
        return any(c.retry for c in self.calls)

    @property
    def has_extra_query(self) -> bool:
        return any(
            c.extra_query and (c.body is None or c.body.kind != "params") for c in self.calls
        )

    @property
    def has_shared_params(self) -> bool:
        return any(u.shared_params for u in self.upstreams)

    @property
    def body_kinds_literal(self) -> str:
        return ", ".join(f'"{k}"' for k in self.body_kinds)

    @property
    def mcp_http(self) -> bool:
        return self.mcp is not None and self.mcp.transport == "http"

    @property
    def commands(self) -> tuple[str, ...]:
        found = []
        if self.rest:
            found.append("rest")
        if self.mcp:
            found.append("mcp")
        if self.rest and self.mcp_http:
            found.append("serve")
        return tuple(found)

    @property
    def serve_imports(self) -> str:
        names = ["StartupError"]
        if self.rest or self.mcp_http:
            names += ["Listen", "serve"]
        if self.mcp:
            names += ["run", "run_stdio"]
        return ", ".join(sorted(names))

    @property
    def client_imports_rest(self) -> str:
        calls = tuple(r.call for r in self.rest.routes) if self.rest else ()
        return client_imports(
            calls, "Call", "InputError", "UpstreamClient", "UpstreamError", "UpstreamResponse"
        )

    @property
    def client_imports_mcp(self) -> str:
        calls = (
            tuple(t.call for t in self.mcp.tools) + tuple(r.call for r in self.mcp.resources)
            if self.mcp
            else ()
        )
        return client_imports(calls, "Call", "InputError", "UpstreamClient", "UpstreamError")

    @property
    def uses_jsonpath(self) -> bool:
        return any(c.output.kind == "mapped" and c.output.paths for c in self.calls)

    @property
    def auth_kinds(self) -> tuple[str, ...]:
        return tuple(sorted({u.auth.kind for u in self.upstreams if u.auth}))

    @property
    def body_kinds(self) -> tuple[str, ...]:
        return tuple(sorted({c.body.kind for c in self.calls if c.body}))

    @property
    def uses_templates(self) -> bool:
        def has(source: Source | None) -> bool:
            return source is not None and source.kind == "template"

        for call in self.calls:
            if any(has(s) for _, s in call.args) or any(has(s) for _, s in call.extra_query):
                return True
            if call.body and call.body.kind in ("json", "form", "text"):
                return True
        for upstream in self.upstreams:
            if upstream.auth and any(has(s) for s in upstream.auth.sources):
                return True
            if any(has(p.value) for p in upstream.shared_params):
                return True
        return False


@dataclass(frozen=True)
class EnvVar:
    """One environment variable the generated package reads (documented in its README)."""

    name: str
    default: str | None  # None: required
    description: str
    secret: bool = False


def environment(capability: Capability) -> tuple[EnvVar, ...]:
    """Every variable the generated adapters read, in a stable order."""
    found: list[EnvVar] = []
    for upstream in capability.upstreams:
        p = upstream.env_prefix
        found += [
            EnvVar(
                f"{p}_BASE_URL", upstream.base_url, f"Base URL of the {upstream.namespace} API."
            ),
            EnvVar(f"{p}_TIMEOUT", "30", "Seconds to wait for the upstream before answering 504."),
            EnvVar(
                f"{p}_CA_BUNDLE",
                "",
                "PEM file of extra CA certificates to trust (e.g. a self-signed gateway).",
            ),
            EnvVar(
                f"{p}_VERIFY_TLS",
                "true",
                "Set to false to skip TLS verification (local testing only).",
            ),
        ]
    for secret in capability.secrets:
        found.append(
            EnvVar(
                secret.env,
                None,
                f"Secret for {{{{{secret.var}}}}}; set it empty to send no credential."
                + (f" Unset: read from {secret.file} (key {secret.env})." if secret.file else ""),
                secret=True,
            )
        )
    a = capability.env_prefix
    if capability.rest:
        found.append(
            EnvVar(
                f"{a}_MAX_BODY_BYTES",
                "1048576",
                "Largest request body the REST adapter accepts (413 above).",
            )
        )
    if capability.mcp_http:
        found.append(
            EnvVar(
                f"{a}_MCP_TOKEN",
                "",
                "When set, MCP HTTP clients must send 'Authorization: Bearer <token>'.",
                secret=True,
            )
        )
    if capability.mcp and capability.mcp.confirmable:
        found += [
            EnvVar(
                f"{a}_CONFIRM",
                "writes",
                "Which MCP tools need a confirmed second call: writes (not read-only and not idempotent, "
                "or destructive), destructive, off, or a comma-separated list of tool names.",
            ),
            EnvVar(
                f"{a}_CONFIRM_KEY",
                "",
                "Key that signs confirmation tokens; give every replica the same value (unset: random per process).",
                secret=True,
            ),
            EnvVar(f"{a}_CONFIRM_TTL", "120", "Seconds a confirmation token stays valid."),
        ]
    if capability.rest or capability.mcp_http:
        found.append(
            EnvVar(
                f"{a}_ALLOWED_HOSTS",
                "",
                "Host names (host or host:port, comma-separated) accepted besides localhost, in Host and "
                "Origin headers: requests naming any other host are refused (DNS rebinding, CSRF).",
            )
        )
    if capability.rest:
        found.append(
            EnvVar(
                f"{a}_WORKERS",
                "1",
                "REST adapter processes sharing the port (SO_REUSEPORT; Linux); about one per core "
                "for throughput. Each paces the upstream at its share of the rate limits.",
            )
        )
    found.append(
        EnvVar(
            f"{a}_EVENT_LOOP",
            "auto",
            "auto (uvloop when installed: the package's fast extra), asyncio or uvloop.",
        )
    )
    if capability.rest:
        found.append(
            EnvVar(
                f"{a}_ACCESS_LOG",
                "true",
                "One log line per REST request; false saves about a tenth of the adapter's CPU "
                "per request (e.g. when a proxy in front logs them).",
            )
        )
    found.append(EnvVar(f"{a}_LOG_FORMAT", "plain", "Access log format: plain or json."))
    return tuple(found)


def sources_of(value: Any) -> list[Source]:
    """Every Source inside a value (nested JSON templates included)."""
    if isinstance(value, Source):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in sources_of(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in sources_of(v)]
    return []


def call_source_kinds(calls: tuple[Call, ...]) -> set[str]:
    """Kinds of value sources (input, secret, template, literal) the calls render, parts included."""
    kinds: set[str] = set()
    for call in calls:
        sources = [s for _, s in (*call.args, *call.extra_query)]
        if call.body is not None:
            sources += sources_of(call.body.template) + [s for _, s in call.body.fields]
            if call.body.text is not None:
                sources.append(call.body.text)
        for source in sources:
            kinds.add(source.kind)
            kinds.update(kind for kind, _ in source.parts if kind != "text")
    return kinds


def calls_use_mapped_output(calls: tuple[Call, ...]) -> bool:
    return any(c.output.kind == "mapped" for c in calls)


def client_imports(calls: tuple[Call, ...], *names: str) -> str:
    """The names a surface module imports from the generated client: exactly what it uses."""
    wanted = set(names)
    kinds = call_source_kinds(calls)
    if "input" in kinds:
        wanted.add("FromInput")
    if "secret" in kinds:
        wanted.add("FromSecret")
    if "template" in kinds:
        wanted.add("Template")
    if any(c.body is not None for c in calls):
        wanted.add("Body")
    if calls_use_mapped_output(calls):
        wanted.update(("Shape", "shape_output"))
    return ", ".join(sorted(wanted, key=lambda n: (n[0].islower(), n)))
