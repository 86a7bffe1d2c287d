"""The S3 origin: the production source of truth, shared by a fleet of nodes.

Objects are laid out as CNCF distribution's s3 driver lays them out under the bucket's
prefix (`origin/layout.py`), so distribution and ocicache serve each other's pushes.
Every object is written whole by one PUT (or a completed multipart upload), so readers
never see a partial object. Blob uploads are written through by `s3uploads.S3Uploads`.
Listings are read a page at a time from the origin's listing index (`s3listings.py`).
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator

from .. import errors
from ..config import S3Config
from ..errors import OCIError
from ..reference import SUPPORTED, Digest
from . import layout
from .base import CacheInFront, Health, JournalStore, LocalCopies, OpenedBlob, UploadMode
from .s3client import S3, Missing, S3Settings
from .s3journal import BucketJournal
from .s3listings import BucketListings
from .s3uploads import S3Uploads

READ_CHUNK = 1024 * 1024


def open_bucket(url: str, c: S3Config) -> S3Origin:
    """The origin of `s3://bucket/prefix` with the [s3] section's endpoint, credentials and part
    sizes (what origin/factory.py calls once it has imported this module by name)."""
    bucket, _, prefix = url[len("s3://"):].partition("/")
    return S3Origin(S3Settings(bucket, prefix, c.endpoint_url or None, c.region or None, c.addressing_style,
                               c.access_key_id or None, c.secret_access_key or None, c.max_connections),
                    part_bytes=c.part_bytes, parts_in_flight=c.parts_in_flight)


class S3Origin:
    kind = "s3"
    upload_mode = UploadMode.WRITE_THROUGH

    def __init__(self, settings: S3Settings, part_bytes: int = 8 << 20, parts_in_flight: int = 2) -> None:
        self.s3 = S3(settings)
        prefix = settings.prefix.strip("/")
        self.root = f"{prefix}/{layout.ROOT}" if prefix else layout.ROOT  # a key prefix, not a folder
        self.journal_prefix = f"{prefix}/{layout.PURGES}/" if prefix else f"{layout.PURGES}/"
        self.listings = BucketListings(self.s3, f"{prefix}/" if prefix else "", self.root)
        self.part_bytes = part_bytes
        self.parts_in_flight = parts_in_flight

    # ---- what callers ask ----
    async def check(self) -> Health:
        """The bucket answers a HEAD with the node's credentials."""
        endpoint = self.s3.settings.endpoint_url or "AWS S3"
        try:
            await self.s3.head_bucket("checking the bucket")
        except Missing:
            return Health(False, f"bucket {self.s3.bucket} does not exist at {endpoint}: create it, or fix "
                          "[storage] origin / [s3] endpoint_url")
        except OCIError as exc:
            return Health(False, exc.message)
        return Health(True, f"{self.s3.where} at {endpoint} reachable")

    def open_uploads(self, local_copies: LocalCopies | None = None) -> S3Uploads:
        """Sessions kept in the bucket, written through part by part (any node may continue one)."""
        return S3Uploads(self, self.part_bytes, self.parts_in_flight,
                         spool_dir=local_copies.spool_dir if local_copies else None,
                         keep=local_copies.keep if local_copies else None)

    def cache(self) -> CacheInFront | None:
        return None

    def purge_journal(self) -> JournalStore | None:
        """Objects under `<prefix>/_ocicache/purges/`, beside `docker/`: one LIST reads it."""
        return BucketJournal(self.s3, self.journal_prefix)

    def key(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    async def _link(self, relative: str) -> Digest | None:
        return layout.parse_link(await self.s3.get_or_none(self.key(relative), f"reading {relative}"))

    async def _write_link(self, relative: str, digest: Digest) -> None:
        await self.s3.put(self.key(relative), str(digest).encode(), f"writing {relative}")

    # ---- blobs ----
    async def blob_size(self, repo: str, digest: Digest) -> int:
        try:
            return await self.s3.head_size(self.key(layout.blob_data(digest)), f"stat of blob {digest}")
        except Missing:
            raise OCIError(errors.BLOB_UNKNOWN, f"blob {digest} is not in {self.s3.where}",
                           detail={"digest": str(digest)}) from None

    def local_blob_path(self, digest: Digest) -> Path | None:
        return None

    async def read_blob(self, repo: str, digest: Digest, offset: int = 0,
                        length: int | None = None) -> AsyncIterator[bytes]:
        what = f"reading blob {digest} of {repo} from byte {offset}"
        try:
            body = await self.s3.call(what, self.s3.open_range, self.key(layout.blob_data(digest)), offset, length)
        except Missing:
            raise OCIError(errors.BLOB_UNKNOWN, f"blob {digest} is not in {self.s3.where}",
                           detail={"digest": str(digest)}) from None
        async for chunk in self._chunks(body, what, digest):
            yield chunk

    async def open_blob(self, repo: str, digest: Digest, offset: int = 0) -> OpenedBlob:
        """The link read, then one GetObject: its ContentLength (a ranged one's ContentRange) is
        the size, so no HEAD is made."""
        if not await self.blob_linked(repo, digest):
            raise OCIError(errors.BLOB_UNKNOWN, f"blob {digest} is not in repository {repo} in {self.s3.where}",
                           detail={"name": repo, "digest": str(digest)})
        what = f"reading blob {digest} of {repo} from byte {offset}"
        try:
            size, body = await self.s3.call(what, self._get_object, self.key(layout.blob_data(digest)), offset)
        except Missing:
            raise OCIError(errors.BLOB_UNKNOWN, f"blob {digest} is not in {self.s3.where}",
                           detail={"digest": str(digest)}) from None
        return OpenedBlob(size, self._chunks(body, what, digest))

    def _get_object(self, key: str, offset: int) -> tuple[int, object]:
        """(whole size, streaming body) of one GetObject from `offset` (blocking; through `call`)."""
        if offset == 0:
            got = self.s3.client.get_object(Bucket=self.s3.bucket, Key=key)
            return int(got["ContentLength"]), got["Body"]
        got = self.s3.client.get_object(Bucket=self.s3.bucket, Key=key, Range=f"bytes={offset}-")
        return int(str(got["ContentRange"]).rsplit("/", 1)[1]), got["Body"]

    async def _chunks(self, body, what: str, digest: Digest) -> AsyncIterator[bytes]:
        try:
            while chunk := await self.s3.call(what, body.read, READ_CHUNK):
                yield chunk
        except Missing:
            raise OCIError(errors.UNAVAILABLE, f"blob {digest} vanished from {self.s3.where} while read") from None
        finally:
            await asyncio.get_running_loop().run_in_executor(None, body.close)

    async def put_blob(self, digest: Digest, staged: Path) -> None:
        await self.s3.call(f"uploading blob {digest}", self.s3.client.upload_file, str(staged),
                           self.s3.bucket, self.key(layout.blob_data(digest)))
        Path(staged).unlink(missing_ok=True)

    async def link_blob(self, repo: str, digest: Digest, source: str | None = None) -> None:
        await self._write_link(layout.layer_link(repo, digest), digest)

    async def blob_linked(self, repo: str, digest: Digest) -> bool:
        for relative in (layout.layer_link(repo, digest), layout.revision_link(repo, digest)):
            if await self._link(relative) == digest:
                return True
        return False

    async def unlink_blob(self, repo: str, digest: Digest) -> None:
        relative = layout.layer_link(repo, digest)
        if await self._link(relative) != digest:
            raise OCIError(errors.BLOB_UNKNOWN, f"blob {digest} is not linked in repository {repo}",
                           detail={"digest": str(digest), "name": repo})
        await self.s3.delete(self.key(relative), f"unlinking blob {digest} from {repo}")

    # ---- manifests and tags ----
    async def get_manifest(self, repo: str, digest: Digest) -> bytes:
        if await self._link(layout.revision_link(repo, digest)) != digest:
            raise layout.manifest_unknown(repo, digest)
        try:
            return await self.s3.get(self.key(layout.blob_data(digest)), f"reading manifest {digest}")
        except Missing:
            raise OCIError(errors.MANIFEST_UNKNOWN, f"manifest {digest} of {repo} is linked but its blob is "
                           f"missing from {self.s3.where}; re-push it", detail={"digest": str(digest)}) from None

    async def put_manifest(self, repo: str, digest: Digest, data: bytes, tag: str | None) -> None:
        await self.s3.put(self.key(layout.blob_data(digest)), data, f"writing manifest {digest}")
        await self._write_link(layout.revision_link(repo, digest), digest)
        if tag is not None:
            await self._write_link(layout.tag_index_link(repo, tag, digest), digest)
            await self._write_link(layout.tag_current_link(repo, tag), digest)
        await self.listings.add(repo, tag)  # after the links: a listed tag resolves

    async def resolve_tag(self, repo: str, tag: str) -> Digest:
        digest = await self._link(layout.tag_current_link(repo, tag))
        if digest is None:
            raise layout.tag_unknown(repo, tag)
        return digest

    async def delete_manifest(self, repo: str, digest: Digest) -> None:
        relative = layout.revision_link(repo, digest)
        if await self._link(relative) != digest:
            raise layout.manifest_unknown(repo, digest)
        for tag in await self._tags(repo):
            if await self._link(layout.tag_current_link(repo, tag)) == digest:
                await self.listings.remove_tag(repo, tag)
                await self.s3.delete_prefix(self.key(layout.tag_dir(repo, tag)) + "/", f"deleting tag {tag}")
        await self.s3.delete(self.key(relative), f"deleting manifest {digest} of {repo}")

    async def delete_tag(self, repo: str, tag: str) -> None:
        await self.resolve_tag(repo, tag)
        await self.listings.remove_tag(repo, tag)
        await self.s3.delete_prefix(self.key(layout.tag_dir(repo, tag)) + "/", f"deleting tag {tag} of {repo}")

    async def _tags(self, repo: str) -> list[str]:
        return sorted(await self.s3.list_dirs(self.key(layout.tags_dir(repo)) + "/", f"listing tags of {repo}"))

    async def list_tags(self, repo: str, n: int | None = None, last: str | None = None) -> list[str]:
        found = await self.s3.list_dirs(self.key(layout.repo(repo)) + "/", f"listing repository {repo}")
        if layout.MANIFESTS not in found:
            raise OCIError(errors.NAME_UNKNOWN, f"repository {repo} is not known to {self.s3.where}",
                           detail={"name": repo})
        return await self.listings.tags(repo, n, last)

    async def list_repositories(self, n: int | None = None, last: str | None = None) -> list[str]:
        return await self.listings.repositories(n, last)

    # ---- referrers ----
    async def add_referrer(self, repo: str, subject: Digest, referrer: Digest) -> None:
        await self._write_link(layout.referrer_link(repo, subject, referrer), referrer)

    async def list_referrers(self, repo: str, subject: Digest) -> list[Digest]:
        found = []
        for algorithm in SUPPORTED:  # referrers of one subject may be sha256 and sha512 manifests
            base = layout.referrers_dir(repo, subject, algorithm)
            for hexdigest in sorted(await self.s3.list_dirs(self.key(base) + "/", f"listing referrers of {subject}")):
                digest = await self._link(layout.referrer_link(repo, subject, Digest(algorithm, hexdigest)))
                if digest is not None and await self._link(layout.revision_link(repo, digest)) == digest:
                    found.append(digest)
        return found

    async def close(self) -> None:
        await self.s3.close()
