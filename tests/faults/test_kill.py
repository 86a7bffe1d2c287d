"""SIGKILL at the worst moments, then a restart: during a chunked push (local-directory and S3
origins), during eviction (the node's own, and `ocicache cache prune`). No partial or corrupt
blob is ever served, `ocicache cache verify` finds nothing wrong, and an interrupted push
either completes on resume or was never acknowledged. During a fill: tests/edge/test_store_node.py."""
from __future__ import annotations

import http.client
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from ocicache.reference import Digest
from ocicache.cache import BlobStore

from ..nodeproc import NodeProcess
from ..ocisync import push_blob, request, sha
from .probes import cached_files, cli, partial_files, reconciled, settle
from .pulls import MiB

KiB = 1024


def kill(node: NodeProcess) -> None:
    node.proc.send_signal(signal.SIGKILL)
    node.proc.wait()


def children(pid: int) -> list[int]:
    return [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]


def send_cut_off(node: NodeProcess, method: str, path: str, headers: dict[str, str], body: bytes,
                 total: int, until) -> bytes:
    """Send a request announcing `total` body bytes but only `body`; when `until()` holds, SIGKILL
    the node. Returns what the node answered before it died (must be nothing)."""
    sock = socket.create_connection(("127.0.0.1", node.port))
    head = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Content-Length": str(total)}.items())
    sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: {node.hostport}\r\n{head}\r\n".encode() + body)
    deadline = time.monotonic() + 15
    while not until() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert until(), "the node never got that far"
    kill(node)
    sock.settimeout(5)
    answer = b""
    try:
        while more := sock.recv(65536):
            answer += more
    except OSError:
        pass
    sock.close()
    return answer


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.rgw)])  # s3: Ceph RGW
def pushed_node(request, tmp_path):
    if request.param == "file":
        node = NodeProcess(tmp_path / "node")
    else:
        s3server = request.getfixturevalue("s3server")
        node = NodeProcess(tmp_path / "node", "--origin", f"s3://{s3server.new_bucket()}/kill",
                           env={**s3server.env, "OCICACHE_S3_PART_BYTES": str(5 * MiB)})
    node.start()
    yield request.param, node
    node.stop()


def staged_bytes(node: NodeProcess, location: str) -> int:
    """Bytes the node has written to an upload's local staging file (saved or not yet)."""
    try:
        return (node.data_dir / "uploads" / location.rsplit("/", 1)[1] / "data").stat().st_size
    except OSError:
        return 0


@pytest.mark.parametrize("moment", ["patch", "put"])
def test_sigkill_during_chunked_push_resumes_or_was_never_acknowledged(pushed_node, moment):
    kind, node = pushed_node
    data = os.urandom(14 * MiB)
    digest = sha(data)
    status, headers, _ = request(node.url, "POST", "/v2/faults/push/blobs/uploads/")
    assert status == 202
    location = headers["Location"]
    first = 4 * MiB                                  # acknowledged before the kill
    status, headers, _ = request(node.url, "PATCH", location, data[:first], {"Content-Range": f"0-{first - 1}"})
    assert status == 202 and headers["Range"] == f"0-{first - 1}"
    # the next request carries the rest but is cut off after 7 MiB, and the node is killed
    sent = 7 * MiB
    rest = len(data) - first
    if moment == "patch":
        method, path = "PATCH", location
        hdrs = {"Content-Range": f"{first}-{len(data) - 1}"}
    else:
        method, path, hdrs = "PUT", f"{location}?digest={digest}", {}
    start = time.monotonic()
    if kind == "file":
        until = lambda: staged_bytes(node, location) >= first + 2 * MiB  # noqa: E731  (mid-chunk)
    else:
        until = lambda: time.monotonic() - start > 1.5  # noqa: E731  (S3 parts go out meanwhile)
    answer = send_cut_off(node, method, path, hdrs, data[first:first + sent], rest, until)
    assert answer == b"", answer                     # nothing acknowledged
    node.start()
    # never half-acknowledged: the blob is not there until the push completes
    assert request(node.url, "HEAD", f"/v2/faults/push/blobs/{digest}")[0] == 404
    status, headers, _ = request(node.url, "GET", location)
    assert status == 204
    durable = int(headers["Range"].split("-")[1]) + 1
    assert first <= durable <= first + sent, (first, durable)
    status, headers, body = request(node.url, "PATCH", location, data[durable:],
                                    {"Content-Range": f"{durable}-{len(data) - 1}"})
    assert status == 202, body
    status, _, body = request(node.url, "PUT", f"{location}?digest={digest}")
    assert status == 201, body
    assert request(node.url, "GET", f"/v2/faults/push/blobs/{digest}")[2] == data


