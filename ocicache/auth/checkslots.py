"""How many password checks run at once: at most `total` in this worker process, at most
`per_ip` for one client IP, on threads of their own (not the pool file I/O uses).

The configured bounds (`[ratelimit] login_checks`, `login_checks_per_ip`) are for the node:
each of its N worker processes gets an equal share, rounded down and at least 1
(`worker_share`), so the node runs at most max(login_checks, N) checks at once, and one
address at most max(login_checks_per_ip, N). No lock between workers: a check waits only for
slots of the worker its connection reached.

Requests beyond that wait their turn; a free slot goes to the waiting address that was served
longest ago (round-robin over client IPs): an address with thirty guesses queued delays
another address's login by at most one check per address ahead of it, never by its whole
queue. A request that waits longer than `max_wait` seconds gets TimeoutError (the caller
answers 429 and gives the reservation back).
"""
from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

T = TypeVar("T")
MAX_WAIT_S = 20.0
MAX_REMEMBERED = 100_000  # addresses whose last turn is remembered


def worker_share(node_bound: int, workers: int) -> int:
    """One worker's part of a bound the node's `workers` processes hold together."""
    return max(1, node_bound // max(1, workers))


class CheckSlots:
    def __init__(self, total: int, per_ip: int, max_wait: float = MAX_WAIT_S) -> None:
        self.total, self.per_ip, self.max_wait = total, per_ip, max_wait
        self.running = 0
        self.by_ip: dict[str, int] = {}
        self.waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()
        self._served: OrderedDict[str, int] = OrderedDict()  # ip -> turn it last got a slot
        self._turn = 0
        self._pool: ThreadPoolExecutor | None = None

    def _free_for(self, ip: str) -> bool:
        return self.running < self.total and self.by_ip.get(ip, 0) < self.per_ip

    def _start(self, ip: str) -> None:
        self.running += 1
        self.by_ip[ip] = self.by_ip.get(ip, 0) + 1
        self._turn += 1
        self._served[ip] = self._turn
        self._served.move_to_end(ip)
        if len(self._served) > MAX_REMEMBERED:
            self._served.popitem(last=False)

    def _release(self, ip: str) -> None:
        self.running -= 1
        left = self.by_ip.get(ip, 1) - 1
        if left:
            self.by_ip[ip] = left
        else:
            self.by_ip.pop(ip, None)
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand free slots to waiting requests: first to the address served longest ago."""
        while self.running < self.total:
            for ip in [ip for ip, queue in self.waiting.items() if not any(not f.done() for f in queue)]:
                del self.waiting[ip]  # only requests that gave up waiting were left
            ready = [ip for ip in self.waiting if self._free_for(ip)]
            if not ready:
                return
            ip = min(ready, key=lambda a: self._served.get(a, 0))
            queue = self.waiting[ip]
            while queue[0].done():
                queue.popleft()
            self._start(ip)
            queue.popleft().set_result(None)
            if not queue:
                del self.waiting[ip]

    async def _acquire(self, ip: str) -> None:
        if self._free_for(ip) and ip not in self.waiting:
            self._start(ip)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(ip, deque()).append(fut)
        try:
            async with asyncio.timeout(self.max_wait):
                await fut
        except BaseException:
            if fut.done() and not fut.cancelled():
                self._release(ip)  # granted just as the wait ended
            else:
                fut.cancel()
                self._forget(ip, fut)
                self._dispatch()
            raise

    def _forget(self, ip: str, fut: asyncio.Future[None]) -> None:
        queue = self.waiting.get(ip)
        if queue is not None and fut in queue:
            queue.remove(fut)
            if not queue:
                del self.waiting[ip]

    async def run(self, ip: str, fn: Callable[..., T], *args) -> T:
        """fn(*args) on a check thread, once a slot for `ip` is free. The slot is held until the
        thread is done, even when the request is cancelled meanwhile (its check still runs)."""
        await self._acquire(ip)
        try:
            if self._pool is None:  # made in the worker process: threads do not survive fork
                self._pool = ThreadPoolExecutor(max_workers=self.total, thread_name_prefix="login-check")
            fut = asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        except BaseException:
            self._release(ip)
            raise
        fut.add_done_callback(lambda _: self._release(ip))
        return await asyncio.shield(fut)
