"""`make_app(cfg)`: the one way to build the node's aiohttp application (tests use it too)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from dataclasses import dataclass, field
from typing import Callable

from aiohttp import web

from . import metrics
from .auth import install as install_auth
from .cache import BlobStore, CachingOrigin, ManifestCache, TagCache
from .cache.generations import Generations
from .cache.journal import PurgeJournal
from .cache.sharedtags import SharedTags
from .config import Config
from .http.access import access
from .http.admin import PURGES
from .http.intake import refuse_encoded_bodies
from .http.middleware import common_headers, oci_errors
from .http.mirror_choice import MIRRORS
from .http.ops import install as install_ops
from .http.routes import add_routes
from .http.state import CONFIG, REGISTRY
from .origin import Origin, UploadMode, open_origin
from .origin.uploads import UploadStore
from .registry import Registry
from .registry.expiry import sweep_forever
from .registry.mirrors import open_mirrors
from .registry.uploads import Uploads
from .ui import install as install_ui

FLUSH_INTERVAL_S = 1.0
ReloadHook = Callable[[Config], Callable[[], None]]
"""Given a new config, build what changes (raise ConfigError if it is unusable); returns the swap."""


@dataclass
class Reloadable:
    """What SIGHUP may change in a running app (service/reload.py): the configuration applied
    last, and the hooks of the parts that reload in place (auth, the admin API)."""

    config: Config
    hooks: list[ReloadHook] = field(default_factory=list)


RELOAD = web.AppKey("reload", Reloadable)
log = logging.getLogger("ocicache.store")


def open_store(cfg: Config) -> BlobStore:
    c = cfg.cache
    return BlobStore(cfg.cache_path, c.max_bytes, high_watermark=c.high_watermark,
                     low_watermark=c.low_watermark, admit_fraction=c.admit_fraction)


def build_origin(cfg: Config, store: BlobStore | None, generations: Generations | None = None) -> Origin:
    """The configured origin; a remote one is seen through the local store (the edge cache),
    its tag cache shared by the node's workers (in the store's index, checked against
    `generations`)."""
    origin = open_origin(cfg.origin_url, cfg.s3, cfg.storage.origin_timeout, cfg.origin)
    if cfg.origin_is_local:
        return origin
    assert store is not None  # cfg.keeps_cache holds for every origin that is not local
    tags = TagCache(cfg.cache.tag_ttl, cfg.cache.stale_if_error, cfg.cache.negative_ttl,
                    generations=generations, shared=SharedTags(store.index))
    return CachingOrigin(origin, store, tags, cfg.cache.fill_retries, link_ttl=cfg.cache.link_ttl)


def build_uploads(cfg: Config, origin: Origin) -> UploadStore:
    """The origin's own sessions when it writes them through (S3), else staged on this node."""
    if origin.upload_mode is UploadMode.WRITE_THROUGH:
        return origin.open_uploads()
    return Uploads(cfg.data_path / "uploads", cfg.limits.upload_chunk_bytes, origin)


async def _flush_store(store: BlobStore) -> None:
    while True:
        await asyncio.sleep(FLUSH_INTERVAL_S)
        try:
            store.flush()
            metrics.STORE_BYTES.set(store.total_bytes())
        except (sqlite3.Error, OSError) as exc:  # e.g. the cache disk is full: try again next time
            log.warning("cache index in %s: flushing counters failed: %s", store.dir, exc)


def make_app(cfg: Config) -> web.Application:
    app = web.Application(middlewares=[access, oci_errors], client_max_size=cfg.limits.max_manifest_bytes + 1)
    app[CONFIG] = cfg
    app.on_response_prepare.append(common_headers)
    reload_auth = install_auth(app, cfg)  # rate limits, authentication, upload quota, /token: docs/SECURITY.md
    app.middlewares.append(refuse_encoded_bodies)  # 415 before a body is read: http/intake.py
    add_routes(app)
    reload_admin = install_ops(app, cfg)  # access log, metrics, /healthz, /readyz, /admin/: docs/DEPLOY.md
    install_ui(app, cfg)  # the read-only web UI under /ui/: docs/UI.md
    app[RELOAD] = Reloadable(cfg, [reload_auth, reload_admin])

    async def registry_ctx(app: web.Application):
        store = open_store(cfg) if cfg.keeps_cache else None  # shared by the cache and the mirrors
        generations = Generations(cfg.data_path / "generations")  # read-your-writes across workers
        origin = build_origin(cfg, store, generations)
        uploads = build_uploads(cfg, origin)
        app[REGISTRY] = Registry(origin, uploads, cfg.limits.max_manifest_bytes,
                                 ManifestCache(digest_ttl=min(10.0, cfg.cache.link_ttl), generations=generations),
                                 read_only=f"push to {cfg.origin_url} instead" if cfg.origin.read_only else None)
        mirrors = open_mirrors(cfg, uploads, store, generations) if store is not None and cfg.upstreams.registries \
            else None
        if mirrors is not None:
            app[MIRRORS] = mirrors  # docs/MIRRORS.md
        journal = PurgeJournal.over(origin, store.index, generations, cfg.cache.purge_poll,
                                    cfg.data_path / "purge-journal.lock") if store is not None else None
        tasks = [asyncio.create_task(_flush_store(store))] if store is not None else []
        if journal is not None:
            app[PURGES] = journal  # purges reach the other nodes on the origin: cache/journal.py
            tasks.append(asyncio.create_task(journal.run()))
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if mirrors is not None:
            await mirrors.close()
        await uploads.close()  # sessions an edge opened ahead at its origin: cancelled there
        await origin.close()
        generations.close()
        if store is not None:
            store.close()

    app.cleanup_ctx.append(registry_ctx)

    async def upload_expiry_ctx(app: web.Application):
        uploads = app[REGISTRY].uploads  # registry_ctx, registered first, has built it
        sweeper = asyncio.create_task(sweep_forever(uploads, cfg.limits.upload_idle_timeout))
        yield
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper

    app.cleanup_ctx.append(upload_expiry_ctx)
    return app
