"""The least a relay on ocicache's own stack (aiohttp on uvloop) can do, for the push-through
workload: every request streamed to the origin, every answer streamed back, nothing kept,
hashed or logged. What a hop costs on this stack, the floor under the edge.

    python -m bench.load.aiorelay ORIGIN_URL PORT [WORKERS]

Binds 127.0.0.1:PORT, then forks WORKERS processes (default: one per core) that accept on that
socket, as an ocicache node's workers do; stops them on SIGTERM.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import aiohttp
import uvloop
from aiohttp import web

# not passed on (the client's Host is: an origin that writes its Location from it names the relay)
HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive"}


def _passed(headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}


async def _relay(request: web.Request) -> web.StreamResponse:
    headers = _passed(request.headers)
    data = None
    if request.can_read_body:
        data = request.content.iter_any()
        if request.content_length is not None:
            headers["Content-Length"] = str(request.content_length)
    url = request.app["origin"] + request.rel_url.raw_path_qs
    async with request.app["client"].request(request.method, url, headers=headers, data=data,
                                             allow_redirects=False) as answer:
        out = web.StreamResponse(status=answer.status, headers=_passed(answer.headers))
        if answer.content_length is not None:
            out.content_length = answer.content_length
        await out.prepare(request)
        async for chunk in answer.content.iter_any():
            await out.write(chunk)
        await out.write_eof()
        return out


async def _serve(origin: str, sock: socket.socket) -> None:
    app = web.Application(client_max_size=0)
    app.router.add_route("*", "/{tail:.*}", _relay)
    app["origin"] = origin
    app["client"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()
    await app["client"].close()


def main(argv: list[str]) -> None:
    origin, port = argv[0].rstrip("/"), int(argv[1])
    workers = int(argv[2]) if len(argv) > 2 else os.cpu_count() or 1
    sock = socket.create_server(("127.0.0.1", port), backlog=1024)
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            uvloop.install()
            asyncio.run(_serve(origin, sock))
            os._exit(0)
        children.append(pid)
    sock.close()
    signal.signal(signal.SIGTERM, lambda *_: [os.kill(child, signal.SIGTERM) for child in children])
    for child in children:
        os.waitpid(child, 0)


if __name__ == "__main__":
    main(sys.argv[1:])
