"""Hostile and malformed files: a clean located error, bounded time, never a traceback."""

from __future__ import annotations

import time
from pathlib import Path

from naftiko_gen.loader import MAX_FILE_BYTES, load_spec


def _errors(path: Path) -> list[str]:
    return [d.format() for d in load_spec(path).report.errors]


def test_missing_file(tmp_path: Path) -> None:
    assert "file not found" in _errors(tmp_path / "nope.yaml")[0]


def test_directory(tmp_path: Path) -> None:
    assert "is a directory" in _errors(tmp_path)[0]


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert "file is empty" in _errors(path)[0]


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\x89PNG\x00\x01\x02")
    assert "NUL bytes" in _errors(path)[0]


def test_wrong_encoding_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("naftiko: 1.0.0-alpha2\ninfo:\n  label: caf\xe9\n".encode("latin-1"))
    error = _errors(path)[0]
    assert "not valid UTF-8" in error and ":3:1:" in error


def test_duplicate_keys_name_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("naftiko: 1.0.0-alpha2\ninfo:\n  label: a\n  label: b\n")
    error = _errors(path)[0]
    assert "duplicate key 'label' (first defined on line 3)" in error and ":4:3:" in error


def test_non_mapping_root(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    assert "root must be a mapping" in _errors(path)[0]


def test_invalid_yaml_is_located(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("naftiko: 1.0.0-alpha2\ninfo: [unclosed\n")
    assert "invalid YAML" in _errors(path)[0]


def test_billion_laughs_is_bounded(tmp_path: Path) -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        refs = ",".join([f"*{chr(96 + i)}"] * 10)
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [{refs}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    errors = _errors(path)
    assert time.monotonic() - started < 5
    assert "alias bomb" in errors[0]


def test_deep_nesting_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nesting" in _errors(path)[0] or "invalid YAML" in _errors(path)[0]


def test_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with open(path, "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    assert "specs are limited to" in _errors(path)[0]


def test_positions_of_nested_nodes(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("naftiko: 1.0.0-alpha2\ncapability:\n  exposes:\n  - type: rest\n    port: 1\n")
    loaded = load_spec(path)
    assert loaded.report.position(("capability", "exposes", 0, "port")) == (5, 5)
