"""The access log's short way to write a log line (ocicache/logline.py: what one looks like).

service/logs.py formats every `logging` record with `logline.line()`. The access log writes a line per
request, and building a `logging.LogRecord` for it (caller lookup, thread and process names, a
handler lock and a flush per line) was a sixth of an edge's CPU for a manifest answered from
memory (docs/PERFORMANCE.md, "The access log line"). `Lines` writes the same line without
that machinery, and every line written in one turn of the event loop leaves in one write.
"""
from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any, TextIO

from ..logline import line

_BATCH_LINES = 256  # written at once beyond this many, whatever the loop does


class Lines:
    """Writes lines to the stream the log handler writes to, under the handler's lock. Inside a
    running event loop, lines wait for the end of the loop's turn and leave together; outside
    one, each is written at once."""

    def __init__(self, stream: TextIO, fmt: str, lock: threading.RLock | None = None) -> None:
        self.stream, self.fmt = stream, fmt
        self._lock = lock or threading.RLock()
        self._pending: list[str] = []
        self._pid = os.getpid()

    def write(self, level: str, logger: str, msg: str, fields: dict[str, Any]) -> None:
        pid = os.getpid()  # a forked worker's lines carry its own pid
        if pid != self._pid:
            self._pid, self._pending = pid, []
        self._pending.append(line(self.fmt, time.time(), level, logger, msg, pid, fields))
        if len(self._pending) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
                return
            except RuntimeError:  # no loop in this thread: nobody would flush later
                pass
        if len(self._pending) == 1 or len(self._pending) >= _BATCH_LINES:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        text = "\n".join(self._pending) + "\n"
        self._pending = []
        with self._lock:
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):  # stdout gone (journald restarted, a closed pipe): as logging, go on
                pass


_lines: Lines | None = None


def install(lines: Lines | None) -> None:
    """service/logs.py, when it sets up the handler: the access log writes through `lines`."""
    global _lines
    _lines = lines


def fast_lines() -> Lines | None:
    """The installed writer, or None (logging is not set up by ocicache: in-process tests, a
    library user): then log through `logging` as any record."""
    return _lines
