"""Operator commands: `ocicache warm`, `ocicache gc`, `ocicache config check`."""
from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
from typing import Callable

from . import config as config_mod
from .config import Config, ConfigError


def add_parsers(sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]) -> None:
    w = sub.add_parser("warm", help="pre-seed a node's cache with images (all platforms or chosen ones)")
    w.add_argument("images", nargs="+", metavar="IMAGE", help="repo:tag or repo@sha256:... as the node names it")
    w.add_argument("--node", default="http://127.0.0.1:5000", help="the node to warm (default %(default)s)")
    w.add_argument("--platform", action="append", default=[], metavar="OS/ARCH[/VARIANT]",
                   help="only these platforms of a multi-platform image (repeatable; default all)")
    w.add_argument("--concurrency", type=int, default=4, help="blobs fetched at once (default %(default)s)")
    w.add_argument("--no-progress", action="store_true", help="no progress bar (logs and CI)")
    g = sub.add_parser("gc", help="delete origin blobs no manifest references (file:// origin)")
    g.add_argument("--dry-run", action="store_true", help="print what would be deleted; delete nothing")
    g.add_argument("--grace", type=float, help="keep unreferenced blobs younger than this many seconds "
                   "(default [gc] grace_seconds, 3600): pushes in progress")
    common(g)
    c = sub.add_parser("config", help="configuration tools").add_subparsers(dest="config_command", required=True)
    check = c.add_parser("check", help="validate a config file as `serve` would, without serving")
    check.add_argument("file")


def run(args: argparse.Namespace) -> int | None:
    """Run one of these commands; None if `args` names another."""
    if args.command == "warm":
        return asyncio.run(warm_command(args))
    if args.command == "gc":
        from .cli import _load

        return gc_command(_load(args), args)
    if args.command == "config" and args.config_command == "check":
        return config_check(args.file)
    return None


def config_check(path: str) -> int:
    try:
        cfg = config_mod.load(path, env={})
    except ConfigError as exc:
        print(f"{path}: INVALID: {exc}", file=sys.stderr)
        return 2
    print(f"{path}: ok: listen {cfg.server.listen}, origin {cfg.origin_url}, data dir {cfg.data_path}, "
          f"cache {cfg.cache.max_bytes} bytes, auth {'on' if cfg.auth.enabled else 'off'}, "
          f"admin API {'on' if cfg.admin.token_file else 'off'}, logs {cfg.log.format} at {cfg.log.level}")
    return 0


def gc_command(cfg: Config, args: argparse.Namespace) -> int:
    from . import gc

    if not cfg.origin_is_local:
        print(f"ocicache gc: the origin {cfg.origin_url} is not a local directory; run gc where the origin "
              "is (the node with the file:// origin), with its --data-dir or --config", file=sys.stderr)
        return 2
    grace = cfg.gc.grace_seconds if args.grace is None else args.grace
    try:
        storage = gc.FsGcStorage(cfg.origin_url[len("file://"):])
        report = gc.collect(storage, grace, args.dry_run)
    except gc.GcError as exc:
        print(f"ocicache gc: {exc}", file=sys.stderr)
        return 1
    verb = "would delete" if args.dry_run else "deleted"
    for digest, size in report.deleted:
        print(f"{verb} {digest} ({size} bytes)")
    print(f"gc {cfg.origin_url}: {report.repositories} repositories, {report.manifests} manifests, "
          f"{len(report.marked)} blobs referenced; {verb} {len(report.deleted)} unreferenced blobs "
          f"({report.freed_bytes} bytes); kept {len(report.kept_young)} unreferenced blobs younger than "
          f"{grace:.0f} s (pushes in progress)")
    return 0


async def warm_command(args: argparse.Namespace) -> int:
    import aiohttp
    from tqdm import tqdm

    from . import warm

    platforms = set(args.platform) or None
    failures = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_connect=10, sock_read=120)) as session:
        source = warm.HttpSource(session, args.node)
        for image in args.images:
            started = datetime.datetime.now()
            try:
                repo, reference = warm.parse_image(image)
                blobs = await warm.plan(source, repo, reference, platforms)
                total = sum({b.digest: b.size for b in blobs}.values())
                with tqdm(total=total, unit="B", unit_scale=True, desc=image, disable=args.no_progress,
                          file=sys.stderr) as bar:
                    await warm.warm(source, blobs, bar.update, args.concurrency)
            except Exception as exc:  # report every image; the exit code says some failed
                failures += 1
                print(f"FAILED {image} on {args.node}: {warm.describe(exc)}", file=sys.stderr)
                continue
            seconds = (datetime.datetime.now() - started).total_seconds()
            print(f"warmed {image} on {args.node}: {len({b.digest for b in blobs})} blobs, {total} bytes "
                  f"in {seconds:.1f} s")
    return 1 if failures else 0
