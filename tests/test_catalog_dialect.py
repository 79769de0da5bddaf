"""Catalog-dialect leniency, end to end through a generated package: nested body fields
(`value: $.user.id`), server variables in baseUri read from settings, an API key sent as a
cookie, operation-level paths and path parameters appended to the resource path."""

from __future__ import annotations

import importlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from .conftest import fake_server, generated_package

SPEC = """\
naftiko: 1.0.0-alpha2
binds:
- namespace: env
  keys: {KEY: DIALECT_KEY}
capability:
  consumes:
  - type: http
    namespace: users
    baseUri: 'http://{host}:{port}/api'
    authentication: {type: apikey, key: session, value: '{{KEY}}', placement: cookie}
    resources:
    - name: users
      path: /users
      operations:
      - name: create
        method: POST
        body: '{"id":"{{userId}}","name":"{{userName}}"}'
      - name: one
        method: GET
        inputParameters: [{name: userId, in: path}]
      - name: groups
        method: GET
        path: /users/{userId}/groups
        inputParameters: [{name: userId, in: path}]
    - name: media
      path: /media
      operations:
      - name: upload
        method: POST
        body: {type: multipart, data: {prompt: '{{prompt}}', seed: '{{seed}}'}}
      - name: put-raw
        method: PUT
        body: {type: binary, data: {content: '{{content}}'}}
  exposes:
  - type: rest
    port: 8080
    namespace: dialect
    resources:
    - path: /users
      operations:
      - method: POST
        name: create-user
        call: users.create
        inputParameters:
        - {name: userId, in: body, type: string, description: Id, value: $.user.id, required: true}
        - {name: userName, in: body, type: string, description: Name, value: $.user.name}
      - method: GET
        path: /{userId}
        name: get-user
        call: users.one
      - method: GET
        path: /{userId}/groups
        name: get-groups
        call: users.groups
    - path: /proxy/{{rest}}
      forward: {targetNamespace: users, trustedHeaders: [X-Trace-Id]}
    - path: /media
      operations:
      - method: POST
        name: upload
        call: users.upload
        inputParameters:
        - {name: prompt, in: body, type: string, description: Prompt}
        - {name: seed, in: body, type: integer, description: Seed}
      - method: PUT
        name: put-raw
        call: users.put-raw
        inputParameters:
        - {name: content, in: body, type: string, description: Content}
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with generated_package(tmp_path_factory.mktemp("dialect"), "dialect-check.yaml", SPEC) as name:
        yield name


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[list[dict[str, Any]], int]]:
    seen: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        multipart = request.content_type.startswith("multipart/")
        form = {k: str(v) for k, v in (await request.post()).items()} if multipart else None
        seen.append(
            {
                "method": request.method,
                "path": request.raw_path.split("?", 1)[0],
                "body": "" if multipart else await request.text(),
                "cookie": request.headers.get("Cookie", ""),
                "type": request.content_type,
                "form": form,
                "query": dict(request.query),
                "trace": request.headers.get("X-Trace-Id"),
                "other": request.headers.get("X-Other"),
                "authorization": request.headers.get("Authorization"),
            }
        )
        return web.json_response({"ok": True})

    async with fake_server(handle) as server:
        yield seen, server.port or 0


async def test_dialect_requests_reach_the_upstream_as_meant(
    package: str, upstream: tuple[list[dict[str, Any]], int]
) -> None:
    seen, port = upstream
    settings_mod = importlib.import_module(f"{package}.settings")
    client_mod = importlib.import_module(f"{package}.client")
    rest = importlib.import_module(f"{package}.rest")
    env = {"USERS_HOST": "127.0.0.1", "USERS_PORT": str(port), "DIALECT_KEY": "k-1"}
    settings = settings_mod.load_settings(env)
    upstream_client = client_mod.UpstreamClient(settings)
    await upstream_client.start()
    client = TestClient(TestServer(rest.create_app(settings, upstream_client)))
    await client.start_server()
    try:
        created = await client.post(
            "/users", json={"user": {"id": "u-7", "name": 'Ann "A"'}, "other": 1}
        )
        assert created.status == 200, await created.text()
        missing = await client.post("/users", json={"user": {"name": "no id"}})
        assert missing.status == 400
        assert "userId" in (await missing.json())["detail"]
        assert (await client.get("/users/u-7")).status == 200
        assert (await client.get("/users/u-7/groups")).status == 200
        uploaded = await client.post("/media", json={"prompt": 'a "cat"\r\n--x', "seed": 7})
        assert uploaded.status == 200, await uploaded.text()
        assert (await client.put("/media", json={"content": "raw bytes é"})).status == 200
        proxied = await client.patch(
            "/proxy/users/u%2F7/x?a=1&a=2",
            data=b"<xml/>",
            headers={
                "Content-Type": "application/xml",
                "X-Trace-Id": "t-1",
                "X-Other": "no",
                "Authorization": "Bearer caller",
            },
        )
        assert proxied.status == 200, await proxied.text()
    finally:
        await client.close()
        await upstream_client.close()
    assert [(s["method"], s["path"]) for s in seen] == [
        ("POST", "/api/users"),
        ("GET", "/api/users/u-7"),
        ("GET", "/api/users/u-7/groups"),
        ("POST", "/api/media"),
        ("PUT", "/api/media"),
        ("PATCH", "/api/users/u%2F7/x"),
    ]
    forwarded = seen[5]
    assert (forwarded["body"], forwarded["type"]) == ("<xml/>", "application/xml")
    assert (forwarded["trace"], forwarded["other"], forwarded["authorization"]) == (
        "t-1",
        None,
        None,
    )
    assert forwarded["cookie"] == "session=k-1"  # the API's own credential, not the caller's
    # multipart/form-data written by aiohttp: the fields survive quotes, CR/LF and boundaries.
    assert seen[3]["type"] == "multipart/form-data"
    assert seen[3]["form"] == {"prompt": 'a "cat"\r\n--x', "seed": "7"}
    assert (seen[4]["type"], seen[4]["body"]) == ("application/octet-stream", "raw bytes é")
    assert json.loads(seen[0]["body"]) == {"id": "u-7", "name": 'Ann "A"'}
    assert all(s["cookie"] == "session=k-1" for s in seen)


def test_server_variables_are_required_settings(package: str) -> None:
    settings_mod = importlib.import_module(f"{package}.settings")
    with pytest.raises(settings_mod.ConfigError, match="USERS_HOST"):
        settings_mod.load_settings({"USERS_PORT": "1", "DIALECT_KEY": ""})
    # USERS_BASE_URL overrides the URL built from the variables (which must still be set)
    loaded = settings_mod.load_settings(
        {"USERS_HOST": "h", "USERS_PORT": "1", "DIALECT_KEY": "", "USERS_BASE_URL": "http://x:2/v"}
    )
    assert loaded.upstreams["users"].base_url == "http://x:2/v"
