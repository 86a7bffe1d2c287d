"""Every worker's fills in flight, for the cache page: each worker of an edge node writes
its own (digest, bytes so far, size, readers, started, error) to `<cache dir>/fills/<pid>.json`
once a second while it has fills (one small file written and renamed; nothing while it has
none, and the file goes when its last fill ends), and the page reads the others' files.

A file not rewritten for STALE_S seconds is a worker that died or hangs: not shown (and removed
by the next worker that starts). A fill another worker follows (it serves the blob from the
filler's partial file) is listed by both: `merged` makes one row per digest, with every pid.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from pathlib import Path

from aiohttp import web

from ..config import Config
from ..http.state import REGISTRY
from ..origin import CacheInFront

log = logging.getLogger("ocicache.http")
PUBLISH_S = 1.0
STALE_S = 5.0
FIELDS = ("digest", "size", "readable", "readers", "error")


def folder(cfg: Config) -> Path:
    return cfg.cache_path / "fills"


def rows(cache: CacheInFront, pid: int) -> list[dict]:
    """This worker's fills, as the page and the files show them."""
    now = time.time()
    return [{**{k: f[k] for k in FIELDS}, "started": now - f["seconds"], "pids": [pid]} for f in cache.fills()]


def _write(path: Path, fills: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(fills))
    os.replace(tmp, path)


def _clear_stale(where: Path) -> None:
    for path in where.glob("*.json"):
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > STALE_S:
                path.unlink()


async def _publish(app: web.Application, where: Path) -> None:
    pid, wrote = os.getpid(), False
    path = where / f"{pid}.json"
    while True:
        await asyncio.sleep(PUBLISH_S)
        registry = app.get(REGISTRY)
        cache = registry.origin.cache() if registry is not None else None
        if cache is None:
            continue
        fills = rows(cache, pid)
        try:
            if fills:
                await asyncio.to_thread(_write, path, fills)
            elif wrote:
                path.unlink(missing_ok=True)
        except OSError as exc:  # e.g. the cache disk is full: the page shows this worker's fills only
            log.warning("ui: writing this worker's fills in flight to %s failed: %s", path, exc)
        wrote = bool(fills)


def installer(cfg: Config):
    """The app's cleanup context that runs the worker's publisher (edge nodes only)."""
    where = folder(cfg)

    async def ctx(app: web.Application):
        where.mkdir(parents=True, exist_ok=True)
        _clear_stale(where)
        task = asyncio.create_task(_publish(app, where))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        (where / f"{os.getpid()}.json").unlink(missing_ok=True)
    return ctx


def others(where: Path, pid: int) -> list[dict]:
    """The fills the node's other live workers published (files rewritten within STALE_S)."""
    found: list[dict] = []
    for path in where.glob("*.json"):
        if path.stem == str(pid):
            continue
        try:
            if time.time() - path.stat().st_mtime > STALE_S:
                continue
            found += json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # removed or being replaced right now: that worker shows again next time
    return found


def merged(fills: list[dict]) -> list[dict]:
    """One row per digest, oldest first: the furthest a worker has got, every reader, every pid."""
    by_digest: dict[str, dict] = {}
    for f in fills:
        row = by_digest.setdefault(f["digest"], {**f, "readers": 0, "pids": [], "readable": 0})
        row["readable"] = max(row["readable"], f["readable"])
        row["readers"] += f["readers"]
        row["pids"] = sorted(set(row["pids"]) | set(f["pids"]))
        row["size"] = row["size"] or f["size"]
        row["error"] = row["error"] or f["error"]
        row["started"] = min(row["started"], f["started"])
    return sorted(by_digest.values(), key=lambda r: r["started"])
