"""Pinned repositories: prune skips their blobs, however old; unpinning frees them."""
from __future__ import annotations

import hashlib
import os

from ocicache.reference import Digest
from ocicache.cache import BlobStore


def put(store: BlobStore, data: bytes) -> Digest:
    digest = Digest.from_hex(hashlib.sha256(data).hexdigest())
    store.put_bytes(digest, data)
    return digest


def test_prune_skips_pinned_blobs_until_unpinned(tmp_path):
    store = BlobStore(tmp_path / "cache", 10_000_000)
    pinned_old = put(store, os.urandom(1000))            # the least recently used blob...
    others = [put(store, os.urandom(1000)) for _ in range(3)]
    store.pins.pin("team/base", [str(pinned_old)])
    later = put(store, os.urandom(1000))
    store.pins.note("team/base", later)                  # a fill kept for the pinned repo
    store.pins.note("team/other", others[0])             # not pinned: no effect
    store.prune(0)
    assert store.lookup(pinned_old) is not None and store.lookup(later) is not None
    assert all(store.lookup(d) is None for d in others)
    assert store.pins.repositories() == [{"repository": "team/base", "pinned_at": store.pins.repositories()[0]["pinned_at"],
                                          "cached_blobs": 2, "cached_bytes": 2000}]
    store.close()
    reopened = BlobStore(tmp_path / "cache", 10_000_000)  # pins live in the index: they survive restarts
    assert reopened.pins.is_pinned(pinned_old)
    assert reopened.pins.unpin("team/base") and not reopened.pins.unpin("team/base")
    reopened.prune(0)
    assert reopened.lookup(pinned_old) is None and reopened.index.total_bytes() == 0
    reopened.close()
