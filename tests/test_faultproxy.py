"""The fault proxy itself: it forwards faithfully, counts, and injects exactly the fault asked for."""
from __future__ import annotations

import hashlib
import http.client
import random
import threading
import time

import pytest

from .faultproxy import FaultProxy, kind_of
from .nodeproc import NodeProcess

MiB = 1024 * 1024
REPO = "fault/proxy"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    proc = NodeProcess(tmp_path_factory.mktemp("faultproxy") / "node", "--workers", "1")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def proxy(node):
    with FaultProxy(node.url) as p:
        yield p


@pytest.fixture(scope="module")
def blob(node):
    data = random.Random(3).randbytes(MiB)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert call(node.port, "POST", f"/v2/{REPO}/blobs/uploads/?digest={digest}", data)[0] == 201
    return data, f"/v2/{REPO}/blobs/{digest}"


def call(port: int, method: str, path: str, body: bytes | None = None, headers=None, timeout=10.0):
    """(status, headers, body) of one request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def test_kinds():
    assert kind_of("/v2/a/b/blobs/sha256:ab") == "blob"
    assert kind_of("/v2/a/blobs/uploads/") == "other"
    assert kind_of("/v2/a/blobs/uploads/123") == "other"
    assert kind_of("/v2/a/manifests/latest") == "manifest"
    assert kind_of("/v2/a/tags/list") == "tags"
    assert kind_of("/v2/_catalog") == "other"


def test_forwards_and_counts(proxy, blob):
    data, path = blob
    status, headers, body = call(proxy.port, "GET", path)
    assert status == 200 and body == data and headers["Docker-Content-Digest"] in path
    status, headers, body = call(proxy.port, "HEAD", path)
    assert status == 200 and body == b"" and headers["Content-Length"] == str(len(data))
    status, headers, body = call(proxy.port, "GET", path, headers={"Range": "bytes=10-19"})
    assert status == 206 and body == data[10:20]
    assert call(proxy.port, "GET", f"/v2/{REPO}/tags/list?n=5")[0] == 404
    assert proxy.counts == {("GET", "blob"): 2, ("HEAD", "blob"): 1, ("GET", "tags"): 1}
    assert proxy.requests[-1] == ("GET", f"/v2/{REPO}/tags/list?n=5", 404)
    proxy.reset()
    assert not proxy.counts and not proxy.requests


def test_forwards_request_bodies(proxy):
    data = b"pushed through the proxy"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert call(proxy.port, "POST", f"/v2/{REPO}/blobs/uploads/?digest={digest}", data)[0] == 201
    assert call(proxy.port, "GET", f"/v2/{REPO}/blobs/{digest}")[2] == data
    assert proxy.counts[("POST", "other")] == 1


def test_throttle_limits_the_rate(proxy, blob):
    data, path = blob
    proxy.throttle_bps = 4 * MiB
    started = time.monotonic()
    assert call(proxy.port, "GET", path)[2] == data
    assert time.monotonic() - started >= 0.2
    proxy.throttle_bps = None
    started = time.monotonic()
    call(proxy.port, "GET", path)
    assert time.monotonic() - started < 0.2


def test_drop_after_truncates_once(proxy, blob):
    data, path = blob
    proxy.drop_after = 100_000
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    conn.request("GET", path)
    with pytest.raises(http.client.IncompleteRead) as info:
        conn.getresponse().read()
    conn.close()
    assert info.value.partial == data[:100_000]
    assert proxy.drop_after is None
    assert call(proxy.port, "GET", path)[2] == data


def test_drop_every(proxy, blob):
    data, path = blob
    proxy.drop_after, proxy.drop_every = 5, True
    for _ in range(2):
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        conn.request("GET", path)
        with pytest.raises(http.client.IncompleteRead) as info:
            conn.getresponse().read()
        conn.close()
        assert info.value.partial == data[:5]


def test_corrupt_flips_exactly_one_byte(proxy, blob):
    data, path = blob
    proxy.corrupt, proxy.corrupt_at = True, 300_001
    body = call(proxy.port, "GET", path)[2]
    assert len(body) == len(data)
    assert [i for i in range(len(data)) if body[i] != data[i]] == [300_001]
    assert body[300_001] == data[300_001] ^ 0xFF
    assert call(proxy.port, "HEAD", f"/v2/{REPO}/manifests/nope")[0] == 404  # other kinds untouched


def test_status_override_by_kind_and_times(proxy, blob):
    data, path = blob
    proxy.status_override, proxy.status_kinds, proxy.retry_after = 429, {"blob"}, "7"
    status, headers, _ = call(proxy.port, "GET", path)
    assert status == 429 and headers["Retry-After"] == "7"
    assert call(proxy.port, "GET", "/v2/")[0] == 200
    proxy.status_override, proxy.status_kinds, proxy.status_times = 500, None, 2
    assert [call(proxy.port, "GET", "/v2/")[0] for _ in range(3)] == [500, 500, 200]
    assert proxy.status_override is None


def test_delay_and_strip_range(proxy, blob):
    data, path = blob
    proxy.delay_s, proxy.strip_range = 0.2, True
    started = time.monotonic()
    status, _, body = call(proxy.port, "GET", path, headers={"Range": "bytes=0-9"})
    assert time.monotonic() - started >= 0.2
    assert status == 200 and body == data


def test_hang_until_stop(node):
    proxy = FaultProxy(node.url).start()
    proxy.hang = True
    outcome = []

    def client():
        try:
            outcome.append(call(proxy.port, "GET", "/v2/", timeout=10)[0])
        except (http.client.HTTPException, OSError) as exc:
            outcome.append(type(exc).__name__)

    thread = threading.Thread(target=client)
    thread.start()
    deadline = time.monotonic() + 10
    while not proxy.requests and time.monotonic() < deadline:  # the request reached the proxy
        time.sleep(0.02)
    time.sleep(0.2)  # and, hung, gets no answer
    assert outcome == [] and proxy.requests == [("GET", "/v2/", 0)]
    started = time.monotonic()
    proxy.stop()
    thread.join(5)
    assert outcome and outcome[0] != 200 and time.monotonic() - started < 3
