"""The whole pipeline for one spec: load -> validate -> resolve -> render."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .diagnostics import Diagnostic
from .loader import load_spec
from .model import Capability
from .renderer import RenderedFile, render
from .resolver import resolve
from .validation import validate_schema


@dataclass
class Analysis:
    """A spec after validation: the model when it is usable, and every diagnostic."""

    path: Path
    capability: Capability | None
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return self.capability is not None and not any(d.level == "error" for d in self.diagnostics)


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: the pipeline builds large, long-lived, acyclic data
    (a big spec, its model, rendered text) that the collector would otherwise walk again and
    again; refcounting still frees almost everything, the rest is collected after."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def analyse(path: str | Path, *, strict: bool = False) -> Analysis:
    with _no_cyclic_gc():
        return _analyse(path, strict=strict)


def _analyse(path: str | Path, *, strict: bool) -> Analysis:
    loaded = load_spec(path)
    report = loaded.report
    capability = None
    if not report.errors and validate_schema(loaded.data, report, strict=strict):
        capability = resolve(loaded.data, report, loaded.path)
    if strict:
        # --strict: every deviation from the official format is an error.
        report.items = [
            Diagnostic(d.file, d.line, d.column, "error", d.message, d.pointer)
            for d in report.items
        ]
    diagnostics = report.sorted()
    if any(d.level == "error" for d in diagnostics):
        capability = None
    return Analysis(loaded.path, capability, diagnostics)


def generate(capability: Capability) -> list[RenderedFile]:
    with _no_cyclic_gc():
        return render(capability)
