"""The one manifest walker: from an image (index -> platform manifests -> config and layers)
to every blob it is made of, reading manifests from a `Source`.

Sources: `commands.warm.HttpSource` (a node's HTTP API, `ocicache warm`),
`registry.prefetch.RegistrySource` (the node's own registry: the admin API's prefetch) and
`registry.cachectl.OriginSource` (the origin behind an edge cache: purge and pin).
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Callable, Protocol

from ..reference import check_name, parse_reference

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
