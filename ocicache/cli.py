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


def _serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the edge node")
    p.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:5000)")
    p.add_argument("--data-dir", help="folder for the embedded origin, cache and uploads (default ./data)")
    p.add_argument("--origin", help="origin URL (default file://<data-dir>/origin)")
    p.add_argument("--workers", type=int, help="worker processes sharing the port (default 1)")
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--log-level", default=os.environ.get("OCICACHE_LOG_LEVEL", "INFO"))


def _load(args: argparse.Namespace) -> Config:
    overrides: dict[str, dict[str, object]] = {"server": {}, "storage": {}}
    if args.listen:
        overrides["server"]["listen"] = args.listen
    if args.workers is not None:
        overrides["server"]["workers"] = args.workers
    if args.data_dir:
        overrides["storage"]["data_dir"] = args.data_dir
    if args.origin:
        overrides["storage"]["origin"] = args.origin
    return config_mod.load(args.config, overrides=overrides)


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


def serve(cfg: Config) -> int:
    cfg.data_path.mkdir(parents=True, exist_ok=True)
    if cfg.server.workers == 1:
        _run(cfg, reuse_port=False)
        return 0
    if cfg.listen_host_port[1] == 0:
        raise ConfigError("[server] listen: port 0 cannot be shared by several workers; name a port")
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_run, args=(cfg, True), name=f"ocicache-worker-{i}")
             for i in range(cfg.server.workers)]
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
    _serve_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        if args.command == "serve":
            return serve(_load(args))
    except ConfigError as exc:
        print(f"ocicache: configuration error: {exc}", file=sys.stderr)
        return 2
    return 1
