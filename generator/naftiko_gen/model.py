"""The typed intermediate model: a spec with every reference resolved.

Templates see only these objects. Everything a template needs is precomputed here (names,
sources, schemas, flags), so the templates stay loops and simple conditionals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

ParamLocation = Literal["path", "query", "header", "cookie", "body"]
JsonType = Literal["string", "number", "integer", "boolean", "array", "object"]
SourceKind = Literal["input", "literal", "secret", "template", "step"]
JSON_TYPES: tuple[str, ...] = ("string", "number", "integer", "boolean", "array", "object")


@dataclass(frozen=True)
class Source:
    """Where a value comes from at call time.

    ``input``: the caller's input called ``value``; ``literal``: the constant ``value``;
    ``secret``: the bind variable ``value``; ``step``: the JSONPath ``value`` over the results
    of earlier orchestration steps (``$.<step>.<path>``); ``template``: ``parts``, a sequence
    of (kind, text) pairs with kind ``text``, ``input``, ``secret`` or ``step``, joined as strings.
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

    @property
    def step_paths(self) -> tuple[str, ...]:
        if self.kind == "step":
            return (self.value,)
        return tuple(text for kind, text in self.parts if kind == "step")


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
    """Authentication: outbound (what a consumed namespace's requests carry) or inbound (what
    clients of an exposed adapter must send)."""

    kind: Literal["bearer", "basic", "digest", "apikey"]
    token: Source | None = None
    username: Source | None = None
    password: Source | None = None
    keys: tuple[tuple[str, str, Source], ...] = ()  # apikey: (placement, name, value)

    @property
    def head_keys(self) -> tuple[tuple[str, str, Source], ...]:
        """API keys sent in a header, the query or a cookie."""
        return tuple(key for key in self.keys if key[0] != "body")

    @property
    def body_key(self) -> tuple[str, Source] | None:
        """(field, value) of the API key an upstream reads from the request body, if any."""
        return next(
            ((name, value) for placement, name, value in self.keys if placement == "body"), None
        )

    @property
    def in_request_head(self) -> bool:
        """Whether ``_authenticate`` adds anything (digest answers challenges; body keys go in
        the body)."""
        return self.kind != "digest" and (self.kind != "apikey" or bool(self.head_keys))

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
    ``multipart``: multipart/form-data text parts (``fields``), each a Source.
    ``text``: a string template sent with ``content_type``.
    """

    kind: Literal["passthrough", "params", "json", "form", "multipart", "text"]
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
    # The operation's own `outputParameters` (name -> JSONPath): what an orchestration step
    # calling it keeps of the response. Empty: the step keeps the whole JSON body.
    outputs: tuple[tuple[str, str], ...] = ()
    # outputRawFormat: "json" (default), "xml" (read as JSON when outputs map it), or another
    # format passed through as sent.
    raw_format: str = "json"

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

    ``passthrough``: the upstream body untouched. ``mapped``: ``shape`` built by JSONPath;
    a node may instead carry a ``value`` (a Source: static text or a template over the inputs).
    """

    kind: Literal["passthrough", "mapped"]
    shape: dict[str, Any] | None = None  # {"type", "mapping"?, "properties"?, "items"?, "value"?}
    json_schema: dict[str, Any] | None = None

    @property
    def nodes(self) -> tuple[dict[str, Any], ...]:
        """Every node of the shape, depth first (properties, then items)."""
        found: list[dict[str, Any]] = []
        stack = [self.shape] if self.shape else []
        while stack:
            node = stack.pop()
            found.append(node)
            children = [*(node.get("properties") or {}).values()]
            if node.get("items"):
                children.append(node["items"])
            stack.extend(reversed(children))
        return tuple(found)

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n["mapping"] for n in self.nodes if n.get("mapping")))

    @property
    def values(self) -> tuple[Source, ...]:
        """The ``value`` Sources of the shape's nodes."""
        return tuple(n["value"] for n in self.nodes if n.get("value") is not None)

    @property
    def has_values(self) -> bool:
        return bool(self.values)


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
    field: tuple[str, ...] = ()  # body inputs read from a nested field (`value: $.user.id`)

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
class CallStep:
    """An orchestration step that calls a consumed operation; its ``call`` args may use earlier steps."""

    name: str
    call: Call


