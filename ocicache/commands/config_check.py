"""`ocicache config check FILE`: validate a config file as `serve` would, without serving."""
from __future__ import annotations

import argparse
import sys

from .. import config as config_mod
from ..config import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("config", help="configuration tools").add_subparsers(dest="config_command", required=True)
    check = c.add_parser("check", help="validate a config file as `serve` would, without serving")
    check.add_argument("file")
    check.set_defaults(run=lambda args: config_check(args.file))


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
