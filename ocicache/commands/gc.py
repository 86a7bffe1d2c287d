"""`ocicache gc`: delete origin blobs no manifest references (on the node with the file:// origin)."""
from __future__ import annotations

import argparse
import sys

from ..config import Config
from ..registry import gc
from .options import add_config_options, add_origin_option, load_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("gc", help="delete origin blobs no manifest references (file:// origin)")
    g.add_argument("--dry-run", action="store_true", help="print what would be deleted; delete nothing")
    g.add_argument("--grace", type=float, help="keep unreferenced blobs younger than this many seconds "
                   "(default [gc] grace_seconds, 3600): pushes in progress")
    add_origin_option(g)
    add_config_options(g, "the origin node's TOML config file")
    g.set_defaults(run=lambda args: gc_command(load_config(args), args))


def gc_command(cfg: Config, args: argparse.Namespace) -> int:
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
