"""Writes refused with one clear message, for origins that are read-only (another registry)."""
from __future__ import annotations

from pathlib import Path

from ..errors import Unsupported
from ..reference import Digest
from .base import JournalStore, LocalCopies, UploadMode
from .uploads import UploadStore


class ReadOnlyOrigin:
    """Mixin: the Origin protocol's writes, each raising Unsupported. Needs `base_url`."""

    base_url: str
    upload_mode = UploadMode.READ_ONLY

    def open_uploads(self, local_copies: LocalCopies | None = None) -> UploadStore:
        raise self._read_only("keep upload sessions")

    def purge_journal(self) -> JournalStore | None:
        """Another registry keeps its storage behind its API: there is nowhere to keep a journal."""
        return None

    def _read_only(self, what: str) -> Unsupported:
        return Unsupported(f"cannot {what}: read-only origin {self.base_url}; push to the origin directly")

    async def put_blob(self, digest: Digest, staged: Path) -> None:
        raise self._read_only(f"store blob {digest}")

    async def link_blob(self, repo: str, digest: Digest, source: str | None = None) -> None:
        raise self._read_only(f"link blob {digest} into {repo}")

    async def unlink_blob(self, repo: str, digest: Digest) -> None:
        raise self._read_only(f"delete blob {digest} from {repo}")

    async def put_manifest(self, repo: str, digest: Digest, data: bytes, tag: str | None) -> None:
        raise self._read_only(f"store manifest {digest} in {repo}")

    async def delete_manifest(self, repo: str, digest: Digest) -> None:
        raise self._read_only(f"delete manifest {digest} from {repo}")

    async def delete_tag(self, repo: str, tag: str) -> None:
        raise self._read_only(f"delete tag {tag} from {repo}")

    async def add_referrer(self, repo: str, subject: Digest, referrer: Digest) -> None:
        raise self._read_only(f"record referrer {referrer} of {subject} in {repo}")
