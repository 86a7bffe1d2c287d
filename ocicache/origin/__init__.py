"""The origin: where content lives for good. One small protocol, several implementations.

Contracts (every implementation keeps them; `tests/conformance` runs one suite against each):
- Blobs are global and content-addressed; a repository sees a blob only once it is linked
  to it (`link_blob`), as in CNCF distribution's storage.
- `put_blob` makes a blob readable by digest only after all its bytes are durable; a reader
  never sees a partial blob. The caller has verified the digest.
- Manifests are stored as blobs and linked as revisions of a repository; a tag names one
  revision. `put_manifest` is visible to readers once it returns.
- Missing things raise OCIError with BLOB_UNKNOWN, MANIFEST_UNKNOWN or NAME_UNKNOWN;
  backend failures are translated to OCIError(UNAVAILABLE) here, never leaked.
- Optional abilities (e.g. `local_blob_path`) raise `Unsupported` or return None.
"""
from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, Protocol

from ..reference import Digest


class Origin(Protocol):
    async def blob_size(self, repo: str, digest: Digest) -> int:
        """Size of a stored blob, as reached through `repo`; BLOB_UNKNOWN if absent."""

    def local_blob_path(self, digest: Digest) -> Path | None:
        """A file holding the blob for zero-copy serving, or None if the origin is not local."""

    def read_blob(self, repo: str, digest: Digest, offset: int = 0,
                  length: int | None = None) -> AsyncIterator[bytes]:
        """Bytes [offset, offset+length) of a blob (to its end when length is None), in bounded
        chunks. BLOB_UNKNOWN before the first chunk if absent; UNAVAILABLE if the backend
        fails part-way (the caller may resume from where it got to)."""

    async def put_blob(self, digest: Digest, staged: Path) -> None:
        """Take the verified file `staged` (consumed) as the content of `digest`."""

    async def link_blob(self, repo: str, digest: Digest) -> None:
        """Make a stored blob visible in `repo`."""

    async def blob_linked(self, repo: str, digest: Digest) -> bool:
        """Whether `repo` sees the blob (as a layer/config or as a manifest revision)."""

    async def unlink_blob(self, repo: str, digest: Digest) -> None:
        """Hide the blob from `repo`; BLOB_UNKNOWN if it was not linked."""

    async def get_manifest(self, repo: str, digest: Digest) -> bytes:
        """The manifest bytes of a revision of `repo`; MANIFEST_UNKNOWN if absent."""

    async def put_manifest(self, repo: str, digest: Digest, data: bytes, tag: str | None) -> None:
        """Store manifest bytes under `digest` in `repo`, and point `tag` at it if given."""

    async def resolve_tag(self, repo: str, tag: str) -> Digest:
        """The digest a tag points at; MANIFEST_UNKNOWN if the tag does not exist."""

    async def delete_manifest(self, repo: str, digest: Digest) -> None:
        """Remove a revision and every tag pointing at it; MANIFEST_UNKNOWN if absent."""

    async def delete_tag(self, repo: str, tag: str) -> None:
        """Remove one tag (the revision stays); MANIFEST_UNKNOWN if absent."""

    async def list_tags(self, repo: str) -> list[str]:
        """All tags of `repo`, sorted; NAME_UNKNOWN if the repository has no manifests."""

    async def list_repositories(self) -> list[str]:
        """All repositories that hold at least one manifest, sorted."""

    async def add_referrer(self, repo: str, subject: Digest, referrer: Digest) -> None:
        """Record that manifest `referrer` names `subject` in its `subject` field."""

    async def list_referrers(self, repo: str, subject: Digest) -> list[Digest]:
        """Manifests of `repo` recorded as referring to `subject`, sorted."""

    async def close(self) -> None:
        """Release connections and threads."""


def open_origin(url: str, s3: "S3Config | None" = None, timeout: float | None = None) -> Origin:
    """The origin named by a config URL: file:///path, s3://bucket/prefix or http(s)://host[:port].
    `timeout`: seconds an http(s) origin may stay silent (default: DistributionOrigin's)."""
    if url.startswith("s3://"):
        from ..config import S3Config
        from .s3 import S3Origin
        from .s3client import S3Settings

        c = s3 or S3Config()
        bucket, _, prefix = url[len("s3://"):].partition("/")
        return S3Origin(S3Settings(bucket, prefix, c.endpoint_url or None, c.region or None, c.addressing_style,
                                   c.access_key_id or None, c.secret_access_key or None, c.max_connections))
    if url.startswith("file://"):
        from .fs import FilesystemOrigin
        return FilesystemOrigin(Path(url[len("file://"):]))
    if url.startswith(("http://", "https://")):
        from .distribution import DistributionOrigin
        return DistributionOrigin(url) if timeout is None else DistributionOrigin(url, read_timeout=timeout)
    from ..config import ConfigError
    raise ConfigError(f"origin {url!r}: unsupported scheme (use file:///path, s3://bucket/prefix or http(s)://host[:port])")
