"""The command line: `ocicache serve` (more commands join as they land)."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from aiohttp import web

from . import config as config_mod
from . import ops_commands, service
from .auth import commands as auth_commands
from .config import Config, ConfigError
from .upstreamconfig import parse_flag as parse_upstream_flag

log = logging.getLogger("ocicache")


def _common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="folder for the embedded origin, cache and uploads (default ./data)")
    p.add_argument("--origin", help="origin URL: file:///path (default file://<data-dir>/origin) "
                   "or http(s)://host[:port] (another registry, read through the cache)")
    p.add_argument("--cache-max-bytes", type=int, help="bytes the local blob store may hold")
    p.add_argument("--upstream", action="append", metavar="NAME=URL",
                   help="mirror an upstream registry read-only, e.g. docker.io=https://registry-1.docker.io "
                   "(repeatable; the first is the default of a node without --origin; docs/MIRRORS.md)")
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (default [log] level, INFO)")


def _parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the edge node")
    p.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:5000)")
    p.add_argument("--workers", type=int, help="worker processes sharing the port (default: one per core)")
    auth_commands.add_serve_options(p)
    _common_options(p)
    cache = sub.add_parser("cache", help="inspect and maintain the local blob store").add_subparsers(
        dest="cache_command", required=True)
    _common_options(cache.add_parser("stats", help="entries, bytes, hits and misses"))
    prune = cache.add_parser("prune", help="evict least-recently-used blobs down to a size")
    prune.add_argument("--to", type=int, required=True, metavar="BYTES", help="bytes to keep at most")
    _common_options(prune)
    _common_options(cache.add_parser("verify", help="rehash every cached blob; remove corrupt ones"))
    ops_commands.add_parsers(sub, _common_options)  # warm, gc, config check
    auth_commands.add_parsers(sub)


def _load(args: argparse.Namespace) -> Config:
    overrides: dict[str, dict[str, object]] = {"server": {}, "storage": {}, "cache": {},
                                               "auth": auth_commands.serve_overrides(args)}
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
    if getattr(args, "upstream", None):
        try:
            overrides["upstreams"] = {"registries": parse_upstream_flag(args.upstream)}
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if getattr(args, "log_level", None):
        overrides["log"] = {"level": args.log_level}
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

    app = make_app(cfg)
    runner = web.AppRunner(app, access_log=None, handle_signals=False,  # ocicache.http.access logs
                           shutdown_timeout=cfg.ops.shutdown_timeout,
                           **auth_commands.runner_limits(cfg))
    await runner.setup()
    host, port = cfg.listen_host_port
    tls = auth_commands.ssl_context(cfg)
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None, backlog=1024, ssl_context=tls)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"cannot listen on {cfg.server.listen}: {exc.strerror or exc}; "
                          "pick another --listen port or stop what holds it") from None
    from . import digest, rangecopy

    auth_commands.warn_exposure(cfg, host)
    log.info("ocicache %d listening on %s://%s:%d; auth %s; origin %s; data dir %s; hashing %s (%s), "
             "range copy %s, sendfile %s", os.getpid(), "https" if tls else "http", host, port,
             "on" if cfg.auth.enabled else "off", cfg.origin_url, cfg.data_path,
             digest.IMPLEMENTATION, digest.cpu_features(), rangecopy.IMPLEMENTATION,
             "on" if cfg.server.sendfile else "off")
    if cfg.upstreams.registries:
        log.info("mirroring %s%s", ", ".join(f"{n}={u}" for n, u in cfg.upstreams.registries.items()),
                 "; pure mirror: requests naming no upstream go to the first" if cfg.pure_mirror else "")
    await service.serve_until_stopped(runner, app, cfg)  # READY=1, SIGHUP reload, graceful SIGTERM


def _run(cfg: Config, reuse_port: bool) -> None:
    import uvloop

    uvloop.run(_run_node(cfg, reuse_port))


def _worker(cfg: Config, parent: int) -> None:
    """One of several worker processes. It gets SIGTERM when the parent dies (Linux
    PR_SET_PDEATHSIG), so a node killed with SIGKILL leaves no orphan workers on its port."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: workers outlive a killed parent
    if os.getppid() != parent:
        os._exit(1)  # the parent died before the request took effect
    _run(cfg, reuse_port=True)


def _prepare_store(cfg: Config) -> None:
    """Before any worker starts: clear what a crash left and make the index agree with disk."""
    if not cfg.keeps_cache:
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
    service.expect_workers()
    procs = [ctx.Process(target=_worker, args=(cfg, os.getpid()), name=f"ocicache-worker-{i}")
             for i in range(workers)]
    for proc in procs:
        proc.start()

    def forward(signum, _frame):
        service.parent_signal(signum)
        for proc in procs:
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGHUP if signum == signal.SIGHUP else signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, forward)
    service.wait_workers_ready(procs)
    for proc in procs:
        proc.join()
        from . import metrics  # imported only now: after PROMETHEUS_MULTIPROC_DIR is set

        metrics.worker_exited(proc.pid)
    return max((proc.exitcode or 0) for proc in procs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ocicache", description="pull-through caching OCI edge registry")
    sub = parser.add_subparsers(dest="command", required=True)
    _parsers(sub)
    args = parser.parse_args(argv)
    level = getattr(args, "log_level", None) or os.environ.get("OCICACHE_LOG_LEVEL") or "INFO"
    logging.basicConfig(level=getattr(logging, str(level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        if args.command == "serve":
            cfg = _load(args)
            service.prepare(cfg, lambda: _load(args))
            return serve(cfg)
        done = ops_commands.run(args)
        if done is not None:
            return done
        if args.command == "cache":
            return cache_command(_load(args), args)
        done = auth_commands.run(args)
        if done is not None:
            return done
    except ConfigError as exc:
        print(f"ocicache: configuration error: {exc}", file=sys.stderr)
        return 2
    return 1
