"""An origin that is another OCI registry (another ocicache node, CNCF distribution, ...).

Reads go through `RegistryHTTP` (registry_http.py: the pooled session, retries, auth, every
transport failure as UNAVAILABLE); writes through `RegistryWrites` (registry_writes.py,
forwarded.py). It keeps the `Origin` contracts:
- 404s become BLOB_UNKNOWN, MANIFEST_UNKNOWN or NAME_UNKNOWN, naming repo, digest and origin.
- Every transport failure, timeout, 5xx, throttling, short body or unexpected status becomes
  OCIError(UNAVAILABLE) naming the origin URL; no aiohttp exception leaves this module.
- Once `read_blob` has yielded bytes, a failure is reported with how many arrived, so the
  caller resumes from there (never short data).
- A manifest is returned only if its bytes hash to the digest asked for.

Redirects are followed (distribution redirects blob GETs to object storage). aiohttp drops
`Authorization`, `Cookie` and `Proxy-Authorization` when a redirect changes scheme, host or
port, so a token added by `_request` later never reaches the storage host.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
from cachetools import LRUCache

from .. import errors
from ..errors import OCIError
from ..oci.mediatypes import MANIFEST_ACCEPT
from ..reference import Digest
from . import bodyread
from .base import CacheInFront, Health, OpenedBlob, page_of
from .ratebudget import RateBudget
from .registry_http import _TRANSPORT_ERRORS, RegistryHTTP
from .registry_writes import RegistryWrites
from .upstream_auth import UpstreamAuth

READ_CHUNK = 1024 * 1024
# RFC 9110 14.4: Content-Range: bytes <first>-<last>/<complete-length or *>
_CONTENT_RANGE_RE = re.compile(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*")


class DistributionOrigin(RegistryWrites, RegistryHTTP):
    """Content read through another registry's HTTP API; writes forwarded to it when
    `writable` (registry_writes.py, forwarded.py), else refused."""

    def __init__(self, base_url: str, *, connect_timeout: float = 10.0, read_timeout: float = 60.0,
                 max_connections: int = 64, retries: int = 3, name: str | None = None,
                 auth: UpstreamAuth | None = None, budget: RateBudget | None = None,
                 writable: bool = False, sessions_ahead: int = 0) -> None:
        RegistryHTTP.__init__(self, base_url, connect_timeout=connect_timeout, read_timeout=read_timeout,
                              max_connections=max_connections, retries=retries, name=name, auth=auth,
                              budget=budget)
        self._linked_sizes: LRUCache[tuple[str, Digest], int] = LRUCache(10_000)  # see blob_linked
        self.writable = writable
        self.sessions_ahead = sessions_ahead  # upload sessions opened ahead (origin/sessionpool.py)
        self._pushed: LRUCache[tuple[str, Digest], int] = LRUCache(10_000)  # see RegistryWrites.pushed

    kind = "registry"

    # ---- what callers ask ----
    async def check(self) -> Health:
        """`/v2/` answers (any status below 500: 401 means it asks for credentials, it is up)."""
        url = self._url("/v2/")
        try:
            async with self._client().get(url, allow_redirects=False) as resp:
                status = resp.status
        except _TRANSPORT_ERRORS as exc:
            return Health(False, f"{url} unreachable: {type(exc).__name__} {exc}".strip())
        return Health(status < 500, f"{url} answered {status}")

    def cache(self) -> CacheInFront | None:
        return None

    def __repr__(self) -> str:
        return f"DistributionOrigin({self.base_url!r})"

    # ---- blobs ----
    def _blob_unknown(self, repo: str, digest: Digest) -> OCIError:
        return OCIError(errors.BLOB_UNKNOWN, f"blob {digest} is not in repository {repo} "
                        f"at {self.label}", detail={"name": repo, "digest": str(digest)})

    async def _head_blob(self, repo: str, digest: Digest) -> int | None:
        resp = await self._request("HEAD", self._url(f"/v2/{repo}/blobs/{digest}"),
                                   {"Accept-Encoding": "identity"})
        resp.release()
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise self._unexpected(resp, f"blob {digest} of {repo}")
        if resp.content_length is None:
            raise self._unavailable(f"HEAD {resp.url} carried no Content-Length")
        return resp.content_length

    async def blob_size(self, repo: str, digest: Digest) -> int:
        size = self._linked_sizes.pop((repo, digest), None)
        size = await self._head_blob(repo, digest) if size is None else size
        if size is None:
            raise self._blob_unknown(repo, digest)
        return size

    async def blob_linked(self, repo: str, digest: Digest) -> bool:
        """One HEAD answers both: the size is kept for the blob_size that follows (the edge's)."""
        size = await self._head_blob(repo, digest)
        if size is not None:
            self._linked_sizes[(repo, digest)] = size
        return size is not None

    def local_blob_path(self, digest: Digest) -> Path | None:
        return None

    async def read_blob(self, repo: str, digest: Digest, offset: int = 0,
                        length: int | None = None) -> AsyncIterator[bytes]:
        if length == 0:
            return
        resp = await self._get_blob(repo, digest, offset, length)
        span = self._span_of(resp, repo, digest, offset, length)
        async for chunk in self._body(resp, repo, digest, offset, length, span):
            yield chunk

    async def open_blob(self, repo: str, digest: Digest, offset: int = 0) -> OpenedBlob:
        """One GET: the size from its Content-Length (a 206's Content-Range), the body from
        `offset`. A HEAD only if the origin sent neither (a chunked body)."""
        resp = await self._get_blob(repo, digest, offset, None)
        span = self._span_of(resp, repo, digest, offset, None)
        size = span[0] + offset if span[0] is not None and resp.status == 200 else None
        if resp.status == 206:
            total = _CONTENT_RANGE_RE.fullmatch(resp.headers.get("Content-Range", "")).group(3)
            size = None if total == "*" else int(total)
        if size is None:
            try:
                size = await self.blob_size(repo, digest)
            except BaseException:
                resp.close()
                raise
        return OpenedBlob(size, self._body(resp, repo, digest, offset, None, span, direct=True))

    async def _get_blob(self, repo: str, digest: Digest, offset: int,
                        length: int | None) -> aiohttp.ClientResponse:
        headers = {"Accept-Encoding": "identity"}  # bytes as stored: Content-Length counts them
        if offset or length is not None:
            last = "" if length is None else str(offset + length - 1)
            headers["Range"] = f"bytes={offset}-{last}"
        return await self._request("GET", self._url(f"/v2/{repo}/blobs/{digest}"), headers)

    def _span_of(self, resp: aiohttp.ClientResponse, repo: str, digest: Digest, offset: int,
                 length: int | None) -> tuple[int | None, int]:
        """`_blob_span`, closing the response when it answers with an error."""
        try:
            return self._blob_span(resp, repo, digest, offset, length)
        except BaseException:
            resp.close()
            raise

    async def _body(self, resp: aiohttp.ClientResponse, repo: str, digest: Digest, offset: int,
                    length: int | None, span: tuple[int | None, int], direct: bool = False) -> AsyncIterator[bytes]:
        """The blob's bytes in a GET response whose status `_blob_span` accepted; `direct`: read
        into buffers of bodyread.py when the response allows (a fill's GET: read-only memoryviews)."""
        got, (expected, skip) = 0, span
        try:
            if length is not None and (expected is None or expected > length):
                expected = length  # a 200 to a ranged GET: stop after the bytes asked for
            chunks = (bodyread.direct_chunks(resp, self.read_timeout) if direct and bodyread.can_take(resp)
                      else resp.content.iter_chunked(READ_CHUNK))
            async for chunk in chunks:
                if skip:
                    cut = min(skip, len(chunk))
                    chunk, skip = chunk[cut:], skip - cut
                if expected is not None and got + len(chunk) > expected:
                    chunk = chunk[:expected - got]
                if chunk:
                    got += len(chunk)
                    yield chunk
                if expected is not None and got >= expected:
                    break
            if skip or (expected is not None and got < expected):
                raise ConnectionError("the body ended early")
        except _TRANSPORT_ERRORS as exc:
            want = "?" if expected is None else str(expected)
            raise self._unavailable(
                f"GET {resp.url} broke off blob {digest} of {repo}: {got} of {want} bytes from "
                f"offset {offset} arrived ({type(exc).__name__}: {exc}); resume at {offset + got}",
                detail={"name": repo, "digest": str(digest), "offset": offset, "received": got}) from None
        finally:
            resp.close()  # a partly read body cannot go back to the pool

    def _blob_span(self, resp: aiohttp.ClientResponse, repo: str, digest: Digest, offset: int,
                   length: int | None) -> tuple[int | None, int]:
        """(bytes the origin announces for our span, bytes to skip first) for a blob GET."""
        if resp.status == 404:
            raise self._blob_unknown(repo, digest)
        if resp.status == 416:
            raise OCIError(errors.RANGE_INVALID, f"offset {offset} is past the end of blob {digest} "
                           f"at {self.label}", detail={"digest": str(digest)})
        if resp.status == 206:
            match = _CONTENT_RANGE_RE.fullmatch(resp.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != offset:
                raise self._unavailable(f"GET {resp.url} with Range from {offset} answered "
                                        f"Content-Range {resp.headers.get('Content-Range')!r}")
            return int(match.group(2)) - offset + 1, 0
        if resp.status == 200:
            size = resp.content_length
            if size is not None and size < offset:
                raise OCIError(errors.RANGE_INVALID, f"offset {offset} is past the end of blob "
                               f"{digest} ({size} bytes) at {self.label}")
            return (None if size is None else size - offset), offset
        raise self._unexpected(resp, f"blob {digest} of {repo}")

    # ---- manifests and tags ----
    def _manifest_unknown(self, repo: str, reference: str) -> OCIError:
        key = "digest" if ":" in reference else "tag"
        return OCIError(errors.MANIFEST_UNKNOWN, f"manifest {reference} is not in repository {repo} "
                        f"at {self.label}; check the name (GET /v2/{repo}/tags/list lists its tags) "
                        f"or push it to the origin first", detail={"name": repo, key: reference})

    async def _get_manifest(self, repo: str, reference: str) -> bytes:
        resp = await self._request("GET", self._url(f"/v2/{repo}/manifests/{reference}"),
                                   {"Accept": MANIFEST_ACCEPT})
        if resp.status == 404:
            resp.release()
            raise self._manifest_unknown(repo, reference)
        if resp.status != 200:
            raise self._unexpected(resp, f"manifest {reference} of {repo}")
        return await self._read_capped(resp, f"manifest {reference} of {repo}")

    async def get_manifest(self, repo: str, digest: Digest) -> bytes:
        body = await self._get_manifest(repo, str(digest))
        if hashlib.new(digest.algorithm, body).hexdigest() != digest.hex:
            raise self._unavailable(f"manifest {digest} of {repo}: the origin returned bytes that do "
                                    f"not hash to {digest}", detail={"name": repo, "digest": str(digest)})
        return body

    async def resolve_tag(self, repo: str, tag: str) -> Digest:
        resp = await self._request("HEAD", self._url(f"/v2/{repo}/manifests/{tag}"),
                                   {"Accept": MANIFEST_ACCEPT})
        resp.release()
        if resp.status == 404:
            raise self._manifest_unknown(repo, tag)
        if resp.status != 200:
            raise self._unexpected(resp, f"tag {tag} of {repo}")
        header = resp.headers.get("Docker-Content-Digest")
        if header is None:  # optional in the spec: hash what a GET returns
            return Digest.from_hex(hashlib.sha256(await self._get_manifest(repo, tag)).hexdigest())
        try:
            return Digest.parse(header.strip())
        except OCIError:
            raise self._unavailable(f"tag {tag} of {repo}: Docker-Content-Digest "
                                    f"{header[:100]!r} is not a sha256 or sha512 digest") from None

    async def list_tags(self, repo: str, n: int | None = None, last: str | None = None) -> list[str]:
        tags: set[str] = set()
        async for page in self._pages(f"/v2/{repo}/tags/list", f"tags of {repo}", last=last):
            if page is None:
                raise OCIError(errors.NAME_UNKNOWN, f"repository {repo} is not known to "
                               f"{self.label}", detail={"name": repo})
            if self._page_full(tags, self._strings(page, "tags", f"tags of {repo}"), n, last):
                break
        return page_of(sorted(tags), n, last)

    async def list_repositories(self, n: int | None = None, last: str | None = None) -> list[str]:
        repos: set[str] = set()
        # The catalog is optional; registries that hide it answer 401, 403, 404 or 405.
        async for page in self._pages("/v2/_catalog", "catalog", missing=(401, 403, 404, 405), last=last):
            if page is None:
                return []
            if self._page_full(repos, self._strings(page, "repositories", "catalog"), n, last):
                break
        return page_of(sorted(repos), n, last)

    @staticmethod
    def _page_full(found: set[str], names: list[str], n: int | None, last: str | None) -> bool:
        """Add the names after `last` to `found`; whether `n` of them are there (an upstream sends
        its pages in order, whether or not it honours `n` and `last`: distribution 2.8 ignores
        `n` on tag lists)."""
        found.update(name for name in names if last is None or name > last)
        return n is not None and len(found) >= n

    def _strings(self, page: Any, key: str, what: str) -> list[str]:
        values = page.get(key) if isinstance(page, dict) else []
        if values is None:
            return []  # distribution sends "tags": null for a repository without tags
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise self._unavailable(f"{what}: {key!r} is not a list of strings")
        return values

    # ---- referrers ----
    async def list_referrers(self, repo: str, subject: Digest) -> list[Digest]:
        found: set[Digest] = set()
        what = f"referrers of {subject} in {repo}"
        async for page in self._pages(f"/v2/{repo}/referrers/{subject}", what):
            if page is None:
                return await self._referrers_by_tag(repo, subject)
            manifests = page.get("manifests") if isinstance(page, dict) else None
            try:
                found.update(Digest.parse(m["digest"]) for m in manifests or [])
            except (OCIError, TypeError, KeyError):
                raise self._unavailable(f"{what}: the index lists an entry without a valid digest") from None
        return sorted(found)

    async def _referrers_by_tag(self, repo: str, subject: Digest) -> list[Digest]:
        """Spec "Referrers Tag Schema": without the API, an index tagged `<alg>-<hex>` lists them
        (the hex cut to 64 characters: `sha512-` and the first 64 of a sha512's 128)."""
        tag = f"{subject.algorithm}-{subject.hex[:64]}"
        try:
            body = await self._get_manifest(repo, tag)
        except OCIError as exc:
            if exc.code is errors.MANIFEST_UNKNOWN:
                return []
            raise
        try:
            return sorted({Digest.parse(m["digest"]) for m in json.loads(body).get("manifests") or []})
        except (ValueError, OCIError, TypeError, KeyError, AttributeError):
            raise self._unavailable(f"referrers of {subject} in {repo}: the tag {tag} "
                                    "is not an index of valid descriptors") from None
