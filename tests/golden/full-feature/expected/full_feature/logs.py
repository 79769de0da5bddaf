"""Logging for the command line: every line goes to stderr in one ``write`` system call, made in
the logging call itself (``LineHandler``).

Once the call returns, the line is the kernel's: a crash, even SIGKILL, loses nothing logged
before it, and lines stay in the order they were logged. A line of at most ``PIPE_BUF`` bytes
(4096 on Linux: any access-log line but one for a path of kilobytes) is written whole, so the
lines of REST workers sharing one pipe do not interleave; forked workers need nothing of their
own, there is no thread or queue to restart. The access log (one line per REST request, see
``access_writer``) skips the record: its text goes straight to the same write. A queue and a
writer thread were measured to cost the event loop more than the write they took off it (under
the interpreter lock, the thread's wake-ups and formatting run on the loop's time), and a queue
loses what it holds when the process dies.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

ACCESS_LOGGER = f"{__package__}.access"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_ACCESS_PREFIX = f" INFO {ACCESS_LOGGER}: "  # what FORMAT puts between the time and the line

access_log = logging.getLogger(ACCESS_LOGGER)


class Formatter(logging.Formatter):
    """``FORMAT``, with the timestamp's text made once per second; with ``json_access`` the
    access log's lines are its JSON objects alone (JSON lines, no text prefix)."""

    def __init__(self, *, json_access: bool = False) -> None:
        super().__init__(FORMAT)
        self.json_access = json_access
        self._stamp = (-1, "")  # (second, its text): replaced whole, so any thread may read it

    def format(self, record: logging.LogRecord) -> str:
        if self.json_access and record.name == ACCESS_LOGGER:
            return record.getMessage()
        return super().format(record)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self.timestamp(record.created)

    def timestamp(self, created: float) -> str:
        """``default_time_format`` and milliseconds, as ``default_msec_format`` writes them."""
        second, text = self._stamp
        if int(created) != second:
            second = int(created)
            text = time.strftime(self.default_time_format, self.converter(second))
            self._stamp = (second, text)
        return f"{text},{int((created - second) * 1000):03d}"


class LineHandler(logging.StreamHandler[TextIO]):
    """The root logger's handler: each record's text, newline included, in one ``os.write`` to
    the stream's file descriptor (a stream without one, such as a test's ``StringIO``, gets a
    ``write`` and a ``flush``)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.formatter_ = Formatter()
        self.setFormatter(self.formatter_)
        try:
            self.fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):
            self.fd = None

    def use_json_access(self, json_access: bool) -> None:
        """JSON lines for the access log (its messages are JSON objects already)."""
        self.formatter_.json_access = json_access

    def write_access(self, line: str) -> None:
        """One access-log line, as ``format`` would write its INFO record, in one write. (One
        call per REST request: the record, the formatter's and the handler's layers are skipped.)"""
        if not access_log.isEnabledFor(logging.INFO):
            return
        formatter = self.formatter_
        if formatter.json_access:
            self.write(line + "\n")
        else:
            self.write(f"{formatter.timestamp(time.time())}{_ACCESS_PREFIX}{line}\n")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)

    def write(self, text: str) -> None:
        """*text* on the stream now, whole (a short write is followed by the rest)."""
        if self.fd is None:
            self.stream.write(text)
            self.stream.flush()
            return
        data = text.encode("utf-8", "backslashreplace")
        try:
            written = os.write(self.fd, data)
            while written < len(data):  # only a line over PIPE_BUF, or a signal, splits a write
                written += os.write(self.fd, data[written:])
        except OSError:  # stderr is closed or gone: there is no one to tell
            pass


_handler: LineHandler | None = None  # the handler ``configure`` installed


def access_writer() -> Callable[[str], None]:
    """How the access log writes its lines, chosen once (call it after ``configure``): straight
    to the root handler ``configure`` installed (the access log has no handler of its own to
    honour), or, when logging was set up otherwise, as INFO records of ``ACCESS_LOGGER`` like
    any other."""
    return access_log.info if _handler is None else _handler.write_access


def configure(*, verbose: bool) -> LineHandler:
    """Log to stderr through a ``LineHandler`` on the root logger."""
    global _handler
    handler = LineHandler(sys.stderr)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    if handler in logging.getLogger().handlers:  # (not when logging was set up before)
        _handler = handler
    # Skip collecting what the format never shows (see "Optimization" in the logging HOWTO).
    logging._srcfile = None  # the caller's file and line
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    return handler
