"""Making the store's index agree with its disk, in the background, one shard at a time.

Blob files live in 256 shard folders per algorithm (`blobs/<alg>/<hex[:2]>/`), and the
index rows of a shard are one range of the index's primary key, so a pass checks one shard
per step whatever the size of the store: a row whose file is gone is dropped (the file is
looked at again at that moment, inside the index transaction, so a commit racing with the
pass keeps its row), a file no row accounts for is added with its size. The cursor (the
index counter `reconcile_shard`, -1 once the pass is over) lives in the index: the node sets
it to 0 at start, before its workers fork, and one worker at a time (the holder of the
`reconcile.lock` flock) walks it; if that worker dies, another takes over where it stopped.

Nothing waits for the pass: a lookup checks the blob's file itself (`BlobStore.lookup`),
and a file appears under `blobs/` only after its digest matched, so what is served meanwhile
is right. Only the byte total, and so the moment eviction starts, is off until the pass ends.
"""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from typing import Protocol

from ..reference import SUPPORTED
from .index import Index

log = logging.getLogger("ocicache.store")
CURSOR = "reconcile_shard"
DONE = -1
SHARDS = [(algorithm, f"{i:02x}") for algorithm in SUPPORTED for i in range(256)]
HEX = frozenset("0123456789abcdef")
BATCH = 256
"""Rows changed per index transaction: the write lock is held for a millisecond or two."""
RETRY_S = 1.0
"""How often a worker that does not hold the pass checks whether it is over (or orphaned)."""


class Store(Protocol):
    dir: os.PathLike
    index: Index


def begin(store: Store) -> None:
    """Ask for a pass from the first shard (at start, before the workers fork)."""
    store.index.set_counter(CURSOR, 0)


def pending(store: Store) -> bool:
    return store.index.counter(CURSOR) != DONE


def check_shard(store: Store, number: int) -> tuple[int, int]:
    """Make one shard's rows agree with its files; returns (rows dropped, rows added)."""
    algorithm, prefix = SHARDS[number]
    folder = os.path.join(store.dir, "blobs", algorithm, prefix)
    try:
        names = {entry.name for entry in os.scandir(folder)}
    except FileNotFoundError:
        names = set()
    low = f"{algorithm}:{prefix}"
    rows = store.index.digests_between(low, f"{algorithm}:{prefix[0]}{chr(ord(prefix[1]) + 1)}")
    skip = len(algorithm) + 1
    missing = [d for d in rows if d[skip:] not in names]
    gone = lambda d: not os.path.exists(os.path.join(folder, d[skip:]))  # noqa: E731  (asked inside the tx)
    dropped = sum(store.index.drop_if(missing[i:i + BATCH], gone) for i in range(0, len(missing), BATCH))
    found = []
    for name in names:
        digest = f"{algorithm}:{name}"
        if digest in rows or len(name) != SUPPORTED[algorithm] or not HEX.issuperset(name):
            continue  # indexed already, or not a blob file (nothing looks it up)
        try:
            st = os.stat(os.path.join(folder, name))
        except FileNotFoundError:
            continue  # evicted meanwhile
        found.append((digest, st.st_size, st.st_mtime))
    return dropped, sum(store.index.add_many(found[i:i + BATCH]) for i in range(0, len(found), BATCH))


def run(store: Store) -> dict[str, int]:
    """The rest of the pass, here and now (the CLI and tests; the node uses `in_background`)."""
    dropped = added = 0
    start = max(store.index.counter(CURSOR), 0)
    for number in range(start, len(SHARDS)):
        d, a = check_shard(store, number)
        dropped, added = dropped + d, added + a
        store.index.set_counter(CURSOR, number + 1)
    store.index.set_counter(CURSOR, DONE)
    return {"index_dropped": dropped, "index_added": added}


async def in_background(store: Store) -> None:
    """Walk the pending pass in this worker when no other one does; return once it is over."""
    lock = open(os.path.join(store.dir, "reconcile.lock"), "a+b")
    try:
        while pending(store):
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                await asyncio.sleep(RETRY_S)  # another worker walks it; take over if it dies
                continue
            try:
                await _walk(store)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    finally:
        lock.close()


async def _walk(store: Store) -> None:
    dropped = added = 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    while (number := store.index.counter(CURSOR)) not in (DONE, len(SHARDS)):
        step = asyncio.ensure_future(asyncio.to_thread(check_shard, store, number))
        try:
            d, a = await asyncio.shield(step)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await step  # the shard in hand finishes before the store closes
            raise
        dropped, added = dropped + d, added + a
        store.index.set_counter(CURSOR, number + 1)
    if store.index.counter(CURSOR) != DONE:
        store.index.set_counter(CURSOR, DONE)
        log.info("cache %s reconciled with its disk in %.1f s: %d index rows without a file dropped, "
                 "%d files without a row added", store.dir, loop.time() - started, dropped, added)
