"""What a node process holds, read from /proc and from its /metrics page; raw-socket clients."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

from ocicache.cache import BlobStore


def fds(pid: int) -> list[str]:
    """Where each open descriptor of `pid` points (sockets, files, pipes, ...)."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass
    return sorted(out)


def held(pid: int, port: int) -> tuple[list[str], int]:
    """What a node holds that a client could leak: its open non-socket descriptors (files,
    pipes, ...) and the number of client connections on its `port` it still has open.
    Pooled connections to the origin are left out: they are bounded and reused."""
    inodes = set()
    files = []
    for target in fds(pid):
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
        else:
            files.append(target)
    clients = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            local_port, state, inode = int(cols[1].rsplit(":", 1)[1], 16), cols[3], cols[9]
            if local_port == port and state != "0A" and inode in inodes:  # 0A: LISTEN
                clients += 1
    return files, clients


def leaks(pid: int, port: int, baseline: list[str]) -> tuple[list[str], int]:
    """Descriptors `pid` holds beyond `baseline` (held()[0] taken earlier), and its open client
    connections; ([], 0) means nothing leaked. The metrics files prometheus-client opens once,
    the first time a metric type is used, are not counted, nor one descriptor per committed
    blob file still linked: the open-file cache (ocicache/http/openfiles.py, bounded) keeps hot
    blobs open. A second descriptor of one blob, or one of a removed blob, still counts."""
    files, clients = held(pid, port)
    extra = list(files)
    for path in baseline:
        if path in extra:
            extra.remove(path)
    kept = {p for p in extra if "/blobs/" in p and "/partial/" not in p and not p.endswith(" (deleted)")}
    for path in kept:
        extra.remove(path)
    return [p for p in extra if "/metrics/" not in p], clients


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not found")


def settle(probe, want, timeout: float = 10.0):
    """Poll `probe()` until it equals `want` (or the timeout); returns the last value."""
    deadline = time.monotonic() + timeout
    value = probe()
    while value != want and time.monotonic() < deadline:
        time.sleep(0.05)
        value = probe()
    return value


def metric(node, name: str, labels: str = "") -> float:
    """The value of one sample on the node's /metrics page (0 when absent)."""
    text = urlopen(node.url + "/metrics", timeout=10).read().decode()
    pattern = re.compile(rf"^{re.escape(name)}(?:{{{re.escape(labels)}}})? (\S+)$", re.M) if labels else \
        re.compile(rf"^{re.escape(name)} (\S+)$", re.M)
    found = pattern.findall(text)
    return float(found[0]) if found else 0.0


def partial_files(node) -> list[str]:
    return sorted(p.name for p in (node.data_dir / "cache" / "partial").iterdir())


def cached_files(node) -> list[str]:
    return sorted(p.name for p in (node.data_dir / "cache" / "blobs").rglob("*") if p.is_file())


def reconciled(node) -> bool:
    """Whether the node's start-up pass making its index agree with its disk is over
    (it runs in the background while the node serves: cache/reconcile.py)."""
    store = BlobStore(node.data_dir / "cache", 1 << 40)
    try:
        return not store.reconciling()
    finally:
        store.close()


def cli(node, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ocicache", "cache", *args, "--data-dir", str(node.data_dir)], capture_output=True, text=True, timeout=120)


def open_get(node, path: str, rcvbuf: int | None = None) -> socket.socket:
    """A connection that has sent `GET path` and read nothing yet."""
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", node.port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {node.hostport}\r\n\r\n".encode())
    return sock


def read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and whatever body bytes came with them."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            raise ConnectionError(f"closed before the response headers: {data!r}")
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, rest
