"""The local-directory origin, laid out as CNCF distribution's filesystem driver lays it out.

    <root>/docker/registry/v2/blobs/sha256/<hex[:2]>/<hex>/data
    <root>/docker/registry/v2/repositories/<name>/_layers/sha256/<hex>/link
    <root>/docker/registry/v2/repositories/<name>/_manifests/revisions/sha256/<hex>/link
    <root>/docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/current/link
    <root>/docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/index/sha256/<hex>/link
    <root>/docker/registry/v2/repositories/<name>/_refs/subjects/sha256/<subject>/sha256/<hex>/link

so a `registry:2` pointed at <root> reads what ocicache wrote, and the other way round.
`sha256` stands for the digest's algorithm: sha512 content lives under `blobs/sha512/`,
`_layers/sha512/`, `_manifests/revisions/sha512/` (links hold `sha512:<hex>`), where
CNCF distribution v3 looks up a sha512 digest.
Every write lands in a temporary file in the target folder and is renamed into place,
so readers never see a partial file. Names, tags and digests reaching this module have
been checked against the spec's grammar, which admits no '..' and no absolute paths.
Listings are read a page at a time from an ordered index beside the layout
(`listindex.py`), each listed name checked against the layout.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path
from typing import AsyncIterator, Iterator

from .. import errors
from ..errors import OCIError, Unsupported
from ..hotpaths import rangecopy
from ..reference import SUPPORTED, Digest
from . import layout
from .base import CacheInFront, Health, JournalStore, LocalCopies, OpenedBlob, UploadMode
from .journals import DirectoryJournal
from .listindex import ListingIndex, checked_page
from .uploads import UploadStore

READ_CHUNK = 1024 * 1024


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _read_link(path: Path) -> Digest | None:
    try:
        return layout.parse_link(path.read_bytes())
    except (FileNotFoundError, NotADirectoryError):
        return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemOrigin:
    """Content in a local directory; blobs are served zero-copy from their files."""

    kind = "directory"
    upload_mode = UploadMode.STAGED

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.base = self.root / layout.ROOT
        (self.base / layout.BLOBS).mkdir(parents=True, exist_ok=True)
        (self.base / layout.REPOSITORIES).mkdir(parents=True, exist_ok=True)
        self.listings = ListingIndex(self.root / layout.LISTINGS, self._walk_layout)

    # ---- what callers ask ----
    async def check(self) -> Health:
        """The directory lists and takes a file (a probe written and removed in blobs/)."""
        return await asyncio.to_thread(self._check)

    def _check(self) -> Health:
        probe = self.base / layout.BLOBS / f".check.{uuid.uuid4().hex}"
        try:
            os.listdir(self.base / layout.REPOSITORIES)
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            return Health(False, f"{self.root} is not readable and writable ({exc.strerror or exc}); check "
                          "the directory origin's permissions, its mount and its disk")
        return Health(True, f"{self.root} is readable and writable")

    def open_uploads(self, local_copies: LocalCopies | None = None) -> UploadStore:
        raise Unsupported(f"the directory origin {self.root} keeps no upload sessions; they are staged "
                          "on the node and handed over by put_blob")

    def cache(self) -> CacheInFront | None:
        return None

    def purge_journal(self) -> JournalStore | None:
        """`<root>/_ocicache/purges/`, beside `docker/`."""
        return DirectoryJournal(self.root / layout.PURGES)

    # ---- paths (origin/layout.py) ----
    def _blob_data(self, digest: Digest) -> Path:
        return self.base / layout.blob_data(digest)

    def _layer_link(self, repo: str, digest: Digest) -> Path:
        return self.base / layout.layer_link(repo, digest)

    def _revision_link(self, repo: str, digest: Digest) -> Path:
        return self.base / layout.revision_link(repo, digest)

    def _tag_dir(self, repo: str, tag: str) -> Path:
        return self.base / layout.tag_dir(repo, tag)

    # ---- blobs ----
    async def blob_size(self, repo: str, digest: Digest) -> int:
        try:
            return self._blob_data(digest).stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            raise OCIError(errors.BLOB_UNKNOWN, f"blob {digest} is not in the origin",
                           detail={"digest": str(digest)}) from None

    def local_blob_path(self, digest: Digest) -> Path | None:
        return self._blob_data(digest)

    async def read_blob(self, repo: str, digest: Digest, offset: int = 0,
                        length: int | None = None) -> AsyncIterator[bytes]:
        try:
            fh = open(self._blob_data(digest), "rb")
        except FileNotFoundError:
            raise OCIError(errors.BLOB_UNKNOWN, f"blob {digest} is not in the origin",
                           detail={"digest": str(digest)}) from None
        with fh:
            end = os.fstat(fh.fileno()).st_size if length is None else offset + length
            while offset < end:
                chunk = os.pread(fh.fileno(), min(READ_CHUNK, end - offset), offset)
                if not chunk:
                    break
                offset += len(chunk)
                yield chunk

    async def open_blob(self, repo: str, digest: Digest, offset: int = 0) -> OpenedBlob:
        """The link read, a stat of the file, then its bytes (no request to count here)."""
        if not await self.blob_linked(repo, digest):
            raise OCIError(errors.BLOB_UNKNOWN, f"blob {digest} is not in repository {repo}",
                           detail={"name": repo, "digest": str(digest)})
        return OpenedBlob(await self.blob_size(repo, digest), self.read_blob(repo, digest, offset))

    async def put_blob(self, digest: Digest, staged: Path) -> None:
        await asyncio.to_thread(self._put_blob, digest, Path(staged))

    def _put_blob(self, digest: Digest, staged: Path) -> None:
        target = self._blob_data(digest)
        if target.exists():
            staged.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(staged, "rb") as fh:
            os.fsync(fh.fileno())
        try:
            os.rename(staged, target)
        except OSError as exc:
            if exc.errno != 18:  # EXDEV: staging is on another filesystem; copy then rename
                raise
            tmp = target.with_name(f".data.{uuid.uuid4().hex}.tmp")
            size = staged.stat().st_size
            with open(staged, "rb") as src, open(tmp, "wb") as dst:
                copied = rangecopy.copy_range(src.fileno(), dst.fileno(), 0, 0, size)
                if copied != size:
                    raise OSError(f"copied {copied} of {size} bytes of {digest} into the origin")
                os.fsync(dst.fileno())
            os.rename(tmp, target)
            staged.unlink()
        _fsync_dir(target.parent)

    async def link_blob(self, repo: str, digest: Digest, source: str | None = None) -> None:
        link = self._layer_link(repo, digest)
        if _read_link(link) != digest:
            _write_atomic(link, str(digest).encode())

    async def blob_linked(self, repo: str, digest: Digest) -> bool:
        return (_read_link(self._layer_link(repo, digest)) == digest
                or _read_link(self._revision_link(repo, digest)) == digest)

    async def unlink_blob(self, repo: str, digest: Digest) -> None:
        link = self._layer_link(repo, digest)
        if _read_link(link) != digest:
            raise OCIError(errors.BLOB_UNKNOWN, f"blob {digest} is not linked in repository {repo}",
                           detail={"digest": str(digest), "name": repo})
        shutil.rmtree(link.parent, ignore_errors=True)

    # ---- manifests and tags ----
    async def get_manifest(self, repo: str, digest: Digest) -> bytes:
        if _read_link(self._revision_link(repo, digest)) != digest:
            raise layout.manifest_unknown(repo, digest)
        try:
            return self._blob_data(digest).read_bytes()
        except FileNotFoundError:
            raise OCIError(errors.MANIFEST_UNKNOWN, f"manifest {digest} of repository {repo} is linked "
                           "but its blob is missing from the origin (run `ocicache gc` or re-push)",
                           detail={"name": repo, "digest": str(digest)}) from None

    async def put_manifest(self, repo: str, digest: Digest, data: bytes, tag: str | None) -> None:
        blob = self._blob_data(digest)
        if not blob.exists():
            _write_atomic(blob, data)
        _write_atomic(self._revision_link(repo, digest), str(digest).encode())
        if tag is not None:
            _write_atomic(self.base / layout.tag_index_link(repo, tag, digest), str(digest).encode())
            _write_atomic(self.base / layout.tag_current_link(repo, tag), str(digest).encode())
        await asyncio.to_thread(self.listings.add, repo, tag)  # after the links: a listed tag resolves

    async def resolve_tag(self, repo: str, tag: str) -> Digest:
        digest = _read_link(self.base / layout.tag_current_link(repo, tag))
        if digest is None:
            raise layout.tag_unknown(repo, tag)
        return digest

    async def delete_manifest(self, repo: str, digest: Digest) -> None:
        link = self._revision_link(repo, digest)
        if _read_link(link) != digest:
            raise layout.manifest_unknown(repo, digest)
        gone = [tag for tag in self._tags_on_disk(repo)
                if _read_link(self.base / layout.tag_current_link(repo, tag)) == digest]
        for tag in gone:
            shutil.rmtree(self._tag_dir(repo, tag), ignore_errors=True)
        shutil.rmtree(link.parent, ignore_errors=True)
        await asyncio.to_thread(self.listings.forget, repo, gone)

    async def delete_tag(self, repo: str, tag: str) -> None:
        await self.resolve_tag(repo, tag)
        shutil.rmtree(self._tag_dir(repo, tag), ignore_errors=True)
        await asyncio.to_thread(self.listings.forget, repo, [tag])

    # ---- listings (origin/listindex.py) ----
    def _tags_on_disk(self, repo: str) -> list[str]:
        """Every tag of `repo` in the layout (a directory listing: for deletes and rebuilds)."""
        try:
            return [p.name for p in (self.base / layout.tags_dir(repo)).iterdir()
                    if (self.base / layout.tag_current_link(repo, p.name)).exists()]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _walk_layout(self) -> Iterator[tuple[str, list[str]]]:
        """Every repository holding manifests, with its tags: what rebuilds the index."""
        top = self.base / layout.REPOSITORIES
        for dirpath, dirnames, _ in os.walk(top):
            if layout.MANIFESTS in dirnames:
                repo = os.path.relpath(dirpath, top)
                yield repo, self._tags_on_disk(repo)
            dirnames[:] = [d for d in dirnames if not d.startswith("_")]

    async def list_tags(self, repo: str, n: int | None = None, last: str | None = None) -> list[str]:
        if not (self.base / layout.manifests_dir(repo)).is_dir():
            raise OCIError(errors.NAME_UNKNOWN, f"repository {repo} is not known to the origin",
                           detail={"name": repo})
        return await asyncio.to_thread(
            checked_page, lambda want, after: self.listings.tags(repo, want, after),
            lambda tag: (self.base / layout.tag_current_link(repo, tag)).exists(),
            lambda gone: self.listings.forget(repo, gone), n, last)

    async def list_repositories(self, n: int | None = None, last: str | None = None) -> list[str]:
        return await asyncio.to_thread(
            checked_page, self.listings.repositories,
            lambda name: (self.base / layout.manifests_dir(name)).is_dir(),
            lambda gone: self.listings.forget(None, gone), n, last)

    # ---- referrers ----
    async def add_referrer(self, repo: str, subject: Digest, referrer: Digest) -> None:
        link = self.base / layout.referrer_link(repo, subject, referrer)
        _write_atomic(link, str(referrer).encode())

    async def list_referrers(self, repo: str, subject: Digest) -> list[Digest]:
        found = []
        for algorithm in SUPPORTED:  # referrers of one subject may be sha256 and sha512 manifests
            try:
                entries = sorted((self.base / layout.referrers_dir(repo, subject, algorithm)).iterdir())
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                digest = _read_link(entry / "link")
                if digest is not None and _read_link(self._revision_link(repo, digest)) == digest:
                    found.append(digest)
        return found

    async def close(self) -> None:
        self.listings.close()
