"""Stage 5: write a rendered project atomically, or compare it with what is on disk.

The whole tree is written to a temporary sibling directory first and then swapped into
place with renames, so a failed or interrupted build never leaves a half-written output
and the previous output stays byte-for-byte as it was.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .renderer import RenderedFile

_BACKUP_SUFFIX = ".naftiko-old"


def write_tree(target: Path, files: list[RenderedFile]) -> None:
    """Replace *target* with exactly *files*."""
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    _recover(target)
    # The builder's pid is in the name, so a later build can clean up after a killed one.
    staging = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    )
    backup = target.with_name(target.name + _BACKUP_SUFFIX)
    try:
        for item in files:
            path = staging.joinpath(*item.path.parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(item.content)
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(staging, 0o755)
        with _signals_deferred():
            # Ctrl-C (or SIGTERM) here would strand the previous tree next to the new one.
            if target.exists():
                os.replace(target, backup)
            os.replace(staging, target)
            if backup.exists():
                shutil.rmtree(backup)
    except BaseException:
        # Interrupted (even between the two renames): put the previous output back.
        if backup.exists() and not target.exists():
            os.replace(backup, target)
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP wait until the block is over, then act as usual."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    deferred = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, deferred)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _recover(target: Path) -> None:
    """Undo what a killed build left: a swap stopped between its two renames, staging trees."""
    backup = target.with_name(target.name + _BACKUP_SUFFIX)
    if backup.exists():
        if target.exists():
            shutil.rmtree(backup)
        else:
            os.replace(backup, target)
    for staging in target.parent.glob(f".{target.name}.*.tmp"):
        pid = staging.name[len(target.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(staging, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def diff_tree(target: Path, files: list[RenderedFile]) -> str:
    """A unified diff from what is on disk under *target* to *files*; empty when identical."""
    expected = {str(f.path): f.content for f in files}
    actual: dict[str, str] = {}
    if target.is_dir():
        for path in sorted(target.rglob("*")):
            if (
                path.is_file()
                and "__pycache__" not in path.parts
                and not path.name.endswith(".pyc")
            ):
                rel = path.relative_to(target).as_posix()
                if rel.startswith((".pytest_cache", ".ruff_cache")) or ".egg-info" in rel:
                    continue
                try:
                    actual[rel] = path.read_text(encoding="utf-8")
                except UnicodeDecodeError:
                    actual[rel] = "<binary file>\n"
    chunks: list[str] = []
    for name in sorted(set(expected) | set(actual)):
        old, new = actual.get(name), expected.get(name)
        if old == new:
            continue
        chunks.extend(
            difflib.unified_diff(
                (old or "").splitlines(keepends=True),
                (new or "").splitlines(keepends=True),
                fromfile=f"a/{name}" if old is not None else "/dev/null",
                tofile=f"b/{name}" if new is not None else "/dev/null",
            )
        )
    return "".join(chunks)
