"""The upstream registries a node mirrors read-only (docs/MIRRORS.md), one `Registry` each.

Each upstream is its own `CachingOrigin(DistributionOrigin(url, auth, budget), store, TagCache)`:
its own tag cache and its own record of what each repository holds, so the same repository
name on two upstreams is two different things. The blob store is shared: blobs and manifests
are content-addressed, so one copy serves every upstream that has them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .. import errors
from ..config import Config
from ..errors import OCIError
from ..origin import Origin
from ..origin.ratebudget import RateBudget
from ..origin.distribution import DistributionOrigin
from ..origin.upstream_auth import UpstreamAuth
from ..cache import BlobStore
from ..cache.tags import TagCache
from ..config.upstreams import DOCKER_HUB_NAMES, allow_patterns, read_credentials, token_realms_of
from ..cache.caching import CachingOrigin
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

    def __init__(self, cfg: Config, upstreams: list[Mirror], store: BlobStore, owns_store: bool) -> None:
        self.by_name = {u.name: u for u in upstreams}
        self.aliases = {host.lower(): name for host, name in cfg.upstreams.aliases.items()}
        self.pure_mirror = cfg.pure_mirror
        self.store = store
        self._owns_store = owns_store
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
        for upstream in self.by_name.values():
            origin = upstream.registry.origin
            await getattr(origin, "remote", origin).close()
        if self._owns_store:
            self.store.close()


def _mirror(cfg: Config, name: str, url: str, store: BlobStore, uploads: UploadStore) -> Mirror:
    c = cfg.upstreams
    origin_url = DistributionOrigin(url).base_url  # normalised, for the label
    label = f"upstream {name} ({origin_url})"
    creds = read_credentials(name, c.credentials[name]) if name in c.credentials else None
    auth = UpstreamAuth(label, creds, name=name, upstream_url=url, trusted_realms=token_realms_of(c, name))
    remote = DistributionOrigin(url, name=name, auth=auth,
                            budget=RateBudget(label, c.rate_limit_reserve, c.rate_limit_retry_after),
                            connect_timeout=c.connect_timeout, read_timeout=c.read_timeout,
                            max_connections=c.max_connections, retries=c.retries)
    tags = TagCache(cfg.cache.tag_ttl, cfg.cache.stale_if_error, cfg.cache.negative_ttl)
    proxy = CachingOrigin(remote, store, tags, cfg.cache.fill_retries, scope=f"upstream:{name}")
    return Mirror(name, origin_url, Registry(proxy, uploads, cfg.limits.max_manifest_bytes))


def open_mirrors(cfg: Config, own: Origin, uploads: UploadStore,
                   open_store: Callable[[Config], BlobStore]) -> Mirrors | None:
    """The configured upstreams over the own edge cache's store (or a store of their own)."""
    if not cfg.upstreams.registries:
        return None
    owns_store = not isinstance(own, CachingOrigin)
    store = open_store(cfg) if owns_store else own.store
    upstreams = [_mirror(cfg, name, url, store, uploads) for name, url in cfg.upstreams.registries.items()]
    return Mirrors(cfg, upstreams, store, owns_store)
