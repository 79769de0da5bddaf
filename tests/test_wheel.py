"""A real, non-editable install: the wheel must carry the templates and schemas."""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

from .conftest import ROOT


def test_wheel_install_builds_the_seed(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    # Build from a copy: setuptools writes build/ and *.egg-info into the source tree.
    source = tmp_path / "src"
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
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # Dependencies come from this interpreter's site-packages (a plain path entry: its .pth
    # files, including the editable install of the checkout, are not processed).
    env_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(env_site, "parent-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        check=True,
        timeout=300,
    )
    # Run from an unrelated directory so nothing can come from the source checkout.
    work = tmp_path / "work"
    work.mkdir()
    spec = work / "interactive-brokers.yaml"
    spec.write_bytes((ROOT / "specs" / "interactive-brokers.yaml").read_bytes())
    result = subprocess.run(
        [str(env_dir / "bin" / "naftiko-gen"), "build", str(spec), "-o", "out"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    where = subprocess.run(
        [str(python), "-c", "import naftiko_gen, sys; print(naftiko_gen.__file__)"],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert str(env_dir) in where.stdout
    assert (work / "out" / "interactive_brokers" / "interactive_brokers" / "rest.py").is_file()
