"""`ocicache config check [FILE] [serve's flags]`: load and validate the config exactly as
`serve` would (file, `OCICACHE_*` environment, flags), then say what the node would run."""
from __future__ import annotations

import argparse
import sys

from ..config import Config, ConfigError, summary
from .options import add_serve_options, load_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("config", help="configuration tools").add_subparsers(dest="config_command", required=True)
    check = c.add_parser("check", help="load the config as `serve` would (file, OCICACHE_* environment, flags), "
                         "validate it and print what the node would run; exit 2 if serve would refuse it",
                         description="Give the same file, environment and flags as the node's `serve`.")
    check.add_argument("file", nargs="?", help="the TOML config file (the same as --config)")
    add_serve_options(check)
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.file and args.config and args.file != args.config:
        print(f"ocicache config check: two config files given ({args.file} and --config {args.config}); "
              "name one", file=sys.stderr)
        return 2
    args.config = args.file or args.config
    source = args.config or "defaults"
    try:
        cfg = load_config(args)
        problem = cross_checks(cfg)
        if problem:
            raise ConfigError(problem)
    except ConfigError as exc:
        message = str(exc)
        print(f"INVALID: {message}" if message.startswith(source) else f"{source}: INVALID: {message}",
              file=sys.stderr)
        return 2
    print(report(cfg, source))
    return 0


def cross_checks(cfg: Config) -> str | None:
    """What `serve` refuses at start beyond validation (it needs the machine, not the file)."""
    if cfg.worker_count > 1 and cfg.listen_host_port[1] == 0:
        return (f"[server] listen: port 0 cannot be shared by {cfg.worker_count} workers; name a port "
                "or set [server] workers = 1")
    return None


def report(cfg: Config, source: str) -> str:
    width = max(len(what) for what, _ in summary.lines(cfg))
    out = [f"{source}: ok; the node would run:"]
    out += [f"  {what.ljust(width)}  {how}" for what, how in summary.lines(cfg)]
    out += [f"warning: {text}" for text in summary.warnings(cfg)]
    return "\n".join(out)
