"""One forwarded upload session, two PATCHes at once on two workers of one edge (issue 15):
the second waits for the first (flock on the session's spool file, origin/forwarded.py), so
the edge's local copy and its hash state stay those of every byte in order, and the blob
pushed is served from the edge's store afterwards without asking the origin."""
from __future__ import annotations

import http.client
import json
import os
import time
from urllib.parse import urlsplit

import pytest

from ocicache.origin.sessioncopies import SessionCopies

from ..ocisync import request, sha
from .origins import copies_with_bytes, holders, wait_for

OCTET = "application/octet-stream"


def connections_on_two_workers(hostport: str, within: float = 30.0) -> list[tuple[int, http.client.HTTPConnection]]:
    """Two keep-alive connections answered by different worker processes (their /healthz pid);
    the node answers once one worker listens, so the other may take a moment to share the port."""
    host, port = hostport.rsplit(":", 1)
    by_pid: dict[int, http.client.HTTPConnection] = {}
    deadline = time.monotonic() + within
    while len(by_pid) < 2:
        if time.monotonic() > deadline:
            raise AssertionError(f"every connection for {within:g} s reached one worker: {list(by_pid)}")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", "/healthz")
        pid = json.loads(conn.getresponse().read())["pid"]
        if pid in by_pid:
            conn.close()
            time.sleep(0.02)
            continue
        by_pid[pid] = conn
    return list(by_pid.items())


@pytest.mark.parametrize("origin", ["ocicache"], indirect=True)
# CNCF distribution cancels a session when a request carries a stale `_state` (its "upload
# resumed at wrong offset"), so two PATCHes sent at once with one Location cannot both succeed there.
def test_two_patches_of_one_session_on_two_workers_are_serialised(origin, proxy, make_edge):
    edge = make_edge("--workers", "2")
    spool = edge.data_dir / "cache" / "partial"
    (_, a), (worker_b, b) = connections_on_two_workers(edge.hostport)
    first, second = os.urandom(400_000), os.urandom(100_000)
    a.request("POST", "/v2/wk/one/blobs/uploads/")
    resp = a.getresponse()
    resp.read()
    assert resp.status == 202
    location = urlsplit(resp.getheader("Location")).path
    # PATCH 1 on worker A: half its body, then it waits for the rest
    a.putrequest("PATCH", location)
    a.putheader("Content-Type", OCTET)
    a.putheader("Content-Length", str(len(first)))
    a.endheaders()
    a.send(first[:200_000])
    # this session's copy (the edge also keeps empty copies of sessions opened ahead)
    copy = SessionCopies(spool).paths_of(location.rsplit("/", 1)[1])[0]
    wait_for(lambda: copy.exists() and copy.stat().st_size >= 200_000, "worker A to copy half of PATCH 1")
    # PATCH 2 of the same session on worker B, while PATCH 1 is in flight: B waits for the
    # session (holding the copy open to lock it) and asks the origin nothing meanwhile
    b.request("PATCH", location, body=second, headers={"Content-Type": OCTET})
    wait_for(lambda: copy in holders(worker_b), "worker B to wait for the session")
    # neither asked the origin for the session's status: A took its offset from the copy it holds
    assert proxy.counts[("GET", "other")] == 0, proxy.requests
    a.send(first[200_000:])
    resp_a = a.getresponse()
    resp_a.read()
    resp_b = b.getresponse()
    body_b = resp_b.read()
    assert (resp_a.status, resp_a.getheader("Range")) == (202, f"0-{len(first) - 1}")
    assert (resp_b.status, resp_b.getheader("Range")) == (202, f"0-{len(first) + len(second) - 1}"), body_b
    # the edge's copy is every byte in order, with the state of both chunks
    state = json.loads(copy.with_suffix(".json").read_text())
    assert state["offset"] == len(first) + len(second) and copy.read_bytes() == first + second
    digest = sha(first + second)
    status, _, body = request(edge.url, "PUT", f"{location}?digest={digest}", b"", {"Content-Type": OCTET})
    assert status == 201, (status, body)
    proxy.reset()
    status, _, body = request(edge.url, "GET", f"/v2/wk/one/blobs/{digest}")
    assert status == 200 and body == first + second
    assert proxy.counts[("GET", "blob")] == 0, proxy.requests  # served from the copy kept at the PUT
    assert not copy.exists() and not copy.with_suffix(".json").exists()
    assert copies_with_bytes(edge.data_dir) == []
    a.close()
    b.close()
