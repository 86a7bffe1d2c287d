"""Expiry of abandoned upload sessions staged on this node (`<data_dir>/uploads/<uuid>/`).

A session whose `state.json` (rewritten after every chunk) is older than the idle limit is
removed with its bytes. A live session is never that idle: a request body that stalls is
cut off after `[limits] body_timeout`, far below the upload idle limit.
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from pathlib import Path

from ..origin.uploads import UUID_RE

log = logging.getLogger("ocicache.uploads")


def expire_uploads(root: Path, max_idle: float, now: float | None = None) -> int:
    """Remove sessions idle for more than `max_idle` seconds; returns how many."""
    cutoff = (time.time() if now is None else now) - max_idle
    removed = 0
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if not UUID_RE.fullmatch(entry.name) or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            stamp = os.stat(os.path.join(entry.path, "state.json")).st_mtime
        except FileNotFoundError:
            try:
                stamp = entry.stat(follow_symlinks=False).st_mtime  # being created, or half removed
            except FileNotFoundError:
                continue
        if stamp < cutoff:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    return removed


async def sweep_forever(uploads, max_idle: float) -> None:
    """Expire idle sessions of an upload store (`await uploads.expire(max_idle)`) every few
    minutes (every max_idle/4 when that is shorter). A failing sweep is logged and retried."""
    while True:
        await asyncio.sleep(min(300.0, max_idle / 4))
        try:
            removed = await uploads.expire(max_idle)
        except Exception:
            log.exception("expiring idle upload sessions failed; retrying at the next sweep")
            continue
        if removed:
            log.info("expired %d upload sessions idle for over %g s", removed, max_idle)