@dataclass(frozen=True)
class LookupStep:
    """An orchestration step that picks, from an earlier step's list, the entries whose ``match``
    field equals ``value``; ``fields`` (when given) are the fields kept of each entry."""

    name: str
    index: str
    match: str
    value: Source
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Flow:
    """Multi-step orchestration (``steps`` + ``mappings``): the steps run in order, each seeing the
    inputs and the earlier steps' results; ``mappings`` (target dot-path -> Source) build the
    answer, else the last call's response is the answer."""

    steps: tuple[CallStep | LookupStep, ...]
    mappings: tuple[tuple[str, Source], ...]
    output: Output

    @property
    def calls(self) -> tuple[Call, ...]:
        return tuple(s.call for s in self.steps if isinstance(s, CallStep))

    @property
    def step_paths(self) -> tuple[str, ...]:
        """Every JSONPath the flow evaluates over step results."""
        found: list[str] = []
        for call in self.calls:
            for _, source in (*call.args, *call.extra_query):
                found.extend(source.step_paths)
            if call.body is not None:
                for source in sources_of(call.body.template) + [s for _, s in call.body.fields]:
                    found.extend(source.step_paths)
                if call.body.text is not None:
                    found.extend(call.body.text.step_paths)
            found.extend(path for _, path in call.operation.outputs)
        for step in self.steps:
            if isinstance(step, LookupStep):
                found.extend(step.value.step_paths)
        for _, source in self.mappings:
            found.extend(source.step_paths)
        return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class Mock:
    """An operation or tool that answers from its outputs' static ``value``s, with no upstream call."""

    output: Output

    @property
    def calls(self) -> tuple[Call, ...]:
        return ()


Action = Call | Flow | Mock


def action_target(action: Action) -> str:
    """What an action calls, for docs: ``ns.op``, ``ns.a → ns.b`` (steps) or ``(mock)``."""
    if isinstance(action, Mock):
        return "(mock: static values)"
    return " → ".join(c.operation.key for c in calls_of(action))


def calls_of(action: Action) -> tuple[Call, ...]:
    """The upstream calls an action makes (none for a mock, each call step of a flow)."""
    return (action,) if isinstance(action, Call) else action.calls


@dataclass(frozen=True)
class RestRoute:
    name: str
    method: str
    path: str  # aiohttp route path
    spec_path: str  # as written in the spec, for docs
    summary: str
    description: str
    inputs: tuple[Input, ...]
    call: Action
    accepts_body: bool

    @property
    def target(self) -> str:
        return action_target(self.call)

    @property
    def target_description(self) -> str:
        return self.call.operation.description if isinstance(self.call, Call) else ""

    @property
    def answer_description(self) -> str:
        if isinstance(self.call, Mock):
            return "The answer, from the spec's static values (no upstream call)"
        if isinstance(self.call, Flow):
            return "The answer built from the steps' results" + (
                "" if self.call.mappings else " (the last call's response, untouched)"
            )
        return "The upstream answer" + (
            " (passed through untouched)" if self.call.output.kind == "passthrough" else " (mapped)"
        )


@dataclass(frozen=True)
class Forward:
    """A proxied REST prefix (``forward``): every method and path below it goes to ``namespace``."""

    prefix: str  # e.g. /forward; requests to /forward/<rest> go to <base URL>/<rest>
    spec_path: str
    namespace: str
    trusted_headers: tuple[str, ...]  # caller headers passed on (never credentials or cookies)
    description: str


