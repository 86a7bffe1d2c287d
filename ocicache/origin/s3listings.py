"""The S3 origin's listing index, so a catalog or tag page costs one LIST of at most the page
(issue 23) instead of a LIST of every key under `repositories/`.

CNCF distribution's keys do not sort as the spec's listings do (`a-b/` comes before `a/`, a
nested repository's keys interleave with its parent's), so the origin keeps, beside `docker/`
under its prefix, one empty object per repository and per tag whose key is a fixed prefix and
the name alone (`layout.LISTED_REPOSITORIES`, `layout.listed_tags`): S3 lists keys in byte
order, so ListObjectsV2 with `StartAfter=<prefix><last>` and `MaxKeys=n` is the page. The write
path adds a tag's entry after its link and removes it before the link; a repository's entry is
written with its first manifest. When `layout.LISTINGS_BUILT` is missing (a bucket written
before, or by registry:2 alone), the first listing rebuilds the entries from one LIST of
`repositories/`; every node may do so at once (the writes are the same). What a registry:2
writes into the bucket later is listed after the next rebuild: delete `_ocicache/listings/built`.
"""
from __future__ import annotations

import asyncio

from cachetools import LRUCache

from . import layout
from .s3client import S3

REBUILD_WRITES_IN_FLIGHT = 16


class BucketListings:
    def __init__(self, s3: S3, prefix: str, docker_root: str) -> None:
        self.s3 = s3
        self.prefix = prefix            # the origin's prefix with a trailing '/', or ''
        self.docker_root = docker_root  # `<prefix>docker/registry/v2`
        self._built = False
        self._listed: LRUCache[str, bool] = LRUCache(maxsize=10_000)  # repositories entered (never removed)

    def _key(self, relative: str) -> str:
        return self.prefix + relative

    # ---- pages ----
    async def repositories(self, n: int | None, last: str | None) -> list[str]:
        await self._ensure_built()
        base = self._key(layout.LISTED_REPOSITORIES)
        keys = await self.s3.list_after(base, last, n, "listing repositories")
        return [key[len(base):] for key in keys]

    async def tags(self, repo: str, n: int | None, last: str | None) -> list[str]:
        await self._ensure_built()
        base = self._key(layout.listed_tags(repo))
        keys = await self.s3.list_after(base, last, n, f"listing tags of {repo}")
        return [key[len(base):] for key in keys]

    # ---- the write path ----
    async def add(self, repo: str, tag: str | None) -> None:
        """A manifest of `repo` was stored and `tag` pointed at it (both links written)."""
        if tag is not None:
            await self.s3.put(self._key(layout.listed_tags(repo)) + tag, b"", f"listing tag {tag} of {repo}")
        if repo not in self._listed:
            await self.s3.put(self._key(layout.LISTED_REPOSITORIES) + repo, b"", f"listing repository {repo}")
            self._listed[repo] = True

    async def remove_tag(self, repo: str, tag: str) -> None:
        """Before a tag's links are deleted: a listing never names a tag that does not resolve."""
        await self.s3.delete(self._key(layout.listed_tags(repo)) + tag, f"unlisting tag {tag} of {repo}")

    # ---- rebuild ----
    async def _ensure_built(self) -> None:
        if self._built:
            return
        if await self.s3.get_or_none(self._key(layout.LISTINGS_BUILT), "reading the listing index") is None:
            await self._rebuild()
        self._built = True

    async def _rebuild(self) -> None:
        base = f"{self.docker_root}/"
        keys = await self.s3.list_keys(f"{base}{layout.REPOSITORIES}/", "rebuilding the listing index")
        entries: set[str] = set()
        for key in keys:
            relative = key[len(base):]
            repo = layout.repository_of(relative[len(layout.REPOSITORIES) + 1:])
            if repo:
                entries.add(layout.LISTED_REPOSITORIES + repo)
            found = layout.tag_of(relative)
            if found:
                entries.add(layout.listed_tags(found[0]) + found[1])
        ordered = sorted(entries)
        for start in range(0, len(ordered), REBUILD_WRITES_IN_FLIGHT):
            await asyncio.gather(*(self.s3.put(self._key(entry), b"", "rebuilding the listing index")
                                   for entry in ordered[start:start + REBUILD_WRITES_IN_FLIGHT]))
        await self.s3.put(self._key(layout.LISTINGS_BUILT), b"1", "rebuilding the listing index")
