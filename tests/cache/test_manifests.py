"""The in-memory manifest cache: by-digest entries bounded by bytes and TTL."""
from __future__ import annotations

from ocicache.reference import Digest
from ocicache.cache.manifests import ManifestCache

from .fakes import Clock

A = Digest.from_hex("aa" * 32)
B = Digest.from_hex("bb" * 32)


def test_manifest_by_digest_is_per_repository_and_expires():
    clock = Clock()
    cache = ManifestCache(digest_ttl=10, clock=clock)
    cache.put("r", A, "manifest A", 100)
    assert cache.get("r", A) == "manifest A"
    assert cache.get("other", A) is None  # linked in `r` says nothing of `other`
    clock.now = 10.5
    assert cache.get("r", A) is None


def test_bounded_by_bytes_least_recently_used_first():
    cache = ManifestCache(max_bytes=250)
    cache.put("r", A, "a", 100)
    cache.put("r", B, "b", 100)
    cache.get("r", A)
    cache.put("s", A, "c", 100)  # 300 > 250: evicts (r, B), the least recently used
    assert cache.get("r", A) == "a" and cache.get("s", A) == "c" and cache.get("r", B) is None
    cache.put("r", B, "too big", 251)
    assert cache.get("r", B) is None


def test_forgetting_a_manifest_is_per_repository():
    cache = ManifestCache()
    cache.put("r", A, "a", 10)
    cache.put("s", A, "a", 10)
    cache.forget("r", A)
    assert cache.get("r", A) is None and cache.get("s", A) == "a"


def test_it_keeps_no_tags():
    """The one tag cache is the edge's TagCache; the manifest cache answers by digest only."""
    assert not any(hasattr(ManifestCache(), name) for name in ("tag", "set_tag", "forget_tag"))
