"""Where an origin keeps the purge journal (base.JournalStore): objects under a bucket's
`_ocicache/purges/` prefix, or files in a directory's `_ocicache/purges/` folder
(`layout.PURGES`, beside `docker/`, where a registry:2 never looks). What an entry says and
who reads it is cache/journal.py's business; this is only storage.
"""
from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

from .. import errors
from ..errors import OCIError
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


class DirectoryJournal:
    """Entries as files in `folder` (each written to a temporary name, then renamed)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.where = str(self.folder)

    def _failed(self, what: str, exc: OSError) -> OCIError:
        return OCIError(errors.UNAVAILABLE, f"purge journal {self.folder}: {what} failed: "
                        f"{(exc.strerror or 'I/O error').lower()}; check the origin directory's disk and permissions")

    async def put(self, name: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, name, data)

    def _put(self, name: str, data: bytes) -> None:
        tmp = self.folder / f".{name}.{uuid.uuid4().hex}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, self.folder / name)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise self._failed(f"writing entry {name}", exc) from None

    async def names(self) -> list[str]:
        return await asyncio.to_thread(self._names)

    def _names(self) -> list[str]:
        try:
            return [p.name for p in self.folder.iterdir() if not p.name.startswith(".")]
        except FileNotFoundError:
            return []  # nothing purged yet
        except OSError as exc:
            raise self._failed("listing", exc) from None

    async def get(self, name: str) -> bytes | None:
        try:
            return await asyncio.to_thread((self.folder / name).read_bytes)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._failed(f"reading entry {name}", exc) from None

    async def delete(self, name: str) -> None:
        try:
            await asyncio.to_thread((self.folder / name).unlink, True)
        except OSError as exc:
            raise self._failed(f"removing entry {name}", exc) from None
