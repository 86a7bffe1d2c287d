"""`make_app(cfg)`: the one way to build the node's aiohttp application (tests use it too)."""
from __future__ import annotations

from aiohttp import web

from .config import Config
from .http.middleware import common_headers, oci_errors
from .http.routes import add_routes
from .http.state import CONFIG, REGISTRY
from .origin import open_origin
from .registry import Registry
from .registry.uploads import Uploads


def make_app(cfg: Config) -> web.Application:
    app = web.Application(middlewares=[oci_errors], client_max_size=cfg.limits.max_manifest_bytes + 1)
    app[CONFIG] = cfg
    app.on_response_prepare.append(common_headers)
    add_routes(app)

    async def registry_ctx(app: web.Application):
        origin = open_origin(cfg.origin_url)
        uploads = Uploads(cfg.data_path / "uploads", cfg.limits.upload_chunk_bytes)
        app[REGISTRY] = Registry(origin, uploads, cfg.limits.max_manifest_bytes)
        yield
        await origin.close()

    app.cleanup_ctx.append(registry_ctx)
    return app
