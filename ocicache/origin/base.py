"""The `Origin` protocol: what every origin does, and what callers ask of it instead of testing
its class (health, how uploads are made for it, whether it is a cache in front of another).

Contracts (every implementation keeps them; tests/conformance runs one suite against the
directory, S3 and registry origins):
- Blobs are global and content-addressed; a repository sees a blob only once it is linked
  to it (`link_blob`), as in CNCF distribution's storage.
- `put_blob` makes a blob readable by digest only after all its bytes are durable; a reader
  never sees a partial blob. The caller has verified the digest.
- Manifests are stored as blobs and linked as revisions of a repository; a tag names one
  revision. `put_manifest` is visible to readers once it returns.
- Missing things raise OCIError with BLOB_UNKNOWN, MANIFEST_UNKNOWN or NAME_UNKNOWN;
  backend failures are translated to OCIError(UNAVAILABLE) where the backend is called,
  never leaked.
- Optional abilities raise `Unsupported` (writes of a read-only origin, `open_uploads` of an
  origin that does not keep upload sessions) or return None (`local_blob_path`, `cache`,
  `purge_journal` of an origin that cannot keep one: another registry).
"""
from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Callable, Protocol

from ..reference import Digest
from .uploads import UploadStore


def page_of(items: list[str], n: int | None, last: str | None) -> list[str]:
    """The page after `last` of at most `n` of sorted `items`, for origins that read a whole
    listing anyway (another registry; S3 lists every key)."""
    start = 0 if last is None else bisect.bisect_right(items, last)
    return items[start:] if n is None else items[start:start + n]


class UploadMode(enum.Enum):
    STAGED = "staged"
    """Sessions are staged on this node's disk and handed over whole by `put_blob` (directory)."""
    WRITE_THROUGH = "write-through"
    """The origin keeps the sessions, written as the bytes arrive (S3; another registry, to
    which each request is forwarded): `open_uploads()`."""
    READ_ONLY = "read-only"
    """The origin takes no writes (a mirrored upstream, `[origin] read_only`): writes raise Unsupported."""


@dataclass(frozen=True)
class OpenedBlob:
    """What `Origin.open_blob` answers: the blob's whole size, and its bytes from the offset
    asked (the caller iterates `chunks` to the end or closes it)."""

    size: int
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True)
class Health:
    """One origin's answer to `check()`: whether it can serve, and what was seen (for /readyz)."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class LocalCopies:
    """Where write-through uploads spool a local copy, and who takes the finished copy
    (`keep(digest, path, size)`: the edge cache keeps what this node pushed; True when it took
    it, False when it held the blob already or would not admit it) and gives one back
    (`forget(digest)`: a copy kept for a push its origin then refused)."""

    spool_dir: Path
    keep: Callable[[Digest, Path, int], bool]
    forget: Callable[[Digest], object]


class JournalStore(Protocol):
    """Small named objects kept in the origin itself, readable by every node sharing it: the
    purge journal (cache/journal.py). Names are `layout.purge_entry` names; failures are
    OCIError(UNAVAILABLE) naming the origin."""

    where: str
    """Where the entries live, for operators: `s3://bucket/prefix/_ocicache/purges/`, a folder."""

    async def put(self, name: str, data: bytes) -> None:
        """Write one entry whole (readers never see part of it)."""

    async def names(self) -> list[str]:
        """Every entry's name (one listing: one LIST per 1,000 entries on S3)."""

    async def get(self, name: str) -> bytes | None:
        """An entry's bytes; None if it is gone (removed by another node meanwhile)."""

    async def delete(self, name: str) -> None:
        """Remove an entry (gone already is fine)."""


