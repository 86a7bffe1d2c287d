"""`ocicache serve`: the node. One process, or `--workers N` processes sharing the port
(SO_REUSEPORT, supervised by ocicache.service.workers), each running `make_app(cfg)` on uvloop."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import sqlite3

import uvloop

from ..app import make_app, open_store
from ..auth.tls import server_context
from ..cache import reconcile
from ..config import Config, ConfigError, summary
from ..hotpaths import digest, rangecopy
from ..http.protocol import NodeRunner
from ..service import lifecycle, workers
from ..service.listen import AcceptingSite
from .options import add_serve_options, load_config

log = logging.getLogger("ocicache")
NODE_BUDGET = "node_max_bytes"
"""The index counter holding the [cache] max_bytes the node last started with."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the edge node")
    add_serve_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    lifecycle.prepare(cfg, lambda: load_config(args))  # SIGHUP loads the same file, env and flags again
    return serve(cfg)


def serve(cfg: Config) -> int:
    cfg.data_path.mkdir(parents=True, exist_ok=True)
    _prepare_store(cfg)
    if cfg.worker_count == 1:
        _run(cfg, reuse_port=False)
        return 0
    if cfg.listen_host_port[1] == 0:
        raise ConfigError("[server] listen: port 0 cannot be shared by several workers; name a port")
    # the modules and config loaded so far are shared with the workers copy-on-write; frozen, a
    # worker's full garbage collection no longer writes to each of them and so copies their pages
    # (measured: about 20 MiB of PSS for two workers; docs/PERFORMANCE.md "Peak memory")
    gc.freeze()
    return workers.run_workers(cfg.worker_count, lambda: _run(cfg, reuse_port=True), cfg.log.level, cfg.log.format)


def _prepare_store(cfg: Config) -> None:
    """Before any worker starts: clear the partial files a crash left, and ask for a pass
    making the index agree with the disk, which the workers walk in the background while they
    serve (cache/reconcile.py): start-up does not grow with the store."""
    if not cfg.keeps_cache:
        return
    store = open_store(cfg)
    try:
        store.index.set_counter(NODE_BUDGET, cfg.cache.max_bytes)  # `cache stats` shows the node's budget
        removed = store.clear_partial()
        if removed:
            log.info("cache %s: removed %d partial files left by fills that did not finish", cfg.cache_path, removed)
        store.begin_reconcile()
    finally:
        store.close()


async def _reconcile(cfg: Config) -> None:
    """This worker's part of the start-up pass (one worker walks it; another takes over if it dies)."""
    store = open_store(cfg)
    try:
        await reconcile.in_background(store)
    except (sqlite3.Error, OSError) as exc:
        log.error("cache %s: reconciling the index with the disk failed (%s); the node serves what is "
                  "on disk meanwhile, and the next start tries again", cfg.cache_path, exc)
    finally:
        store.close()


def _run(cfg: Config, reuse_port: bool) -> None:
    uvloop.run(_run_node(cfg, reuse_port))


async def _run_node(cfg: Config, reuse_port: bool) -> None:
    app = make_app(cfg)
    runner = NodeRunner(app, access_log=None, handle_signals=False,  # ocicache.http.access logs
                        shutdown_timeout=cfg.ops.shutdown_timeout, **runner_limits(cfg))  # parser errors: http/protocol.py
    await runner.setup()
    host, port = cfg.listen_host_port
    tls = ssl_context(cfg)
    site = AcceptingSite(runner, host, port, reuse_port=reuse_port, backlog=cfg.server.backlog, ssl_context=tls)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"cannot listen on {cfg.server.listen}: {exc.strerror or exc}; "
                          "pick another --listen port or stop what holds it") from None
    warn_exposure(cfg, host)
    bound = runner.addresses[0][1] if runner.addresses else port  # port 0: the one picked
    log.info("ocicache %d listening on %s://%s:%d; %s; hashing %s (%s), range copy %s, sendfile %s",
             os.getpid(), "https" if tls else "http", host, bound, summary.one_line(cfg, skip=("listen",)),
             digest.IMPLEMENTATION, digest.cpu_features(), rangecopy.IMPLEMENTATION,
             "on" if cfg.server.sendfile else "off")
    upkeep = asyncio.create_task(_reconcile(cfg)) if cfg.keeps_cache else None
    try:
        await lifecycle.serve_until_stopped(runner, app, cfg)  # READY=1, SIGHUP reload, graceful SIGTERM
    finally:
        if upkeep is not None:
            upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await upkeep


def ssl_context(cfg: Config):
    """The TLS context for the listening site, or None for plain HTTP."""
    if not cfg.tls.cert:
        return None
    return server_context(cfg.tls.cert, cfg.tls.key)


def runner_limits(cfg: Config) -> dict[str, object]:
    """aiohttp server limits: request line and header sizes, and how long a connection may idle
    or dribble its headers (the idle timer runs from connect until the headers are complete).
    Request bodies are never decompressed (encoded ones get 415: http/intake.py)."""
    limits = cfg.limits
    return {"max_line_size": limits.max_url_bytes, "max_field_size": limits.max_header_bytes,
            "max_headers": limits.max_headers, "keepalive_timeout": limits.idle_timeout,
            "auto_decompress": False}


def warn_exposure(cfg: Config, host: str) -> None:
    """The start-up warnings `config check` prints too (config/summary.py), as log lines."""
    for warning in summary.warnings(cfg, host):
        log.warning("%s", warning)
