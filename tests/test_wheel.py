"""A real, non-editable install of the built wheel *without extras*, as `pip install naftiko-gen`
gives a user: the wheel must carry the templates, schemas and the demo's seed spec; validate,
build and check must work; mock, demo and corpus must either work or say in one line what to
install (exit 2, never a traceback). Then the same install with the `demo` extra runs the demo.

One wheel and one venv for the module. Offline: the venv sees only the distributions that the
wheel's requirements pull in (resolved from this interpreter's installed ones, symlinked into a
directory of their own), so a dependency missing from pyproject.toml fails here.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import socket
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from .conftest import ROOT


@dataclass
class Install:
    env_dir: Path
    wheel: Path
    work: Path  # an unrelated directory holding a copy of the seed spec
    root: Path

    def run(self, *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.env_dir / "bin" / "naftiko-gen"), *args],
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )


def _closure(requirements: Iterable[Requirement]) -> set[str]:
    """The installed distributions that *requirements* pull in, transitively (markers honoured)."""
    seen: set[str] = set()
    todo = [(r, frozenset(r.extras)) for r in requirements]
    while todo:
        requirement, extras = todo.pop()
        dist = importlib.metadata.distribution(requirement.name)
        key = f"{dist.metadata['Name'].lower()}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        for text in dist.requires or ():
            sub = Requirement(text)
            if sub.marker is None or any(
                sub.marker.evaluate({"extra": e}) for e in (extras or {""})
            ):
                todo.append((sub, frozenset(sub.extras)))
    return {key.partition("[")[0] for key in seen}


def _link_distributions(names: Iterable[str], target: Path) -> None:
    """Symlink the top-level files and folders of each installed distribution into *target*."""
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        dist = importlib.metadata.distribution(name)
        base = Path(str(dist.locate_file("")))
        tops = {Path(str(f)).parts[0] for f in dist.files or () if not str(f).startswith("..")}
        for top in tops - {"__pycache__"}:
            if (base / top).exists() and not (target / top).exists():
                (target / top).symlink_to(base / top)


def _requirements(wheel_metadata: str, extra: str = "") -> list[Requirement]:
    """The wheel's requirements for a plain install, or with *extra*."""
    found = [Requirement(t) for t in Parser().parsestr(wheel_metadata).get_all("Requires-Dist")]
    return [r for r in found if r.marker is None or r.marker.evaluate({"extra": extra})]


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Install:
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    # Build from a copy: setuptools writes build/ and *.egg-info into the source tree.
    source = root / "src"
    skip_at_top = {".git", ".venv", "generated", "tests", "build", "benchmarks"}

    def ignore(directory: str, names: list[str]) -> set[str]:
        top = Path(directory) == ROOT
        return {
            n
            for n in names
            if (top and n in skip_at_top) or n.endswith(".egg-info") or n == "__pycache__"
        }

    shutil.copytree(ROOT, source, ignore=ignore)
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
            str(dist),
            str(source),
        ],
        check=True,
        timeout=300,
    )
    wheel = next(dist.glob("naftiko_gen-*.whl"))
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # The base requirements' distributions only, from this interpreter's installed ones.
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(
            next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        ).decode()
    base = root / "base-deps"
    _link_distributions(_closure(_requirements(metadata)), base)
    env_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(env_site, "base-deps.pth").write_text(f"{base}\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        check=True,
        timeout=300,
    )
    # Run from an unrelated directory so nothing can come from the source checkout.
    work = root / "work"
    work.mkdir()
    (work / "specs").mkdir()
    for name in ("interactive-brokers.yaml", "interactive-brokers.examples.yaml"):
        (work / "specs" / name).write_bytes((ROOT / "specs" / name).read_bytes())
    (root / "demo-deps").mkdir()
    Path(root / "metadata.txt").write_text(metadata)
    return Install(env_dir, wheel, work, root)


def test_base_requirements_are_consistent(install: Install) -> None:
    check = subprocess.run(
        [str(install.env_dir / "bin" / "python"), "-m", "pip", "check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    where = subprocess.run(
        [
            str(install.env_dir / "bin" / "python"),
            "-c",
            "import naftiko_gen; print(naftiko_gen.__file__)",
        ],
        cwd=install.work,
        capture_output=True,
        text=True,
    )
    assert str(install.env_dir) in where.stdout
    for module in ("aiohttp", "mcp", "ruff", "pytest"):
        probe = subprocess.run(
            [str(install.env_dir / "bin" / "python"), "-c", f"import {module}"],
            capture_output=True,
            text=True,
        )
        assert probe.returncode != 0, f"{module} is importable in the plain install"


def test_plain_install_validates_builds_and_checks(install: Install) -> None:
    spec = "specs/interactive-brokers.yaml"
    validate = install.run("validate", spec)
    assert validate.returncode == 0, validate.stderr
    assert f"{spec}: ok" in validate.stdout
    build = install.run("build", spec, "-o", "out")
    assert build.returncode == 0, build.stderr
    assert (
        install.work / "out" / "interactive_brokers" / "interactive_brokers" / "rest.py"
    ).is_file()
    check = install.run("check", "specs/interactive-brokers.yaml", "-o", "out")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "is up to date" in check.stdout


@pytest.mark.parametrize(
    ("args", "extra", "needs"),
    [
        (("mock", "specs/interactive-brokers.yaml", "--port", "5999"), "mock", "aiohttp"),
        (("demo", "--check"), "demo", "aiohttp, mcp, uvicorn and jsonpath-ng"),
        (("corpus", "specs"), "corpus", "ruff"),
        (("corpus", "--no-tests", "specs"), "corpus", "ruff"),
        (("upgrade", "specs/interactive-brokers.yaml"), "upgrade", "ruamel.yaml"),
    ],
)
def test_plain_install_names_the_missing_extra(
    install: Install, args: tuple[str, ...], extra: str, needs: str
) -> None:
    result = install.run(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    python = str(install.env_dir / "bin" / "python")
    assert lines[0] == (
        f"naftiko-gen {args[0]} needs {needs}, which {'is' if ' ' not in needs else 'are'} "
        f"not installed; install the '{extra}' extra: {python} -m pip install 'naftiko-gen[{extra}]'"
    )
    assert result.stdout == ""


def test_demo_extra_runs_the_embedded_demo(install: Install) -> None:
    """With what the `demo` extra pulls in (and nothing else), `naftiko-gen demo --check` runs the
    seed spec shipped in the wheel, from a directory that has no specs/."""
    metadata = (install.root / "metadata.txt").read_text()
    deps = install.root / "demo-deps"
    demo_only = _closure(_requirements(metadata, "demo")) - _closure(_requirements(metadata))
    assert {"aiohttp", "mcp", "uvicorn", "jsonpath-ng"} <= demo_only
    _link_distributions(demo_only, deps)
    elsewhere = install.work / "elsewhere"
    elsewhere.mkdir()
    upstream, rest, mcp = _free_ports(3)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(deps)
    result = subprocess.run(
        [
            str(install.env_dir / "bin" / "naftiko-gen"),
            "demo",
            "--check",
            "--upstream-port",
            str(upstream),
            "--rest-port",
            str(rest),
            "--mcp-port",
            str(mcp),
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo check passed" in result.stdout
    assert (elsewhere / "generated" / "interactive_brokers" / "pyproject.toml").is_file()