@dataclass(frozen=True)
class RestAdapter:
    namespace: str
    port: int
    address: str
    description: str
    routes: tuple[RestRoute, ...]
    forwards: tuple[Forward, ...] = ()
    inbound: Auth | None = None  # the spec's `authentication`: what REST clients must send

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
    call: Action
    body_argument: bool  # the tool takes a free-form `body` object argument

    @property
    def target(self) -> str:
        return action_target(self.call)

    @property
    def destructive(self) -> bool:
        return self.annotations.destructive and not self.annotations.read_only

    @property
    def unsafe_write(self) -> bool:
        """Changes something and is not safe to repeat: confirmed under the default policy."""
        return not self.annotations.read_only and not self.annotations.idempotent

    @property
    def confirmable(self) -> bool:
        if isinstance(self.call, Mock):
            return False  # answers from the spec alone: nothing to confirm
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
    inbound: Auth | None = None  # the spec's `authentication`: what MCP HTTP clients must send

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

    @property
    def calls_upstream(self) -> bool:
        """Whether a tool or resource calls an upstream (else the server needs no operations)."""
        return any(
            calls_of(a) for a in (*(t.call for t in self.tools), *(r.call for r in self.resources))
        )


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
    # info.stakeholders as (full name, email or "", role); info.created / info.modified dates.
    stakeholders: tuple[tuple[str, str, str], ...] = ()
    created: str = ""
    modified: str = ""
    # The format the spec was written in ("naftiko 1.0.0-alpha2", "ikanos 1.0.0-beta5"): recorded
    # in the generated package, nothing else depends on it.
    source_dialect: str = "naftiko 1.0.0-alpha2"
    # Keys of the XML operations whose answers are read as JSON (mapped outputs, steps).
    xml_operations: tuple[str, ...] = ()
    # info.version (Ikanos), a PEP 440 version: the generated package's version.
    version: str = ""

    @property
    def xml_path_patterns(self) -> tuple[str, ...]:
        """Regular expressions of the request paths of ``xml_operations`` (generated tests)."""
        found = []
        for upstream in self.upstreams:
            for op in upstream.operations:
                if op.key in self.xml_operations:
                    parts = re.split(r"\{[^{}/]+\}", op.path)
                    found.append("[^/]+".join(re.escape(p) for p in parts))
        return tuple(dict.fromkeys(found))

    @property
    def actions(self) -> tuple[Action, ...]:
        """What every REST route, MCP tool and MCP resource does."""
        found: list[Action] = []
        if self.rest:
            found.extend(r.call for r in self.rest.routes)
        if self.mcp:
            found.extend(t.call for t in self.mcp.tools)
            found.extend(r.call for r in self.mcp.resources)
        return tuple(found)

    @property
    def calls(self) -> tuple[Call, ...]:
        """Every upstream call, orchestration steps included."""
        return tuple(c for a in self.actions for c in calls_of(a))

    @property
    def package_version(self) -> str:
        return self.version or "0.1.0"

    @property
    def uses_mapped_output(self) -> bool:
        """Some surface reshapes an upstream response by JSONPath (``Shape``/``shape_output``)."""
        return calls_use_mapped_output(self.actions)

    @property
    def uses_flows(self) -> bool:
        return any(isinstance(a, Flow) for a in self.actions)

    @property
    def uses_lookups(self) -> bool:
        return any(
            isinstance(s, LookupStep) for a in self.actions if isinstance(a, Flow) for s in a.steps
        )

    @property
    def uses_mocks(self) -> bool:
        return any(isinstance(a, Mock) for a in self.actions)

    @property
    def uses_shapes(self) -> bool:
        """The generated client needs ``Shape`` and ``_apply`` (mapped outputs or mock answers)."""
        return self.uses_mapped_output or self.uses_mocks

    @property
    def uses_output_values(self) -> bool:
        """Some output node answers a static or templated ``value`` (mocks, or next to a call)."""
        return any(a.output.has_values for a in self.actions if not isinstance(a, Flow))

    @property
    def uses_call_output_values(self) -> bool:
        """Some call's mapped output also has ``value`` nodes: reshaping needs the inputs."""
        return any(isinstance(a, Call) and a.output.has_values for a in self.actions)

    @property
    def jsonpaths(self) -> tuple[str, ...]:
        found: list[str] = []
        for action in self.actions:
            if isinstance(action, Call):
                found.extend(p for p in action.output.paths if p != "$")
            elif isinstance(action, Flow):
                found.extend(p for p in action.step_paths if p != "$")
        return tuple(dict.fromkeys(found))

    @property
    def uses_body_fields(self) -> bool:
        """Some REST body input is read from a nested field of the JSON body."""
        return bool(self.rest) and any(i.field for r in self.rest.routes for i in r.inputs)

    @property
    def uses_shared_state(self) -> bool:
        """Something a fleet must share: pacing, keep-alive and priming of an upstream, or
        single-use confirmation tokens (the package's ``state.py`` and ``redis`` extra)."""
        return bool(self.upstreams) or bool(self.mcp and self.mcp.confirmable)

    @property
    def shared_state_duties(self) -> str:
        """What ``*_STATE_URL`` makes hold across processes, for the start-up log and README."""
        duties = []
        if self.mcp and self.mcp.confirmable:
            duties.append("single use of confirmation tokens")
        if self.upstreams:
            duties.append("pacing, keep-alive and priming calls")
        return " and ".join(duties)

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
    def uses_body_keys(self) -> bool:
        return any(u.auth is not None and u.auth.body_key is not None for u in self.upstreams)

    @property
    def head_auth_placements(self) -> frozenset[str]:
        """Where outbound credentials go in a request head: "header" (bearer and basic too),
        "query", "cookie"."""
        found: set[str] = set()
        for upstream in self.upstreams:
            auth = upstream.auth
            if auth is None or not auth.in_request_head:
                continue
            if auth.kind == "apikey":
                found.update(placement for placement, _, _ in auth.head_keys)
            else:
                found.add("header")
        return frozenset(found)

    @property
    def mcp_http(self) -> bool:
        return self.mcp is not None and self.mcp.transport == "http"

    @property
    def inbound_auths(self) -> tuple[Auth, ...]:
        """The inbound authentication the spec declares on its HTTP surfaces."""
        found = [self.rest.inbound if self.rest else None]
        found.append(self.mcp.inbound if self.mcp_http and self.mcp else None)
        return tuple(auth for auth in found if auth is not None)

    @property
    def inbound_kinds(self) -> frozenset[str]:
        """Inbound schemes the guard must know: bearer always (the *_TOKEN settings), plus the spec's."""
        return frozenset({"bearer", *(auth.kind for auth in self.inbound_auths)})

    @property
    def inbound_placements(self) -> frozenset[str]:
        """Where inbound credentials are read: the Authorization header always, plus API keys'."""
        return frozenset({"header"}).union(*(self.guard_placements(a) for a in self.inbound_auths))

    @staticmethod
    def guard_placements(auth: Auth | None) -> frozenset[str]:
        """Where one surface reads its credential: a header (Authorization, or a *_TOKEN
        setting's), plus its API key's placement."""
        return frozenset(
            {"header", *(placement for placement, _, _ in (auth.keys if auth else ()))}
        )

    @property
    def inbound_secret_vars(self) -> frozenset[str]:
        """Bind variables that hold what clients must present (never 'empty = no credential')."""
        return frozenset(name for auth in self.inbound_auths for name in auth.secrets)

    def inbound_text(self, auth: Auth | None, override: str) -> str:
        """What a surface's clients must send, in a sentence (for the generated README)."""
        refused = "otherwise 401, problem+json with WWW-Authenticate"
        if auth is None:
            return (
                f"Clients send no credential, unless {override} is set: then they must send "
                f"'Authorization: Bearer <that token>' ({refused})."
            )
        needs = " and ".join(env for _, env in self.inbound_needs(auth)) or "the spec's literal"
        if auth.kind == "apikey":
            placement, name, _ = auth.keys[0]
            what = f"an API key in the {placement} {name!r} (the value of {needs})"
            refused = "otherwise 401, problem+json"
        elif auth.kind == "basic":
            what = f"'Authorization: Basic <user:password>' ({needs})"
        else:
            what = f"'Authorization: Bearer <token>' (the value of {needs})"
        return (
            f"Clients must send {what} ({refused}); {override}, when set, replaces this with "
            "'Authorization: Bearer <that token>'."
        )

    def inbound_needs(self, auth: Auth) -> tuple[tuple[str, str], ...]:
        """(bind variable, environment variable) of each secret *auth* uses, in order."""
        env = {secret.var: secret.env for secret in self.secrets}
        return tuple((name, env.get(name, name)) for name in auth.secrets)

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
    def rest_actions(self) -> tuple[Action, ...]:
        return tuple(r.call for r in self.rest.routes) if self.rest else ()

    @property
    def mcp_actions(self) -> tuple[Action, ...]:
        if not self.mcp:
            return ()
        return tuple(t.call for t in self.mcp.tools) + tuple(r.call for r in self.mcp.resources)

    @property
    def rest_uses_operations(self) -> bool:
        """Some REST route calls a consumed operation (not only mocks and forwards)."""
        return any(calls_of(a) for a in self.rest_actions)

    @property
    def rest_has_fixed_routes(self) -> bool:
        """Some REST route reads nothing from the request: its upstream request is prepared once."""
        return self.rest is not None and any(
            not r.inputs and not r.accepts_body for r in self.rest.routes
        )

    @property
    def prepared_type(self) -> str:
        """What ``UpstreamClient.prepare`` returns."""
        return "Prepared | Planned" if self.uses_flows or self.uses_mocks else "Prepared"

    @property
    def client_imports_rest(self) -> str:
        fixed = self.prepared_type.split(" | ") if self.rest_has_fixed_routes else []
        return client_imports(
            self.rest_actions,
            "InputError",
            "UpstreamClient",
            "UpstreamError",
            "UpstreamResponse",
            "new_request_id",
            *fixed,
        )

    @property
    def client_imports_mcp(self) -> str:
        return client_imports(
            self.mcp_actions, "InputError", "UpstreamClient", "UpstreamError", "new_request_id"
        )

    @property
    def rest_action_type(self) -> str:
        return action_type(self.rest_actions)

    @property
    def mcp_action_type(self) -> str:
        return action_type(self.mcp_actions)

    @property
    def uses_jsonpath(self) -> bool:
        """JSONPath is compiled into the client: mapped outputs, or flows (step references)."""
        return bool(self.jsonpaths) or self.uses_flows

    @property
    def action_type(self) -> str:
        return action_type(self.actions)

    @property
    def client_action_type(self) -> str:
        """What the client runs: calls (flow steps are calls too), plus flows and mocks if used."""
        kinds = self.action_type.split(" | ")
        return " | ".join(["Call", *(k for k in kinds if k != "Call")])

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

        for action in self.actions:
            if isinstance(action, Flow):
                if any(has(s) for _, s in action.mappings):
                    return True
                if any(isinstance(st, LookupStep) and has(st.value) for st in action.steps):
                    return True
            elif any(has(v) for v in action.output.values):
                return True
        for call in self.calls:
            if any(has(s) for _, s in call.args) or any(has(s) for _, s in call.extra_query):
                return True
            if call.body and call.body.kind in ("json", "form", "multipart", "text"):
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
                (
                    f"Secret for {{{{{secret.var}}}}}: what clients must present (inbound "
                    "authentication); an empty value stops the adapter from starting."
                    if secret.var in capability.inbound_secret_vars
                    else f"Secret for {{{{{secret.var}}}}}; set it empty to send no credential."
                )
                + (f" Unset: read from {secret.file} (key {secret.env})." if secret.file else ""),
                secret=True,
            )
        )
    a = capability.env_prefix
    if capability.rest:
        found.append(
            EnvVar(
                f"{a}_REST_TOKEN",
                "",
                "When set, REST clients must send 'Authorization: Bearer <token>' (it replaces the "
                "spec's inbound authentication); the /_adapter/ probes stay open.",
                secret=True,
            )
        )
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
                "When set, MCP HTTP clients must send 'Authorization: Bearer <token>' (it replaces "
                "the spec's inbound authentication).",
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
    if capability.uses_shared_state:
        found.append(
            EnvVar(
                f"{a}_STATE_URL",
                "",
                "Redis URL (redis://host:6379/0) shared by every process and replica: single-use "
                "confirmations, one pacing limiter per upstream, one keep-alive per interval. Unset: "
                "each process keeps its own. Needs the package's redis extra.",
                secret=True,
            )
        )
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


