"""The whole pipeline for one spec: load -> validate -> resolve -> render."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .diagnostics import Diagnostic
from .dialects import check_dialect, check_official, prepare
from .loader import load_spec
from .model import Capability
from .renderer import PendingRender, RenderedFile, render, start_render
from .resolver import resolve

# Renders started by analyse(..., render_ahead=True), picked up by generate().
_AHEAD: list[PendingRender] = []


@dataclass
class Analysis:
    """A spec after validation: the model when it is usable, and every diagnostic."""

    path: Path
    capability: Capability | None
    diagnostics: list[Diagnostic]
    dialect: str = ""  # dialects.ALPHA2 / IKANOS; "" when the root names neither usably

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


def analyse(path: str | Path, *, strict: bool = False, render_ahead: bool = False) -> Analysis:
    """Load, validate and resolve *path*.

    ``render_ahead`` (for callers that will ``generate`` a usable result): rendering starts as
    soon as the model is resolved, while the spec is checked against the official schema (its
    findings are warnings then, which nothing before them depends on)."""
    with _no_cyclic_gc():
        return _analyse(path, strict=strict, render_ahead=render_ahead and not strict)


def _analyse(path: str | Path, *, strict: bool, render_ahead: bool) -> Analysis:
    document = prepare(load_spec(path))
    loaded = document.loaded
    report = loaded.report
    capability = None
    pending = None
    if report.errors:
        pass
    elif not render_ahead:
        ok = check_dialect(document)
        check_official(document, strict=strict)
        if ok:
            capability = resolve(loaded.data, report, loaded.path, dialect=document.dialect)
    else:
        # The resolver reads only errors from the report, and the official schema adds only
        # warnings here: the same diagnostics as both schemas then resolve.
        if check_dialect(document):
            capability = resolve(loaded.data, report, loaded.path, dialect=document.dialect)
            if capability is not None and not report.errors:
                pending = start_render(capability)
        check_official(document, strict=False)
    if strict:
        # --strict: every deviation from the official format is an error.
        report.items = [
            Diagnostic(d.file, d.line, d.column, "error", d.message, d.pointer)
            for d in report.items
        ]
    diagnostics = report.sorted()
    if any(d.level == "error" for d in diagnostics):
        capability = None
    if pending is not None:
        if capability is None:
            pending.cancel()
        else:
            _AHEAD.append(pending)
    return Analysis(loaded.path, capability, diagnostics, document.dialect)


def generate(capability: Capability) -> list[RenderedFile]:
    with _no_cyclic_gc():
        for pending in _AHEAD:
            if pending.cap is capability:
                _AHEAD.remove(pending)
                return pending.result()
        return render(capability)
