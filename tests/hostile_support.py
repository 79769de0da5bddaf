"""Shared helpers of the hostile-input campaign (``test_hostile_generator.py``,
``test_hostile_services.py``).

* hostile text and name strategies (hypothesis) and a small valid spec to plant them in;
* ``RawUpstream``: an HTTP/1.1 upstream written on raw asyncio streams, in its own thread, that can
  answer normally or misbehave in ways a framework server will not (RST mid-body, headers dripped
  one line a second, a certificate nobody trusts, a listener that disappears);
* ``ThreadedMock``: ``naftiko_gen.mock.start_mock`` run in a background event loop;
* ``Service``: the generated package started as a subprocess, with its output captured and its
  file descriptors and RSS readable from ``/proc``;
* ``LoopThread``: an event loop in a thread, so synchronous hypothesis tests can drive async clients.

Everything binds 127.0.0.1 only and nothing depends on anything outside this repository.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO / "generated" / "interactive_brokers"
IB_SPEC = REPO / "specs" / "interactive-brokers.yaml"
IB_EXAMPLES = REPO / "specs" / "interactive-brokers.examples.yaml"
BASE_PATH = "/v1/api"
# A distinctive upstream credential: it must never show up anywhere a caller or a log can see it.
SECRET = "ibkr-SECRET-7f3a9c-do-not-leak"


def fuzz_budget(ci_default: int) -> int:
    """Examples for one property: *ci_default*, or scaled up by ``NAFTIKO_FUZZ_EXAMPLES``.

    ``NAFTIKO_FUZZ_EXAMPLES=N`` means "about N examples in total for the campaign"; each property
    gets its share in proportion to its CI default (CI defaults add up to ~1,600).
    """
    raw = os.environ.get("NAFTIKO_FUZZ_EXAMPLES", "").strip()
    if not raw:
        return ci_default
    return max(ci_default, int(int(raw) * ci_default / 1600))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- hostile text

# Fragments that break naive code generators: quoting, escaping, template syntax, comments,
# line breaks Python and YAML treat differently, invisible and bidi characters, NUL.
FRAGMENTS = [
    "'",
    '"',
    "'''",
    '"""',
    "\\",
    "\\\\",
    '\\"',
    "\\'",
    "\n",
    "\r",
    "\r\n",
    "\t",
    "\x00",
    "\x1b[31m",
    "\x7f",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x85",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\u200b",
    "\u202e",
    "{{",
    "}}",
    "{{ x }}",
    "{{env.SECRET}}",
    "{%",
    "%}",
    "{% raw %}",
    "{% if x %}y{% endif %}",
    "{#",
    "#}",
    "{x}",
    "{0}",
    "%s",
    "%(x)s",
    "${x}",
    "#",
    "# noqa",
    "# type: ignore",
    "#!/bin/sh",
    "`",
    "```",
    "|",
    "<script>alert(1)</script>",
    "*/",
    "-->",
    "]]>",
    "\\N{BULLET}",
    "\\u0041",
    "\\x41",
    "__import__('os').system('id')",
    '");import os;os.system("id");("',
    "');\n",
    "é",
    "漢字",
    "🚀",
    "\U0010ffff",
    "\ufffd",
    "a" * 300,
]

_TEXT_CHARS = st.characters(codec="utf-8")  # every code point but surrogates


