"""Problems found in a spec, collected as values with a level and a source position."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Level = Literal["error", "warning"]
Pointer = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem: where it is, how bad it is and what to do about it."""

    file: str
    line: int
    column: int
    level: Level
    message: str
    pointer: str = ""

    def format(self) -> str:
        where = f" [{self.pointer}]" if self.pointer else ""
        return f"{self.file}:{self.line}:{self.column}: {self.level}: {self.message}{where}"


def json_pointer(path: Iterable[str | int]) -> str:
    """RFC 6901 pointer for a path into the document (``/a/0/b``)."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "/" + "/".join(parts) if parts else ""


@dataclass
class Report:
    """Diagnostics collected while processing one file."""

    file: str
    positions: dict[Pointer, tuple[int, int]] = field(default_factory=dict)
    items: list[Diagnostic] = field(default_factory=list)

    def position(self, path: Pointer) -> tuple[int, int]:
        """Line and column of the node at *path*, or of its nearest located ancestor."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def add(self, level: Level, message: str, path: Pointer = ()) -> None:
        line, column = self.position(path)
        self.items.append(Diagnostic(self.file, line, column, level, message, json_pointer(path)))

    def error(self, message: str, path: Pointer = ()) -> None:
        self.add("error", message, path)

    def warning(self, message: str, path: Pointer = ()) -> None:
        self.add("warning", message, path)

    def unsupported(self, what: str, path: Pointer = ()) -> None:
        """A feature the author used that naftiko-gen cannot generate yet: never dropped silently."""
        self.add("error", f"not supported yet: {what}", path)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.level == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.level == "warning"]

    def sorted(self) -> list[Diagnostic]:
        # Stable, position-ordered output; duplicates (same place, same message) collapse.
        return sorted(set(self.items))


class SpecError(Exception):
    """Raised when a spec cannot be turned into a model; carries every diagnostic."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(d.format() for d in diagnostics))
