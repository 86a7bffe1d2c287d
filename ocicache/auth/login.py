"""Checking Basic credentials: the failed-login budget first, then bcrypt in a bounded slot.

    1. the client IP or the user name is out of failed-login budget -> 429, before anything
       else (past the limit even the right password waits, so guessing learns nothing);
    2. credentials that passed within the last minute -> accepted, no bcrypt;
    3. reserve one failed login for the IP and the user (loginbudget.py; shared by workers);
       none left -> 429 with Retry-After, however many requests arrive at once;
    4. bcrypt in a check slot (checkslots.py: bounded per IP and in total, each worker its
       share of the node's bounds, round-robin);
       right -> the reservation is given back; wrong -> it stays spent, 401.
"""
from __future__ import annotations

import logging
import math
import time

from .. import errors
from ..errors import OCIError
from .checkslots import CheckSlots, worker_share
from .htpasswd import Htpasswd
from .loginbudget import LoginBudget

log = logging.getLogger("ocicache.auth")
WARN_EVERY_S = 60.0


def _printable(text: str) -> str:
    return "".join(c if " " <= c <= "~" else "?" for c in text[:100])


class Logins:
    def __init__(self, htpasswd: Htpasswd | None, cfg) -> None:
        rl = cfg.ratelimit
        self.htpasswd = htpasswd
        self.budget = LoginBudget(cfg.data_path / "auth" / "logins.sqlite", rl.auth_failures_per_minute,
                                  rl.auth_failures_per_user_per_minute)
        workers = cfg.worker_count  # the bounds are the node's: each worker runs its share
        self.slots = CheckSlots(worker_share(rl.login_checks, workers),
                                worker_share(rl.login_checks_per_ip, workers))
        self._warned: dict[str, float] = {}

    def _too_many(self, ip: str, user: str, wait: float, kind: str) -> OCIError:
        seconds = max(1, math.ceil(wait))
        who = f"client {ip}" if kind == "ip" else f"user {_printable(user)}"
        self._warn_once(who)
        where = "from" if kind == "ip" else "for"
        return OCIError(errors.TOOMANYREQUESTS, f"too many failed logins {where} {who}; retry in {seconds} s",
                        headers={"Retry-After": str(seconds)})

    def _warn_once(self, who: str) -> None:
        now = time.monotonic()
        if self._warned.get(who, 0.0) > now:
            return
        if len(self._warned) > 10000:
            self._warned.clear()
        self._warned[who] = now + WARN_EVERY_S
        log.warning("failed-login budget spent for %s: further logins get 429 until it refills "
                    "([ratelimit] auth_failures_per_minute, auth_failures_per_user_per_minute)", who)

    async def login(self, ip: str, user: str, password: str) -> str | None:
        """The user when the password is right; None when not; OCIError 429 past the budget."""
        wait, kind = self.budget.wait(ip, user)
        if wait:
            raise self._too_many(ip, user, wait, kind)
        if user and self.htpasswd is not None and self.htpasswd.remembered(user, password):
            return user
        wait, kind = self.budget.reserve(ip, user)
        if wait:
            raise self._too_many(ip, user, wait, kind)
        ok = False
        if user and self.htpasswd is not None:
            try:
                ok = await self.htpasswd.verify(user, password, lambda fn, *a: self.slots.run(ip, fn, *a))
            except TimeoutError:
                self.budget.refund(ip, user)  # never checked: not a failure
                raise OCIError(errors.TOOMANYREQUESTS, "password checks are busy on this node; retry in 1 s",
                               headers={"Retry-After": "1"}) from None
        if ok:
            self.budget.refund(ip, user)
            return user
        log.info("failed login from %s", ip)
        return None
