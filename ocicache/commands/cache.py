"""`ocicache cache stats | prune | verify`: inspect and maintain a node's local blob store."""
from __future__ import annotations

import argparse
import sys

from ..app import open_store
from ..config import Config
from .options import add_common, load_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="inspect and maintain the local blob store")
    p.set_defaults(run=run)
    cache = p.add_subparsers(dest="cache_command", required=True)
    add_common(cache.add_parser("stats", help="entries, bytes, hits and misses"))
    prune = cache.add_parser("prune", help="evict least-recently-used blobs down to a size")
    prune.add_argument("--to", type=int, required=True, metavar="BYTES", help="bytes to keep at most")
    add_common(prune)
    add_common(cache.add_parser("verify", help="rehash every cached blob; remove corrupt ones"))


def run(args: argparse.Namespace) -> int:
    return cache_command(load_config(args), args)


def cache_command(cfg: Config, args: argparse.Namespace) -> int:
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