def action_sources(actions: tuple[Action, ...]) -> list[Source]:
    """Every value source the actions render: call arguments and bodies, flow lookups and
    mappings, mock output values."""
    sources: list[Source] = []
    for action in actions:
        for call in calls_of(action):
            sources += [s for _, s in (*call.args, *call.extra_query)]
            if call.body is not None:
                sources += sources_of(call.body.template) + [s for _, s in call.body.fields]
                if call.body.text is not None:
                    sources.append(call.body.text)
        if isinstance(action, Flow):
            sources += [s.value for s in action.steps if isinstance(s, LookupStep)]
            sources += [s for _, s in action.mappings]
        else:
            sources += list(action.output.values)
    return sources


def call_source_kinds(actions: tuple[Action, ...]) -> set[str]:
    """Kinds of value sources (input, secret, step, template, literal) rendered, parts included."""
    kinds: set[str] = set()
    for source in action_sources(actions):
        kinds.add(source.kind)
        kinds.update(kind for kind, _ in source.parts if kind != "text")
    return kinds


def calls_use_mapped_output(actions: tuple[Action, ...]) -> bool:
    return any(isinstance(a, Call) and a.output.kind == "mapped" for a in actions)


def action_type(actions: tuple[Action, ...]) -> str:
    """The Python type of the actions a surface holds, e.g. ``Call | Flow``."""
    kinds = [
        name
        for name, cls in (("Call", Call), ("Flow", Flow), ("Mock", Mock))
        if any(isinstance(a, cls) for a in actions)
    ]
    return " | ".join(kinds) or "Call"


def client_imports(actions: tuple[Action, ...], *names: str) -> str:
    """The names a surface module imports from the generated client: exactly what it uses."""
    wanted = set(names) | set(action_type(actions).split(" | "))
    kinds = call_source_kinds(actions)
    if "input" in kinds:
        wanted.add("FromInput")
    if "secret" in kinds:
        wanted.add("FromSecret")
    if "step" in kinds:
        wanted.add("FromStep")
    if "template" in kinds:
        wanted.add("Template")
    calls = tuple(c for a in actions for c in calls_of(a))
    if any(c.body is not None for c in calls):
        wanted.add("Body")
    if calls_use_mapped_output(actions):
        wanted.update(("Shape", "shape_output"))
    if any(isinstance(a, Mock) for a in actions):
        wanted.add("Shape")
    if any(isinstance(a, Flow) for a in actions):
        wanted.update(("Call", "CallStep"))
        if any(isinstance(s, LookupStep) for a in actions if isinstance(a, Flow) for s in a.steps):
            wanted.add("LookupStep")
    return ", ".join(sorted(wanted, key=lambda n: (n[0].islower(), n)))
