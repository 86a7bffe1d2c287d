"""Content-addressed blob files on local disk, bounded by bytes, evicted least-recently-used.

    <dir>/blobs/<alg>/<hex[:2]>/<hex>    committed: hashed and verified, never rewritten (sha256, sha512)
    <dir>/partial/<hex>                  a fill in progress (also the fill's flock)
    <dir>/partial/<hex>.size             the blob's size, published by the filler
    <dir>/index.sqlite                   sizes, LRU order, counters (`store.index`)

A file appears under blobs/ only by rename after its digest matched, so a crash at any
instant leaves nothing servable that is wrong; `reconcile` (at start) removes partial files
no live process holds and makes the index agree with the disk. Eviction unlinks files;
a reader that already holds a file open keeps reading it (POSIX), and blobs read by this
process right now are skipped.
"""
from __future__ import annotations

import fcntl
import logging
import os
import time
import uuid
from collections import Counter
from pathlib import Path

from .. import metrics
from ..hotpaths.digest import hex_of_file
from ..reference import SUPPORTED, Digest
from .index import Index
from .pins import Pins

log = logging.getLogger("ocicache.store")
ROOM_MARGIN = 1024 * 1024  # kept free for the index, size files and manifests


class BlobStore:
    def __init__(self, directory: Path, max_bytes: int, *, high_watermark: float = 0.95,
                 low_watermark: float = 0.85, admit_fraction: float = 0.25) -> None:
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self.high = int(max_bytes * high_watermark)
        self.low = int(max_bytes * low_watermark)
        self.admit_bytes = int(max_bytes * admit_fraction)
        (self.dir / "blobs").mkdir(parents=True, exist_ok=True)
        (self.dir / "partial").mkdir(parents=True, exist_ok=True)
        self.index = Index(self.dir / "index.sqlite")
        self.pins = Pins(self.index)
        self._accesses: dict[str, float] = {}
        self._counters: Counter[str] = Counter()
        self._readers: Counter[str] = Counter()

    # ---- paths ----
    def blob_path(self, digest: Digest) -> Path:
        return self.dir / "blobs" / digest.algorithm / digest.hex[:2] / digest.hex

    def partial_path(self, digest: Digest) -> Path:
        return self.dir / "partial" / digest.hex

    def size_path(self, digest: Digest) -> Path:
        return self.dir / "partial" / f"{digest.hex}.size"

    # ---- reads ----
    def lookup(self, digest: Digest) -> Path | None:
        """The committed file of `digest`, recording the access; None on a miss."""
        path = self.blob_path(digest)
        if not path.exists():
            return None
        self._accesses[str(digest)] = time.time()
        return path

    def reading(self, digest: Digest) -> "_Reading":
        """`with store.reading(digest):` keeps eviction off the blob while it is served."""
        return _Reading(self._readers, str(digest))

    def count(self, name: str, amount: int = 1) -> None:
        self._counters[name] += amount

    def has_room(self, size: int) -> bool:
        """Whether the store's disk has `size` bytes free, with a margin for the index."""
        st = os.statvfs(self.dir / "partial")
        return st.f_bavail * st.f_frsize >= size + ROOM_MARGIN

    # ---- writes ----
    def admit(self, digest: Digest, size: int) -> bool:
        """Whether a filled blob of `size` bytes is kept. A blob larger than `admit_fraction`
        of the budget is kept only when asked for a second time, so one huge one-off layer
        does not flush the hot ones; a blob larger than the whole budget is never kept."""
        if size > self.max_bytes:
            return False
        if size <= self.admit_bytes:
            return True
        return self.index.seen_before(str(digest))

    def commit(self, digest: Digest, partial: Path, size: int) -> None:
        """Move a verified partial file into place and index it; evict if over budget."""
        target = self.blob_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(partial, target)
        self.index.add(str(digest), size)
        self.evict_if_needed()

    def keep(self, digest: Digest, path: Path, size: int) -> None:
        """Take a verified local copy (e.g. of a blob this node pushed), if admission agrees."""
        if self.blob_path(digest).exists() or not self.admit(digest, size):
            path.unlink(missing_ok=True)
            return
        self.commit(digest, path, size)

    def put_bytes(self, digest: Digest, data: bytes) -> None:
        """Keep small verified content (a manifest) under its digest."""
        target = self.blob_path(digest)
        if target.exists():
            return
        tmp = self.dir / "partial" / f".{digest.hex}.{uuid.uuid4().hex}.tmp"
        tmp.write_bytes(data)
        self.commit(digest, tmp, len(data))

    def remove(self, digest: Digest) -> int:
        """Drop a blob from the store; returns the bytes freed."""
        self.blob_path(digest).unlink(missing_ok=True)
        return self.index.remove(str(digest))

    def evict_if_needed(self) -> int:
        if self.index.total_bytes() <= self.high:
            return 0
        return self.prune(self.low)

    def prune(self, target_bytes: int) -> int:
        """Evict least-recently-used blobs until at most `target_bytes` remain; returns count."""
        self.flush()
        evicted = 0
        skipped: set[str] = set()
        while self.index.total_bytes() > target_bytes:
            batch = [(d, s) for d, s in self.index.oldest(64 + len(skipped)) if d not in skipped]
            if not batch:
                break
            for digest_text, size in batch:
                if self.index.total_bytes() <= target_bytes:
                    break
                if self._readers[digest_text]:
                    skipped.add(digest_text)
                    continue
                self.remove(Digest.parse(digest_text))
                evicted += 1
                log.debug("evicted %s (%d bytes)", digest_text, size)
        if evicted:
            self.count("evictions", evicted)
            metrics.EVICTIONS.inc(evicted)
            log.info("cache evicted %d blobs; %d bytes now in %s (budget %d)", evicted,
                     self.index.total_bytes(), self.dir, self.max_bytes)
        return evicted

    # ---- upkeep ----
    def flush(self) -> None:
        """Write batched access times and counters to the index (called every second)."""
        if self._accesses:
            accesses, self._accesses = self._accesses, {}
            self.index.touch(accesses)
        if self._counters:
            counters, self._counters = dict(self._counters), Counter()
            self.index.add_counters(counters)

    def reconcile(self) -> dict[str, int]:
        """At start: drop partial files no live process fills, and make index and disk agree."""
        removed_partial = 0
        for entry in (self.dir / "partial").iterdir():
            data = entry if not entry.name.endswith(".size") else None
            if data is None or entry.name.endswith(".tmp"):
                if entry.name.endswith(".tmp"):
                    entry.unlink(missing_ok=True)
                elif not Path(str(entry)[:-len(".size")]).exists():
                    entry.unlink(missing_ok=True)  # its fill was committed, then the node died
                continue
            with open(entry, "rb") as fh:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live fill
                entry.unlink(missing_ok=True)
                Path(f"{entry}.size").unlink(missing_ok=True)
                removed_partial += 1
        on_disk = {}
        for algorithm in SUPPORTED:
            for path in (self.dir / "blobs" / algorithm).glob("*/*"):
                on_disk[f"{algorithm}:{path.name}"] = path
        indexed = dict(self.index.all_digests())
        dropped = [d for d in indexed if d not in on_disk]
        for digest_text in dropped:
            self.index.remove(digest_text)
        added = 0
        for digest_text, path in on_disk.items():
            if digest_text not in indexed:
                st = path.stat()
                self.index.add(digest_text, st.st_size, st.st_mtime)
                added += 1
        return {"partial_removed": removed_partial, "index_dropped": len(dropped), "index_added": added}

    def verify(self, on_blob=None) -> list[str]:
        """Rehash every committed blob; remove and return the digests whose bytes are wrong."""
        corrupt = []
        for digest_text, _size in self.index.all_digests():
            digest = Digest.parse(digest_text)
            path = self.blob_path(digest)
            try:
                ok = hex_of_file(path, digest.algorithm) == digest.hex
            except FileNotFoundError:
                ok = False
            if not ok:
                corrupt.append(digest_text)
                self.remove(digest)
                log.error("cache verify: %s did not hash to its digest; removed from %s", digest_text, self.dir)
            if on_blob is not None:
                on_blob(digest_text, ok)
        return corrupt

    def total_bytes(self) -> int:
        return self.index.total_bytes()

    def stats(self) -> dict[str, int]:
        self.flush()
        return {"entries": self.index.entries(), "bytes": self.index.total_bytes(),
                "max_bytes": self.max_bytes, "hits": self.index.counter("hits"),
                "misses": self.index.counter("misses"), "evictions": self.index.counter("evictions")}

    def close(self) -> None:
        self.flush()
        self.index.close()


class _Reading:
    def __init__(self, readers: Counter[str], key: str) -> None:
        self.readers, self.key = readers, key

    def __enter__(self) -> None:
        self.readers[self.key] += 1

    def __exit__(self, *exc) -> None:
        self.readers[self.key] -= 1
        if not self.readers[self.key]:
            del self.readers[self.key]
