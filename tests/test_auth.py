"""Outbound authentication of generated clients against a fake upstream that checks it for real:
digest challenges (RFC 7616, MD5), basic, bearer, and the API-key shapes seen in real specs."""

from __future__ import annotations

import base64
import hashlib
import importlib
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from naftiko_gen.pipeline import analyse, generate
from naftiko_gen.writer import write_tree

from .conftest import fake_server

SPEC = """\
naftiko: 1.0.0-alpha2
binds:
- namespace: env
  keys:
    USER: AUTH_TEST_USER
    PASSWORD: AUTH_TEST_PASSWORD
    KEY_A: AUTH_TEST_KEY_A
    KEY_B: AUTH_TEST_KEY_B
capability:
  consumes:
  - type: http
    namespace: digesty
    baseUri: http://127.0.0.1:1/d
    authentication: {type: digest, username: '{{USER}}', password: '{{PASSWORD}}'}
    resources:
    - {name: r, path: /secret, operations: [{name: get, method: GET}]}
  - type: http
    namespace: basicky
    baseUri: http://127.0.0.1:1/b
    authentication: {type: basic, username: '{{USER}}', password: '{{PASSWORD}}'}
    resources:
    - {name: r, path: /secret, operations: [{name: get, method: GET}]}
  - type: http
    namespace: keyed
    baseUri: http://127.0.0.1:1/k
    authentication:
      type: apikey
      headers: {X-Key-A: '{{KEY_A}}'}
    resources:
    - {name: r, path: /secret, operations: [{name: get, method: GET}]}
  - type: http
    namespace: queried
    baseUri: http://127.0.0.1:1/q
    authentication: {type: query, parameters: [{name: api_key, value: '{{env.KEY_B}}'}]}
    resources:
    - {name: r, path: /secret, operations: [{name: get, method: GET}]}
  exposes:
  - type: mcp
    port: 9300
    namespace: auth-mcp
    tools:
    - {name: digest, description: d, call: digesty.get}
    - {name: basic, description: b, call: basicky.get}
    - {name: header-key, description: k, call: keyed.get}
    - {name: query-key, description: q, call: queried.get}
"""
REALM, NONCE = "naftiko", "abc123nonce"


def _digest_ok(header: str, method: str, user: str, password: str) -> bool:
    if not header.startswith("Digest "):
        return False
    fields: dict[str, str] = {}
    for part in header[7:].split(","):
        key, _, value = part.strip().partition("=")
        fields[key] = value.strip('"')
    ha1 = hashlib.md5(f"{user}:{REALM}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{fields['uri']}".encode()).hexdigest()
    expected = hashlib.md5(
        f"{ha1}:{NONCE}:{fields['nc']}:{fields['cnonce']}:auth:{ha2}".encode()
    ).hexdigest()
    return fields.get("username") == user and fields.get("response") == expected


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("auth")
    spec = root / "auth-check.yaml"
    spec.write_text(textwrap.dedent(SPEC))
    analysis = analyse(spec)
    assert analysis.ok and analysis.capability is not None, [
        d.format() for d in analysis.diagnostics
    ]
    write_tree(root / "out" / "auth_check", generate(analysis.capability))
    sys.path.insert(0, str(root / "out" / "auth_check"))
    try:
        yield importlib.import_module("auth_check")
    finally:
        sys.path.remove(str(root / "out" / "auth_check"))


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    async def handle(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        if request.path.startswith("/d/"):
            if _digest_ok(auth, request.method, "alice", "s3cret"):
                return web.json_response({"ok": "digest"})
            challenge = f'Digest realm="{REALM}", nonce="{NONCE}", qop="auth", algorithm=MD5'
            return web.json_response(
                {"error": "auth"}, status=401, headers={"WWW-Authenticate": challenge}
            )
        if request.path.startswith("/b/"):
            expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
            return web.json_response(
                {"ok": auth == expected}, status=200 if auth == expected else 401
            )
        if request.path.startswith("/k/"):
            good = request.headers.get("X-Key-A") == "key-a" and not auth
            return web.json_response({"ok": good}, status=200 if good else 401)
        good = request.query.get("api_key") == "key-b"
        return web.json_response({"ok": good}, status=200 if good else 401)

    async with fake_server(handle) as server:
        yield str(server.make_url("")).rstrip("/")


@pytest.mark.parametrize("tool", ["digest", "basic", "header-key", "query-key"])
async def test_credentials_are_accepted_by_a_checking_upstream(
    package: Any, upstream: str, tool: str
) -> None:
    settings_mod = importlib.import_module("auth_check.settings")
    client_mod = importlib.import_module("auth_check.client")
    server_mod = importlib.import_module("auth_check.mcp_server")
    env = {
        "DIGESTY_BASE_URL": f"{upstream}/d",
        "BASICKY_BASE_URL": f"{upstream}/b",
        "KEYED_BASE_URL": f"{upstream}/k",
        "QUERIED_BASE_URL": f"{upstream}/q",
        "AUTH_TEST_USER": "alice",
        "AUTH_TEST_PASSWORD": "s3cret",
        "AUTH_TEST_KEY_A": "key-a",
        "AUTH_TEST_KEY_B": "key-b",
        "ADAPTER_CONFIRM": "off",
    }
    client = client_mod.UpstreamClient(settings_mod.load_settings(env))
    await client.start()
    try:
        from mcp import Client

        async with Client(server_mod.create_server(client)) as mcp:
            result = await mcp.call_tool(tool, {})
        assert not result.is_error, result.content
        assert result.structured_content["ok"] in (True, "digest")
    finally:
        await client.close()


def test_digest_needs_a_recent_aiohttp(package: Any) -> None:
    pyproject = Path(package.__file__).parents[1] / "pyproject.toml"
    assert '"aiohttp>=3.12"' in pyproject.read_text()
