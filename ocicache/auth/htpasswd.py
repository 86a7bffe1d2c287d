"""Basic-auth users from an htpasswd file of bcrypt hashes (`htpasswd -B`).

Only bcrypt (`$2y$`, `$2b$`, `$2a$`) is accepted: the file is refused at start if a line
holds a plain, crypt, MD5 or SHA1 hash. Checks run off the event loop (on the threads the
caller gives, see checkslots.py); an unknown user costs a bcrypt check too, so timing does not tell which users exist. A successful check is
remembered for a minute under an HMAC of the credentials (a client sending Basic on every
request costs one bcrypt a minute, not one a request). The file is re-read when it changes.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Awaitable, Callable

import bcrypt

log = logging.getLogger("ocicache.auth")
BCRYPT_PREFIXES = (b"$2y$", b"$2b$", b"$2a$")
REMEMBER_S = 60.0
REMEMBER_MAX = 10000
RECHECK_FILE_S = 5.0
Runner = Callable[..., Awaitable[bool]]


class HtpasswdError(ValueError):
    """The file is missing, unreadable or holds a line that is not `user:<bcrypt hash>`."""


def parse(path: Path) -> dict[str, bytes]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HtpasswdError(f"htpasswd file {path}: {exc.strerror or exc}") from None
    users: dict[str, bytes] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user or not hashed.encode().startswith(BCRYPT_PREFIXES):
            raise HtpasswdError(f"htpasswd file {path} line {number}: expected user:<bcrypt hash> "
                                "(create entries with `htpasswd -B` or `ocicache htpasswd`)")
        users[user] = hashed.encode()
    return users


def hash_password(password: str, rounds: int = 12) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


class Htpasswd:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.users = parse(self.path)
        self._mtime = self._stat()
        self._next_check = time.monotonic() + RECHECK_FILE_S
        self._key = secrets.token_bytes(32)
        self._remembered: dict[bytes, float] = {}
        self._dummy: bytes | None = None
        self._pending: dict[bytes, asyncio.Future[bool]] = {}

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
            return st.st_mtime_ns, st.st_size
        except OSError:
            return None

    def _reload_if_changed(self) -> None:
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + RECHECK_FILE_S
        mtime = self._stat()
        if mtime == self._mtime:
            return
        try:
            self.users = parse(self.path)
        except HtpasswdError as exc:
            log.error("keeping the users loaded before: %s", exc)
            return
        self._mtime = mtime
        self._remembered.clear()
        log.info("htpasswd file %s re-read: %d users", self.path, len(self.users))

    def _dummy_hash(self) -> bytes:
        if self._dummy is None:
            sample = next(iter(self.users.values()), b"$2b$12$")
            rounds = int(sample[4:6]) if sample[4:6].isdigit() else 12
            self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds))
        return self._dummy

    def _check(self, hashed: bytes | None, password: str) -> bool:
        """bcrypt, off the event loop; an unknown user is checked against a dummy hash of the same cost."""
        try:
            ok = bcrypt.checkpw(password.encode(), hashed if hashed is not None else self._dummy_hash())
        except ValueError:  # over 72 bytes, or a malformed hash in the file: a failed check
            ok = False
        return ok and hashed is not None

    def _mac(self, user: str, password: str) -> bytes:
        return hmac.new(self._key, f"{user}\0{password}".encode("utf-8", "surrogatepass"), hashlib.sha256).digest()

    def remembered(self, user: str, password: str) -> bool:
        """True when these exact credentials passed a check within the last minute (no bcrypt)."""
        self._reload_if_changed()
        return self._remembered.get(self._mac(user, password), 0.0) > time.monotonic()

    async def verify(self, user: str, password: str, run: Runner | None = None) -> bool:
        """Check the password; `run(fn, *args)` runs the bcrypt call (default: the loop's executor).
        Requests with the same credentials at once share one check."""
        self._reload_if_changed()
        mac = self._mac(user, password)
        while True:
            if self._remembered.get(mac, 0.0) > time.monotonic():
                return True
            pending = self._pending.get(mac)
            if pending is None:
                break
            await asyncio.wait([pending])
            if not pending.cancelled() and pending.exception() is None:
                return pending.result()
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending[mac] = fut
        try:
            ok = await (run or _in_executor)(self._check, self.users.get(user), password)
            fut.set_result(ok)
        except BaseException:
            fut.cancel()  # those waiting for this check run their own
            raise
        finally:
            self._pending.pop(mac, None)
        if ok:
            self._remember(mac)
        return ok

    def _remember(self, mac: bytes) -> None:
        now = time.monotonic()
        if len(self._remembered) >= REMEMBER_MAX:
            self._remembered = {k: t for k, t in self._remembered.items() if t > now}
            if len(self._remembered) >= REMEMBER_MAX:
                self._remembered.clear()
        self._remembered[mac] = now + REMEMBER_S


async def _in_executor(fn: Callable[..., bool], *args) -> bool:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)
