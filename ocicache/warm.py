"""Pre-seeding a node: walk an image (index -> platform manifests -> config and layers) and
read every blob through the node, so its cache holds them before the first client asks.

One walker, two sources: `HttpSource` reads through a node's HTTP API (`ocicache warm`),
`RegistrySource` reads through the node's own registry object (the admin API's prefetch).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from typing import Callable, Protocol

import aiohttp

from .errors import OCIError
from .reference import Digest, check_name, parse_reference

INDEX_TYPES = {"application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json"}
MANIFEST_ACCEPT = ", ".join(sorted(INDEX_TYPES | {"application/vnd.oci.image.manifest.v1+json",
                                                  "application/vnd.docker.distribution.manifest.v2+json"}))
Progress = Callable[[int], None]


@dataclass(frozen=True)
class BlobRef:
    repo: str
    digest: str
    size: int


class Source(Protocol):
    async def manifest(self, repo: str, reference: str) -> tuple[str, bytes]:
        """(media type, bytes) of a manifest by tag or digest."""

    async def blob(self, repo: str, digest: str, progress: Progress) -> None:
        """Read the whole blob through the node; `progress(n)` per chunk; raise if it fails."""


def parse_image(ref: str) -> tuple[str, str]:
    """'repo:tag' or 'repo@sha256:...' (as the node names them) -> (repo, tag or digest)."""
    if "@" in ref:
        repo, _, reference = ref.partition("@")
    else:
        head, _, tail = ref.rpartition(":")
        repo, reference = (head, tail) if head and "/" not in tail else (ref, "latest")
    check_name(repo)
    parse_reference(reference)
    return repo, reference


def platform_of(descriptor: dict) -> str:
    p = descriptor.get("platform") or {}
    text = f"{p.get('os', '?')}/{p.get('architecture', '?')}"
    return f"{text}/{p['variant']}" if p.get("variant") else text


def _wanted(platform: str, platforms: set[str] | None) -> bool:
    return not platforms or platform in platforms or platform.rsplit("/", 1)[0] in platforms


async def plan(source: Source, repo: str, reference: str, platforms: set[str] | None = None) -> list[BlobRef]:
    """Every blob of the image (the chosen platforms of an index), manifests read on the way."""
    media_type, data = await source.manifest(repo, reference)
    doc = json.loads(data)
    if media_type in INDEX_TYPES or "manifests" in doc:
        blobs: list[BlobRef] = []
        for child in doc.get("manifests", []):
            if _wanted(platform_of(child), platforms):
                blobs += await plan(source, repo, child["digest"], None)
        return blobs
    descriptors = [doc["config"], *doc.get("layers", [])] if "config" in doc else doc.get("layers", [])
    return [BlobRef(repo, d["digest"], int(d.get("size", 0))) for d in descriptors]


async def warm(source: Source, blobs: list[BlobRef], progress: Progress, concurrency: int = 4) -> None:
    """Read each distinct blob once, `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)
    unique = {b.digest: b for b in blobs}.values()

    async def one(blob: BlobRef) -> None:
        async with gate:
            await source.blob(blob.repo, blob.digest, progress)

    await asyncio.gather(*(one(b) for b in unique))


class HttpSource:
    """A node's HTTP API; blobs are hashed as they arrive, so a wrong byte is reported."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str | None = None) -> None:
        self.session = session
        self.base = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def manifest(self, repo: str, reference: str) -> tuple[str, bytes]:
        url = f"{self.base}/v2/{repo}/manifests/{reference}"
        async with self.session.get(url, headers={**self.headers, "Accept": MANIFEST_ACCEPT}) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise WarmError(f"GET {url} answered {resp.status}: {body[:300].decode(errors='replace')}")
            return resp.headers.get("Content-Type", "").split(";")[0], body

    async def blob(self, repo: str, digest: str, progress: Progress) -> None:
        url = f"{self.base}/v2/{repo}/blobs/{digest}"
        hasher = hashlib.sha256()
        async with self.session.get(url, headers=self.headers) as resp:
            if resp.status != 200:
                body = await resp.read()
                raise WarmError(f"GET {url} answered {resp.status}: {body[:300].decode(errors='replace')}")
            async for chunk in resp.content.iter_chunked(1024 * 1024):
                hasher.update(chunk)
                progress(len(chunk))
        if f"sha256:{hasher.hexdigest()}" != digest:
            raise WarmError(f"{repo}@{digest}: the node sent bytes hashing to sha256:{hasher.hexdigest()}; "
                            "run `ocicache cache verify` on that node")


class RegistrySource:
    """The node's own registry (admin prefetch): blobs go through the cache's fills."""

    def __init__(self, registry) -> None:
        self.registry = registry

    async def manifest(self, repo: str, reference: str) -> tuple[str, bytes]:
        info = await self.registry.manifest(repo, parse_reference(reference))
        return info.media_type, info.data

    async def blob(self, repo: str, digest: str, progress: Progress) -> None:
        d = Digest.parse(digest)
        info = await self.registry.blob(repo, d)
        if info.path is not None:  # already in the store (or a local origin): nothing to fetch
            progress(info.size)
            return
        async for chunk in self.registry.read_blob(repo, d, 0, info.size):
            progress(len(chunk))


class WarmError(Exception):
    """A manifest or blob could not be read through the node; the message says which and why."""


def describe(exc: BaseException) -> str:
    if isinstance(exc, OCIError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"
