"""cProfile of ``naftiko-gen build`` in process: where generation time goes.

Runs ``naftiko_gen.cli.main(["build", SPEC, "-o", OUT, "-q"])`` under cProfile and prints the
top functions by cumulative time (click's own dispatch frames left out), then by own time.
Files are rendered in this process (``NAFTIKO_GEN_JOBS=1``; a build forks one worker per CPU,
which cProfile would not see), so the stages add up to the CPU time of a build.

    python benchmarks/profile_build.py /tmp/synthetic-1000.yaml /tmp/out [--top 15]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import sys
import time

# Frames that only wrap the build command (their cumulative time is the whole run).
_WRAPPERS = ("click/core.py", "naftiko_gen/cli.py:")


# Pipeline stages (README "Pipeline"): label, module (None: a builtin), function.
_STAGES = (
    ("load", "naftiko_gen/loader.py", ("load_spec",)),
    ("schema validation", "naftiko_gen/validation.py", ("validate_dialect", "validate_official")),
    ("resolve", "naftiko_gen/resolver/core.py", ("resolve",)),
    ("render", "naftiko_gen/pipeline.py", ("generate",)),
    ("of which black.format_str", None, ("black.format_str",)),
    ("write", "naftiko_gen/writer.py", ("write_tree",)),
)


def _stage_seconds(stats: pstats.Stats, module: str | None, functions: tuple[str, ...]) -> float:
    """Cumulative seconds of the outermost matching function, summed over *functions* (0 when
    none ran)."""
    total = 0.0
    for function in functions:
        seconds = 0.0
        for (filename, _, name), entry in stats.stats.items():  # type: ignore[attr-defined]
            builtin = module is None and function in name
            if builtin or (module is not None and filename.endswith(module) and name == function):
                seconds = max(seconds, entry[3])
        total += seconds
    return total


def _where(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":
        return name  # a builtin, e.g. {built-in method black.format_str}
    filename = re.sub(r".*/(site-packages|generator|lib/python3\.\d+)/", "", filename)
    return f"{filename}:{line}({name})"


def _rows(stats: pstats.Stats, key: str, top: int, skip: tuple[str, ...]) -> list[str]:
    entries = stats.stats  # type: ignore[attr-defined]
    index = {"cumulative": 3, "tottime": 2}[key]
    ordered = sorted(entries.items(), key=lambda item: item[1][index], reverse=True)
    rows = []
    for func, (_, ncalls, tottime, cumtime, _) in ordered:
        where = _where(func)
        if any(marker in where for marker in skip):
            continue
        rows.append(f"{cumtime:9.2f} {tottime:9.2f} {ncalls:>9}  {where}")
        if len(rows) == top:
            break
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec")
    parser.add_argument("output")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    os.environ.setdefault("NAFTIKO_GEN_JOBS", "1")
    started = time.perf_counter()
    from naftiko_gen.cli import main as naftiko_gen  # timed: part of every build's wall time

    imported = time.perf_counter() - started
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    try:
        naftiko_gen(["build", args.spec, "-o", args.output, "-q"], standalone_mode=False)
    finally:
        profile.disable()
    elapsed = time.perf_counter() - started
    stats = pstats.Stats(profile)
    header = f"{'cum s':>9} {'own s':>9} {'calls':>9}  function"
    print(f"import naftiko_gen.cli (not profiled): {imported:.2f} s")
    print(f"build of {args.spec} under cProfile (in process, serial): {elapsed:.2f} s")
    parts = []
    for label, module, functions in _STAGES:
        seconds = _stage_seconds(stats, module, functions)
        parts.append(f"{label} {seconds:.2f} s ({seconds / elapsed:.0%})")
    print("stages: " + ", ".join(parts))
    print("\nby cumulative time:")
    print(header)
    print("\n".join(_rows(stats, "cumulative", args.top, _WRAPPERS)))
    print("\nby own time:")
    print(header)
    print("\n".join(_rows(stats, "tottime", max(5, args.top // 2), ())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