def test_sigkill_while_the_node_evicts_under_load(origin, proxy, make_edge):
    blobs = [os.urandom(random.Random(i).randrange(50, 300) * KiB) for i in range(40)]
    digests = [push_blob(origin.url, "faults/evict", b) for b in blobs]
    budget = 2 * MiB                                 # about a tenth of the set: every fill evicts
    edge = make_edge("--cache-max-bytes", str(budget), "--workers", "2",
                     OCICACHE_CACHE_HIGH_WATERMARK="0.9", OCICACHE_CACHE_LOW_WATERMARK="0.5")
    rng = random.Random(7)
    for round_ in range(3):
        stop = threading.Event()
        errors: list = []

        def load(seed: int) -> None:
            r = random.Random(seed)
            while not stop.is_set():
                i = r.randrange(len(blobs))
                try:
                    status, _, body = request(edge.url, "GET", f"/v2/faults/evict/blobs/{digests[i]}", timeout=10)
                except (OSError, http.client.HTTPException):
                    continue                         # the node died under us
                if status == 200 and body != blobs[i]:
                    errors.append(i)                 # a wrong byte: never
        threads = [threading.Thread(target=load, args=(round_ * 10 + k,)) for k in range(6)]
        for t in threads:
            t.start()
        time.sleep(1.0 + rng.random())
        workers = children(edge.proc.pid)
        assert len(workers) == 2
        for pid in [edge.proc.pid, *workers]:        # the whole node at once: parent and workers
            os.kill(pid, signal.SIGKILL)
        edge.proc.wait()
        for pid in workers:
            while os.path.exists(f"/proc/{pid}") and "zombie" not in open(f"/proc/{pid}/status").read():
                time.sleep(0.01)
        stop.set()
        for t in threads:
            t.join()
        assert errors == []
        edge.start()
        assert partial_files(edge) == []
        assert settle(lambda: reconciled(edge), True)  # files of a batch cut short are counted again
        verify = cli(edge, "verify")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        stats = cli(edge, "stats").stdout
        assert f"entries    {len(cached_files(edge))}\n" in stats, stats
    for i in range(0, len(blobs), 5):
        assert request(edge.url, "GET", f"/v2/faults/evict/blobs/{digests[i]}")[2] == blobs[i]


def count_files(folder) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def test_sigkill_during_cache_prune(origin, proxy, make_edge, tmp_path):
    edge = make_edge(name="edge")
    kept = os.urandom(300 * KiB)
    kept_digest = push_blob(origin.url, "faults/prune", kept)
    assert request(edge.url, "GET", f"/v2/faults/prune/blobs/{kept_digest}")[2] == kept
    edge.stop()
    store = BlobStore(edge.data_dir / "cache", 1 << 40)
    for i in range(3000):
        data = i.to_bytes(4, "big") * 256
        store.put_bytes(Digest.parse(sha(data)), data)
    store.close()
    total = len(cached_files(edge))
    assert total == 3001
    # The prune runs at the lowest CPU priority and the watcher counts directory entries without a
    # stat each, so on a busy machine the watcher still sees it mid-way (it finishes 3,000 blobs in
    # a few tenths of a second when it has a core).
    prune = subprocess.Popen(["nice", "-n", "19", sys.executable, "-m", "ocicache", "cache", "prune",
                              "--to", "0", "--data-dir", str(edge.data_dir)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while count_files(edge.data_dir / "cache" / "blobs") > total - 300 and time.monotonic() < deadline:
        time.sleep(0.002)
    prune.send_signal(signal.SIGKILL)
    assert prune.wait() == -signal.SIGKILL           # killed mid-way, not finished
    left = len(cached_files(edge))
    assert 0 < left < total
    edge.start()
    assert settle(lambda: reconciled(edge), True)
    verify = cli(edge, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"verified {left} blobs" in verify.stdout
    assert f"entries    {left}\n" in cli(edge, "stats").stdout
    assert request(edge.url, "GET", f"/v2/faults/prune/blobs/{kept_digest}")[2] == kept


def test_restart_removes_a_size_file_left_by_a_commit_cut_short(tmp_path):
    """A node killed between committing a fill (rename) and removing its .size file."""
    store = BlobStore(tmp_path / "cache", 1 << 30)
    orphan = store.size_path(Digest.parse(sha(b"x")))
    orphan.write_text("1")
    live = store.size_path(Digest.parse(sha(b"y")))
    live.write_text("1")
    store.partial_path(Digest.parse(sha(b"y"))).write_bytes(b"")
    store.reconcile()
    assert not orphan.exists()
    assert not live.exists()                         # its partial was removed with it
    assert list((tmp_path / "cache" / "partial").iterdir()) == []
    store.close()
