"""`ocicache token keygen FILE` and `ocicache htpasswd FILE USER`: the token service's keys and
the users of Basic authentication."""
from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from ..auth.htpasswd import hash_password
from ..auth.tokenservice import keygen


def add_parser(sub: argparse._SubParsersAction) -> None:
    token = sub.add_parser("token", help="token service keys").add_subparsers(dest="token_command", required=True)
    keygen = token.add_parser("keygen", help="write a new EC P-256 signing key (FILE) and its public half (FILE.pub)")
    keygen.add_argument("file")
    keygen.set_defaults(log_level="WARNING", run=run)
    users = sub.add_parser("htpasswd", help="add or replace a user in an htpasswd file (bcrypt); "
                           "the password is read from standard input")
    users.add_argument("file")
    users.add_argument("user")
    users.add_argument("--rounds", type=int, default=12, help="bcrypt cost (default 12)")
    users.set_defaults(log_level="WARNING", run=run)


def run(args: argparse.Namespace) -> int:
    """Run `token keygen` or `htpasswd`."""
    if args.command == "token":
        try:
            kid = keygen(args.file)
        except FileExistsError:
            print(f"ocicache: {args.file} exists; refusing to overwrite a key", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"ocicache token keygen: cannot write {args.file}: {_why(exc)}", file=sys.stderr)
            return 1
        print(f"wrote {args.file} (private, mode 0600) and {args.file}.pub; key id {kid}")
        return 0
    return _set_password(Path(args.file), args.user, args.rounds)


def _set_password(path: Path, user: str, rounds: int) -> int:
    if not user or ":" in user or any(c.isspace() for c in user):
        print("ocicache: a user name has no ':' and no spaces", file=sys.stderr)
        return 2
    password = getpass.getpass(f"password for {user}: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not password or len(password.encode()) > 72:
        print("ocicache: the password must be 1 to 72 bytes (bcrypt's limit)", file=sys.stderr)
        return 2
    if not 4 <= rounds <= 31:
        print("ocicache htpasswd: --rounds must be 4 to 31 (bcrypt's cost; 12 is the default)", file=sys.stderr)
        return 2
    try:
        lines = path.read_text().splitlines() if path.exists() else []
        lines = [line for line in lines if line.partition(":")[0] != user]
        lines.append(f"{user}:{hash_password(password, rounds)}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"ocicache htpasswd: cannot update {path}: {_why(exc)}", file=sys.stderr)
        return 1
    print(f"{path}: {user} set")
    return 0


def _why(exc: BaseException) -> str:
    """An OS error in words, with what to do (no errno, no repr)."""
    if isinstance(exc, UnicodeDecodeError):
        return "it is not a text file (an htpasswd file holds user:hash lines)"
    if isinstance(exc, FileNotFoundError):
        return "its folder does not exist; create it first"
    if isinstance(exc, PermissionError):
        return "permission denied; run as a user who may write there"
    if isinstance(exc, IsADirectoryError):
        return "it is a directory; name a file"
    return (getattr(exc, "strerror", None) or "the system refused").lower()
