"""End-to-end tests of the generated MCP server: the real process over Streamable HTTP (both
protocol eras) and over stdio, driven by the official SDK client (and, when node is available,
by the MCP Inspector CLI), against a fake upstream that records every request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp
import httpx2
import pytest
import yaml
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult

from .conftest import (
    BASE_PATH,
    MCP_TOKEN,
    PACKAGE_DIR,
    SPEC,
    TOKEN,
    AdapterProcess,
    FakeUpstream,
    adapter_env,
)

pytestmark = pytest.mark.asyncio

MODES = ["legacy", "2026-07-28"]
INSPECTOR_VERSION = "2.12.0"

SPEC_DATA = yaml.safe_load(SPEC.read_text())
SPEC_TOOLS = next(e for e in SPEC_DATA["capability"]["exposes"] if e["type"] == "mcp")["tools"]
# Tools whose consumed operation is a POST without declared body fields: the JSON body is the
# optional ``body`` argument, forwarded as-is.
BODY_TOOLS = {"getauthstatus", "placeorder", "searchcontracts"}


@contextlib.asynccontextmanager
async def mcp_client(url: str, mode: str) -> AsyncIterator[Client]:
    async with Client(url, mode=mode, read_timeout_seconds=10) as client:
        yield client


def structured(result: CallToolResult) -> dict[str, Any]:
    """The structured content, checked against the text content (same JSON)."""
    assert isinstance(result.structured_content, dict)
    assert len(result.content) == 1 and result.content[0].type == "text"
    text = json.loads(result.content[0].text)
    data = result.structured_content
    if set(data) == {"items"} and isinstance(text, list):
        assert text == data["items"]
    elif set(data) == {"value"} and not isinstance(text, dict):
        assert text == data["value"]
    else:
        assert text == data
    return data


def tool_error(result: CallToolResult, status: int) -> dict[str, Any]:
    assert result.is_error is True
    data = structured(result)
    assert data["status"] == status
    assert isinstance(data["error"], str) and data["error"]
    assert isinstance(data["retryable"], bool)
    assert TOKEN not in json.dumps(data)
    assert TOKEN not in result.content[0].text
    return data


# --------------------------------------------------------------------------- tools/list


@pytest.mark.parametrize("mode", MODES)
async def test_list_tools_matches_spec(mode: str, adapter: AdapterProcess) -> None:
    async with mcp_client(adapter.mcp_url, mode) as client:
        if mode != "legacy":
            assert client.session.protocol_version == mode
        result = await client.list_tools()
    assert result.next_cursor is None
    tools = result.tools
    assert [t.name for t in tools] == [t["name"] for t in SPEC_TOOLS]
    for tool, spec in zip(tools, SPEC_TOOLS, strict=True):
        assert tool.description == spec["description"]
        hints = spec["hints"]
        annotations = tool.annotations
        assert annotations is not None
        assert annotations.read_only_hint is hints["readOnly"]
        assert annotations.destructive_hint is hints["destructive"]
        assert annotations.idempotent_hint is hints["idempotent"]

        schema = tool.input_schema
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
        params = spec.get("inputParameters") or []
        expected = {p["name"]: {"type": p["type"], "description": p["description"]} for p in params}
        properties = dict(schema.get("properties") or {})
        body = properties.pop("body", None)
        # a two-step confirmation argument, where the package has it: writes only, optional
        confirmation = properties.pop("confirmation_token", None)
        if confirmation is not None:
            assert confirmation["type"] == "string"
            assert hints["readOnly"] is False
            assert "confirmation_token" not in schema.get("required", [])
        assert properties == expected
        if spec["name"] in BODY_TOOLS:
            assert body is not None and body["type"] == "object"
        else:
            assert body is None
        # required: the Naftiko default for MCP tool inputs is required=true
        required = [p["name"] for p in params if p.get("required", True)]
        assert sorted(schema.get("required", [])) == sorted(required)


# --------------------------------------------------------------------------- tools/call


@dataclass(frozen=True)
class ToolCase:
    name: str
    arguments: dict[str, Any]
    method: str
    path: str
    query: list[tuple[str, str]]
    body: Any  # the JSON body the upstream must receive, None = no body
    reply: Any  # what the fake upstream answers (JSON)


ORDER = {"orders": [{"conid": 265598, "side": "SELL", "quantity": 2, "orderType": "LMT"}]}
SEARCH = {"symbol": "IBKR", "secType": "STK"}
POSITIONS = [{"acctId": "U1234567", "conid": 265598, "position": 10.0}]
SNAPSHOT = [{"conid": 265598, "31": "190.10"}, {"conid": 8314, "31": "12.00"}]

TOOL_CASES = [
    ToolCase(
        "getauthstatus",
        {},
        "POST",
        "/iserver/auth/status",
        [],
        None,
        {"authenticated": True},
    ),
    ToolCase("getaccounts", {}, "GET", "/iserver/accounts", [], None, {"accounts": ["U1"]}),
    ToolCase(
        "placeorder",
        {"accountId": "U1234567", "body": ORDER},
        "POST",
        "/iserver/account/U1234567/orders",
        [],
        ORDER,
        [{"order_id": "77", "order_status": "Submitted"}],
    ),
    ToolCase("getliveorders", {}, "GET", "/iserver/account/orders", [], None, {"orders": []}),
    ToolCase(
        "getpositions",
        {"accountId": "U1234567", "pageId": "0"},
        "GET",
        "/portfolio/U1234567/positions/0",
        [],
        None,
        POSITIONS,
    ),
    ToolCase(
        "getaccountsummary",
        {"accountId": "U1234567"},
        "GET",
        "/portfolio/U1234567/summary",
        [],
        None,
        {"netliquidation": {"amount": 1500000.5}},
    ),
    ToolCase(
        "getmarketdatasnapshot",
        {"conids": "265598,8314", "fields": "31,84"},
        "GET",
        "/iserver/marketdata/snapshot",
        [("conids", "265598,8314"), ("fields", "31,84")],
        None,
        SNAPSHOT,
    ),
    ToolCase(
        "getmarketdatahistory",
        {"conid": "265598", "period": "1d", "bar": "5min"},
        "GET",
        "/iserver/marketdata/history",
        [("conid", "265598"), ("period", "1d"), ("bar", "5min")],
        None,
        {"symbol": "AAPL", "data": [{"o": 1.5}]},
    ),
    ToolCase(
        "searchcontracts",
        {"body": SEARCH},
        "POST",
        "/iserver/secdef/search",
        [],
        SEARCH,
        [{"conid": "43645865", "companyName": "INTERACTIVE BROKERS GRO-CL A"}],
    ),
]


async def test_tool_cases_cover_every_tool() -> None:
    assert [case.name for case in TOOL_CASES] == [t["name"] for t in SPEC_TOOLS]


@pytest.mark.parametrize("case", TOOL_CASES, ids=[c.name for c in TOOL_CASES])
@pytest.mark.parametrize("mode", MODES)
async def test_call_tool(
    mode: str, case: ToolCase, adapter: AdapterProcess, upstream: FakeUpstream
) -> None:
    upstream.answer(status=200, body=json.dumps(case.reply).encode())
    async with mcp_client(adapter.mcp_url, mode) as client:
        result = await client.call_tool(case.name, case.arguments)
    assert result.is_error is False
    data = structured(result)
    assert data == ({"items": case.reply} if isinstance(case.reply, list) else case.reply)

    seen = upstream.only_request()
    assert seen.method == case.method
    assert seen.path == BASE_PATH + case.path
    assert seen.has_query == bool(case.query)
    assert seen.query_pairs == case.query
    assert seen.headers.getall("Authorization") == [f"Bearer {TOKEN}"]
    assert seen.headers.get("X-Request-Id")
    if case.body is None:
        assert seen.body == b""
    else:
        assert seen.headers["Content-Type"].split(";")[0] == "application/json"
        assert seen.json() == case.body


@pytest.mark.parametrize("mode", MODES)
async def test_call_tool_optional_body_omitted_and_non_json_answer(
    mode: str, adapter: AdapterProcess, upstream: FakeUpstream
) -> None:
    upstream.answer(body=b"plain text, not JSON", content_type="text/plain")
    async with mcp_client(adapter.mcp_url, mode) as client:
        result = await client.call_tool("placeorder", {"accountId": "U1"})
    assert result.is_error is False
    assert structured(result) == {"value": "plain text, not JSON"}
    seen = upstream.only_request()
    assert seen.path == f"{BASE_PATH}/iserver/account/U1/orders"
    assert seen.body == b""


@pytest.mark.parametrize("mode", MODES)
async def test_call_tool_path_arguments_stay_one_segment(
    mode: str, adapter: AdapterProcess, upstream: FakeUpstream
) -> None:
    evil = ["..", "../../admin", "a/b", "?x=1", "#frag", "U1\r\nX-Injected: 1"]
    async with mcp_client(adapter.mcp_url, mode) as client:
        for value in evil:
            result = await client.call_tool("getpositions", {"accountId": value, "pageId": value})
            assert result.is_error is False
    assert len(upstream.requests) == len(evil)
    for value, seen in zip(evil, upstream.requests, strict=True):
        assert not seen.has_query
        assert "X-Injected" not in seen.headers
        segments = seen.path.split("/")
        assert len(segments) == 7, seen.path
        assert segments[:4] == ["", "v1", "api", "portfolio"] and segments[5] == "positions"
        assert unquote(segments[4]) == unquote(segments[6]) == value
        assert segments[4] not in (".", "..")


BAD_ARGUMENTS = [
    ("getpositions", {"accountId": "U1"}),
    ("getpositions", {"accountId": "U1", "pageId": 0}),
    ("getpositions", {"accountId": "U1", "pageId": "0", "extra": True}),
    ("getpositions", {"accountId": "", "pageId": "0"}),
    ("getaccounts", {"unexpected": 1}),
    ("placeorder", {"body": ORDER}),
    ("placeorder", {"accountId": "U1", "body": [1, 2]}),
    ("placeorder", {"accountId": "U1", "body": "{}"}),
    ("getmarketdatahistory", {"conid": "1", "period": "1d"}),
    ("getmarketdatahistory", {"conid": 1, "period": "1d", "bar": "1h"}),
    ("searchcontracts", {"symbol": "AAPL"}),
]


@pytest.mark.parametrize("mode", MODES)
async def test_bad_arguments_are_tool_errors_without_upstream_call(
    mode: str, adapter: AdapterProcess, upstream: FakeUpstream
) -> None:
    async with mcp_client(adapter.mcp_url, mode) as client:
        for name, arguments in BAD_ARGUMENTS:
            result = await client.call_tool(name, arguments)
            data = tool_error(result, 400)
            assert data["retryable"] is False, (name, arguments)
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("status", "reply", "retryable"),
    [
        (500, {"error": "internal"}, True),
        (503, "maintenance", True),
        (429, {"error": "slow down"}, True),
        (404, {"error": "no such account"}, False),
        (400, {"error": "bad conid"}, False),
    ],
)
@pytest.mark.parametrize("mode", MODES)
async def test_upstream_error_is_structured_tool_error(
    mode: str,
    status: int,
    reply: Any,
    retryable: bool,
    adapter: AdapterProcess,
    upstream: FakeUpstream,
) -> None:
    body = json.dumps(reply).encode() if isinstance(reply, dict) else reply.encode()
    upstream.answer(status=status, body=body)
    async with mcp_client(adapter.mcp_url, mode) as client:
        result = await client.call_tool("getaccountsummary", {"accountId": "U1"})
    data = tool_error(result, status)
    assert data["retryable"] is retryable
    assert data.get("detail") == reply
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_upstream_down_is_tool_error_502(mode: str, down_adapter: AdapterProcess) -> None:
    async with mcp_client(down_adapter.mcp_url, mode) as client:
        result = await client.call_tool("getaccounts", {})
    data = tool_error(result, 502)
    assert data["retryable"] is True


async def test_upstream_slow_is_tool_error_504(
    adapter: AdapterProcess, upstream: FakeUpstream
) -> None:
    upstream.answer(delay=3.0)

    async def call(mode: str) -> CallToolResult:
        async with mcp_client(adapter.mcp_url, mode) as client:
            return await client.call_tool("getliveorders", {})

    for result in await asyncio.gather(*(call(mode) for mode in MODES)):  # both eras at once
        data = tool_error(result, 504)
        assert data["retryable"] is True


@pytest.mark.parametrize("mode", MODES)
async def test_upstream_dropping_connection_is_tool_error_502(
    mode: str, adapter: AdapterProcess, upstream: FakeUpstream
) -> None:
    upstream.answer(close=True)
    async with mcp_client(adapter.mcp_url, mode) as client:
        result = await client.call_tool("getliveorders", {})
    tool_error(result, 502)


@pytest.mark.parametrize("mode", MODES)
async def test_concurrent_tool_calls_are_not_mixed_up(
    mode: str, adapter: AdapterProcess, upstream: FakeUpstream
) -> None:
    upstream.answer(echo=True, delay=0.05)
    async with mcp_client(adapter.mcp_url, mode) as client:
        await client.list_tools()
        results = await asyncio.gather(
            *(client.call_tool("getaccountsummary", {"accountId": f"U{i}"}) for i in range(12))
        )
    for i, result in enumerate(results):
        assert result.is_error is False
        target = f"{BASE_PATH}/portfolio/U{i}/summary"
        assert structured(result) == {"method": "GET", "target": target}
    assert len(upstream.requests) == 12


@pytest.mark.parametrize("mode", MODES)
async def test_unusable_upstream_answer_is_tool_error_502(
    mode: str, adapter: AdapterProcess, upstream: FakeUpstream
) -> None:
    async with mcp_client(adapter.mcp_url, mode) as client:
        for reply in ({"truncate": True}, {"raw": b"not HTTP\r\n\r\n"}):
            upstream.answer(body=b'{"orders": []}', **reply)
            result = await client.call_tool("getliveorders", {})
            tool_error(result, 502)


@pytest.mark.parametrize("mode", MODES)
async def test_unknown_tool_is_protocol_error(
    mode: str, adapter: AdapterProcess, upstream: FakeUpstream
) -> None:
    async with mcp_client(adapter.mcp_url, mode) as client:
        with pytest.raises(MCPError) as caught:
            await client.call_tool("deleteEverything", {})
    assert caught.value.error.code == INVALID_PARAMS
    assert "deleteEverything" in caught.value.error.message
    assert upstream.requests == []


async def test_mcp_endpoint_rejects_foreign_host_and_origin(adapter: AdapterProcess) -> None:
    """DNS-rebinding protection: only loopback Host/Origin values are accepted."""
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2025-11-25",
    }
    async with aiohttp.ClientSession() as http:
        for extra in ({"Host": "evil.example"}, {"Origin": "http://evil.example"}):
            async with http.post(adapter.mcp_url, json=message, headers=headers | extra) as r:
                assert r.status in (400, 403, 421), (extra, r.status)


# --------------------------------------------------------------------------- stdio


async def test_stdio_transport(
    fake_upstream: FakeUpstream, upstream: FakeUpstream, e2e_logs: Path
) -> None:
    """``mcp --transport stdio`` launched by the SDK's stdio client, once per era (at once)."""
    upstream.answer(body=json.dumps(SNAPSHOT).encode())

    async def session(mode: str) -> CallToolResult:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "interactive_brokers", "mcp", "--transport", "stdio"],
            env=adapter_env(fake_upstream.base_url),
            cwd=PACKAGE_DIR,
        )
        with open(e2e_logs / f"stdio-{mode}.log", "w") as errlog:
            async with Client(stdio_client(params, errlog=errlog), mode=mode) as client:
                if mode != "legacy":
                    assert client.session.protocol_version == mode
                tools = (await client.list_tools()).tools
                assert [t.name for t in tools] == [t["name"] for t in SPEC_TOOLS]
                return await client.call_tool(
                    "getmarketdatasnapshot", {"conids": "265598", "fields": "31"}
                )

    results = await asyncio.gather(*(session(mode) for mode in MODES))
    for result in results:
        assert result.is_error is False
        assert structured(result) == {"items": SNAPSHOT}
    assert len(upstream.requests) == len(MODES)
    for seen in upstream.requests:
        assert seen.path == f"{BASE_PATH}/iserver/marketdata/snapshot"
        assert seen.query_pairs == [("conids", "265598"), ("fields", "31")]
        assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    for mode in MODES:
        log = (e2e_logs / f"stdio-{mode}.log").read_text()
        assert "tool getmarketdatasnapshot ok" in log
        assert TOKEN not in log


