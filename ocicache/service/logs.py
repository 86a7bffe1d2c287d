"""Logging for the node and the CLI, in one format (`[log] format`): one JSON object per line
(the node writes to stdout, which journald keeps; the other commands to stderr), or plain text
lines (ocicache/logline.py). A record's `extra={"fields": {...}}` become top-level keys; the
access log writes the same lines through loglines.Lines, without a LogRecord per request."""
from __future__ import annotations

import logging
import sys
from typing import Any

from ..logline import LineFormatter
from ..metrics import loglines


def setup(level: str = "INFO", fmt: str = "json", stream: Any = None) -> None:
    """Replace the root handlers with one in the chosen format and level: on stdout for the
    node (journald), on stderr for the other commands (their stdout is their answer)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout if stream is None else stream)
    handler.setFormatter(LineFormatter(fmt))
    root.addHandler(handler)
    loglines.install(loglines.Lines(handler.stream, fmt, handler.lock))
    set_level(level)


def set_level(level: str) -> None:
    logging.getLogger().setLevel(getattr(logging, level.upper(), logging.INFO))
