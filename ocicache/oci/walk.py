"""The one manifest walker: from a manifest (a tag or a digest) down an image index to its
platform manifests and to every blob they name, reading manifests through a `read` function.
What one manifest names is `manifests.parse` (the registry's validation uses the same).

Users: `ocicache warm` (commands/warm.py, over a node's HTTP API), the admin API's prefetch
(registry/prefetch.py, through the node's own registry), purge and pin (registry/cachectl.py,
from the origin behind an edge cache) and `ocicache gc` (registry/gc.py, from the directory).
"""
from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Protocol

from .. import errors
from ..errors import OCIError
from ..reference import Digest, check_name, is_digest, parse_reference
from . import manifests
from .manifests import Descriptor

Progress = Callable[[int], None]
Reader = Callable[[str], Awaitable["bytes | None"]]
"""A manifest's bytes by tag or digest; None when the store does not have it."""


@dataclass
class Walk:
    manifests: list[Digest] = field(default_factory=list)   # every manifest read, the root first
    blobs: list[Descriptor] = field(default_factory=list)   # config + distributable layers, once each
    references: set[Digest] = field(default_factory=set)    # config + every layer named (gc keeps all)
    missing: list[str] = field(default_factory=list)        # manifests `read` did not have


async def walk(read: Reader, reference: str, platforms: set[str] | None = None,
               seen: set[Digest] | None = None) -> Walk:
    """Walk from `reference`. `platforms` ("linux/amd64", "linux/arm/v7" or "linux/arm") choose
    among the entries of the root index (None: all); manifests in `seen` are skipped, and
    every manifest read is added to it. MANIFEST_INVALID names a manifest that cannot be read."""
    out = Walk()
    await _visit(read, reference, platforms, set() if seen is None else seen, out)
    return out


async def _visit(read: Reader, reference: str, platforms: set[str] | None, seen: set[Digest], out: Walk) -> None:
    if is_digest(reference) and Digest.parse(reference) in seen:
        return
    data = await read(reference)
    if data is None:
        out.missing.append(reference)
        return
    digest = Digest.parse(reference) if is_digest(reference) else Digest.from_hex(hashlib.sha256(data).hexdigest())
    if digest in seen:
        return
    seen.add(digest)
    out.manifests.append(digest)
    try:
        parsed = manifests.parse(data)
    except OCIError as exc:
        raise OCIError(errors.MANIFEST_INVALID, f"manifest {digest}: {exc.message}") from None
    out.references.update(d.digest for d in parsed.references)
    known = {b.digest for b in out.blobs}
    out.blobs += [b for b in parsed.blobs if b.digest not in known]
    for child in parsed.children:
        if _wanted(child.platform or "?/?", platforms):
            await _visit(read, str(child.digest), None, seen, out)


def _wanted(platform: str, platforms: set[str] | None) -> bool:
    return not platforms or platform in platforms or platform.rsplit("/", 1)[0] in platforms


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


# ---- reading an image's blobs through a node (warm, prefetch) ----
@dataclass(frozen=True)
class BlobRef:
    repo: str
    digest: str
    size: int


class Source(Protocol):
    async def manifest(self, repo: str, reference: str) -> bytes:
        """A manifest's bytes by tag or digest; raises if it cannot be read."""

    async def blob(self, repo: str, digest: str, progress: Progress) -> None:
        """Read the whole blob through the node; `progress(n)` per chunk; raise if it fails."""


async def plan(source: Source, repo: str, reference: str, platforms: set[str] | None = None) -> list[BlobRef]:
    """Every blob of the image (the chosen platforms of an index), manifests read on the way."""
    found = await walk(lambda ref: source.manifest(repo, ref), reference, platforms)
    return [BlobRef(repo, str(b.digest), b.size) for b in found.blobs]


async def warm(source: Source, blobs: list[BlobRef], progress: Progress, concurrency: int = 4) -> None:
    """Read each distinct blob once, `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)
    unique = {b.digest: b for b in blobs}.values()

    async def one(blob: BlobRef) -> None:
        async with gate:
            await source.blob(blob.repo, blob.digest, progress)

    await asyncio.gather(*(one(b) for b in unique))
