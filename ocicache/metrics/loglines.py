"""What one log line looks like (`[log] format`: one JSON object, or plain text), and the
access log's short way to write one.

service/logs.py formats every `logging` record with `line()`. The access log writes a line per
request, and building a `logging.LogRecord` for it (caller lookup, thread and process names, a
handler lock and a flush per line) was a sixth of an edge's CPU for a manifest answered from
memory (docs/PERFORMANCE.md, "The access log line"). `Lines` writes the same line without
that machinery, and every line written in one turn of the event loop leaves in one write.
"""
from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from typing import Any, TextIO

RESERVED = frozenset({"time", "level", "logger", "msg", "pid"})
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode
_BATCH_LINES = 256  # written at once beyond this many, whatever the loop does


class _Clock:
    """The time of a line: ISO 8601 in UTC for JSON, logging's asctime for text; the part
    down to the second is formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._iso = self._asc = ""

    def stamps(self, created: float) -> tuple[str, str]:
        second = int(created)
        if second != self._second:
            tm = time.gmtime(second)
            self._iso = time.strftime("%Y-%m-%dT%H:%M:%S", tm)
            self._asc = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._second = second
        millis = int((created - second) * 1000)
        return f"{self._iso}.{millis:03d}Z", f"{self._asc},{millis:03d}"


_clock = _Clock()


def line(fmt: str, created: float, level: str, logger: str, msg: str, pid: int,
         fields: dict[str, Any] | None = None, exception: str | None = None) -> str:
    """One line, without its newline. `level` is the upper-case name (INFO); `fields` become
    top-level JSON keys (a reserved name gets a `field_` prefix) or trailing key=value pairs."""
    iso, asc = _clock.stamps(created)
    if fmt == "json":
        out: dict[str, Any] = {"time": iso, "level": level.lower(), "logger": logger, "msg": msg, "pid": pid}
        for key, value in (fields or {}).items():
            out[key if key not in RESERVED else f"field_{key}"] = value
        if exception:
            out["exception"] = exception
        return _encode(out)
    text = f"{asc} {level} {logger}[{pid}]: {msg}"
    if exception:
        text += "\n" + exception
    if fields:
        text += " " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
    return text


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
