"""Child processes of the benchmark: started in their own session, always stopped.

Every server the benchmark starts goes through ``Processes.start``; leaving the ``with`` block
(normally, on an exception, on Ctrl-C or on SIGTERM, see ``run.py``) stops each one by its own
process group id: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

STOP_GRACE_SECONDS = 10.0


class ChildFailed(RuntimeError):
    """A child process exited early or never became ready; the message has its log tail."""


class Processes:
    """The servers started by the benchmark; ``stop_all`` (or leaving the block) stops them."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self._children: dict[int, tuple[str, subprocess.Popen[bytes]]] = {}

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start *argv* in a new session; its output goes to ``<logdir>/<name>.log``."""
        log_path = self.logdir / f"{name}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        self._children[proc.pid] = (name, proc)
        return proc

    def get(self, name: str) -> subprocess.Popen[bytes]:
        """The running child started under *name* (its pid is also its process group id)."""
        for child_name, proc in self._children.values():
            if child_name == name:
                return proc
        raise KeyError(name)

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM the child's process group, SIGKILL it if it outlives the grace period."""
        self._children.pop(proc.pid, None)
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=STOP_GRACE_SECONDS)
        # Workers of a master process (nginx) share its group: make sure none is left.
        _signal_group(proc.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for _, proc in list(self._children.values()):
            self.stop(proc)

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.logdir / f"{name}.log"
        if not path.exists():
            return "(no output)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_status(port: int, path: str, timeout: float = 1.0) -> int | None:
    """The status of ``GET http://127.0.0.1:<port><path>``, or None when nothing answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


def wait_ready(
    procs: Processes,
    name: str,
    proc: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    timeout: float = 20.0,
    interval: float = 0.005,
) -> float:
    """Poll ``ready()`` until it is true; return the seconds waited. Raise if the child dies."""
    started = time.perf_counter()
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise ChildFailed(f"{name} exited with {proc.returncode}:\n{procs.log_tail(name)}")
        if ready():
            return time.perf_counter() - started
        time.sleep(interval)
    raise ChildFailed(f"{name} not ready after {timeout:g} s:\n{procs.log_tail(name)}")


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of *pid* in KiB, from /proc (Linux)."""
    values = {"VmRSS": 0, "VmHWM": 0}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in values:
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of every live process in group *pgid* (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process exited while we looked
        # fields[0] is the state (field 3 of proc(5)): pgrp is field 5, utime 14, stime 15.
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / ticks
