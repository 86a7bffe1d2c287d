"""The registry: blobs, manifests, tags, uploads and referrers over one origin.

Handlers call only this object. It validates what the grammar in `reference` cannot
(manifest contents, references between manifests and blobs, upload order) and leaves
storage to the origin.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import AsyncContextManager, AsyncIterable, AsyncIterator

from .. import errors, metrics
from ..errors import OCIError
from ..hotpaths import digest as hashing
from ..origin import Origin
from ..reference import Digest
from ..cache.manifests import ManifestCache
from ..oci import manifests
from ..oci.manifests import Descriptor
from .uploads import UploadSession, UploadStore


@dataclass(frozen=True)
class BlobInfo:
    digest: Digest
    size: int
    path: Path | None  # a local file holding it, for zero-copy serving


@dataclass(frozen=True)
class ManifestInfo:
    digest: Digest
    media_type: str
    data: bytes
    subject: Digest | None


class Registry:
    def __init__(self, origin: Origin, uploads: UploadStore, max_manifest_bytes: int,
                 cache: ManifestCache[ManifestInfo] | None = None, read_only: str | None = None) -> None:
        """`read_only`: when set (`[origin] read_only`), every write is refused at its first
        request, with this hint of where to push instead."""
        self.origin = origin
        self.read_only = read_only
        self.uploads = uploads
        self.max_manifest_bytes = max_manifest_bytes
        self.cache: ManifestCache[ManifestInfo] = cache if cache is not None else ManifestCache()

    # ---- blobs ----
    async def blob(self, repo: str, digest: Digest, reading: bool = False) -> BlobInfo:
        """`reading`: the body follows (a GET); a cache in front of a remote then learns the
        size from the fill's origin GET instead of asking first with a HEAD."""
        cache = self.origin.cache() if reading else None
        if cache is not None:
            size = await cache.size_for_read(repo, digest)
        elif not await self.origin.blob_linked(repo, digest):
            raise OCIError(errors.BLOB_UNKNOWN, f"blob {digest} is not in repository {repo}",
                           detail={"name": repo, "digest": str(digest)})
        else:
            size = await self.origin.blob_size(repo, digest)
        return BlobInfo(digest, size, self.origin.local_blob_path(digest))

    def read_blob(self, repo: str, digest: Digest, offset: int, length: int) -> AsyncIterator[bytes]:
        return self.origin.read_blob(repo, digest, offset, length)

    def wrote(self, repo: str) -> None:
        """After a write to `repo`: every worker of this node drops what it kept of it."""
        self.cache.generations.bump(repo)

    def refuse_writes(self, repo: str, what: str, allow: str) -> None:
        """405 at the first request of a write when this node is read-only (`Allow`: what the
        URL still takes)."""
        if self.read_only is not None:
            raise OCIError(errors.UNSUPPORTED, f"this node is read-only ([origin] read_only = true): it does "
                           f"not {what} in repository {repo}; {self.read_only}",
                           detail={"name": repo}, headers={"Allow": allow})

    async def delete_blob(self, repo: str, digest: Digest) -> None:
        self.refuse_writes(repo, f"delete blob {digest}", "GET, HEAD")
        try:
            await self.origin.unlink_blob(repo, digest)
        finally:
            self.wrote(repo)

    async def mount_blob(self, repo: str, digest: Digest, source_repo: str) -> bool:
        """Link a blob that `source_repo` holds into `repo`; False if it does not hold it (or
        a registry origin cannot mount it)."""
        self.refuse_writes(repo, "take uploads", "")
        if not await self.origin.blob_linked(source_repo, digest):
            return False
        await self.origin.blob_size(source_repo, digest)
        try:
            await self.origin.link_blob(repo, digest, source_repo)
        except OCIError as exc:
            if exc.code is not errors.BLOB_UNKNOWN:
                raise
            return False
        finally:
            self.wrote(repo)
        return True

    # ---- uploads ----
    async def start_upload(self, repo: str, digest: Digest | None = None) -> UploadSession:
        self.refuse_writes(repo, "take uploads", "")
        return await self.uploads.create(repo, digest)

    def upload(self, repo: str, upload_id: str) -> AsyncContextManager[UploadSession]:
        """`async with registry.upload(repo, id) as session`: the session, held exclusively."""
        self.refuse_writes(repo, "take uploads", "")
        return self.uploads.open(repo, upload_id)

    def upload_for_write(self, repo: str, upload_id: str) -> AsyncContextManager[UploadSession]:
        """`registry.upload` for a PATCH or the final PUT: a store that can take the session from
        what it holds without asking its origin (`open_for_write`) does."""
        self.refuse_writes(repo, "take uploads", "")
        return self.uploads.open_for_write(repo, upload_id)

    async def _check_start(self, session: UploadSession, start: int | None) -> None:
        """416 for a chunk whose Content-Range does not start at the session's offset (asked
        again of the origin first when the store took the offset from its own copy)."""
        if start is not None and start != session.offset and not getattr(session, "confirmed", True):
            await self.uploads.refresh(session)
        if start is not None and start != session.offset:
            raise OCIError(errors.RANGE_INVALID, f"chunk for upload {session.id} starts at byte {start}, "
                           f"but the upload holds {session.offset} bytes; resend from {session.offset}",
                           headers={"Range": session.range_header(),
                                    "Location": f"/v2/{session.repo}/blobs/uploads/{session.id}",
                                    "Docker-Upload-UUID": session.id})

    async def append_upload(self, session: UploadSession, body: AsyncIterable[bytes],
                            start: int | None, expected: int | None = None) -> int:
        """Append a chunk. `start` (from Content-Range) must be the session's current offset;
        a chunk whose length differs from `expected` is rolled back and refused."""
        await self._check_start(session, start)
        if expected is None:
            appended = await self.uploads.append(session, body)
            metrics.UPLOAD_BYTES.inc(appended)
            return appended
        mark = self.uploads.mark(session)
        appended = await self.uploads.append(session, body, expected)
        metrics.UPLOAD_BYTES.inc(appended)
        if appended != expected:
            await self.uploads.rollback(session, mark)
            raise OCIError(errors.BLOB_UPLOAD_INVALID, f"chunk for upload {session.id} carried {appended} "
                           f"bytes but its Content-Range announced {expected}; resend it",
                           headers={"Range": session.range_header()})
        return appended

    async def finish_upload_with(self, session: UploadSession, body: AsyncIterable[bytes], start: int | None,
                                 expected: int | None, digest: Digest) -> None:
        """The final chunk and the commit (a PUT ?digest= with a body): one request to the
        origin when the store can send them as one (`append_and_commit`, a forwarded session)
        and the chunk carries no Content-Range, else `append_upload` then `finish_upload`."""
        together = getattr(self.uploads, "append_and_commit", None)
        if together is None or expected is not None:  # a ranged chunk may need a rollback: two steps
            await self.append_upload(session, body, start, expected)
            return await self.finish_upload(session, digest)
        await self._check_start(session, start)
        try:
            metrics.UPLOAD_BYTES.inc(await together(session, body, digest))
            await self.origin.link_blob(session.repo, digest)
        finally:
            self.wrote(session.repo)

    async def finish_upload(self, session: UploadSession, expected: Digest) -> None:
        """Verify the whole upload against `expected`, hand it to the origin, link it.

        On a mismatch nothing is kept: the session and its bytes are discarded.
        """
        try:
            await self.uploads.commit(session, expected)
            await self.origin.link_blob(session.repo, expected)
        finally:
            self.wrote(session.repo)

    async def cancel_upload(self, session: UploadSession) -> None:
        await self.uploads.discard(session)

    # ---- manifests ----
    async def resolve(self, repo: str, reference: Digest | str) -> Digest:
        """A tag's digest, from the origin: an edge cache answers from its TagCache (tag_ttl);
        a directory origin reads its link file, current for every worker at once."""
        if isinstance(reference, Digest):
            return reference
        return await self.origin.resolve_tag(repo, reference)

    async def manifest(self, repo: str, reference: Digest | str) -> ManifestInfo:
        generation = self.cache.generation(repo)  # before anything is fetched: see generations.py
        digest = await self.resolve(repo, reference)
        info = self.cache.get(repo, digest)
        if info is not None and self.origin.cache() is not None:
            metrics.cache_lookup("hit")  # an edge answering from memory: the access log's `cache`
        if info is None:
            data = await self.origin.get_manifest(repo, digest)
            parsed = manifests.parse(data)
            info = ManifestInfo(digest, parsed.media_type, data, parsed.subject.digest if parsed.subject else None)
            self.cache.put(repo, digest, info, len(data), generation)
        return info

    async def put_manifest(self, repo: str, reference: Digest | str, data: bytes,
                           content_type: str | None) -> ManifestInfo:
        self.refuse_writes(repo, f"take manifest {reference}", "GET, HEAD")
        if len(data) > self.max_manifest_bytes:
            raise self.manifest_too_big(repo, len(data))
        parsed = manifests.parse(data, content_type)
        # by digest, in that digest's algorithm (sha256 or sha512); by tag, in the canonical sha256
        algorithm = reference.algorithm if isinstance(reference, Digest) else "sha256"
        digest = Digest.from_hex(_hex_of(data, algorithm), algorithm)
        if isinstance(reference, Digest) and reference != digest:
            raise OCIError(errors.DIGEST_INVALID, f"manifest body hashes to {digest}, not to {reference} "
                           "named in the URL", detail={"expected": str(reference), "actual": str(digest)})
        for blob in parsed.blobs:
            if not await self.origin.blob_linked(repo, blob.digest):
                raise OCIError(errors.MANIFEST_BLOB_UNKNOWN, f"manifest references blob {blob.digest}, "
                               f"which is not in repository {repo}; push the blob first",
                               detail={"digest": str(blob.digest)})
        for child in parsed.children:
            try:
                await self.origin.get_manifest(repo, child.digest)
            except OCIError:
                raise OCIError(errors.MANIFEST_BLOB_UNKNOWN, f"index references manifest {child.digest}, "
                               f"which is not in repository {repo}; push it first",
                               detail={"digest": str(child.digest)}) from None
        tag = reference if isinstance(reference, str) else None
        try:
            await self.origin.put_manifest(repo, digest, data, tag)
            if parsed.subject is not None:
                await self.origin.add_referrer(repo, parsed.subject.digest, digest)
        finally:
            self.wrote(repo)
        return ManifestInfo(digest, parsed.media_type, data, parsed.subject.digest if parsed.subject else None)

    def manifest_too_big(self, repo: str, size: int) -> OCIError:
        return OCIError(errors.MANIFEST_TOO_BIG, f"manifest for {repo} is {size} bytes or more; the limit is "
                        f"{self.max_manifest_bytes} bytes", detail={"limit": self.max_manifest_bytes})

    async def delete_manifest(self, repo: str, reference: Digest | str) -> None:
        self.refuse_writes(repo, f"delete manifest {reference}", "GET, HEAD")
        try:
            if isinstance(reference, Digest):
                await self.origin.delete_manifest(repo, reference)
                self.cache.forget(repo, reference)
            else:
                await self.origin.delete_tag(repo, reference)
        finally:
            self.wrote(repo)

    # ---- listings ----
    async def tags(self, repo: str, n: int | None = None, last: str | None = None) -> list[str]:
        """Tags of `repo` after `last`, at most `n` (all when None), sorted."""
        return await self.origin.list_tags(repo, n, last)

    async def repositories(self, n: int, last: str | None) -> list[str]:
        """At most `n` repositories after `last`, sorted."""
        return await self.origin.list_repositories(n, last)

    async def referrers(self, repo: str, subject: Digest, artifact_type: str | None) -> list[Descriptor]:
        found = []
        for digest in await self.origin.list_referrers(repo, subject):
            try:
                data = await self.origin.get_manifest(repo, digest)
            except OCIError:
                continue  # deleted since it was recorded
            parsed = manifests.parse(data)
            if artifact_type and parsed.artifact_type != artifact_type:
                continue
            found.append(Descriptor(parsed.media_type, digest, len(data), parsed.artifact_type,
                                    parsed.annotations))
        return found


def _hex_of(data: bytes, algorithm: str) -> str:
    hasher = hashing.new(algorithm)
    hasher.update(data)
    return hasher.hexdigest()