class CacheInFront(Protocol):
    """A cache in front of another origin (ocicache.cache.CachingOrigin): what operators act on."""

    remote: Origin

    def stats(self) -> dict[str, int]:
        """Entries, bytes, hits, misses, evictions of its store."""

    def forget_tag(self, repo: str, tag: str) -> None:
        """Drop a tag's cached answer (this worker's)."""

    def forget_repository_tags(self, repo: str) -> None:
        """Drop the cached answers of every tag of `repo` (this worker's)."""

    def remove(self, digest: Digest) -> int:
        """Drop a blob or manifest from the store; returns the bytes freed."""

    def pin(self, repo: str, digests: list[str]) -> None:
        """Keep what `repo` holds from eviction."""

    def unpin(self, repo: str) -> bool:
        """Stop pinning `repo`; False if it was not pinned."""

    def pins(self) -> list[dict]:
        """Pinned repositories with what the store holds for each."""

    def evictions(self, n: int) -> list[dict]:
        """The last `n` eviction batches of its store (every worker's), newest first: at,
        blobs, bytes, oldest_access (the least recently used blob's last access)."""

    def top_repositories(self, n: int) -> list[dict]:
        """The `n` repositories whose stored blobs hold the most bytes (repository, blobs,
        bytes): reads every link of the index, so callers run it off the loop and seldom;
        UNAVAILABLE when the index cannot be read."""

    def fills(self) -> list[dict]:
        """The fills running in this worker now (digest, size, readable, readers, error, and
        the seconds since each started); called on the event loop."""

    async def size_for_read(self, repo: str, digest: Digest) -> int:
        """Size of a blob a client is about to read (a GET): a miss starts the blob's fill and
        takes the size from the fill's one origin GET, asking no HEAD; BLOB_UNKNOWN as blob_size."""


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

    async def open_blob(self, repo: str, digest: Digest, offset: int = 0) -> "OpenedBlob":
        """The whole size of a blob `repo` sees, and its bytes from `offset` (as `read_blob`),
        learned in one backend request where the backend allows (a registry's GET and its
        Content-Length, S3's GetObject, a stat of the file): a cache's fill starts from it,
        so a miss costs no HEAD. BLOB_UNKNOWN if `repo` does not see the blob."""

    async def put_blob(self, digest: Digest, staged: Path) -> None:
        """Take the verified file `staged` (consumed) as the content of `digest`."""

    async def link_blob(self, repo: str, digest: Digest, source: str | None = None) -> None:
        """Make a stored blob visible in `repo`; `source`: a repository known to hold it (a
        mount; a registry origin mounts from there, BLOB_UNKNOWN if it cannot)."""

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

    async def list_tags(self, repo: str, n: int | None = None, last: str | None = None) -> list[str]:
        """Tags of `repo` sorted by byte value: those after `last`, at most `n` (all when None);
        NAME_UNKNOWN if the repository has no manifests. A page costs what it holds on the
        directory origin (its listing index), not what the repository holds."""

    async def list_repositories(self, n: int | None = None, last: str | None = None) -> list[str]:
        """Repositories holding at least one manifest, sorted: those after `last`, at most `n`."""

    async def add_referrer(self, repo: str, subject: Digest, referrer: Digest) -> None:
        """Record that manifest `referrer` names `subject` in its `subject` field."""

    async def list_referrers(self, repo: str, subject: Digest) -> list[Digest]:
        """Manifests of `repo` recorded as referring to `subject`, sorted."""

    async def close(self) -> None:
        """Release connections and threads."""

    # ---- what callers ask instead of testing the class ----
    kind: str
    """What it is, for logs and /readyz: "directory", "s3", "registry", or "cache of <kind>"."""

    upload_mode: UploadMode
    """How blob uploads are made for it (see UploadMode)."""

    async def check(self) -> Health:
        """Whether it can serve now, in its own terms (directory readable and writable, bucket
        reachable with the configured credentials, upstream `/v2/` answering). Never raises;
        the caller bounds how long it waits."""

    def open_uploads(self, local_copies: "LocalCopies | None" = None) -> "UploadStore":
        """The origin's own upload sessions (UploadMode.WRITE_THROUGH only; Unsupported otherwise).
        `local_copies` receives a copy of each blob whose every byte went through this node."""

    def cache(self) -> "CacheInFront | None":
        """The cache this origin is, when it is a cache in front of another origin; else None."""

    def purge_journal(self) -> "JournalStore | None":
        """Where nodes sharing this origin record and read admin purges (a bucket's or a
        directory's `_ocicache/purges/`); None when the origin cannot keep one (another
        registry): a purge then reaches only the node that took it."""
