"""The admin API's prefetch: an image read through the node's own registry, so its blobs go
through the edge cache's fills and stay in the store."""
from __future__ import annotations

from ..oci.walk import Progress
from ..reference import Digest, parse_reference


class RegistrySource:
    """The node's own registry (admin prefetch): blobs go through the cache's fills."""

    def __init__(self, registry) -> None:
        self.registry = registry

    async def manifest(self, repo: str, reference: str) -> bytes:
        return (await self.registry.manifest(repo, parse_reference(reference))).data

    async def blob(self, repo: str, digest: str, progress: Progress) -> None:
        d = Digest.parse(digest)
        info = await self.registry.blob(repo, d)
        if info.path is not None:  # already in the store (or a local origin): nothing to fetch
            progress(info.size)
            return
        async for chunk in self.registry.read_blob(repo, d, 0, info.size):
            progress(len(chunk))
