"""The resolver's part for consumed APIs: ``consumes`` entries (inline and imported), their
operations, parameters, bodies.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from .. import jsonpath
from ..diagnostics import Pointer
from ..dialects import load_document
from ..model import (
    Auth,
    Body,
    Secret,
    Source,
    Upstream,
    UpstreamOperation,
    UpstreamParam,
)
from ..naming import Namer, constant, env_name
from .shared import (
    METHODS_WITH_BODY,
    PLACEHOLDER,
    TEMPLATE,
    ResolverState,
    _json_type,
    _text,
)

# `type: header` / `type: query` in catalog specs mean an API key sent there.
BODY_CONTENT_TYPES = {
    "text": "text/plain; charset=utf-8",
    "yaml": "application/yaml",
    "xml": "application/xml",
    "sparql": "application/sparql-query",
}


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


class ConsumesResolver(ResolverState):
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
