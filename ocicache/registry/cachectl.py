"""Operator actions on the edge cache (the admin API calls these): purge, pin, prefetch,
list fills. They act on the store shared by every worker; the tag cache of other worker
processes keeps a purged tag until its `tag_ttl` runs out. The origin says whether it is a
cache in front of another (`origin.cache()`); a node serving its own files has none.
"""
from __future__ import annotations

import asyncio

from .. import errors
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

    async def purge(self, repo: str, tag: str | None = None, digest: str | None = None) -> dict:
        """Remove an image, a digest or a whole repository's content from the store."""
        digests = await self.content(repo, tag, digest)
        for name in ([tag] if tag else [] if digest else await self.cache.remote.list_tags(repo)):
            self.cache.forget_tag(repo, name)
        freed, removed = 0, []
        for d in digests:
            size = await asyncio.to_thread(self.cache.remove, d)
            if size:
                freed += size
                removed.append(str(d))
        return {"repository": repo, "removed": removed, "bytes_freed": freed,
                "considered": len(digests)}

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
