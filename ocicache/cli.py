"""The command line: `ocicache serve` (more commands join as they land)."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from aiohttp import web

from . import config as config_mod
from .config import Config, ConfigError

log = logging.getLogger("ocicache")
ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tfs "%{User-Agent}i"'


def _common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="folder for the embedded origin, cache and uploads (default ./data)")
    p.add_argument("--origin", help="origin URL: file:///path (default file://<data-dir>/origin) "
                   "or http(s)://host[:port] (another registry, read through the cache)")
    p.add_argument("--cache-max-bytes", type=int, help="bytes the local blob store may hold")
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--log-level", default=os.environ.get("OCICACHE_LOG_LEVEL", "INFO"))


def _parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the edge node")
    p.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:5000)")
    p.add_argument("--workers", type=int, help="worker processes sharing the port (default: one per core)")
    _common_options(p)
    cache = sub.add_parser("cache", help="inspect and maintain the local blob store").add_subparsers(
        dest="cache_command", required=True)
    _common_options(cache.add_parser("stats", help="entries, bytes, hits and misses"))
    prune = cache.add_parser("prune", help="evict least-recently-used blobs down to a size")
    prune.add_argument("--to", type=int, required=True, metavar="BYTES", help="bytes to keep at most")
    _common_options(prune)
    _common_options(cache.add_parser("verify", help="rehash every cached blob; remove corrupt ones"))


def _load(args: argparse.Namespace) -> Config:
    overrides: dict[str, dict[str, object]] = {"server": {}, "storage": {}, "cache": {}}
    if getattr(args, "listen", None):
        overrides["server"]["listen"] = args.listen
    if getattr(args, "workers", None) is not None:
        overrides["server"]["workers"] = args.workers
    if args.data_dir:
        overrides["storage"]["data_dir"] = args.data_dir
    if args.origin:
        overrides["storage"]["origin"] = args.origin
    if args.cache_max_bytes is not None:
        overrides["cache"]["max_bytes"] = args.cache_max_bytes
    return config_mod.load(args.config, overrides=overrides)


def cache_command(cfg: Config, args: argparse.Namespace) -> int:
    from .app import open_store

    if not (cfg.cache_path / "index.sqlite").exists():
        print(f"ocicache: no cache at {cfg.cache_path} (nothing was cached yet, or pass the node's "
              "--data-dir / --config)", file=sys.stderr)
        return 1
    store = open_store(cfg)
    try:
        if args.cache_command == "stats":
            st = store.stats()
            asked = st["hits"] + st["misses"]
            ratio = f"{st['hits'] / asked:.1%}" if asked else "n/a"
            print(f"cache {cfg.cache_path}\n  entries    {st['entries']}\n  bytes      {st['bytes']} of "
                  f"{st['max_bytes']} ({st['bytes'] / st['max_bytes']:.1%})\n  hits       {st['hits']}\n"
                  f"  misses     {st['misses']}\n  hit ratio  {ratio}\n  evictions  {st['evictions']}")
        elif args.cache_command == "prune":
            before = store.index.total_bytes()
            evicted = store.prune(args.to)
            print(f"evicted {evicted} blobs: {before} -> {store.index.total_bytes()} bytes in {cfg.cache_path}")
        elif args.cache_command == "verify":
            corrupt = store.verify()
            for digest in corrupt:
                print(f"CORRUPT {digest}: removed from the cache; the next pull fetches it again")
            print(f"verified {store.index.entries() + len(corrupt)} blobs in {cfg.cache_path}: "
                  f"{len(corrupt)} corrupt")
            return 1 if corrupt else 0
    finally:
        store.close()
    return 0


async def _run_node(cfg: Config, reuse_port: bool) -> None:
    from .app import make_app

    runner = web.AppRunner(make_app(cfg), access_log_format=ACCESS_LOG_FORMAT, handle_signals=False)
    await runner.setup()
    host, port = cfg.listen_host_port
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None, backlog=1024)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"cannot listen on {cfg.server.listen}: {exc.strerror or exc}; "
                          "pick another --listen port or stop what holds it") from None
    from . import digest, rangecopy

    log.info("ocicache %d listening on http://%s:%d; origin %s; data dir %s; hashing %s (%s), "
             "range copy %s, sendfile %s", os.getpid(), host, port, cfg.origin_url, cfg.data_path,
             digest.IMPLEMENTATION, digest.cpu_features(), rangecopy.IMPLEMENTATION,
             "on" if cfg.server.sendfile else "off")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("ocicache %d stopping", os.getpid())
    await runner.cleanup()


def _run(cfg: Config, reuse_port: bool) -> None:
    import uvloop

    uvloop.run(_run_node(cfg, reuse_port))


def _prepare_store(cfg: Config) -> None:
    """Before any worker starts: clear what a crash left and make the index agree with disk."""
    if cfg.origin_is_local:
        return
    from .app import open_store

    store = open_store(cfg)
    try:
        found = store.reconcile()
        if any(found.values()):
            log.info("cache %s reconciled at start: %s", cfg.cache_path, found)
    finally:
        store.close()


def serve(cfg: Config) -> int:
    cfg.data_path.mkdir(parents=True, exist_ok=True)
    _prepare_store(cfg)
    workers = cfg.worker_count
    if workers == 1:
        _run(cfg, reuse_port=False)
        return 0
    if cfg.listen_host_port[1] == 0:
        raise ConfigError("[server] listen: port 0 cannot be shared by several workers; name a port")
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_run, args=(cfg, True), name=f"ocicache-worker-{i}")
             for i in range(workers)]
    for proc in procs:
        proc.start()

    def forward(signum, _frame):
        for proc in procs:
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for proc in procs:
        proc.join()
    return max((proc.exitcode or 0) for proc in procs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ocicache", description="pull-through caching OCI edge registry")
    sub = parser.add_subparsers(dest="command", required=True)
    _parsers(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        if args.command == "serve":
            return serve(_load(args))
        if args.command == "cache":
            return cache_command(_load(args), args)
    except ConfigError as exc:
        print(f"ocicache: configuration error: {exc}", file=sys.stderr)
        return 2
    return 1
