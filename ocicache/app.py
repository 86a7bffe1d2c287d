"""`make_app(cfg)`: the one way to build the node's aiohttp application (tests use it too)."""
from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from .config import Config
from .http.middleware import common_headers, oci_errors
from .http.routes import add_routes
from .http.state import CONFIG, REGISTRY
from .origin import Origin, open_origin
from .registry import Registry
from .registry.proxy import ProxyOrigin
from .registry.uploads import Uploads
from .store import BlobStore
from .store.tags import TagCache

FLUSH_INTERVAL_S = 1.0


def open_store(cfg: Config) -> BlobStore:
    c = cfg.cache
    return BlobStore(cfg.cache_path, c.max_bytes, high_watermark=c.high_watermark,
                     low_watermark=c.low_watermark, admit_fraction=c.admit_fraction)


def build_origin(cfg: Config) -> Origin:
    """The configured origin; a remote one is seen through the local store (the edge cache)."""
    origin = open_origin(cfg.origin_url)
    if cfg.origin_is_local:
        return origin
    tags = TagCache(cfg.cache.tag_ttl, cfg.cache.stale_if_error, cfg.cache.negative_ttl)
    return ProxyOrigin(origin, open_store(cfg), tags, cfg.cache.fill_retries)


async def _flush_store(store: BlobStore) -> None:
    while True:
        await asyncio.sleep(FLUSH_INTERVAL_S)
        store.flush()


def make_app(cfg: Config) -> web.Application:
    app = web.Application(middlewares=[oci_errors], client_max_size=cfg.limits.max_manifest_bytes + 1)
    app[CONFIG] = cfg
    app.on_response_prepare.append(common_headers)
    add_routes(app)

    async def registry_ctx(app: web.Application):
        origin = build_origin(cfg)
        uploads = Uploads(cfg.data_path / "uploads", cfg.limits.upload_chunk_bytes)
        app[REGISTRY] = Registry(origin, uploads, cfg.limits.max_manifest_bytes)
        flusher = asyncio.create_task(_flush_store(origin.store)) if isinstance(origin, ProxyOrigin) else None
        yield
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        await origin.close()

    app.cleanup_ctx.append(registry_ctx)
    return app
