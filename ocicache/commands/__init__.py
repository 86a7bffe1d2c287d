"""The command line, the product's public face (docs/ARCHITECTURE.md): one module per subcommand.

    serve.py         ocicache serve: the node (workers, TLS, server limits)
    cache.py         ocicache cache stats | prune | verify
    warm.py          ocicache warm IMAGE...: pre-seed a node through its HTTP API
    gc.py            ocicache gc: delete origin blobs nothing references (file:// origin)
    config_check.py  ocicache config check FILE
    auth.py          ocicache token keygen FILE, ocicache htpasswd FILE USER
    options.py       the options node commands share, and loading the config from them

A subcommand module has `add_parser(sub)`, which sets `run(args) -> exit code` as its default.
"""
from __future__ import annotations

import argparse
import os
import sys

from ..config import ConfigError
from ..config.ops import LOG_FORMATS
from ..service import logs
from . import auth, cache, config_check, gc, serve, warm


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and flag (the docs tests check each documented command against it)."""
    parser = argparse.ArgumentParser(prog="ocicache", description="pull-through caching OCI edge registry")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (serve, cache, warm, gc, config_check, auth):
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Until a command loads its config (options.load_config sets [log] level and format), log as
    # the environment says; the node and every command write the same format.
    level = getattr(args, "log_level", None) or os.environ.get("OCICACHE_LOG_LEVEL") or "INFO"
    fmt = os.environ.get("OCICACHE_LOG_FORMAT", "json").strip().lower()
    logs.setup(str(level), fmt if fmt in LOG_FORMATS else "json", sys.stderr)
    try:
        return args.run(args)
    except ConfigError as exc:
        print(f"ocicache: configuration error: {exc}", file=sys.stderr)
        return 2
