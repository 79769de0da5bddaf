"""Logging for the command line: the event loop hands each record to a queue, and a writer
thread formats and writes it (``logging.handlers.QueueHandler`` and ``QueueListener``).

A request's access-log line then costs the event loop the record and a queue put, not the
formatting and the write system call. Every record is written, in the order it was logged:
the queue keeps them until the writer has written them, and stopping the writer (``writing()``
ends, on shutdown or a failure) writes what is left first. Each process has its own writer,
started once it runs (``writing()``), after the fork: a forked REST worker inherits the
handler, not a thread. Before a writer runs and after it stops, a record is written at once, in
the logging call, as with a plain ``StreamHandler``.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import queue
import sys
import time
from collections.abc import Iterator

ACCESS_LOGGER = f"{__package__}.access"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
PAUSE_SECONDS = 0.01  # how long the writer lets records gather once it has written the queue


class Formatter(logging.Formatter):
    """``FORMAT``, with the timestamp's text made once per second; with ``json_access`` the
    access log's lines are its JSON objects alone (JSON lines, no text prefix)."""

    def __init__(self, *, json_access: bool = False) -> None:
        super().__init__(FORMAT)
        self.json_access = json_access
        self._second = -1
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        if self.json_access and record.name == ACCESS_LOGGER:
            return record.getMessage()
        return super().format(record)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:  # (one writer thread formats: no lock needed)
            self._stamp = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        return self.default_msec_format % (self._stamp, record.msecs)


class Writer(logging.handlers.QueueListener):
    """The writer thread: it writes the queued records in order and, once the queue is empty,
    pauses ``PAUSE_SECONDS`` before looking again. The event loop's puts then rarely have to wake
    it (a wake-up costs more than the line) and it writes many lines per wake-up; a record logged
    while it waits for one is written at once."""

    def dequeue(self, block: bool) -> logging.LogRecord:
        if self.queue.empty():
            time.sleep(PAUSE_SECONDS)
        return super().dequeue(block)


class QueuedHandler(logging.handlers.QueueHandler):
    """The root logger's handler: records go to this process's writer thread while it runs
    (see ``writing``), else straight to *target*."""

    def __init__(self, target: logging.Handler) -> None:
        super().__init__(queue.SimpleQueue())
        self.target = target
        self._listener: logging.handlers.QueueListener | None = None

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # The message is made now (its arguments may change later); the writer formats the rest.
        record.msg = record.getMessage()
        record.args = None
        return record

    def emit(self, record: logging.LogRecord) -> None:
        if self._listener is None:
            self.target.handle(record)
        else:
            super().emit(record)

    def start(self) -> None:
        """Start this process's writer thread."""
        with self.lock:
            self._listener = Writer(self.queue, self.target)
            self._listener.start()

    def stop(self) -> None:
        """Write every queued record, stop the writer; later records are written at once."""
        with self.lock:  # (a record logged meanwhile waits: the order stays)
            if self._listener is not None:
                self._listener.stop()
                self._listener = None


def configure(*, verbose: bool) -> QueuedHandler:
    """Log to stderr through a ``QueuedHandler`` on the root logger."""
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(Formatter())
    handler = QueuedHandler(stream)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    # A log record per request (the access log): skip collecting what the format never shows.
    logging._srcfile = None  # the caller's file and line (see "Optimization" in the logging HOWTO)
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    return handler


@contextlib.contextmanager
def writing() -> Iterator[None]:
    """This process's writer thread runs while the block does (when ``configure`` set logging up)."""
    handler = next((h for h in logging.getLogger().handlers if isinstance(h, QueuedHandler)), None)
    if handler is None:
        yield
        return
    handler.start()
    try:
        yield
    finally:
        handler.stop()
