"""The OpenAPI 3.1 document of a generated REST adapter, built at generation time from the model."""

from __future__ import annotations

from typing import Any

from .model import Auth, Capability, Forward, Input, RestRoute

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "request_id": {"type": "string"},
        "retryable": {"type": "boolean"},
    },
    "required": ["title", "status"],
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": PROBLEM_REF}},
    }


def _forward_item(forward: Forward) -> dict[str, Any]:
    """A proxied prefix: every method, any path below it, bodies of any type."""
    description = (forward.description + "\n\n" if forward.description else "") + (
        f"Proxied to the {forward.namespace} API as received (path, query, body); its credentials "
        "are added, callers' Authorization and Cookie headers are never passed on."
    )
    item: dict[str, Any] = {
        "parameters": [
            {
                "name": "path",
                "in": "path",
                "required": True,
                "description": "The rest of the path (may contain '/'; '.' and '..' segments are refused)",
                "schema": {"type": "string"},
            }
        ]
    }
    for method in ("get", "post", "put", "patch", "delete"):
        item[method] = {
            "operationId": f"forward_{method}_{forward.prefix.strip('/').replace('/', '_')}",
            "summary": f"Proxy to {forward.namespace}",
            "description": description,
            "responses": {
                "default": {"description": "The upstream's status and body, passed through"},
                "400": _problem("A path with '.' or '..' segments, or an unreadable body"),
                "502": _problem("The upstream could not be reached or answered unusably"),
                "504": _problem("The upstream did not answer in time"),
            },
        }
    return item


def _body_schema(fields: list[Input]) -> dict[str, Any]:
    """The JSON body's schema: one property per body input, nested for ``$.a.b`` fields."""
    schema: dict[str, Any] = {"type": "object", "properties": {}}
    for item in fields:
        node = schema
        for key in item.field[:-1]:
            node = node["properties"].setdefault(key, {"type": "object", "properties": {}})
        leaf = item.field[-1] if item.field else item.name
        node["properties"][leaf] = item.json_schema()
        if item.required:
            node.setdefault("required", []).append(leaf)
    return schema


def _operation(route: RestRoute) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": route.name}
    if route.summary:
        op["summary"] = route.summary
    description = route.description or route.target_description
    if description:
        op["description"] = description
    parameters = []
    for item in route.inputs:
        if item.location == "body":
            continue
        param: dict[str, Any] = {
            "name": item.route_var if item.location == "path" else item.name,
            "in": item.location,
            "required": True if item.location == "path" else item.required,
            "schema": item.json_schema(description=False),
        }
        if item.description:
            param["description"] = item.description
        parameters.append(param)
    if parameters:
        op["parameters"] = parameters
    body_fields = [i for i in route.inputs if i.location == "body"]
    if body_fields:
        op["requestBody"] = {
            "required": any(i.required for i in body_fields),
            "content": {"application/json": {"schema": _body_schema(body_fields)}},
        }
    elif route.accepts_body:
        op["requestBody"] = {
            "required": False,
            "description": "JSON body forwarded to the upstream API as-is.",
            "content": {"application/json": {"schema": {}}},
        }
    output = route.call.output
    ok_schema: dict[str, Any] = output.json_schema or {}
    responses: dict[str, Any] = {
        "200": {
            "description": route.answer_description,
            "content": {"application/json": {"schema": ok_schema}},
        },
        "400": _problem("Invalid input (missing or malformed parameter or body)"),
        "502": _problem("The upstream could not be reached or answered unusably"),
        "504": _problem("The upstream did not answer in time"),
        "default": {"description": "Upstream error status and body, passed through"},
    }
    if route.accepts_body:
        responses["413"] = _problem("Request body too large")
    op["responses"] = dict(sorted(responses.items(), key=_response_order))
    return op


def _response_order(item: tuple[str, Any]) -> tuple[bool, str]:
    return item[0] == "default", item[0]


def _security_scheme(auth: Auth) -> tuple[str, dict[str, Any]]:
    """(name, OpenAPI security scheme) of the REST adapter's inbound authentication."""
    if auth.kind == "apikey":
        placement, name, _ = auth.keys[0]
        return "apiKey", {"type": "apiKey", "in": placement, "name": name}
    return f"{auth.kind}Auth", {"type": "http", "scheme": auth.kind}


def openapi_document(cap: Capability) -> dict[str, Any]:
    assert cap.rest is not None
    paths: dict[str, dict[str, Any]] = {}
    for route in cap.rest.routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    info: dict[str, Any] = {"title": cap.title, "version": cap.package_version}
    if cap.rest.description or cap.description:
        info["description"] = cap.rest.description or cap.description
    simple_ok = {
        "description": "OK",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    for forward in cap.rest.forwards:
        paths[forward.prefix + "/{path}"] = _forward_item(forward)
    components: dict[str, Any] = {"schemas": {"Problem": PROBLEM_SCHEMA}}
    security: list[dict[str, list[str]]] = []
    if cap.rest.inbound is not None:
        name, scheme = _security_scheme(cap.rest.inbound)
        components["securitySchemes"] = {name: scheme}
        security = [{name: []}]
        refused = _problem("Missing or wrong credentials (see securitySchemes)")
        for item in paths.values():
            for key, operation in item.items():
                if key != "parameters":
                    responses = {**operation["responses"], "401": refused}
                    operation["responses"] = dict(sorted(responses.items(), key=_response_order))
    paths["/_adapter/health"] = {
        "get": {
            "operationId": "_adapter_health",
            "summary": "The adapter process is alive",
            "responses": {"200": simple_ok},
        }
    }
    paths["/_adapter/ready"] = {
        "get": {
            "operationId": "_adapter_ready",
            "summary": "Every upstream answers HTTP",
            "responses": {
                "200": simple_ok,
                "503": {
                    "description": "An upstream is unreachable",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
            },
        }
    }
    paths["/_adapter/openapi.json"] = {
        "get": {
            "operationId": "_adapter_openapi",
            "summary": "This document",
            "responses": {"200": simple_ok},
        }
    }
    if security:
        for path in ("/_adapter/health", "/_adapter/ready", "/_adapter/openapi.json"):
            paths[path]["get"]["security"] = []  # probes stay open
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": info,
        "servers": [{"url": f"http://127.0.0.1:{cap.rest.port}"}],
        "paths": paths,
        "components": components,
    }
    if security:
        document["security"] = security
    return document
