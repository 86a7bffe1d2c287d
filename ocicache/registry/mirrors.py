"""The upstream registries a node mirrors read-only (docs/MIRRORS.md), one `Registry` each.

Each upstream is its own `CachingOrigin(open_upstream(...), store, TagCache)`:
its own tag cache and its own record of what each repository holds, so the same repository
name on two upstreams is two different things. Like the node's own cache, each upstream's tag
cache is one for all the node's workers (its rows in the store's index, scoped by upstream;
checked against the node's write generations), so revalidation, stale_if_error and negative
answers do not depend on which worker a request reaches. The blob store is shared: blobs and
manifests are content-addressed, so one copy serves every upstream that has them.
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import errors
from ..config import Config
from ..errors import OCIError
from ..cache import BlobStore, CachingOrigin, ManifestCache, TagCache
from ..cache.generations import Generations
from ..cache.sharedtags import SharedTags
from ..config.upstreams import DOCKER_HUB_NAMES, allow_patterns
from ..origin import open_upstream
from .registry import Registry
from .uploads import UploadStore


@dataclass(frozen=True)
class Mirror:
    name: str
    url: str
    registry: Registry

    def repository(self, name: str) -> str:
        """The name at the upstream: on Docker Hub `alpine` is the official `library/alpine`."""
        if self.name in DOCKER_HUB_NAMES and "/" not in name:
            return f"library/{name}"
        return name


class Mirrors:
    """The node's mirrored upstreams by name, its Host aliases and its allow-list."""

    def __init__(self, cfg: Config, mirrors: list[Mirror]) -> None:
        self.by_name = {m.name: m for m in mirrors}
        self.aliases = {host.lower(): name for host, name in cfg.upstreams.aliases.items()}
        self.pure_mirror = cfg.pure_mirror
        self._allow = allow_patterns(cfg.upstreams)

    @property
    def default(self) -> Mirror | None:
        """Where a request naming no upstream goes: the first upstream of a pure mirror."""
        return next(iter(self.by_name.values())) if self.pure_mirror else None

    def named(self, name: str, how: str) -> Mirror:
        upstream = self.by_name.get(name)
        if upstream is None:
            raise OCIError(errors.NAME_UNKNOWN, f"upstream {name[:100]!r} ({how}) is not mirrored by this node; "
                           f"it mirrors {', '.join(self.by_name)}; an operator can add it with "
                           f"--upstream {name[:100]}=https://...", detail={"upstream": name[:100]})
        return upstream

    def check_allowed(self, upstream: Mirror, repo: str) -> None:
        full = f"{upstream.name}/{repo}"
        if self._allow and not any(p.fullmatch(full) for p in self._allow):
            raise OCIError(errors.DENIED, f"repository {full} is not in this node's allow-list of upstream "
                           "repositories ([upstreams] allow); ask the operator to add a pattern for it",
                           detail={"name": repo, "upstream": upstream.name})

    async def close(self) -> None:
        for mirror in self.by_name.values():
            await mirror.registry.origin.close()


def _mirror(cfg: Config, name: str, url: str, store: BlobStore, uploads: UploadStore,
            generations: Generations) -> Mirror:
    remote = open_upstream(name, url, cfg.upstreams)
    scope = f"upstream:{name}"
    tags = TagCache(cfg.cache.tag_ttl, cfg.cache.stale_if_error, cfg.cache.negative_ttl,
                    generations=generations, shared=SharedTags(store.index, scope=scope))
    cached = CachingOrigin(remote, store, tags, cfg.cache.fill_retries, scope=scope, link_ttl=cfg.cache.link_ttl)
    manifests: ManifestCache = ManifestCache(digest_ttl=min(10.0, cfg.cache.link_ttl), generations=generations)
    return Mirror(name, remote.base_url, Registry(cached, uploads, cfg.limits.max_manifest_bytes, manifests))


def open_mirrors(cfg: Config, uploads: UploadStore, store: BlobStore, generations: Generations | None = None) -> Mirrors:
    """The configured upstreams, over the node's store (blobs are content-addressed: one copy
    serves every upstream that has them); the caller opened the store and closes it.
    `generations`: the node's, shared by its workers (None: this process's own)."""
    shared = generations if generations is not None else Generations()
    mirrors = [_mirror(cfg, name, url, store, uploads, shared) for name, url in cfg.upstreams.registries.items()]
    return Mirrors(cfg, mirrors)
