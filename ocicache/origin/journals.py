"""Where the directory origin keeps the purge journal (base.JournalStore): files in its
`_ocicache/purges/` folder (`layout.PURGES`, beside `docker/`, where a registry:2 never looks).
The S3 origin's twin, objects under the same prefix of its bucket, is s3journal.BucketJournal
(apart, so that a directory origin never loads boto3). What an entry says and who reads it is
cache/journal.py's business; this is only storage.
"""
from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

from .. import errors
from ..errors import OCIError


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
