"""The embedded default: build the IBKR adapters and run them against the simulated gateway.

Starts the mock upstream (HTTPS, self-signed), then the generated ``serve`` command (REST and
MCP in one process) with the mock's certificate as its CA bundle. ``--check`` makes one REST
call and one MCP tool call, verifies the answers and shuts everything down.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import click

from .pipeline import analyse, generate
from .writer import write_tree

ACCOUNT = "DU1234567"
# The seed spec (specs/interactive-brokers.yaml, next to its mock examples), shipped in the wheel.
SEED_SPEC = Path(str(resources.files("naftiko_gen.specs") / "interactive-brokers.yaml"))


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_http(
    url: str,
    deadline: float,
    procs: list[subprocess.Popen[bytes]],
    context: ssl.SSLContext | None = None,
) -> None:
    import urllib.request

    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise click.ClickException(
                    f"{' '.join(map(str, proc.args[2:4]))} exited with code {proc.returncode} "
                    f"before {url} came up (its errors are above)"
                )
        try:
            with urllib.request.urlopen(url, timeout=1, context=context):
                return
        except OSError:
            time.sleep(0.1)
    raise click.ClickException(f"{url} did not come up")


async def _mcp_call(url: str) -> tuple[list[str], dict]:
    from mcp import Client

    async with Client(url) as client:
        tools = [t.name for t in (await client.list_tools()).tools]
        result = await client.call_tool("getpositions", {"accountId": ACCOUNT, "pageId": "0"})
        if result.is_error:
            raise click.ClickException(f"MCP getpositions failed: {result.content}")
        return tools, result.structured_content or {}


@click.command("demo")
@click.argument(
    "spec",
    required=False,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "-o",
    "--output",
    default=Path("generated"),
    type=click.Path(file_okay=False, path_type=Path),
    show_default=True,
)
@click.option("--upstream-port", default=5000, show_default=True)
@click.option("--rest-port", default=8080, show_default=True)
@click.option("--mcp-port", default=9090, show_default=True)
@click.option(
    "--check", is_flag=True, help="Non-interactive: one REST call, one MCP call, verify, stop."
)
def demo_command(
    spec: Path | None,
    output: Path,
    upstream_port: int,
    rest_port: int,
    mcp_port: int,
    check: bool,
) -> None:
    """Build the adapters for SPEC (default: the IBKR seed spec shipped with naftiko-gen) and run
    them against its simulated upstream."""
    if spec is None:
        spec = SEED_SPEC
    taken = [str(p) for p in (upstream_port, rest_port, mcp_port) if not _port_free(p)]
    if taken:
        raise click.ClickException(
            f"port(s) {', '.join(taken)} already in use; choose others with --upstream-port/--rest-port/--mcp-port"
        )
    analysis = analyse(spec)
    if not analysis.ok or analysis.capability is None:
        for d in analysis.diagnostics:
            click.echo(d.format(), err=True)
        raise click.ClickException("the spec does not validate")
    cap = analysis.capability
    project = output / cap.package
    write_tree(project, generate(cap))
    click.echo(f"built {project}/")
    workdir = Path(tempfile.mkdtemp(prefix="naftiko-demo-"))
    ca_file = workdir / "mock-ca.pem"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "naftiko_gen",
                    "mock",
                    str(spec),
                    "--port",
                    str(upstream_port),
                    "--ca-file",
                    str(ca_file),
                ],
                stdout=subprocess.DEVNULL if check else None,
            )
        )
        deadline = time.monotonic() + 30
        while not ca_file.exists() and time.monotonic() < deadline:
            if procs[0].poll() is not None:
                raise click.ClickException(
                    f"the mock upstream exited with code {procs[0].returncode} before it came up "
                    "(its errors are above)"
                )
            time.sleep(0.1)
        upstream = cap.upstreams[0]
        base_path = upstream.base_url.split("://", 1)[1].partition("/")[2]
        env = dict(os.environ)
        env.update(
            {
                f"{upstream.env_prefix}_BASE_URL": f"https://localhost:{upstream_port}/{base_path}",
                f"{upstream.env_prefix}_CA_BUNDLE": str(ca_file),
                "PYTHONPATH": os.pathsep.join([str(project.resolve()), env.get("PYTHONPATH", "")]),
            }
        )
        for secret in cap.secrets:
            env.setdefault(secret.env, "")  # the local gateway needs no token
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    cap.package,
                    "serve",
                    "--port",
                    str(rest_port),
                    "--mcp-port",
                    str(mcp_port),
                ],
                env=env,
                stderr=subprocess.DEVNULL if check else None,
            )
        )
        _wait_http(f"http://127.0.0.1:{rest_port}/_adapter/health", time.monotonic() + 30, procs)
        rest = f"http://127.0.0.1:{rest_port}"
        if check:
            import urllib.request

            # The check is the seed's: IBKR positions of the mock's account, over REST and MCP.
            url = f"{rest}/portfolio/{ACCOUNT}/positions/0"
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    positions = json.load(response)
            except (OSError, ValueError) as exc:
                raise click.ClickException(f"demo check: GET {url} failed: {exc}") from None
            if not isinstance(positions, list) or not positions:
                raise click.ClickException(
                    f"demo check: GET {url} answered {json.dumps(positions)[:200]}, not the "
                    "mock's positions (does the spec have its .examples.yaml?)"
                )
            try:
                tools, structured = asyncio.run(_mcp_call(f"http://127.0.0.1:{mcp_port}/mcp"))
            except click.ClickException:
                raise
            except Exception as exc:  # the SDK's transport errors come in many types
                raise click.ClickException(f"demo check: the MCP call failed: {exc!r}") from None
            if len(tools) != 9:
                raise click.ClickException(f"demo check: the MCP server lists {tools}, not 9 tools")
            click.echo(
                f"REST positions: {len(positions)} rows; MCP tools: {len(tools)}; MCP getpositions: {len(structured.get('items', []))} rows"
            )
            click.echo("demo check passed")
            return
        click.echo(f"""
Simulated IBKR gateway: https://localhost:{upstream_port}/{base_path}  (CA: {ca_file})
REST adapter:           {rest}   (OpenAPI: {rest}/_adapter/openapi.json)
MCP server:             http://127.0.0.1:{mcp_port}/mcp

Try:
  curl -s {rest}/iserver/accounts
  curl -s {rest}/portfolio/{ACCOUNT}/positions/0
  curl -s '{rest}/iserver/marketdata/snapshot?conids=265598&fields=31,84,86'
  curl -s -X POST {rest}/iserver/secdef/search -H 'Content-Type: application/json' -d '{{"symbol": "AAPL"}}'

MCP client config: {{"mcpServers": {{"ibkr": {{"type": "http", "url": "http://127.0.0.1:{mcp_port}/mcp"}}}}}}
Press Ctrl-C to stop.
""")
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=35)
            except subprocess.TimeoutExpired:
                proc.kill()
