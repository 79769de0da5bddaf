"""The servers under test: the generated package (as committed) and the FastMCP peer.

The generated package runs exactly as its README says, ``python -m interactive_brokers
rest|mcp|serve`` from ``generated/interactive_brokers``, with the upstream base URL pointing at
the origin nginx and an empty token (no ``Authorization`` header upstream).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from procs import Processes, free_port, http_status, wait_ready

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PACKAGE_DIR = REPO / "generated" / "interactive_brokers"
OPENAPI = PACKAGE_DIR / "interactive_brokers" / "openapi.json"
VENV = HERE / ".venv-fastmcp"
FASTMCP_REQUIREMENT = "fastmcp==4.2.3"
PROTOCOL = "2026-07-28"


@dataclass(frozen=True)
class Service:
    proc: subprocess.Popen[bytes]
    rest_port: int | None
    mcp_port: int | None
    started_at: float  # time.perf_counter() just before the process was started


def upstream_url(origin_port: int) -> str:
    return f"http://127.0.0.1:{origin_port}/v1/api"


def generated_env(origin_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADAPTER_")}
    env["INTERACTIVE_BROKERS_BASE_URL"] = upstream_url(origin_port)
    env["INTERACTIVE_BROKERS_TOKEN"] = ""
    return env


def start_generated(
    procs: Processes, command: str, origin_port: int, name: str, **settings: str
) -> Service:
    """Start ``python -m interactive_brokers rest|mcp|serve`` on free ports (not yet ready);
    *settings* are extra environment variables (e.g. ``ADAPTER_WORKERS="2"``)."""
    rest_port = free_port() if command in ("rest", "serve") else None
    mcp_port = free_port() if command in ("mcp", "serve") else None
    argv = [sys.executable, "-m", "interactive_brokers", command, "--host", "127.0.0.1"]
    if command == "serve":
        argv += ["--port", str(rest_port), "--mcp-port", str(mcp_port)]
    else:
        argv += ["--port", str(rest_port or mcp_port)]
    started_at = time.perf_counter()
    env = {**generated_env(origin_port), **settings}
    proc = procs.start(name, argv, env=env, cwd=PACKAGE_DIR)
    return Service(proc, rest_port, mcp_port, started_at)


def start_floor(procs: Processes, origin_port: int, name: str) -> Service:
    """``aiohttp_floor.py``: the bare aiohttp proxy of the same route (see its docstring)."""
    port = free_port()
    argv = [sys.executable, str(HERE / "aiohttp_floor.py"), upstream_url(origin_port), str(port)]
    started_at = time.perf_counter()
    proc = procs.start(name, argv, cwd=HERE)
    wait_ready(procs, name, proc, lambda: http_status(port, "/iserver/accounts") == 200)
    return Service(proc, port, None, started_at)


def wait_rest(procs: Processes, name: str, service: Service) -> float:
    """Seconds from process start to the first 200 from ``/_adapter/health``."""
    port = service.rest_port
    assert port is not None
    wait_ready(procs, name, service.proc, lambda: http_status(port, "/_adapter/health") == 200)
    return time.perf_counter() - service.started_at


def wait_mcp(procs: Processes, name: str, service: Service, tool: str = "getaccounts") -> float:
    """Seconds from process start to the first successful ``tools/call``."""
    port = service.mcp_port
    assert port is not None
    wait_ready(procs, name, service.proc, lambda: http_status(port, "/mcp") is not None)
    result = mcp_call(port, tool)
    if result.get("isError") or "structuredContent" not in result:
        raise RuntimeError(f"{name}: tools/call {tool} did not succeed: {result}")
    return time.perf_counter() - service.started_at


def mcp_call(port: int, tool: str, arguments: dict | None = None) -> dict:
    """One modern (2026-07-28) ``tools/call``; the JSON-RPC result (raises on a protocol error)."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": PROTOCOL,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments or {}, "_meta": meta},
    }
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": PROTOCOL,
        "Mcp-Method": "tools/call",
        "Mcp-Name": tool,
    }
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/mcp", body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        text = response.read().decode()
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"tools/call {tool} on :{port}: HTTP {response.status}: {text[:300]}")
    reply = json.loads(text)
    if "result" not in reply:
        raise RuntimeError(f"tools/call {tool} on :{port}: {text[:300]}")
    return reply["result"]


def ensure_fastmcp_venv(log: Callable[[str], None]) -> Path:
    """``benchmarks/.venv-fastmcp`` with FastMCP, created on first use (never this env)."""
    python = VENV / "bin" / "python"
    wanted = FASTMCP_REQUIREMENT.split("==")[1]
    if peer_versions(python).get("fastmcp") != wanted:
        log(f"  creating {VENV.relative_to(REPO)} with {FASTMCP_REQUIREMENT} (once)")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", FASTMCP_REQUIREMENT],
            check=True,
            timeout=900,
            capture_output=True,
        )
    return python


def peer_versions(python: Path) -> dict[str, str]:
    """Versions of FastMCP and what it runs on, inside its venv ({} when there is none)."""
    if not python.exists():
        return {}
    code = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({p: m.version(p) for p in "
        "('fastmcp', 'mcp', 'httpx2', 'uvicorn', 'starlette', 'pydantic')}))"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return json.loads(done.stdout) if done.returncode == 0 else {}


def start_fastmcp(procs: Processes, python: Path, origin_port: int, name: str) -> Service:
    """FastMCP.from_openapi over the generated adapter's OpenAPI document, same upstream."""
    port = free_port()
    argv = [
        str(python),
        str(HERE / "fastmcp_server.py"),
        str(OPENAPI),
        upstream_url(origin_port),
        str(port),
    ]
    started_at = time.perf_counter()
    proc = procs.start(name, argv, cwd=HERE)
    return Service(proc, None, port, started_at)
