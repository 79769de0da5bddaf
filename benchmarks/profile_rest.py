"""Section 2b: where a proxied REST request's CPU goes, sampled with py-spy under load.

While wrk drives ``GET /iserver/accounts`` at one concurrency, py-spy samples the process (500
samples/s, ``--nonblocking``, so the process is never paused). Each sample is charged to one
component: its stack is walked from the innermost frame outwards to the first frame in a known
module (logging, the proxy's own code, aiohttp's client, aiohttp's server). Samples with none of
them are the event loop itself: uvloop's C code (epoll, socket reads, callback dispatch).
The component's share of the samples times the CPU per request measured over the same seconds
gives microseconds per request.

Two processes are profiled the same way: the generated adapter (as configured by default) and
the aiohttp floor (``aiohttp_floor.py``). The difference between them is what the generated code
costs; the floor is what its libraries cost.

    python benchmarks/profile_rest.py [--seconds 8] [--concurrency 16]   # standalone
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from drivers import Load, run_wrk, with_cpu
from procs import Processes
from report import md_table
from services import start_floor, start_generated, wait_rest
from upstream import accounts_body, ensure_tools, start_origin

HERE = Path(__file__).resolve().parent
TOOLS_VENV = HERE / ".venv-tools"
PY_SPY_REQUIREMENT = "py-spy==0.4.3"
SAMPLE_RATE = 500
EVENT_LOOP = "event loop and socket reads (uvloop, C)"
SENDS = "socket sends (kernel time, loopback TCP)"
# component -> markers of its frames' file names (as py-spy prints them: "aiohttp/web_app.py")
_COMPONENTS = (
    ("logging (access log)", ("logging/", "interactive_brokers/logs.py")),
    ("proxy's own code", ("interactive_brokers/", "aiohttp_floor.py")),
    ("aiohttp client", ("aiohttp/client", "aiohttp/connector.py")),
    ("aiohttp server", ("aiohttp/web_",)),
)
# aiohttp's writer calls transport.write here: on loopback the send system call also runs the
# receiving side's TCP input, so these lines' own time is kernel time, not Python.
_SEND_FRAMES = ("StreamWriter._write (", "StreamWriter._writelines (")
# A logging listener thread waiting on its queue (the generated package has none since its lines
# are written in the logging call; a proxy under comparison may): py-spy --nonblocking samples a
# blocking queue get as running, but it uses no CPU. Not charged to anything.
_IDLE_FRAMES = ("QueueListener.dequeue (logging/",)
# Frames that start the event loop: what sits above them (main, serve) is not request work.
_LOOP_ENTRIES = ("asyncio/runners.py", "aiohttp/web.py")
COMPONENTS = (*(name for name, _ in _COMPONENTS), SENDS, EVENT_LOOP)


@dataclass(frozen=True)
class Profile:
    """One process's samples under load."""

    load: Load
    components: dict[str, int]  # component -> samples
    own_time: Counter[str]  # "function (file:line)" of the innermost frame -> samples

    @property
    def samples(self) -> int:
        return sum(self.components.values())

    def us_per_request(self, component: str) -> float:
        cpu = self.load.cpu_us_per_request or 0.0
        return cpu * self.components.get(component, 0) / self.samples if self.samples else 0.0


