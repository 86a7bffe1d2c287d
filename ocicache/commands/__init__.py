"""The command line, the product's public face (../shared/DESIGN.md): one module per subcommand.

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
import logging
import os
import sys

from ..config import ConfigError
from . import auth, cache, config_check, gc, serve, warm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ocicache", description="pull-through caching OCI edge registry")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (serve, cache, warm, gc, config_check, auth):
        command.add_parser(sub)
    args = parser.parse_args(argv)
    level = getattr(args, "log_level", None) or os.environ.get("OCICACHE_LOG_LEVEL") or "INFO"
    logging.basicConfig(level=getattr(logging, str(level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return args.run(args)
    except ConfigError as exc:
        print(f"ocicache: configuration error: {exc}", file=sys.stderr)
        return 2
