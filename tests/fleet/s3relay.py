"""A TCP relay from an address inside a fleet namespace to a loopback port of the root namespace
(the suite's S3 gateway listens on 127.0.0.1, which no other namespace can reach).

    python -m tests.fleet.s3relay --netns NS --listen 192.0.2.80:80 --to 127.0.0.1:7480

The listening socket is opened inside NS (setns, then back); connections to the target are
opened in the root namespace. Prints `listening` once it accepts; dies with its parent.
"""
from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import signal
import socket
import sys

from .netns import NETNS_DIR, setns


def listen_in(ns: str, host: str, port: int) -> socket.socket:
    """A listening TCP socket of namespace `ns`; the calling thread returns to its own namespace."""
    home_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        setns(NETNS_DIR / ns)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(256)
    finally:
        setns(f"/proc/self/fd/{home_fd}")
        os.close(home_fd)
    sock.setblocking(False)
    return sock


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(256 * 1024):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except (ConnectionError, OSError):
            pass


async def serve(listener: socket.socket, target: tuple[str, int]) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, sock=listener)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--netns", required=True)
    parser.add_argument("--listen", required=True, help="HOST:PORT inside the namespace")
    parser.add_argument("--to", required=True, help="HOST:PORT in this process's namespace")
    args = parser.parse_args(argv)
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the harness
    host, port = args.listen.rsplit(":", 1)
    to_host, to_port = args.to.rsplit(":", 1)
    listener = listen_in(args.netns, host, int(port))
    try:
        asyncio.run(serve(listener, (to_host, int(to_port))))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
