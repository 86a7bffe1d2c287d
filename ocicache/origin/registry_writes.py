"""Writes to a registry origin (DistributionOrigin's write-through half): manifests, tags,
blob deletes and mounts are forwarded, and the origin's answer is passed back (its status
and OCI error body; 5xx and transport failures become UNAVAILABLE, which clients retry).

Writes are sent once, never retried (a PATCH body cannot be replayed). An origin built
with `writable=False` (`[origin] read_only`, or a mirrored upstream) refuses them all.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import AsyncIterator

import aiohttp
import yarl
from cachetools import LRUCache

from .. import errors
from ..errors import OCIError
from ..oci import manifests
from ..reference import Digest
from .base import LocalCopies, UploadMode
from .forwarded import ForwardedUploads
from .readonly import ReadOnlyOrigin
from .uploads import UploadStore

_TRANSPORT = (aiohttp.ClientError, OSError, TimeoutError)


class RegistryWrites(ReadOnlyOrigin):
    """Mixin for DistributionOrigin: needs `writable`, `label`, `_send()`, `_url()`, `_unavailable()`."""

    writable: bool = False
    sessions_ahead: int = 0
    label: str
    _pushed: LRUCache  # (repo, digest) -> size, set by DistributionOrigin.__init__

    @property
    def upload_mode(self) -> UploadMode:  # type: ignore[override]
        return UploadMode.WRITE_THROUGH if self.writable else UploadMode.READ_ONLY

    def open_uploads(self, local_copies: LocalCopies | None = None) -> UploadStore:
        if not self.writable:
            return super().open_uploads(local_copies)
        return ForwardedUploads(self, local_copies, self.sessions_ahead)

    # ---- one forwarded request ----
    async def write(self, method: str, url: yarl.URL, what: str, headers: dict[str, str] | None = None,
                    data: bytes | AsyncIterator[bytes] | None = None) -> aiohttp.ClientResponse:
        """Send a write once, with the origin's credentials when it has them; any status but
        401/403 comes back (the caller releases it); those are DENIED naming the setting to fix,
        a transport failure is UNAVAILABLE naming the origin and what was being done."""
        try:
            return await self._send(method, url, headers, data, allow_redirects=False)
        except _TRANSPORT as exc:
            raise self._unavailable(f"{what}: {method} {url} failed ({type(exc).__name__}: {exc}); nothing "
                                    f"was acknowledged; retry once the origin is reachable") from None

    async def passed_back(self, resp: aiohttp.ClientResponse, what: str) -> OCIError:
        """The origin's refusal as an OCIError with its status and first OCI error (a 5xx, or a
        body that is not OCI error JSON, is UNAVAILABLE: the client may retry)."""
        try:
            body = json.loads(await resp.content.read(64 * 1024) or b"{}")
            first = body["errors"][0]
            code, message, detail = str(first["code"]), str(first.get("message") or ""), first.get("detail")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError, *_TRANSPORT):
            code, message, detail = "", "", None
        finally:
            resp.release()
        if resp.status >= 500 or not code:
            return self._unavailable(f"{what}: the origin answered {resp.status} {resp.reason}"
                                     f"{': ' + message if message else ''}; nothing was acknowledged, retry")
        headers = {k: resp.headers[k] for k in ("Allow", "Retry-After", "Range") if k in resp.headers}
        return OCIError(errors.ErrorCode(code, message, resp.status), f"{self.label}: {what}: {message or code}",
                        detail=detail, status=resp.status, headers=headers)

    async def _expect(self, method: str, path: str, statuses: tuple[int, ...], what: str,
                      headers: dict[str, str] | None = None, data: bytes | None = None) -> aiohttp.ClientResponse:
        resp = await self.write(method, self._url(path), what, headers, data)
        if resp.status not in statuses:
            raise await self.passed_back(resp, what)
        resp.release()
        return resp

    def pushed(self, repo: str, digest: Digest, size: int) -> None:
        """A blob the origin acknowledged for `repo` (linked there already: link_blob is a no-op)."""
        self._pushed[(repo, digest)] = size

    # ---- the Origin protocol's writes ----
    async def put_blob(self, digest: Digest, staged: Path) -> None:
        raise self._read_only(f"store blob {digest} whole (uploads are forwarded as they arrive)")

    async def link_blob(self, repo: str, digest: Digest, source: str | None = None) -> None:
        """Mount `digest` from `source` into `repo` at the origin; BLOB_UNKNOWN if it refuses."""
        if not self.writable:
            return await super().link_blob(repo, digest)
        if (repo, digest) in self._pushed:
            return
        what = f"mounting blob {digest} from {source or repo} into {repo}"
        resp = await self.write("POST", self._url(f"/v2/{repo}/blobs/uploads/").with_query(
            mount=str(digest), **({"from": source} if source else {})), what, {"Content-Length": "0"})
        location = resp.headers.get("Location")
        if resp.status == 201:
            resp.release()
            return
        if resp.status != 202:
            raise await self.passed_back(resp, what)
        resp.release()
        if location:  # the origin opened a session instead: it cannot mount; close it
            try:
                (await self.write("DELETE", self._url(yarl.URL(location).path_qs), what)).release()
            except OCIError:
                pass
        raise OCIError(errors.BLOB_UNKNOWN, f"{self.label} could not mount blob {digest} from {source} "
                       f"into {repo}", detail={"name": repo, "digest": str(digest)})

    async def unlink_blob(self, repo: str, digest: Digest) -> None:
        if not self.writable:
            return await super().unlink_blob(repo, digest)
        await self._expect("DELETE", f"/v2/{repo}/blobs/{digest}", (202, 200, 204),
                           f"deleting blob {digest} from {repo}")
        self._pushed.pop((repo, digest), None)

    async def put_manifest(self, repo: str, digest: Digest, data: bytes, tag: str | None) -> None:
        if not self.writable:
            return await super().put_manifest(repo, digest, data, tag)
        media_type = manifests.parse(data).media_type
        await self._expect("PUT", f"/v2/{repo}/manifests/{tag or digest}", (201,),
                           f"storing manifest {digest} in {repo}" + (f" as {tag}" if tag else ""),
                           {"Content-Type": media_type}, data)

    async def delete_manifest(self, repo: str, digest: Digest) -> None:
        if not self.writable:
            return await super().delete_manifest(repo, digest)
        await self._expect("DELETE", f"/v2/{repo}/manifests/{digest}", (202, 200, 204),
                           f"deleting manifest {digest} from {repo}")

    async def delete_tag(self, repo: str, tag: str) -> None:
        if not self.writable:
            return await super().delete_tag(repo, tag)
        await self._expect("DELETE", f"/v2/{repo}/manifests/{tag}", (202, 200, 204),
                           f"deleting tag {tag} from {repo}")

    async def add_referrer(self, repo: str, subject: Digest, referrer: Digest) -> None:
        if not self.writable:
            return await super().add_referrer(repo, subject, referrer)
        # the origin indexed the referrer when it took the manifest (its `subject` field)

