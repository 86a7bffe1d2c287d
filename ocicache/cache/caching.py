"""The edge cache as an Origin: a remote origin seen through the local store.

`CachingOrigin(remote, store)` has the same shape as what it caches, so the registry does
not know whether it hits the cache (as CNCF distribution's proxyBlobStore wraps its
remote). Blobs and by-digest manifests are immutable: kept in the store until evicted.
Tags go through the TagCache. Writes go to the remote first (write-through); a tag this
node writes is dropped from its TagCache at once. A repository's link to a manifest or blob
is re-confirmed with the remote once it is older than `link_ttl` (one HEAD per link per
interval, never one per pull): a delete at the origin, or through another node sharing it,
answers 404 here within link_ttl and drops the content from the store. While the remote
fails, what it last confirmed keeps serving. The remote's "unknown" for a digest is given
again for `negative_ttl` (the tag cache's), on every worker, until this node writes the
repository (absent.py). Existence and size checks, like downloads, are one remote request
however many clients ask at once (per worker, and per repository generation).
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from contextlib import aclosing
from pathlib import Path
from typing import AsyncIterator

from cachetools import LRUCache

from .. import errors, metrics
from ..hotpaths import digest as hashing
from ..errors import OCIError
from ..origin import CacheInFront, Health, LocalCopies, Origin, UploadMode
from ..origin.base import OpenedBlob
from ..origin.uploads import UploadStore
from ..reference import Digest
from .absent import Absences
from .singleflight import SingleFlight
from .blobstore import BlobStore
from .tags import TagCache
from .fills import CacheFull, FillerGone, FillFailed, Fills

log = logging.getLogger("ocicache.fill")


class CachingOrigin:
    """A remote origin seen through the local store; itself an Origin and a CacheInFront."""

    def __init__(self, remote: Origin, store: BlobStore, tags: TagCache, fill_retries: int = 3,
                 scope: str = "", link_ttl: float = 60.0) -> None:
        """`scope` names the remote in the store's index of repository links: nodes mirroring
        several upstreams share one store, where `library/x` on two upstreams differs. The
        store belongs to whoever opened it (the app): `close` leaves it open."""
        self.remote = remote
        self.scope = scope
        self.store = store
        self.tags = tags
        self.fills_in_flight = Fills(store, remote, fill_retries, opened=self._confirmed)
        # (repo, digest) -> (size, generation): what the remote confirmed a repository holds,
        # trusted while the repository's generation (shared by the node's workers) holds.
        self._linked: LRUCache[tuple[str, Digest], tuple[int, int]] = LRUCache(200_000)
        self.generations = tags.generations
        self.link_ttl = link_ttl
        self._flights = SingleFlight()  # many clients missing the same thing: one remote lookup
        self.absent = Absences(store.index, self.generations, tags.negative_ttl, scope)

    # ---- what callers ask ----
    @property
    def kind(self) -> str:
        return f"cache of {self.remote.kind}"

    @property
    def upload_mode(self) -> UploadMode:
        return self.remote.upload_mode

    async def check(self) -> Health:
        """The remote's health: the store's own disk is /readyz's `disk` check."""
        return await self.remote.check()

    def open_uploads(self, local_copies: LocalCopies | None = None) -> UploadStore:
        """The remote's write-through sessions, keeping a copy of what this node pushed."""
        return self.remote.open_uploads(LocalCopies(self.store.dir / "partial", self.store.keep, self.store.remove))

    def cache(self) -> CacheInFront | None:
        return self

    # ---- what operators act on (CacheInFront; the admin API) ----
    def stats(self) -> dict[str, int]:
        return self.store.stats()

    def forget_tag(self, repo: str, tag: str) -> None:
        self.tags.forget((repo, tag))

    def forget_repository_tags(self, repo: str) -> None:
        self.tags.forget_repository(repo)

    def remove(self, digest: Digest) -> int:
        return self.store.remove(digest)

    def pin(self, repo: str, digests: list[str]) -> None:
        self.store.pins.pin(repo, digests)

    def unpin(self, repo: str) -> bool:
        return self.store.pins.unpin(repo)

    def pins(self) -> list[dict]:
        return self.store.pins.repositories()

    def evictions(self, n: int) -> list[dict]:
        return self.store.index.last_evictions(n)

    def top_repositories(self, n: int) -> list[dict]:
        prefix = f"{self.scope}/" if self.scope else ""
        try:
            ranked = self.store.index.top_linked(n, prefix)
        except sqlite3.Error as exc:
            raise OCIError(errors.UNAVAILABLE, f"the store's index in {self.store.dir} could not be read "
                           f"({exc}); see the node's log and `ocicache cache stats`") from None
        return [{"repository": repo[len(prefix):], "blobs": blobs, "bytes": nbytes} for repo, blobs, nbytes in ranked]

    def fills(self) -> list[dict]:
        now = asyncio.get_running_loop().time()
        return [{"digest": str(f.digest), "size": f.size, "readable": f.readable, "readers": f.readers,
                 "error": f.error, "seconds": round(now - f.started, 3)} for f in self.fills_in_flight.snapshot()]

    # ---- blobs ----
    def _known_size(self, repo: str, digest: Digest) -> int | None:
        """What the remote once confirmed `repo` holds: in memory, else in the store's index
        (kept while the blob is cached, so a restarted node serves it with the origin down)."""
        generation, now = self.generations.get(repo), time.time()
        entry = self._linked.get((repo, digest))
        if entry is not None and entry[1] == generation and now - entry[2] < self.link_ttl:
            return entry[0]
        link = self.store.index.link_of(self._scoped(repo), str(digest))
        if link is None or now - link[1] >= self.link_ttl:
            return None  # unknown, or confirmed longer than link_ttl ago: ask the remote again
        self._linked[(repo, digest)] = (link[0], generation, link[1])
        return link[0]

    def _last_confirmed(self, repo: str, digest: Digest) -> int | None:
        """The size the remote last confirmed, however long ago (served while it fails)."""
        link = self.store.index.link_of(self._scoped(repo), str(digest))
        return None if link is None else link[0]

    def _gone(self, repo: str, digest: Digest) -> None:
        """The remote no longer holds `digest` in `repo`: forget the link, and the content
        once no other repository of this store links it."""
        self._forget(repo, digest)
        if not self.store.index.linked_anywhere(str(digest)) and self.store.lookup(digest) is not None:
            self.store.remove(digest)
            log.info("origin no longer holds %s in %s: removed it from the cache", digest, repo)

    def _confirmed(self, repo: str, digest: Digest, size: int) -> None:
        self._linked[(repo, digest)] = (size, self.generations.get(repo), time.time())
        self.store.index.link(self._scoped(repo), str(digest), size)

    def _forget(self, repo: str, digest: Digest) -> None:
        self._linked.pop((repo, digest), None)
        self.store.index.unlink(self._scoped(repo), str(digest))

    def _scoped(self, repo: str) -> str:
        return f"{self.scope}/{repo}" if self.scope else repo

    async def blob_size(self, repo: str, digest: Digest) -> int:
        """Size of a blob the remote confirms `repo` holds (cached: content is immutable)."""
        size = self._known_size(repo, digest)
        if size is None:
            generation = self.generations.get(repo)  # before the remote is asked: see absent.py
            self.absent.check("blob", repo, digest, generation)
            size = await self._flights.run(("size", repo, digest, generation),
                                           lambda: self._recheck_size(repo, digest, generation))
        return size

    async def size_for_read(self, repo: str, digest: Digest) -> int:
        """The size for a GET: a miss starts the fill, whose one origin GET confirms `repo`
        holds the blob and gives its size (no HEAD). A HEAD (blob_size) only when the fill
        cannot say it for `repo`: the blob is stored or being filled for another repository,
        or the fill failed before the size (then the HEAD's answer is the client's)."""
        size = self._known_size(repo, digest)
        if size is not None:
            return size
        generation = self.generations.get(repo)  # before the remote is asked: see absent.py
        self.absent.check("blob", repo, digest, generation)
        if self.store.lookup(digest) is not None or self.fills_in_flight.running(digest):
            return await self.blob_size(repo, digest)
        return await self._flights.run(("size", repo, digest, generation),
                                       lambda: self._size_from_fill(repo, digest, generation))

    async def _size_from_fill(self, repo: str, digest: Digest, generation: int) -> int:
        try:
            await self.fills_in_flight.get(repo, digest)
        except (FillerGone, FillFailed):  # another worker's fill failed, or no room on the cache disk
            return await self._recheck_size(repo, digest, generation)  # the HEAD's answer is the client's
        except OCIError as exc:  # the origin's own answer to the fill's GET
            if exc.code is errors.BLOB_UNKNOWN:
                self._gone(repo, digest)
                self.absent.remember("blob", repo, digest, exc, generation)
            raise
        size = self._known_size(repo, digest)  # confirmed by the fill's GET (in any worker)
        return await self._recheck_size(repo, digest, generation) if size is None else size

    async def open_blob(self, repo: str, digest: Digest, offset: int = 0) -> OpenedBlob:
        return OpenedBlob(await self.size_for_read(repo, digest), self.read_blob(repo, digest, offset))

    async def _recheck_size(self, repo: str, digest: Digest, generation: int) -> int:
        try:
            return await self._remote_size(repo, digest)
        except OCIError as exc:
            if exc.code is errors.BLOB_UNKNOWN:
                self._gone(repo, digest)
                self.absent.remember("blob", repo, digest, exc, generation)
                raise
            size = self._last_confirmed(repo, digest)
            if size is None:
                raise
            log.warning("origin failed re-confirming blob %s in %s (%s); serving the cached copy",
                        digest, repo, exc.message)
            return size

    async def _remote_size(self, repo: str, digest: Digest) -> int:
        if not await self.remote.blob_linked(repo, digest):
            raise OCIError(errors.BLOB_UNKNOWN, f"blob {digest} is not in repository {repo}",
                           detail={"name": repo, "digest": str(digest)})
        size = await self.remote.blob_size(repo, digest)
        self._confirmed(repo, digest, size)
        return size

    async def blob_linked(self, repo: str, digest: Digest) -> bool:
        try:
            await self.blob_size(repo, digest)
        except OCIError as exc:
            if exc.code is errors.BLOB_UNKNOWN:
                return False
            raise
        return True

    def local_blob_path(self, digest: Digest) -> Path | None:
        path = self.store.lookup(digest)
        if path is not None:
            self.store.count("hits")
            metrics.cache_lookup("hit")
        return path

    async def read_blob(self, repo: str, digest: Digest, offset: int = 0,
                        length: int | None = None) -> AsyncIterator[bytes]:
        """From the fill of `digest` (started if needed). A range the fill has not reached
        yet is fetched from the remote at once (range-first), while the fill goes on.
        When the cache disk has no room, the blob streams from the remote uncached."""
        size = await self.blob_size(repo, digest)
        length = size - offset if length is None else length
        whole = offset == 0 and length == size
        if self.store.has_room(size):
            try:
                fill = await self.fills_in_flight.get(repo, digest, size)
                if not (whole or offset + length <= fill.readable):
                    async with aclosing(self.remote.read_blob(repo, digest, offset, length)) as stream:
                        async for chunk in stream:
                            yield chunk
                    return
                async with aclosing(self.fills_in_flight.read(fill, offset, length)) as stream:
                    async for chunk in stream:
                        offset, length = offset + len(chunk), length - len(chunk)
                        yield chunk
                return
            except CacheFull:
                pass  # nothing kept; what this client already has stands, the rest comes below
        else:
            metrics.CACHE_FULL.inc()
        log.warning("cache disk full in %s: serving %s (%d bytes) from the origin without caching",
                    self.store.dir, digest, size)
        stream = (self._verified(repo, digest, size, offset) if whole
                  else self.remote.read_blob(repo, digest, offset, length))
        async with aclosing(stream):
            async for chunk in stream:
                yield chunk

    async def _verified(self, repo: str, digest: Digest, size: int, skip: int) -> AsyncIterator[bytes]:
        """Bytes [skip, size) of a blob straight from the remote, hashed from byte 0: the
        last byte is released only after the digest matched (as a fill does)."""
        loop = asyncio.get_running_loop()
        hasher = hashing.new(digest.algorithm)
        pos = 0
        async with aclosing(self.remote.read_blob(repo, digest)) as stream:
            async for chunk in stream:
                if pos + len(chunk) > size:
                    raise FillFailed(f"origin sent more than the {size} bytes of {digest}")
                await loop.run_in_executor(None, hasher.update, chunk)
                start, pos = pos, pos + len(chunk)
                out = chunk[:-1] if pos == size else chunk
                if start + len(out) > skip:
                    yield out[max(skip - start, 0):]
        if pos != size or hasher.hexdigest() != digest.hex:
            raise FillFailed(f"origin sent {pos} bytes for {repo}@{digest} that do not hash to it")
        if skip < size:
            yield chunk[-1:]

    async def put_blob(self, digest: Digest, staged: Path) -> None:
        await self.remote.put_blob(digest, staged)

    async def link_blob(self, repo: str, digest: Digest, source: str | None = None) -> None:
        await self.remote.link_blob(repo, digest, source)
        self.absent.forget("blob", repo, digest)
        path = self.store.lookup(digest)  # pushed through this node (or cached): a hit from now on
        try:
            size = None if path is None else path.stat().st_size
        except FileNotFoundError:  # evicted since the lookup: the next pull fetches it again
            size = None
        if size is not None:
            self._confirmed(repo, digest, size)

    async def unlink_blob(self, repo: str, digest: Digest) -> None:
        await self.remote.unlink_blob(repo, digest)
        self._forget(repo, digest)

    # ---- manifests and tags ----
    def _stored(self, digest: Digest) -> bytes | None:
        """The stored bytes of `digest`, or None: not stored, or evicted between the lookup and
        the read (another worker's eviction, a purge): then it is a miss like any other."""
        path = self.store.lookup(digest)
        if path is None:
            return None
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    async def get_manifest(self, repo: str, digest: Digest) -> bytes:
        if self._known_size(repo, digest) is not None:
            data = self._stored(digest)
            if data is not None:
                self.store.count("hits")
                metrics.cache_lookup("hit")
                return data
        generation = self.generations.get(repo)  # before the remote is asked: see absent.py
        self.absent.check("manifest", repo, digest, generation)
        key = ("manifest", repo, digest, generation)
        metrics.cache_lookup("fill" if self._flights.running(key) else "miss")  # joined, or fetches it
        return await self._flights.run(key, lambda: self._fetch_manifest(repo, digest, generation))

    async def _fetch_manifest(self, repo: str, digest: Digest, generation: int) -> bytes:
        try:
            data = await self.remote.get_manifest(repo, digest)  # verified against digest there
        except OCIError as exc:
            if exc.code is errors.MANIFEST_UNKNOWN or exc.code is errors.NAME_UNKNOWN:
                self._gone(repo, digest)
                self.absent.remember("manifest", repo, digest, exc, generation)
                raise
            data = self._stored(digest) if self._last_confirmed(repo, digest) is not None else None
            if data is None:
                raise
            log.warning("origin failed re-confirming manifest %s in %s (%s); serving the cached copy",
                        digest, repo, exc.message)
            return data
        await asyncio.to_thread(self.store.put_bytes, digest, data)  # may evict: off the loop
        self.store.pins.note(repo, digest)
        self._confirmed(repo, digest, len(data))
        return data

    async def resolve_tag(self, repo: str, tag: str) -> Digest:
        return await self.tags.resolve((repo, tag), lambda: self.remote.resolve_tag(repo, tag))

    async def put_manifest(self, repo: str, digest: Digest, data: bytes, tag: str | None) -> None:
        """Written through to the remote; stored here meanwhile (pull-after-push: a hit), and
        taken out again when the remote does not take it (stored is not linked: served only
        once the remote confirmed `repo` holds it)."""
        storing = asyncio.ensure_future(asyncio.to_thread(self.store.put_bytes, digest, data))
        try:
            await self.remote.put_manifest(repo, digest, data, tag)
        except BaseException:
            if await asyncio.gather(storing, return_exceptions=True) == [True]:
                await asyncio.to_thread(self.store.remove, digest)
            raise
        finally:
            self.absent.forget("manifest", repo, digest)
            if tag is not None:
                self.tags.forget((repo, tag))
        try:
            await storing
        except OSError as exc:  # the cache disk; the push itself is done
            log.warning("manifest %s pushed to %s was not kept in this node's cache (%s); the next pull "
                        "fetches it from the origin; check the cache disk", digest, repo, exc)
        self._confirmed(repo, digest, len(data))

    async def delete_manifest(self, repo: str, digest: Digest) -> None:
        await self.remote.delete_manifest(repo, digest)  # and the tags that named it, there
        self._forget(repo, digest)
        self.forget_repository_tags(repo)

    async def delete_tag(self, repo: str, tag: str) -> None:
        await self.remote.delete_tag(repo, tag)
        self.tags.forget((repo, tag))

    async def list_tags(self, repo: str, n: int | None = None, last: str | None = None) -> list[str]:
        return await self.remote.list_tags(repo, n, last)

    async def list_repositories(self, n: int | None = None, last: str | None = None) -> list[str]:
        return await self.remote.list_repositories(n, last)

    async def add_referrer(self, repo: str, subject: Digest, referrer: Digest) -> None:
        await self.remote.add_referrer(repo, subject, referrer)

    async def list_referrers(self, repo: str, subject: Digest) -> list[Digest]:
        return await self.remote.list_referrers(repo, subject)

    async def close(self) -> None:
        await self.remote.close()
