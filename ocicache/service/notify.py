"""systemd's notify protocol (sd_notify(3)) without libsystemd: one datagram to $NOTIFY_SOCKET.

`READY=1` when the node listens (with several workers: when all of them do), `STOPPING=1`
when it starts to shut down, `RELOADING=1` then `READY=1` around a SIGHUP reload.
Without NOTIFY_SOCKET (not under systemd) every call does nothing.
"""
from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger("ocicache.notify")


def notify(*fields: str) -> bool:
    """Send `fields` (e.g. "READY=1", "STATUS=...") to systemd; False if not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(fields).encode())
    except OSError as exc:
        log.warning("could not notify systemd at %s (%s); check NOTIFY_SOCKET", address, exc)
        return False
    return True


def ready(status: str) -> bool:
    return notify("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")


def stopping() -> bool:
    return notify("STOPPING=1", "STATUS=stopping: finishing requests in flight")


def reloading() -> bool:
    # MONOTONIC_USEC lets Type=notify-reload (systemd 253+) match the reload to this message.
    return notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")
