"""The options node commands share, and the config they load from them.

`serve` and `config check` take every serving flag (`add_serve_options`); `cache` and `gc` take
only what finds the node's store or origin (`add_config_options`, plus `--origin` for gc): a
flag a command would ignore is not offered. All of them load file, environment and flags the
same way (`load_config`), so `config check` sees what `serve` would run.
"""
from __future__ import annotations

import argparse
import sys

from .. import config as config_mod
from ..config import Config, ConfigError
from ..config.upstreams import parse_flag as parse_upstream_flag
from ..service import logs

FLAGS = {("server", "listen"): "--listen", ("server", "workers"): "--workers",
         ("storage", "data_dir"): "--data-dir", ("storage", "origin"): "--origin",
         ("cache", "max_bytes"): "--cache-max-bytes", ("upstreams", "registries"): "--upstream",
         ("auth", "htpasswd"): "--htpasswd", ("auth", "token_key"): "--token-key", ("log", "level"): "--log-level"}
"""(section, key) -> the flag that sets it: errors name the flag."""


def add_config_options(p: argparse.ArgumentParser, config_help: str = "the node's TOML config file") -> None:
    p.add_argument("--config", metavar="FILE", help=config_help)
    p.add_argument("--data-dir", help="the node's data folder (default ./data, or [storage] data_dir of --config)")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (default [log] level, INFO)")


def add_origin_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--origin", metavar="URL", help="the origin: file:///path (default file://<data-dir>/origin), "
                   "s3://bucket/prefix (object storage, [s3] keys: docs/S3.md), or http(s)://host[:port] "
                   "(another registry, read through the cache)")


def add_serve_options(p: argparse.ArgumentParser, config_help: str = "the node's TOML config file") -> None:
    """The flags of `ocicache serve` (and of `config check`, which checks what they would run)."""
    p.add_argument("--listen", metavar="HOST:PORT", help="address to listen on (default 127.0.0.1:5000)")
    p.add_argument("--workers", type=int, help="worker processes sharing the port (default: one per core)")
    p.add_argument("--htpasswd", metavar="FILE", help="turn authentication on: bcrypt htpasswd file of users")
    p.add_argument("--token-key", metavar="FILE", help="token service key (PEM; `ocicache token keygen FILE` "
                   "makes one); a public key only verifies tokens issued elsewhere")
    add_origin_option(p)
    p.add_argument("--cache-max-bytes", type=int, metavar="BYTES", help="bytes the local blob store may hold")
    p.add_argument("--upstream", action="append", metavar="NAME=URL",
                   help="mirror an upstream registry read-only, e.g. docker.io=https://registry-1.docker.io "
                   "(repeatable; the first is the default of a node without --origin; docs/MIRRORS.md)")
    add_config_options(p, config_help)


def _overrides(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    values = {("server", "listen"): getattr(args, "listen", None),
              ("server", "workers"): getattr(args, "workers", None),
              ("storage", "data_dir"): getattr(args, "data_dir", None),
              ("storage", "origin"): getattr(args, "origin", None),
              ("cache", "max_bytes"): getattr(args, "cache_max_bytes", None),
              ("auth", "htpasswd"): getattr(args, "htpasswd", None),
              ("auth", "token_key"): getattr(args, "token_key", None),
              ("log", "level"): getattr(args, "log_level", None)}
    for (section, key), value in values.items():
        if value is not None and value != "":
            out.setdefault(section, {})[key] = value
    if getattr(args, "upstream", None):
        try:
            out["upstreams"] = {"registries": parse_upstream_flag(args.upstream)}
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return out


def load_config(args: argparse.Namespace) -> Config:
    """The config file and environment, with the command's flags on top."""
    cfg = config_mod.load(getattr(args, "config", None), overrides=_overrides(args), flags=FLAGS)
    logs.setup(cfg.log.level, cfg.log.format, sys.stderr)  # serve moves its logs to stdout at start
    return cfg
