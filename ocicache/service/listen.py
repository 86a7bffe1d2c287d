"""The node's listening socket, accepting every waiting connection at once.

uvloop's server (libuv 1.52 as uvloop 0.23 bundles it) takes one connection off the accept
queue per turn of the event loop. A worker busy with a few hundred connections turns its
loop every 40-500 ms, so a burst of new connections waited in the kernel's queue for seconds
(strace: one accept4 per epoll_pwait; `ss` showed 196 of 512 connections still unaccepted
3 s after connecting, each with its first request waiting): that was the multi-second p99 at
512 and 2,000 connections (issue 23, docs/PERFORMANCE.md "Many connections").

`AcceptingSite` is aiohttp's TCPSite with the accept done here: one socket per address
(SO_REUSEPORT when several workers share the port: the kernel spreads connections over the
workers by their 4-tuple), `listen(backlog)`, and on each readiness every waiting connection
accepted (up to ACCEPT_BATCH, so a flood cannot stall the loop) and handed to the loop as an
accepted socket, then to aiohttp's connection handler as before. TLS handshakes run in their
own tasks, so a slow client's handshake never holds the next accept.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from pathlib import Path

from aiohttp import web

log = logging.getLogger("ocicache")
ACCEPT_BATCH = 512
"""Connections taken off the queue per readiness; the rest wait one loop turn."""
SOMAXCONN = Path("/proc/sys/net/core/somaxconn")
RETRY_AFTER_EMFILE_S = 1.0
_PASS = {errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.ENETDOWN, errno.ENOPROTOOPT,
         errno.EHOSTDOWN, errno.ENONET, errno.EHOSTUNREACH, errno.EOPNOTSUPP, errno.ENETUNREACH}
"""accept() errors about one connection that went away: skip it, take the next."""


def kernel_backlog_cap() -> int | None:
    """net.core.somaxconn: the kernel silently lowers a larger listen backlog to it."""
    try:
        return int(SOMAXCONN.read_text())
    except (OSError, ValueError):
        return None


def listening_sockets(host: str, port: int, backlog: int, reuse_port: bool) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for every address `host` resolves to."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets, seen = [], set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class _Listening:
    """What aiohttp's runner asks of a site's server: its sockets, and close()."""

    def __init__(self, sockets: list[socket.socket]) -> None:
        self.sockets = sockets

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


class AcceptingSite(web.BaseSite):
    """A TCP site for `runner` on host:port that accepts every waiting connection per readiness."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, backlog: int,
                 reuse_port: bool = False, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host, self._port, self._reuse_port = host, port, reuse_port
        self._handshakes: set[asyncio.Task] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        port = self._server.sockets[0].getsockname()[1] if self._server else self._port
        return f"{scheme}://{self._host}:{port}"

    async def start(self) -> None:
        await super().start()
        self._loop = asyncio.get_running_loop()
        sockets = listening_sockets(self._host, self._port, self._backlog, self._reuse_port)
        self._server = _Listening(sockets)
        cap = kernel_backlog_cap()
        if cap is not None and cap < self._backlog:
            log.warning("[server] backlog %d is more than the kernel allows (net.core.somaxconn = %d): the "
                        "queue of connections waiting to be accepted holds %d; raise net.core.somaxconn "
                        "(sysctl) or lower [server] backlog", self._backlog, cap, cap)
        for sock in sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    async def stop(self) -> None:
        if self._server is not None and self._loop is not None:
            for sock in self._server.sockets:
                if sock.fileno() != -1:
                    self._loop.remove_reader(sock.fileno())
        for task in list(self._handshakes):
            task.cancel()
        await super().stop()

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _PASS:
                    continue
                self._pause(sock, exc)
                return
            conn.setblocking(False)
            self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        assert self._loop is not None and self._runner.server is not None
        task = self._loop.create_task(self._loop.connect_accepted_socket(
            self._runner.server, conn, ssl=self._ssl_context))
        self._handshakes.add(task)
        task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task) -> None:
        self._handshakes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("a connection ended before it could be served: %s", task.exception())

    def _pause(self, sock: socket.socket, exc: OSError) -> None:
        """Out of file descriptors (or another error about the listener itself): stop accepting
        for a second rather than spin; the connections wait in the kernel's queue meanwhile."""
        assert self._loop is not None
        log.warning("cannot accept connections on %s (%s); retrying in %.0f s%s", self.name,
                    exc.strerror or exc, RETRY_AFTER_EMFILE_S,
                    ": raise the open-files limit (ulimit -n, LimitNOFILE=)" if exc.errno in
                    (errno.EMFILE, errno.ENFILE) else "")
        self._loop.remove_reader(sock.fileno())
        self._loop.call_later(RETRY_AFTER_EMFILE_S, self._resume, sock)

    def _resume(self, sock: socket.socket) -> None:
        if self._loop is not None and sock.fileno() != -1 and self._server is not None:
            self._loop.add_reader(sock.fileno(), self._accept, sock)
