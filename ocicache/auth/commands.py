"""The command line's access-control parts: `serve --htpasswd/--token-key`, `token keygen`,
`htpasswd`, and what `serve` says and uses about TLS and exposure at start."""
from __future__ import annotations

import argparse
import getpass
import ipaddress
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("ocicache")


def add_serve_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--htpasswd", metavar="FILE", help="turn authentication on: bcrypt htpasswd file of users")
    p.add_argument("--token-key", metavar="FILE", help="token service key (PEM; `ocicache token keygen FILE` "
                   "makes one); a public key only verifies tokens issued elsewhere")


def serve_overrides(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {}
    if getattr(args, "htpasswd", None):
        out["htpasswd"] = args.htpasswd
    if getattr(args, "token_key", None):
        out["token_key"] = args.token_key
    return out


def add_parsers(sub: argparse._SubParsersAction) -> None:
    token = sub.add_parser("token", help="token service keys").add_subparsers(dest="token_command", required=True)
    keygen = token.add_parser("keygen", help="write a new EC P-256 signing key (FILE) and its public half (FILE.pub)")
    keygen.add_argument("file")
    keygen.set_defaults(log_level="WARNING")
    users = sub.add_parser("htpasswd", help="add or replace a user in an htpasswd file (bcrypt); "
                           "the password is read from standard input")
    users.add_argument("file")
    users.add_argument("user")
    users.add_argument("--rounds", type=int, default=12, help="bcrypt cost (default 12)")
    users.set_defaults(log_level="WARNING")


def run(args: argparse.Namespace) -> int | None:
    """Run `token` or `htpasswd`; None for any other command."""
    if args.command == "token":
        from .tokens import keygen

        try:
            kid = keygen(args.file)
        except FileExistsError:
            print(f"ocicache: {args.file} exists; refusing to overwrite a key", file=sys.stderr)
            return 1
        print(f"wrote {args.file} (private, mode 0600) and {args.file}.pub; key id {kid}")
        return 0
    if args.command == "htpasswd":
        return _set_password(Path(args.file), args.user, args.rounds)
    return None


def _set_password(path: Path, user: str, rounds: int) -> int:
    from .htpasswd import hash_password

    if not user or ":" in user or any(c.isspace() for c in user):
        print("ocicache: a user name has no ':' and no spaces", file=sys.stderr)
        return 2
    password = getpass.getpass(f"password for {user}: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not password or len(password.encode()) > 72:
        print("ocicache: the password must be 1 to 72 bytes (bcrypt's limit)", file=sys.stderr)
        return 2
    lines = path.read_text().splitlines() if path.exists() else []
    lines = [line for line in lines if line.partition(":")[0] != user]
    lines.append(f"{user}:{hash_password(password, rounds)}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"{path}: {user} set")
    return 0


def ssl_context(cfg):
    """The TLS context for the listening site, or None for plain HTTP."""
    if not cfg.tls.cert:
        return None
    from .tls import server_context

    return server_context(cfg.tls.cert, cfg.tls.key)


def runner_limits(cfg) -> dict[str, object]:
    """aiohttp server limits: request line and header sizes, and how long a connection may idle
    or dribble its headers (the idle timer runs from connect until the headers are complete)."""
    limits = cfg.limits
    return {"max_line_size": limits.max_url_bytes, "max_field_size": limits.max_header_bytes,
            "max_headers": limits.max_headers, "keepalive_timeout": limits.idle_timeout}


def warn_exposure(cfg, host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback or cfg.tls.cert:
        return
    if not cfg.auth.enabled:
        log.warning("serving plain HTTP on %s with no authentication: anyone who reaches this address "
                    "may pull, push and delete; see docs/SECURITY.md ([auth], [tls])", host)
    else:
        log.warning("serving plain HTTP on %s with authentication on: passwords and tokens cross the "
                    "network in clear; put TLS in front or set [tls] cert and key", host)
