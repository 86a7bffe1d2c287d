"""CachingOrigin when a stored file vanishes between the store's lookup and its read (an
eviction by another worker, a purge): a manifest is fetched again like any miss, never a 500;
with the origin failing the origin's error is answered, not FileNotFoundError. The race is
forced: the store's lookup removes the file right after it found it."""
from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest

from ocicache import errors
from ocicache.cache import BlobStore, CachingOrigin, TagCache
from ocicache.cache.generations import Generations
from ocicache.errors import OCIError
from ocicache.origin import open_origin
from ocicache.reference import Digest

REPO = "team/app"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _manifest() -> tuple[Digest, bytes]:
    config = b"{}"
    data = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                                  "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": 2},
                       "layers": []}).encode()
    return Digest.from_hex(hashlib.sha256(data).hexdigest()), data


class Cache:
    def __init__(self, base: Path) -> None:
        self.origin = open_origin((base / "origin").as_uri())
        self.store = BlobStore(base / "cache", 10_000_000)
        self.cache = CachingOrigin(self.origin, self.store, TagCache(30, 300, 5, generations=Generations()))
        self.lookups_found = 0

    def evict_after_each_lookup(self) -> None:
        """From now on every lookup finds the file, which is removed before anyone reads it."""
        lookup, removed = self.store.lookup, {}

        def found_then_evicted(digest: Digest):
            if digest in removed:                  # back for this lookup, gone again after it
                removed[digest][0].write_bytes(removed[digest][1])
            path = lookup(digest)
            if path is not None:
                self.lookups_found += 1
                removed[digest] = (path, path.read_bytes())
                path.unlink()
            return path

        self.store.lookup = found_then_evicted


def test_a_manifest_evicted_between_lookup_and_read_is_fetched_again(tmp_path):
    digest, data = _manifest()
    c = Cache(tmp_path)

    async def scenario() -> bytes:
        await c.origin.put_manifest(REPO, digest, data, "v1")
        assert await c.cache.get_manifest(REPO, digest) == data   # a miss: fetched and stored
        assert c.store.lookup(digest) is not None
        c.evict_after_each_lookup()
        return await c.cache.get_manifest(REPO, digest)

    assert asyncio.run(scenario()) == data
    assert c.lookups_found >= 1  # the hit path did find the file, which was gone when read


def test_an_evicted_manifest_with_the_origin_failing_answers_the_origin_error(tmp_path):
    digest, data = _manifest()
    c = Cache(tmp_path)

    async def failing(repo: str, d: Digest) -> bytes:
        raise OCIError(errors.UNAVAILABLE, "origin down (test)")

    async def scenario() -> bytes:
        await c.origin.put_manifest(REPO, digest, data, "v1")
        await c.cache.get_manifest(REPO, digest)
        c.cache.link_ttl = 0   # every link is re-confirmed with the origin, which fails now
        c.origin.get_manifest = failing
        assert await c.cache.get_manifest(REPO, digest) == data   # served from the store while it fails
        c.evict_after_each_lookup()
        return await c.cache.get_manifest(REPO, digest)

    with pytest.raises(OCIError) as caught:
        asyncio.run(scenario())
    assert caught.value.code is errors.UNAVAILABLE
    assert c.lookups_found >= 1
