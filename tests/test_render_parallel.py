"""Rendering in forked workers (the default with more than one CPU) and in process agree."""

from __future__ import annotations

import pytest
from naftiko_gen.pipeline import analyse, generate

from .conftest import ROOT


@pytest.mark.parametrize("case", ["full-feature", "minimal"])
def test_workers_and_in_process_render_the_same_bytes(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NAFTIKO_GEN_CACHE", "off")
    analysis = analyse(ROOT / "tests" / "golden" / case / f"{case}.yaml")
    assert analysis.capability is not None
    outputs = []
    for jobs in ("1", "2", "3"):
        monkeypatch.setenv("NAFTIKO_GEN_JOBS", jobs)
        outputs.append([(str(f.path), f.content) for f in generate(analysis.capability)])
    assert outputs[0] == outputs[1] == outputs[2]
