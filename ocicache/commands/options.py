"""The options every node command shares (`serve`, `cache ...`, `gc`), and the config they load."""
from __future__ import annotations

import argparse

from .. import config as config_mod
from ..config import Config, ConfigError
from ..config.upstreams import parse_flag as parse_upstream_flag


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="folder for the embedded origin, cache and uploads (default ./data)")
    p.add_argument("--origin", help="origin URL: file:///path (default file://<data-dir>/origin) "
                   "or http(s)://host[:port] (another registry, read through the cache)")
    p.add_argument("--cache-max-bytes", type=int, help="bytes the local blob store may hold")
    p.add_argument("--upstream", action="append", metavar="NAME=URL",
                   help="mirror an upstream registry read-only, e.g. docker.io=https://registry-1.docker.io "
                   "(repeatable; the first is the default of a node without --origin; docs/MIRRORS.md)")
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (default [log] level, INFO)")


def _auth_overrides(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {}
    if getattr(args, "htpasswd", None):
        out["htpasswd"] = args.htpasswd
    if getattr(args, "token_key", None):
        out["token_key"] = args.token_key
    return out


def load_config(args: argparse.Namespace) -> Config:
    """The config file and environment, with the command's flags on top."""
    overrides: dict[str, dict[str, object]] = {"server": {}, "storage": {}, "cache": {},
                                               "auth": _auth_overrides(args)}
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
