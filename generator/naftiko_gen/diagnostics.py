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
    # A dialect front end that normalizes a document (dialects/) records, for each node it
    # moved or renamed, normalized path -> path in the author's file; diagnostics about the
    # normalized data then point at the author's lines and carry the author's JSON pointer.
    aliases: dict[Pointer, Pointer] = field(default_factory=dict)
    # ... and the words it renamed: (normalized form's word, author's word), replaced in the
    # messages about the normalized data (e.g. "'targetName'" -> "'target'").
    vocabulary: tuple[tuple[str, str], ...] = ()

    def source_path(self, path: Pointer) -> Pointer:
        """*path* in the normalized data, as a path in the author's file."""
        path = tuple(path)
        if not self.aliases:
            return path
        for cut in range(len(path), 0, -1):
            found = self.aliases.get(path[:cut])
            if found is not None:
                return (*found, *path[cut:])
        return path

    def position(self, path: Pointer) -> tuple[int, int]:
        """Line and column of the node at *path*, or of its nearest located ancestor."""
        return self._position(self.source_path(path))

    def _position(self, path: Pointer) -> tuple[int, int]:
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def add(self, level: Level, message: str, path: Pointer = ()) -> None:
        for word, author_word in self.vocabulary:
            message = message.replace(word, author_word)
        self.add_at_source(level, message, self.source_path(path))

    def add_at_source(self, level: Level, message: str, path: Pointer = ()) -> None:
        """A diagnostic at *path* in the author's file itself (not in the normalized data)."""
        line, column = self._position(tuple(path))
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