# --------------------------------------------------------------------------- MCP bearer token


async def test_mcp_token_required_on_raw_http(guarded_adapter: AdapterProcess) -> None:
    message = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    base = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2025-11-25",
    }
    async with aiohttp.ClientSession() as http:
        for auth in (None, "Bearer wrong", f"Bearer {TOKEN}", MCP_TOKEN, f"bearer {MCP_TOKEN}x"):
            headers = dict(base)
            if auth is not None:
                headers["Authorization"] = auth
            async with http.post(guarded_adapter.mcp_url, json=message, headers=headers) as r:
                assert r.status == 401, auth
                assert r.headers["WWW-Authenticate"].startswith("Bearer")
                assert MCP_TOKEN not in await r.text()
        headers = base | {"Authorization": f"Bearer {MCP_TOKEN}"}
        async with http.post(guarded_adapter.mcp_url, json=message, headers=headers) as r:
            assert r.status != 401


@pytest.mark.parametrize("mode", MODES)
async def test_mcp_token_with_sdk_client(
    mode: str, guarded_adapter: AdapterProcess, upstream: FakeUpstream
) -> None:
    headers = {"Authorization": f"Bearer {MCP_TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        Client(streamable_http_client(guarded_adapter.mcp_url, http_client=http), mode=mode) as c,
    ):
        assert len((await c.list_tools()).tools) == len(SPEC_TOOLS)
        result = await c.call_tool("getaccounts", {})
    assert result.is_error is False
    seen = upstream.only_request()
    # the MCP client's token is never passed on (and this adapter has no upstream credential)
    assert "Authorization" not in seen.headers
    assert all(MCP_TOKEN not in value for value in seen.headers.values())