def ensure_py_spy(log: Callable[[str], None]) -> str | None:
    """py-spy from PATH, else from ``benchmarks/.venv-tools`` (created on first use)."""
    found = shutil.which("py-spy")
    if found:
        return found
    exe = TOOLS_VENV / "bin" / "py-spy"
    if not exe.exists():
        log(f"  creating {TOOLS_VENV.name} with {PY_SPY_REQUIREMENT} (once)")
        subprocess.run([sys.executable, "-m", "venv", str(TOOLS_VENV)], check=True, timeout=300)
        done = subprocess.run(
            [str(TOOLS_VENV / "bin" / "python"), "-m", "pip", "install", "-q", PY_SPY_REQUIREMENT],
            capture_output=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            log(f"  cannot install {PY_SPY_REQUIREMENT}: {done.stderr.decode()[-300:]}")
            return None
    return str(exe)


def _file(frame: str) -> str:
    return frame.rpartition(" (")[2]


def py_spy_version(py_spy: str) -> str:
    done = subprocess.run([py_spy, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip().removeprefix("py-spy ")


def component_of(stack: list[str]) -> str:
    """The component a sample is charged to: socket sends by their frame, else the innermost
    frame in a known module below the event loop's entry; else the event loop itself."""
    if stack[-1].startswith(_SEND_FRAMES):
        return SENDS
    entries = [i for i, frame in enumerate(stack) if _file(frame).startswith(_LOOP_ENTRIES)]
    for frame in reversed(stack[entries[-1] + 1 if entries else 0 :]):
        where = _file(frame)
        for name, markers in _COMPONENTS:
            if where.startswith(markers):
                return name
    return EVENT_LOOP


def parse_raw(text: str) -> tuple[dict[str, int], Counter[str]]:
    """py-spy's ``--format raw`` (collapsed stacks: ``frame;frame;... count``)."""
    components: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if frames[-1].startswith(_IDLE_FRAMES):
            continue
        components[component_of(frames)] += int(count)
        own[frames[-1]] += int(count)
    return dict(components), own


def profile(
    py_spy: str, wrk: str, pid: int, url: str, concurrency: int, seconds: int, workdir: Path
) -> Profile:
    """Sample process *pid* while wrk loads *url* for *seconds*."""
    out = workdir / f"py-spy-{pid}.txt"
    run_wrk(wrk, url, concurrency, 1.0)  # warm-up: connections, caches
    spy = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(SAMPLE_RATE),
            "--duration",
            str(seconds),
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        load = with_cpu(pid, lambda: run_wrk(wrk, url, concurrency, seconds))
        _, err = spy.communicate(timeout=seconds + 30)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait()
    if spy.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed ({spy.returncode}): {err.decode()[-300:]}")
    components, own = parse_raw(out.read_text())
    return Profile(load, components, own)


def report(profiles: dict[str, Profile], concurrency: int, top: int = 12) -> str:
    """Markdown: µs per request by component for each profile, then the top own-time frames."""
    names = list(profiles)
    headers = ["component", *(f"{n} µs/req (share)" for n in names)]
    if len(names) == 2:
        headers.append(f"{names[0]} − {names[1]} µs")
    rows = []
    for component in (*COMPONENTS, "total"):
        cells = [component]
        values = []
        for name in names:
            p = profiles[name]
            if component == "total":
                value = p.load.cpu_us_per_request or 0.0
                cells.append(f"{value:.0f} ({p.load.rps:,.0f} req/s, {p.samples} samples)")
            else:
                value = p.us_per_request(component)
                share = p.components.get(component, 0) / p.samples if p.samples else 0
                cells.append(f"{value:.0f} ({share:.0%})")
            values.append(value)
        if len(names) == 2:
            cells.append(f"{values[0] - values[1]:+.0f}")
        rows.append(cells)
    lines = [
        f"wrk c={concurrency}; py-spy {SAMPLE_RATE} samples/s (--nonblocking); CPU per request "
        "measured over the same seconds.",
        "",
        md_table(headers, rows),
    ]
    first = profiles[names[0]]
    frames = [
        [f"{100 * n / first.samples:.1f}%", frame] for frame, n in first.own_time.most_common(top)
    ]
    lines += ["", f"Top {top} frames by own time, {names[0]}:", ""]
    lines.append(md_table(["own", "function (file:line)"], frames))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    tools = ensure_tools()
    py_spy = ensure_py_spy(print)
    if not (tools.nginx and tools.wrk and py_spy):
        print(f"needs nginx, wrk and py-spy ({tools.note})", file=sys.stderr)
        return 1
    examples = HERE.parent / "specs" / "interactive-brokers.examples.yaml"
    with (
        tempfile.TemporaryDirectory(prefix="naftiko-profile-") as tmp,
        Processes(Path(tmp)) as procs,
    ):
        workdir = Path(tmp)
        origin = start_origin(procs, tools.nginx, workdir, accounts_body(examples))
        adapter = start_generated(procs, "rest", origin, "adapter")
        wait_rest(procs, "adapter", adapter)
        floor = start_floor(procs, origin, "floor")
        profiles = {
            name: profile(
                py_spy,
                tools.wrk,
                service.proc.pid,
                f"http://127.0.0.1:{service.rest_port}/iserver/accounts",
                args.concurrency,
                args.seconds,
                workdir,
            )
            for name, service in (("adapter", adapter), ("aiohttp floor", floor))
        }
    print(report(profiles, args.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
