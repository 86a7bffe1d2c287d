"""Upload sessions an edge opens at its origin ahead of the POSTs that will take them.

A push through an edge pays one round trip to the origin per request it forwards; the POST
that opens an upload carries nothing and needs nothing from the client but the repository, so
an edge that has just been pushed to in a repository keeps `depth` sessions open there at its
origin, and the next POST for that repository takes one at once: its Location is the origin's
session, as a POST forwarded then would have answered, so the session still hops (another edge
or the origin itself can continue it). Over a WAN link to a regional node that is one origin
round trip less per blob, the first step of every layer a client pushes.

- A repository gets sessions only once a POST for it came through this worker; the pool
  holds at most `max_repos` repositories (the least recently pushed to gives its sessions up).
- A session is handed out only while younger than `max_age` seconds, far below any origin's
  expiry of idle sessions (an ocicache node's `upload_idle_timeout`, one hour by default; CNCF
  distribution purges after days); older ones are cancelled at the origin (DELETE).
- Opening runs in the background, one task per repository at a time. An origin that refuses
  (read-only, denied, gone) is not asked again for that repository for `backoff` seconds;
  the client's own POST is forwarded as before and gets the origin's answer.
- A request that finds the origin unreachable, or a session unknown there, has `flush` drop
  what is held (for the repository, or all): an origin that restarted may have forgotten them
  (CNCF distribution without a fixed `http.secret` no longer takes their `_state`).
- `close()` cancels every session still held (a node stopping), waiting at most CLOSE_SECONDS;
  a node killed leaves them to the origin's expiry, as it would a client's abandoned upload.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from typing import Awaitable, Callable

log = logging.getLogger("ocicache.sessionpool")
CLOSE_SECONDS = 5.0
"""How long a stopping node waits for the origin to cancel the sessions still held."""


class SessionPool:
    def __init__(self, open_one: Callable[[str], Awaitable[str]], cancel_one: Callable[[str, str], Awaitable[None]],
                 depth: int = 2, max_repos: int = 32, max_age: float = 30.0, backoff: float = 30.0,
                 clock: Callable[[], float] = time.monotonic,
                 given_up: Callable[[str, str], None] | None = None) -> None:
        """`open_one(repo)` -> the origin's session id; `cancel_one(repo, id)` cancels one;
        `given_up(repo, id)`, called at once when the pool gives a session up (before the
        cancel reaches the origin), removes what the caller keeps for it."""
        self.open_one, self.cancel_one, self.given_up = open_one, cancel_one, given_up
        self.depth, self.max_repos, self.max_age, self.backoff = depth, max_repos, max_age, backoff
        self.clock = clock
        self._ready: OrderedDict[str, deque[tuple[float, str]]] = OrderedDict()
        self._filling: dict[str, asyncio.Task] = {}
        self._refused_until: dict[str, float] = {}
        self._tasks: set[asyncio.Task] = set()

    def take(self, repo: str) -> str | None:
        """A session opened at the origin for `repo`, or None; either way the pool is refilled."""
        ready = self._ready.get(repo)
        now = self.clock()
        taken = None
        if ready is not None:
            self._ready.move_to_end(repo)
            while ready and taken is None:
                opened, session = ready.popleft()
                if now - opened < self.max_age:
                    taken = session
                else:
                    self._cancel(repo, session)
        self._refill(repo)
        return taken

    def _refill(self, repo: str) -> None:
        if self.depth <= 0 or repo in self._filling:
            return
        if self._refused_until.get(repo, 0.0) > self.clock():
            return
        self._ready.setdefault(repo, deque())
        self._ready.move_to_end(repo)
        while len(self._ready) > self.max_repos:
            old_repo, old = self._ready.popitem(last=False)
            for _, session in old:
                self._cancel(old_repo, session)
        task = asyncio.get_running_loop().create_task(self._fill(repo))
        self._filling[repo] = task
        task.add_done_callback(lambda _: self._filling.pop(repo, None))

    async def _fill(self, repo: str) -> None:
        while len(self._ready.get(repo, ())) < self.depth:
            try:
                session = await self.open_one(repo)
            except Exception as exc:  # an OCIError naming the origin; the client's POST says it too
                now = self.clock()  # only refusals still running are kept: bounded by one backoff's worth
                self._refused_until = {r: t for r, t in self._refused_until.items() if t > now}
                self._refused_until[repo] = now + self.backoff
                log.debug("not keeping upload sessions open for %s at the origin for %.0f s: %s",
                          repo, self.backoff, exc)
                return
            ready = self._ready.get(repo)
            if ready is None:  # the repository left the pool meanwhile
                self._cancel(repo, session)
                return
            ready.append((self.clock(), session))

    def _cancel(self, repo: str, session: str) -> None:
        if self.given_up is not None:
            self.given_up(repo, session)
        task = asyncio.get_running_loop().create_task(self._cancel_quietly(repo, session))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _cancel_quietly(self, repo: str, session: str) -> None:
        try:
            await self.cancel_one(repo, session)
        except Exception as exc:  # the origin expires what it is not told
            log.debug("upload session %s of %s left to the origin's expiry: %s", session[:64], repo, exc)

    def flush(self, repo: str | None = None) -> None:
        """Give up the sessions held for `repo` (every repository: None), cancelling them at the
        origin if it still answers."""
        for name in [repo] if repo is not None else list(self._ready):
            for _, session in self._ready.pop(name, ()):
                self._cancel(name, session)

    def held(self) -> int:
        return sum(len(ready) for ready in self._ready.values())

    async def close(self) -> None:
        """Cancel every session still held at the origin (and stop opening more)."""
        self.depth = 0
        for task in list(self._filling.values()):
            task.cancel()
        await asyncio.gather(*self._filling.values(), return_exceptions=True)
        ready, self._ready = self._ready, OrderedDict()
        held = [(repo, session) for repo, sessions in ready.items() for _, session in sessions]
        if self.given_up is not None:
            for repo, session in held:
                self.given_up(repo, session)
        cancels = [asyncio.ensure_future(self._cancel_quietly(repo, session)) for repo, session in held] + list(self._tasks)
        if cancels:
            # an origin that no longer answers does not hold the node's stop: its expiry takes them
            await asyncio.wait(cancels, timeout=CLOSE_SECONDS)
            for task in cancels:
                task.cancel()
