"""Logging for the command line: records go to a queue, and a writer thread formats and writes
them (``logging.handlers.QueueHandler`` and ``QueueListener``).

The event loop then pays for a record and a queue put, not for the formatting and the write
system call; the access log (one line per REST request, see ``access``) skips the record too: its
line's text goes to the same queue. Every line is written, in the order it was logged: the queue
keeps it until the writer has written it, and stopping the writer (on shutdown, or a failure)
writes what is left first. The writer writes whole lines, a batch per system call of at most
``PIPE_BUF`` bytes, so the lines of REST workers sharing one pipe never interleave. Each process
has its own writer, started once it runs (``writing``), after the fork: a forked worker inherits
the handler, not a thread. Before a writer runs and after it stops, a record is written at once,
in the logging call, as with a plain ``StreamHandler``.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import queue
import select
import sys
import time
from collections.abc import Iterator
from typing import TextIO

ACCESS_LOGGER = f"{__package__}.access"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Characters per write (UTF-8: at most 4 bytes a character), unless one line is longer.
CHUNK_CHARS = select.PIPE_BUF // 4

access_log = logging.getLogger(ACCESS_LOGGER)


class Formatter(logging.Formatter):
    """``FORMAT``, with the timestamp's text made once per second; with ``json_access`` the
    access log's lines are its JSON objects alone (JSON lines, no text prefix)."""

    def __init__(self, *, json_access: bool = False) -> None:
        super().__init__(FORMAT)
        self.json_access = json_access
        self._stamp = (-1, "")  # (second, its text): replaced whole, read from two threads

    def format(self, record: logging.LogRecord) -> str:
        if self.json_access and record.name == ACCESS_LOGGER:
            return record.getMessage()
        return super().format(record)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self._time(record.created)

    def access_line(self, line: str, now: float) -> str:
        """An access-log line as ``format`` would write its INFO record, logged at *now*."""
        if self.json_access:
            return line + "\n"
        return f"{self._time(now)} INFO {ACCESS_LOGGER}: {line}\n"

    def _time(self, created: float) -> str:
        second, text = self._stamp
        if int(created) != second:
            second = int(created)
            text = time.strftime(self.default_time_format, self.converter(second))
            self._stamp = (second, text)
        return self.default_msec_format % (text, (created - second) * 1000)


class Writer(logging.handlers.QueueListener):
    """The writer thread. It takes what is queued in order (records, formatted here, and access
    lines) and writes the lines once the queue is empty: one line at a time when they come one at
    a time, many per system call under load (while the event loop holds the interpreter, lines
    gather). It never waits for more: a line is on stderr as soon as the writer can run."""

    def __init__(
        self,
        lines: queue.SimpleQueue[logging.LogRecord | str],
        target: logging.StreamHandler[TextIO],
    ) -> None:
        super().__init__(lines, target)
        self.target = target
        self._lines: list[str] = []

    def dequeue(self, block: bool) -> logging.LogRecord | str:
        if self.queue.empty():
            self._write()
        item: logging.LogRecord | str = super().dequeue(block)
        return item

    def handle(self, item: logging.LogRecord | str) -> None:
        if isinstance(item, str):
            self._lines.append(item)
            return
        try:
            self._lines.append(self.target.format(item) + self.target.terminator)
        except Exception:
            self.target.handleError(item)

    def stop(self) -> None:
        super().stop()
        self._write()

    def _write(self) -> None:
        lines, self._lines = self._lines, []
        chunk = ""
        with contextlib.suppress(OSError, ValueError):  # stderr is closed or gone: no one to tell
            for line in lines:
                if chunk and len(chunk) + len(line) > CHUNK_CHARS:
                    self.target.stream.write(chunk)
                    chunk = ""
                chunk += line
            if chunk:
                self.target.stream.write(chunk)
            self.target.stream.flush()


class QueuedHandler(logging.handlers.QueueHandler):
    """The root logger's handler: records go to this process's writer thread while it runs
    (see ``writing``), else straight to *target*."""

    def __init__(self, target: logging.StreamHandler[TextIO]) -> None:
        super().__init__(queue.SimpleQueue())
        self.target = target
        self.formatter_ = Formatter()
        target.setFormatter(self.formatter_)
        self.writer: Writer | None = None

    def use_json_access(self, json_access: bool) -> None:
        """JSON lines for the access log (its messages are JSON objects already)."""
        self.formatter_.json_access = json_access

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # The message is made now (its arguments may change later); the writer formats the rest.
        record.msg = record.getMessage()
        record.args = None
        return record

    def emit(self, record: logging.LogRecord) -> None:
        if self.writer is None:
            self.target.handle(record)
        else:
            super().emit(record)

    def start(self) -> None:
        """Start this process's writer thread."""
        with self.lock:
            self.writer = Writer(self.queue, self.target)
            self.writer.start()

    def stop(self) -> None:
        """Write every queued line, stop the writer; later records are written at once."""
        with self.lock:  # (a record logged meanwhile waits: the order stays)
            if self.writer is not None:
                self.writer.stop()
                self.writer = None


_running: QueuedHandler | None = None  # the handler whose writer runs in this process


def access(line: str) -> None:
    """One access-log line. While this process's writer runs, the line's text goes to its queue
    as is, behind everything logged before it (the access log has no handler of its own to
    honour); otherwise it is an INFO record of ``ACCESS_LOGGER`` like any other."""
    handler = _running
    if handler is None or not access_log.isEnabledFor(logging.INFO):
        access_log.info(line)
    else:
        handler.queue.put_nowait(handler.formatter_.access_line(line, time.time()))


def configure(*, verbose: bool) -> QueuedHandler:
    """Log to stderr through a ``QueuedHandler`` on the root logger."""
    handler = QueuedHandler(logging.StreamHandler(sys.stderr))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    # Skip collecting what the format never shows (see "Optimization" in the logging HOWTO).
    logging._srcfile = None  # the caller's file and line
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    return handler


@contextlib.contextmanager
def writing() -> Iterator[None]:
    """This process's writer thread runs while the block does (when ``configure`` set logging up)."""
    global _running
    handler = next((h for h in logging.getLogger().handlers if isinstance(h, QueuedHandler)), None)
    if handler is None:
        yield
        return
    handler.start()
    _running = handler
    try:
        yield
    finally:
        _running = None
        handler.stop()
