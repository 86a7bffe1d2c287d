"""Operator actions on the edge cache (the admin API calls these): purge, pin, prefetch,
list fills. They act on the store and the tag cache shared by every worker (the caller
moves the repository's generation so every worker's memory follows). A purge is recorded
in the origin's purge journal, when it keeps one, for every other node sharing the origin
(cache/journal.py). The origin says whether it is a cache in front of another
(`origin.cache()`); a node serving its own files has none.
"""
from __future__ import annotations

import asyncio

from .. import errors
from ..cache.journal import PurgeJournal
from ..errors import OCIError
from ..oci import walk
from ..origin import Origin
from ..reference import Digest, parse_reference


class CacheControl:
    def __init__(self, origin: Origin) -> None:
        cache = origin.cache()
        if cache is None:
            raise OCIError(errors.UNSUPPORTED, "this node serves a file:// origin from its own files and "
                           "keeps no cache; purge, pin and prefetch apply to edge nodes (http(s):// origin)")
        self.cache = cache

    async def content(self, repo: str, tag: str | None = None, digest: str | None = None) -> list[Digest]:
        """Digests (manifests and blobs) of one image, or of every tag of `repo`."""
        if digest:
            return [Digest.parse(digest)]
        tags = [tag] if tag else await self.cache.remote.list_tags(repo)
        found: list[Digest] = []
        for name in tags:
            image = await walk.walk(lambda ref: self._from_origin(repo, ref), name)
            found += image.manifests + [b.digest for b in image.blobs]
        return list(dict.fromkeys(found))

    async def _from_origin(self, repo: str, reference: str) -> bytes:
        """A manifest straight from the cached origin (not through the cache)."""
        ref = parse_reference(reference)
        digest = ref if isinstance(ref, Digest) else await self.cache.remote.resolve_tag(repo, ref)
        return await self.cache.remote.get_manifest(repo, digest)

    async def purge(self, repo: str, tag: str | None = None, digest: str | None = None,
                    journal: PurgeJournal | None = None) -> dict:
        """Remove an image, a digest or a whole repository's content from the store, and
        record it in `journal` for the other nodes (None: the origin keeps none)."""
        digests = await self.content(repo, tag, digest)
        for name in ([tag] if tag else [] if digest else await self.cache.remote.list_tags(repo)):
            self.cache.forget_tag(repo, name)
        freed, removed = 0, []
        for d in digests:
            size = await asyncio.to_thread(self.cache.remove, d)
            if size:
                freed += size
                removed.append(str(d))
        answer = {"repository": repo, "removed": removed, "bytes_freed": freed, "considered": len(digests),
                  "reaches": f"this node only: its origin ({self.cache.remote.kind}) keeps no purge journal; "
                             "purge each node in front of that origin"}
        if journal is not None:
            await self._record(journal, repo, tag, digest, [str(d) for d in digests])
            answer["reaches"] = journal.reach
        return answer

    async def _record(self, journal: PurgeJournal, repo: str, tag: str | None, digest: str | None,
                      digests: list[str]) -> None:
        try:
            await journal.record(repo, tag, digest, tag is None and digest is None, digests)
        except OCIError as exc:
            raise OCIError(errors.UNAVAILABLE, f"purged {repo} on this node, but recording the purge for the "
                           f"other nodes in {journal.store.where} failed ({exc.message}); repeat the purge "
                           "once the origin answers") from None

    async def pin(self, repo: str) -> dict:
        digests = await self.content(repo)
        await asyncio.to_thread(self.cache.pin, repo, [str(d) for d in digests])
        return {"repository": repo, "pinned_digests": len(digests)}

    async def unpin(self, repo: str) -> dict:
        if not await asyncio.to_thread(self.cache.unpin, repo):
            raise OCIError(errors.NAME_UNKNOWN, f"repository {repo} is not pinned on this node",
                           detail={"name": repo})
        return {"repository": repo, "pinned": False}

    def pins(self) -> list[dict]:
        return self.cache.pins()

    def fills(self) -> list[dict]:
        return self.cache.fills()
