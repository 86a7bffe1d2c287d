"""`ocicache cache stats | prune | verify`: inspect and maintain a node's local blob store.

The store is found from the node's config (`--config`, the file its unit runs with; or the
`--data-dir` it was started with), and its budget is the node's `[cache] max_bytes`. Safe
while the node runs. Evictions by `prune` are counted in the index (`cache stats`) and, when
the node shares its metrics folder (`<data_dir>/metrics`) and this user may write there, in
the node's `ocicache_cache_evictions_total` too.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .. import metrics
from ..app import open_store
from ..config import Config, summary
from .options import add_config_options, load_config
from .serve import NODE_BUDGET

NODE_CONFIG = Path("/etc/ocicache/ocicache.toml")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="inspect and maintain the local blob store (give the node's --config)")
    p.set_defaults(run=run)
    cache = p.add_subparsers(dest="cache_command", required=True)
    add_config_options(cache.add_parser("stats", help="entries, bytes of the node's budget, hits and misses"))
    prune = cache.add_parser("prune", help="evict least-recently-used blobs down to a size (pinned ones stay)")
    prune.add_argument("--to", type=int, required=True, metavar="BYTES", help="bytes to keep at most")
    add_config_options(prune)
    add_config_options(cache.add_parser("verify", help="rehash every cached blob; remove corrupt ones"))


def run(args: argparse.Namespace) -> int:
    return cache_command(load_config(args), args)


def _missing(cfg: Config, args: argparse.Namespace) -> str:
    hint = "nothing was cached yet there"
    if not args.config:
        hint = (f"pass the node's config: --config {NODE_CONFIG}" if NODE_CONFIG.exists()
                else "pass the node's --config FILE (or the --data-dir it runs with)")
    return f"ocicache cache: no cache at {cfg.cache_path} ({hint})"


def _count_in_node_metrics(cfg: Config) -> bool:
    """Evictions from here add to the node's counters when it shares its metrics folder."""
    folder = cfg.data_path / "metrics"
    if folder.is_dir() and os.access(folder, os.W_OK):
        metrics.share_across_processes(folder)
        return True
    return False


def cache_command(cfg: Config, args: argparse.Namespace) -> int:
    if not (cfg.cache_path / "index.sqlite").exists():
        print(_missing(cfg, args), file=sys.stderr)
        return 1
    shared = args.cache_command == "prune" and _count_in_node_metrics(cfg)
    store = open_store(cfg)
    store.max_bytes = _budget(cfg, store.index.counter(NODE_BUDGET), args)[0]  # what its log lines say
    try:
        if args.cache_command == "stats":
            print(stats_text(cfg, store, args))
        elif args.cache_command == "prune":
            print(prune(cfg, store, args.to, shared))
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


def stats_text(cfg: Config, store, args: argparse.Namespace) -> str:
    st = store.stats()
    asked = st["hits"] + st["misses"]
    ratio = f"{st['hits'] / asked:.1%}" if asked else "n/a (nothing asked yet)"
    budget, where = _budget(cfg, store.index.counter(NODE_BUDGET), args)
    return (f"cache {cfg.cache_path}\n"
            f"  entries    {st['entries']}\n"
            f"  bytes      {summary.size(st['bytes'])}, {st['bytes'] / budget:.1%} of the budget\n"
            f"  budget     {summary.size(budget)} ({where})\n"
            f"  hits       {st['hits']}\n  misses     {st['misses']}\n  hit ratio  {ratio}\n"
            f"  evictions  {st['evictions']}")


def _budget(cfg: Config, started_with: int, args: argparse.Namespace) -> tuple[int, str]:
    """The budget to show, and where it comes from: the config given, else what the node
    recorded in the index when it last started, else the default."""
    given = args.config or "OCICACHE_CACHE_MAX_BYTES" in os.environ
    if given:
        source = f"[cache] max_bytes of {args.config}" if args.config else "OCICACHE_CACHE_MAX_BYTES"
        if started_with and started_with != cfg.cache.max_bytes:
            source += f"; the node last started with {started_with}: restart it to apply"
        return cfg.cache.max_bytes, source
    if started_with:
        return started_with, "the node's, when it last started"
    return cfg.cache.max_bytes, "the default; pass the node's --config for its own"


def prune(cfg: Config, store, target: int, shared: bool) -> str:
    before = store.total_bytes()
    evicted = store.prune(target)
    after = store.total_bytes()
    out = [f"evicted {evicted} blobs ({before - after} bytes) from {cfg.cache_path}: {before} -> {after} bytes"]
    if after > target:
        pinned, pinned_bytes = store.pins.held()
        out.append(f"still {after - target} bytes above --to {target}: {pinned} blobs ({pinned_bytes} bytes) "
                   "are held by pinned repositories (GET /admin/pins lists them; DELETE /admin/pins/<repo> "
                   "releases one)" if pinned else f"still {after - target} bytes above --to {target}: "
                   "blobs being served right now are skipped; run it again")
    if evicted:
        out.append("counted in `cache stats` evictions and in the node's ocicache_cache_evictions_total" if shared
                   else "counted in `cache stats` evictions (not in the node's ocicache_cache_evictions_total: "
                   f"its metrics folder {cfg.data_path / 'metrics'} is missing or not writable by this user)")
    return "\n".join(out)
