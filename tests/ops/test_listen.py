"""The node's listening sockets (service/listen.py): the configured backlog reaches listen(2), and
a burst of connections is accepted within a few turns of a busy event loop, not one per turn
(uvloop's own server took one per turn: 512 connections then waited seconds in the kernel's
queue). Not timed: turns of the loop are counted."""
from __future__ import annotations

import asyncio
import socket
import subprocess
import time

import uvloop
from aiohttp import web

from ocicache.service.listen import AcceptingSite, kernel_backlog_cap
from tests.nodeproc import NodeProcess

BURST = 300
BUSY_TURN_S = 0.005


def listen_queues(port: int) -> list[tuple[int, int]]:
    """(Recv-Q, Send-Q) of every LISTEN socket on `port`: waiting connections, and the backlog."""
    out = subprocess.run(["ss", "-ltnH", f"( sport = :{port} )"], capture_output=True, text=True,
                         check=True).stdout
    return [(int(f[1]), int(f[2])) for f in (line.split() for line in out.splitlines())]


def test_each_worker_listens_with_the_configured_backlog(tmp_path):
    node = NodeProcess(tmp_path / "node", "--workers", "2", env={"OCICACHE_SERVER_BACKLOG": "77"})
    node.start()
    try:
        assert [q[1] for q in listen_queues(node.port)] == [77, 77]
    finally:
        node.stop()


def test_the_default_backlog_is_1024_or_the_kernels_cap(tmp_path):
    node = NodeProcess(tmp_path / "node")
    node.start()
    try:
        assert [q[1] for q in listen_queues(node.port)] == [min(1024, kernel_backlog_cap() or 1024)]
    finally:
        node.stop()


async def _turns_to_accept(burst: int) -> tuple[int, int]:
    """Open `burst` connections while the loop is stalled, then count the loop's turns (each made
    slow, as a busy worker's are) until the server holds them all; (turns, connections)."""
    app = web.Application()
    runner = web.AppRunner(app)
    await runner.setup()
    site = AcceptingSite(runner, "127.0.0.1", 0, backlog=burst + 64)
    await site.start()
    port = runner.addresses[0][1]
    clients = []
    try:
        for _ in range(burst):  # the kernel completes each handshake; nothing is accepted yet
            clients.append(socket.create_connection(("127.0.0.1", port)))
        turns = 0
        while len(runner.server.connections) < burst and turns < burst:
            time.sleep(BUSY_TURN_S)  # this turn's work
            await asyncio.sleep(0)
            turns += 1
        return turns, len(runner.server.connections)
    finally:
        for client in clients:
            client.close()
        await runner.cleanup()


def test_a_burst_of_connections_is_accepted_within_a_few_turns_of_a_busy_loop():
    turns, held = uvloop.run(_turns_to_accept(BURST))
    assert held == BURST
    assert turns <= 5, f"{turns} turns of the loop to accept {BURST} connections"