def hostile_text(*, max_size: int = 60) -> st.SearchStrategy[str]:
    """Arbitrary Unicode mixed with hostile fragments; now and then very long."""
    fragments = FRAGMENTS
    chars = _TEXT_CHARS
    piece = st.one_of(st.sampled_from(fragments), st.text(chars, min_size=1, max_size=8))
    composed = st.lists(piece, min_size=1, max_size=max_size // 4).map("".join)
    long = st.tuples(st.sampled_from(fragments), st.integers(2_000, 40_000)).map(
        lambda pair: (pair[0] * (pair[1] // max(1, len(pair[0])) + 1))[: pair[1]]
    )
    return st.one_of(
        composed,
        st.text(chars, min_size=1, max_size=max_size),
        st.sampled_from(fragments),
        long,
    )


KEYWORD_NAMES = ["class", "from", "import", "def", "lambda", "None", "True", "async", "await"]
SOFT_KEYWORD_NAMES = ["match", "case", "type", "_"]
EDGE_PARAM_NAMES = [
    *KEYWORD_NAMES,
    *SOFT_KEYWORD_NAMES,
    "x-trace-id",
    "a-b",
    "a_b",
    "A",
    "a",
    "1st",
    "9",
    "__init__",
    "self",
    "settings",
    "inputs",
    "request",
    "json",
    "os",
    "sys",
]
EDGE_TOOL_NAMES = [
    "a.b",
    "a-b",
    "a_b",
    "A",
    "a",
    "1",
    "9lives",
    "get.item-1_x",
    "-",
    "_",
    ".x",
    "x.",
]


def tool_names() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(EDGE_TOOL_NAMES),
        st.from_regex(r"[A-Za-z0-9_.\-]{1,24}", fullmatch=True),
    )


def param_names() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(EDGE_PARAM_NAMES),
        st.from_regex(r"[A-Za-z][A-Za-z0-9_\-]{0,15}", fullmatch=True),
    )


# --------------------------------------------------------------------------- a small valid spec

TEXT_FIELDS = (
    "label",  # info.label (also the OpenAPI title and the package summary)
    "info_description",
    "tag",
    "consumes_description",
    "op_label",  # consumed operation
    "op_description",
    "param_description",  # consumed parameter
    "rest_description",  # exposes rest
    "route_label",
    "route_description",
    "route_param_description",
    "mcp_description",  # exposes mcp (the server instructions)
    "tool_label",
    "tool_description",
    "arg_description",
    "example",  # a literal `with` value sent upstream
)


def small_spec(
    texts: dict[str, str] | None = None,
    *,
    tools: list[str] | None = None,
    query_names: list[str] | None = None,
    path_name: str = "id",
    op_name: str = "get-item",
) -> dict[str, Any]:
    """One consumed GET operation exposed as one REST route and one MCP tool per name in *tools*.

    *texts* fills the free-text fields (``TEXT_FIELDS``); *query_names* are query parameters of
    the consumed operation, declared again on the REST route and on every tool.
    """
    t = {name: f"plain {name}" for name in TEXT_FIELDS}
    t.update(texts or {})
    tools = tools or ["get.item-1_x"]
    query_names = query_names if query_names is not None else ["class"]
    consumed_params = [
        {"name": path_name, "in": "path", "description": t["param_description"]},
        *({"name": q, "in": "query", "description": t["param_description"]} for q in query_names),
        {"name": "note", "in": "query"},
    ]
    route_inputs = [
        {"name": q, "in": "query", "type": "string", "description": t["route_param_description"]}
        for q in query_names
    ]
    tool_args = [
        {"name": "item", "type": "string", "description": t["arg_description"]},
        *(
            {"name": q, "type": "string", "description": t["arg_description"], "required": False}
            for q in query_names
        ),
    ]
    return {
        "naftiko": "1.0.0-alpha2",
        "info": {"label": t["label"], "description": t["info_description"], "tags": [t["tag"]]},
        "capability": {
            "consumes": [
                {
                    "type": "http",
                    "namespace": "up",
                    "baseUri": "http://127.0.0.1:9/api",
                    "description": t["consumes_description"],
                    "resources": [
                        {
                            "name": "items",
                            "path": "/items/{" + path_name + "}",
                            "operations": [
                                {
                                    "name": op_name,
                                    "method": "GET",
                                    "label": t["op_label"],
                                    "description": t["op_description"],
                                    "inputParameters": consumed_params,
                                }
                            ],
                        }
                    ],
                }
            ],
            "exposes": [
                {
                    "type": "rest",
                    "port": 8081,
                    "namespace": "r",
                    "description": t["rest_description"],
                    "resources": [
                        {
                            "path": "/items/{item}",
                            "name": "items",
                            "operations": [
                                {
                                    "method": "GET",
                                    "name": op_name,
                                    "label": t["route_label"],
                                    "description": t["route_description"],
                                    "call": f"up.{op_name}",
                                    "with": {path_name: "rest.item", "note": t["example"]},
                                    "inputParameters": route_inputs,
                                }
                            ],
                        }
                    ],
                },
                {
                    "type": "mcp",
                    "port": 9091,
                    "namespace": "m",
                    "description": t["mcp_description"],
                    "tools": [
                        {
                            "name": name,
                            "label": t["tool_label"],
                            "description": t["tool_description"],
                            "call": f"up.{op_name}",
                            "with": {path_name: "tools.item", "note": t["example"]},
                            "inputParameters": tool_args,
                        }
                        for name in tools
                    ],
                },
            ],
        },
    }


# --------------------------------------------------------------------------- event loop in a thread


class LoopThread:
    """An asyncio loop in a daemon thread; ``run(coro)`` runs a coroutine there and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


# --------------------------------------------------------------------------- raw upstream


@dataclass
class RawRequest:
    """One request exactly as the raw upstream read it off the socket."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    status: int | None = None  # what was answered, when relaying

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""


@dataclass
class Act:
    """What the raw upstream does with one request.

    kind: ``respond`` (status/headers/body), ``close`` (FIN, no answer), ``reset`` (RST, no answer),
    ``reset_mid_body`` (headers and half the body, then RST), ``slow_headers`` (one header line
    per *delay* seconds), ``slow_body`` (one body byte per *delay* seconds), ``raw`` (bytes, then
    close).
    """

    kind: str = "respond"
    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0
    raw: bytes = b""


def echo(request: RawRequest) -> Act:
    """The default behaviour: 200 with a JSON echo of what arrived (no credentials echoed)."""
    body = json.dumps({"method": request.method, "target": request.target}).encode()
    return Act(body=body)


_REASONS = {200: "OK", 204: "No Content", 302: "Found", 429: "Too Many Requests"}


class RawUpstream:
    """A scriptable HTTP/1.1 server on raw asyncio streams, in a background thread.

    ``behaviour`` (a function of the request, returning an ``Act``) may be swapped at any time.
    ``pause()`` closes the listener and every open connection (the port then refuses
    connections); ``resume()`` listens on the same port again.
    """

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        record: bool = True,
        forward: tuple[str, int] | None = None,
    ) -> None:
        self.tls = tls
        self.record = record
        self.forward = forward  # relay every request there (recording it) instead of acting
        self.behaviour: Callable[[RawRequest], Act] = echo
        self.port = 0
        self.count = 0
        self._requests: list[RawRequest] = []
        self._lock = threading.Lock()
        self._loop = LoopThread()
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + BASE_PATH

    @property
    def requests(self) -> list[RawRequest]:
        with self._lock:
            return list(self._requests)

    def reset(self, behaviour: Callable[[RawRequest], Act] = echo) -> None:
        with self._lock:
            self._requests.clear()
            self.behaviour = behaviour

    def start(self) -> RawUpstream:
        self._loop.run(self._listen())
        return self

    def stop(self) -> None:
        self._loop.run(self._close())
        self._loop.close()

    def pause(self) -> None:
        self._loop.run(self._close())

    def resume(self) -> None:
        self._loop.run(self._listen())

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve,
            "127.0.0.1",
            self.port,
            ssl=self.tls,
            reuse_address=True,
            limit=1 << 20,
            backlog=512,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await self._server.wait_closed()
            self._server = None

    async def _read(self, reader: asyncio.StreamReader) -> RawRequest | None:
        line = await reader.readline()
        if not line:
            return None
        method, target, _ = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        headers: list[tuple[str, str]] = []
        while True:
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                break
            key, _, value = raw.decode("latin-1").rstrip("\r\n").partition(":")
            headers.append((key.strip(), value.strip()))
        request = RawRequest(method, target, headers, b"")
        length = int(request.header("Content-Length") or 0)
        if length:
            request.body = await reader.readexactly(length)
        elif (request.header("Transfer-Encoding") or "").lower() == "chunked":
            body = b""
            while True:
                size = int((await reader.readline()).strip() or b"0", 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
            request.body = body
        return request

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                request = await self._read(reader)
                if request is None:
                    return
                with self._lock:
                    self.count += 1
                    if self.record:
                        self._requests.append(request)
                    behaviour = self.behaviour
                if self.forward is not None:
                    await self._relay(request, writer)
                    return
                act = behaviour(request)
                if not await self._act(act, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, ssl.SSLError):
            return
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _relay(self, request: RawRequest, writer: asyncio.StreamWriter) -> None:
        """Send *request* to ``forward`` as-is (one connection each) and relay the answer."""
        assert self.forward is not None
        reader, upstream = await asyncio.open_connection(*self.forward)
        head = [f"{request.method} {request.target} HTTP/1.1"]
        head += [
            f"{k}: {v}"
            for k, v in request.headers
            if k.lower() not in ("connection", "keep-alive", "content-length")
        ]
        head += ["Connection: close", f"Content-Length: {len(request.body)}"]
        upstream.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + request.body)
        await upstream.drain()
        answer = await reader.read()
        upstream.close()
        with contextlib.suppress(ValueError, IndexError):
            request.status = int(answer.split(b" ", 2)[1])
        writer.write(answer)
        await writer.drain()

    @staticmethod
    def _rst(writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def _act(self, act: Act, writer: asyncio.StreamWriter) -> bool:
        """Carry out *act*; return whether the connection stays usable."""
        if act.delay and act.kind == "respond":
            await asyncio.sleep(act.delay)
        if act.kind == "close":
            writer.close()
            return False
        if act.kind == "reset":
            self._rst(writer)
            return False
        if act.kind == "raw":
            writer.write(act.raw)
            await writer.drain()
            writer.close()
            return False
        reason = _REASONS.get(act.status, "Status")
        head = [f"HTTP/1.1 {act.status} {reason}"]
        head += [f"{k}: {v}" for k, v in act.headers.items()]
        head.append(f"Content-Length: {len(act.body)}")
        if act.kind == "slow_headers":
            for line in head:
                writer.write(line.encode("latin-1") + b"\r\n")
                await writer.drain()
                await asyncio.sleep(act.delay)
            writer.write(b"\r\n" + act.body)
            await writer.drain()
            return True
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if act.kind == "reset_mid_body":
            writer.write(act.body[: len(act.body) // 2])
            await writer.drain()
            await asyncio.sleep(0.05)
            self._rst(writer)
            return False
        if act.kind == "slow_body":
            for i in range(len(act.body)):
                writer.write(act.body[i : i + 1])
                await writer.drain()
                await asyncio.sleep(act.delay)
            return True
        writer.write(act.body)
        await writer.drain()
        return True


def untrusted_tls_context() -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate that no client trusts."""
    from naftiko_gen.mock import self_signed_certificate

    cert, key = self_signed_certificate()
    directory = Path(os.environ.get("TMPDIR", "/tmp"))
    stem = f"hostile-untrusted-{os.getpid()}-{time.monotonic_ns()}"
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_path.write_bytes(cert)
    key_path.write_bytes(key)
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_path, key_path)
    finally:
        cert_path.unlink()
        key_path.unlink()
    return context


# --------------------------------------------------------------------------- the mock upstream


class ThreadedMock:
    """``naftiko_gen.mock.start_mock`` (examples file and all) in a background event loop."""

    def __init__(self, spec: Path = IB_SPEC, examples: Path | None = IB_EXAMPLES) -> None:
        self.spec = spec
        self.examples = examples
        self._loop = LoopThread()
        self.server: Any = None

    def start(self) -> ThreadedMock:
        from naftiko_gen.mock import start_mock

        self.server = self._loop.run(start_mock(self.spec, self.examples, host="127.0.0.1"))
        self.relay = RawUpstream(forward=("127.0.0.1", self.server.port)).start()
        return self

    @property
    def base_url(self) -> str:
        """The relay's address with the mock's base path."""
        mock_url = str(self.server.base_url)
        return mock_url.replace(f":{self.server.port}", f":{self.relay.port}", 1)

    def mark(self) -> int:
        """A position in the list of upstream requests (see ``upstream_status``)."""
        return len(self.relay.requests)

    def upstream_status(self, since: int, request_id: str) -> int | None:
        """What the mock answered to the request with *request_id* sent after *since*, if any.

        Recorded by a relay in front of the mock, at the socket: also the requests the mock's
        own router answers without running its handler (e.g. a path with an encoded newline).
        """
        for request in self.relay.requests[since:]:
            if request.header("X-Request-Id") == request_id and request.status is not None:
                return request.status
        return None

    def stop(self) -> None:
        self.relay.stop()
        self._loop.run(self.server.close())
        self._loop.close()


# --------------------------------------------------------------------------- the generated service


def snapshot_package(destination: Path) -> Path:
    """A byte-identical copy of generated/interactive_brokers (sources only).

    The services run from the copy so that a concurrent ``naftiko-gen build`` (which swaps the
    directory) cannot pull the tree out from under a running process.
    """
    target = destination / "interactive_brokers"
    shutil.copytree(
        PACKAGE_DIR,
        target,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache", "*.pyc"),
    )
    return target


def process_env(**settings: str) -> dict[str, str]:
    """A minimal environment for a generated service: nothing of ours leaks in but PATH."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        **settings,
    }


def service_env(base_url: str, **extra: str) -> dict[str, str]:
    """The seed package's environment: the fake upstream, the token, quick failures."""
    env = {
        **process_env(),
        "INTERACTIVE_BROKERS_BASE_URL": base_url,
        "INTERACTIVE_BROKERS_TOKEN": SECRET,
        "INTERACTIVE_BROKERS_TIMEOUT": "1",
        # Retries would hide (and slow down) the failures these tests inject on purpose.
        "INTERACTIVE_BROKERS_RETRIES": "0",
    }
    env.update(extra)
    return env


class Service:
    """``python -m <module> serve|rest`` on free loopback ports, output to files."""

    def __init__(
        self,
        package_dir: Path,
        log_dir: Path,
        name: str,
        env: dict[str, str],
        command: str,
        module: str = "interactive_brokers",
    ) -> None:
        self.package_dir = package_dir
        self.module = module
        self.name = name
        self.env = env
        self.command = command
        self.rest_port = free_port()
        self.mcp_port = free_port()
        self.stdout_path = log_dir / f"{name}.stdout"
        self.stderr_path = log_dir / f"{name}.stderr"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def mcp_url(self) -> str:
        return f"http://127.0.0.1:{self.mcp_port}/mcp"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def output(self) -> str:
        parts = []
        for path in (self.stdout_path, self.stderr_path):
            if path.exists():
                parts.append(path.read_bytes().decode("utf-8", "replace"))
        return "\n".join(parts)

    def start(self) -> Service:
        command = [sys.executable, "-m", self.module, self.command, "--host", "127.0.0.1"]
        command += ["--port", str(self.rest_port)]
        if self.command == "serve":
            command += ["--mcp-port", str(self.mcp_port)]
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                command,
                cwd=self.package_dir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during startup:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.rest_url}/_adapter/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.name} did not become healthy:\n{self.output()}")
            time.sleep(0.05)
        if self.command == "serve":
            with socket.create_connection(("127.0.0.1", self.mcp_port), timeout=5):
                pass
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} ignored SIGTERM:\n{self.output()}") from None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    # -- resources, from /proc

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


@contextlib.contextmanager
def running_service(
    package_dir: Path, log_dir: Path, name: str, base_url: str, command: str = "serve", **env: str
) -> Iterator[Service]:
    service = Service(package_dir, log_dir, name, service_env(base_url, **env), command).start()
    try:
        yield service
    finally:
        try:
            service.stop()
        finally:
            service.kill()