@pytest.mark.parametrize("mode", MODES)
async def test_mcp_token_missing_with_sdk_client_fails(
    mode: str, guarded_adapter: AdapterProcess, upstream: FakeUpstream
) -> None:
    """The SDK surfaces the 401 as an MCPError (possibly inside exception groups)."""
    with pytest.raises((MCPError, BaseExceptionGroup)) as caught:
        async with asyncio.timeout(10), mcp_client(guarded_adapter.mcp_url, mode) as client:
            await client.list_tools()
            await client.call_tool("getaccounts", {})
    leaves = _leaves(caught.value)
    assert leaves and all(isinstance(leaf, MCPError) for leaf in leaves), leaves
    assert upstream.requests == []


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


# --------------------------------------------------------------------------- MCP Inspector CLI


def _inspector_cache() -> Path:
    """Where the Inspector is installed once and reused (outside the repo and pytest's tmp)."""
    root = os.environ.get("NAFTIKO_E2E_NPM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "naftiko-gen-e2e"
    )
    return Path(root) / f"mcp-inspector-{INSPECTOR_VERSION}"


def _install_inspector(npm: str, target: Path, scratch: Path) -> None:
    """``npm install`` into *scratch*, then move it to *target* in one rename."""
    package = f"@modelcontextprotocol/inspector@{INSPECTOR_VERSION}"
    fetch = ["--fetch-retries=0", "--fetch-timeout=15000"]
    preflight = [npm, "view", package, "version", *fetch]  # fail fast when offline
    command = [npm, "install", "--prefix", str(scratch), "--no-audit", "--no-fund"]
    command += ["--ignore-scripts", *fetch, package]
    try:
        subprocess.run(preflight, capture_output=True, timeout=20, check=True, cwd=scratch)
        subprocess.run(command, capture_output=True, timeout=60, check=True, cwd=scratch)
    except (subprocess.TimeoutExpired, subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        pytest.skip(f"cannot install @modelcontextprotocol/inspector from npm: {exc}")
    try:
        scratch.rename(target)
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
        if not (target / "node_modules").is_dir():  # (a concurrent run may have won the race)
            raise


@pytest.fixture(scope="session")
def inspector(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict[str, str]]:
    """The Inspector CLI command and its environment (installed from npm on first use, into
    ``$NAFTIKO_E2E_NPM_CACHE`` or ``~/.cache/naftiko-gen-e2e``; NAFTIKO_E2E_NO_NPM=1 skips)."""
    if os.environ.get("NAFTIKO_E2E_NO_NPM"):
        pytest.skip("NAFTIKO_E2E_NO_NPM is set")
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node/npm not installed: MCP Inspector CLI test skipped")
    prefix = _inspector_cache()
    try:
        _mkdir(prefix.parent)
    except OSError:  # no writable cache: install for this session only
        prefix = tmp_path_factory.mktemp("npm") / prefix.name
    script = prefix / "node_modules" / ".bin" / "mcp-inspector"
    if not script.exists():
        scratch = Path(tempfile.mkdtemp(prefix=f".{prefix.name}-", dir=prefix.parent))
        _install_inspector(npm, prefix, scratch)
        if not script.exists():
            pytest.skip("the npm install of @modelcontextprotocol/inspector made no mcp-inspector")
    home = tmp_path_factory.mktemp("inspector-home")
    env = {**os.environ, "HOME": str(home), "MCP_INSPECTOR_SECRET_STORE": "memory"}
    return [node, str(script)], env


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


async def _inspect(inspector: tuple[list[str], dict[str, str]], *args: str) -> tuple[int, Any, str]:
    command, env = inspector
    process = await asyncio.create_subprocess_exec(
        *command,
        "--cli",
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 30)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, json.loads(out), err.decode(errors="replace")


async def test_inspector_cli(
    inspector: tuple[list[str], dict[str, str]],
    adapter: AdapterProcess,
    upstream: FakeUpstream,
    tmp_path: Path,
) -> None:
    """The MCP Inspector CLI against the HTTP endpoint: its default (2025-11-25) era and, via a
    config file, the 2026-07-28 era (the two run at once)."""
    upstream.answer(body=json.dumps(POSITIONS).encode())
    config = tmp_path / "modern.json"
    server = {"type": "http", "url": adapter.mcp_url, "protocolEra": "modern"}
    config.write_text(json.dumps({"mcpServers": {"ib": server}}))
    targets = {
        "legacy": [adapter.mcp_url, "--transport", "http"],
        "modern": ["--config", str(config), "--server", "ib"],
    }

    async def call(era: str, account: str) -> Any:
        arguments = json.dumps({"accountId": account, "pageId": "0"})
        rc, called, err = await _inspect(
            inspector,
            *targets[era],
            "--method",
            "tools/call",
            "--tool-name",
            "getpositions",
            "--tool-args-json",
            arguments,
            "--format",
            "json",
        )
        assert rc == 0, err
        return called

    async def legacy() -> None:
        rc, listing, err = await _inspect(inspector, *targets["legacy"], "--method", "tools/list")
        assert rc == 0, err
        listing = listing.get("result", listing)
        assert [t["name"] for t in listing["tools"]] == [t["name"] for t in SPEC_TOOLS]
        for tool in listing["tools"]:
            assert tool["inputSchema"]["additionalProperties"] is False
            assert {"readOnlyHint", "destructiveHint", "idempotentHint"} <= set(tool["annotations"])
        called = await call("legacy", "U1")
        assert called["result"]["isError"] is False
        assert called["result"]["structuredContent"] == {"items": POSITIONS}

    async def modern() -> None:
        rc, info, err = await _inspect(inspector, *targets["modern"], "--method", "initialize")
        assert rc == 0, err
        assert info["protocolVersion"] == "2026-07-28"
        assert info["serverInfo"]["name"] == "interactive-brokers-mcp"
        called = await call("modern", "U2")
        assert called["result"]["isError"] is False
        assert called["result"]["structuredContent"] == {"items": POSITIONS}

    await asyncio.gather(legacy(), modern())
    assert sorted(r.path for r in upstream.requests) == [
        f"{BASE_PATH}/portfolio/U{i}/positions/0" for i in (1, 2)
    ]


# --------------------------------------------------------------------------- default policies


@pytest.mark.parametrize("mode", MODES)
async def test_write_tool_needs_confirmation_by_default(
    mode: str, policy_adapter: AdapterProcess, upstream: FakeUpstream
) -> None:
    upstream.answer(body=b'[{"order_id": "9"}]')
    order = {**ORDER, "cOID": f"e2e-{mode}"}  # distinct per era: see the test below
    arguments = {"accountId": "U1234567", "body": order}
    async with mcp_client(policy_adapter.mcp_url, mode) as client:
        preview = await client.call_tool("placeorder", arguments)
        assert preview.is_error is False
        assert upstream.requests == []  # nothing sent yet
        data = preview.structured_content
        assert isinstance(data, dict) and data["confirmation_required"] is True
        assert data["request"]["method"] == "POST"
        assert data["request"]["url"].endswith(f"{BASE_PATH}/iserver/account/U1234567/orders")
        assert data["request"]["body"] == order
        token = data["confirmation_token"]
        assert isinstance(token, str) and token
        assert TOKEN not in json.dumps(data) and TOKEN not in preview.content[0].text

        # a token confirms only this tool with exactly these arguments
        other = {"accountId": "U7654321", "body": order}
        refused = await client.call_tool("placeorder", {**other, "confirmation_token": token})
        tool_error(refused, 409)
        forged = await client.call_tool(
            "placeorder", {**arguments, "confirmation_token": token[:-4] + "0000"}
        )
        tool_error(forged, 409)
        assert upstream.requests == []

        sent = await client.call_tool("placeorder", {**arguments, "confirmation_token": token})
        assert sent.is_error is False
        assert structured(sent) == {"items": [{"order_id": "9"}]}
        seen = upstream.only_request()
        assert seen.path == f"{BASE_PATH}/iserver/account/U1234567/orders"
        assert seen.json() == order
        assert seen.headers.getall("Authorization") == [f"Bearer {TOKEN}"]

        # single use
        again = await client.call_tool("placeorder", {**arguments, "confirmation_token": token})
        tool_error(again, 409)
        assert len(upstream.requests) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_read_only_tool_needs_no_confirmation_and_is_retried(
    mode: str, policy_adapter: AdapterProcess, upstream: FakeUpstream
) -> None:
    upstream.answer_sequence(
        {"status": 503, "body": b'{"error": "busy"}'},
        {"status": 200, "body": json.dumps(POSITIONS).encode()},
    )
    async with mcp_client(policy_adapter.mcp_url, mode) as client:
        result = await client.call_tool("getpositions", {"accountId": "U1", "pageId": "0"})
    assert result.is_error is False
    assert structured(result) == {"items": POSITIONS}
    assert len(upstream.requests) == 2


@pytest.mark.parametrize("mode", MODES)
async def test_confirmed_write_is_not_retried(
    mode: str, policy_adapter: AdapterProcess, upstream: FakeUpstream
) -> None:
    upstream.answer_sequence(
        {"status": 503, "body": b'{"error": "busy"}'}, {"status": 200, "body": b"{}"}
    )
    arguments = {"body": {**SEARCH, "name": mode}}
    async with mcp_client(policy_adapter.mcp_url, mode) as client:
        preview = await client.call_tool("searchcontracts", arguments)
        token = (preview.structured_content or {})["confirmation_token"]
        result = await client.call_tool(
            "searchcontracts", {**arguments, "confirmation_token": token}
        )
    data = tool_error(result, 503)
    assert data["retryable"] is True
    assert len(upstream.requests) == 1


async def test_each_preview_gets_its_own_confirmation(
    policy_adapter: AdapterProcess, upstream: FakeUpstream
) -> None:
    """An agent places the same order twice in a row: preview, confirm, preview, confirm."""
    upstream.answer(body=b'[{"order_id": "1"}]')
    async with mcp_client(policy_adapter.mcp_url, "2026-07-28") as client:
        await client.list_tools()
        for attempt in range(3):
            upstream.reset()
            upstream.answer(body=b'[{"order_id": "1"}]')
            arguments = {"accountId": "U1", "body": {**ORDER, "cOID": f"twice-{attempt}"}}
            await asyncio.sleep(1.02 - time.time() % 1)  # start just after a second boundary
            tokens, results = [], []
            for _ in range(2):
                preview = await client.call_tool("placeorder", arguments)
                tokens.append((preview.structured_content or {})["confirmation_token"])
                confirmed = {**arguments, "confirmation_token": tokens[-1]}
                results.append(await client.call_tool("placeorder", confirmed))
            # tokens "<expiry>.<signature>" from two different seconds prove nothing: go again
            if tokens[0].split(".")[0] == tokens[1].split(".")[0]:
                break
    assert results[0].is_error is False
    assert results[1].is_error is False, results[1].structured_content
    assert len(upstream.requests) == 2
