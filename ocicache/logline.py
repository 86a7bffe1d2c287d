"""What one log line looks like (`[log] format`: one JSON object, or plain text): `line()`, and
`LineFormatter`, which formats a `logging` record with it.

The standard library only (json, logging, time; not even typing: the supervisor imports this): service/logs.py formats every record of the
node and the CLI with `LineFormatter`, the access log builds its lines with `line()`
(metrics/loglines.py), and the supervisor (service/supervisor.py), a bare interpreter that must
not load the node's libraries, writes its lines with `LineFormatter` too: one format, whoever
writes.
"""
from __future__ import annotations

import json
import logging
import time

RESERVED = frozenset({"time", "level", "logger", "msg", "pid"})
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


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
         fields: dict[str, object] | None = None, exception: str | None = None) -> str:
    """One line, without its newline. `level` is the upper-case name (INFO); `fields` become
    top-level JSON keys (a reserved name gets a `field_` prefix) or trailing key=value pairs."""
    iso, asc = _clock.stamps(created)
    if fmt == "json":
        out: dict[str, object] = {"time": iso, "level": level.lower(), "logger": logger, "msg": msg, "pid": pid}
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



class LineFormatter(logging.Formatter):
    """A record as `line()` formats it, in `fmt` ("json" or "text"); a record's
    `extra={"fields": {...}}` become its fields."""

    def __init__(self, fmt: str) -> None:
        super().__init__()
        self.line_format = fmt

    def format(self, record: logging.LogRecord) -> str:
        exception = self.formatException(record.exc_info) if record.exc_info else None
        return line(self.line_format, record.created, record.levelname, record.name, record.getMessage(),
                    record.process or 0, getattr(record, "fields", None), exception)
