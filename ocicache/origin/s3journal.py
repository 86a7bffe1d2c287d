"""The S3 origin's purge journal (base.JournalStore): objects under the bucket's
`_ocicache/purges/` prefix (`layout.PURGES`, beside `docker/`, where a registry:2 never looks).
The directory origin's twin is journals.DirectoryJournal; what an entry says and who reads it is
cache/journal.py's business: this is only storage.
"""
from __future__ import annotations

from .s3client import S3


class BucketJournal:
    """Entries as objects under `prefix` (ending in '/') of the origin's bucket."""

    def __init__(self, s3: S3, prefix: str) -> None:
        self.s3, self.prefix = s3, prefix
        self.where = f"s3://{s3.bucket}/{prefix}"

    async def put(self, name: str, data: bytes) -> None:
        await self.s3.put(self.prefix + name, data, f"writing purge journal entry {name}")

    async def names(self) -> list[str]:
        keys = await self.s3.list_keys(self.prefix, "listing the purge journal")
        return [key[len(self.prefix):] for key in keys if "/" not in key[len(self.prefix):]]

    async def get(self, name: str) -> bytes | None:
        return await self.s3.get_or_none(self.prefix + name, f"reading purge journal entry {name}")

    async def delete(self, name: str) -> None:
        await self.s3.delete(self.prefix + name, f"removing old purge journal entry {name}")
