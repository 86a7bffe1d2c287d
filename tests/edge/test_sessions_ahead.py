"""Upload sessions an edge opens at its origin ahead of the POSTs that take them
(origin/sessionpool.py): a POST for a repository just pushed to is answered without asking the
origin, the session is the origin's own (the push lands there), and the sessions still held
are cancelled at the origin when the edge stops."""
from __future__ import annotations

import json
import os
from urllib.parse import urlsplit

from ocicache.origin.sessioncopies import SessionCopies

from ..ocisync import request, sha
from .origins import push_blob, wait_for

OCTET = {"Content-Type": "application/octet-stream"}


def _posts_answered(proxy, repo: str) -> int:
    return sum(1 for method, path, status in proxy.requests
               if method == "POST" and path.startswith(f"/v2/{repo}/blobs/uploads") and status == 202)


def test_a_post_is_answered_from_a_session_opened_ahead_and_the_push_lands_at_the_origin(origin, proxy, make_edge):
    edge = make_edge()
    push_blob(edge.url, "ahead/app", os.urandom(10_000))
    wait_for(lambda: _posts_answered(proxy, "ahead/app") >= 3, "the edge to open two sessions ahead")
    proxy.hang = True  # the origin answers nothing now: a POST forwarded would wait
    status, got, body = request(edge.url, "POST", "/v2/ahead/app/blobs/uploads/", timeout=10)
    assert status == 202, (status, body)
    proxy.hang = False
    parts = urlsplit(got["Location"])
    location = parts.path + (f"?{parts.query}" if parts.query else "")
    data = os.urandom(200_000)
    status, _, body = request(edge.url, "PUT", f"{location}{'&' if parts.query else '?'}digest={sha(data)}", data,
                              OCTET)
    assert status == 201, (status, body)
    status, _, body = request(origin.url, "GET", f"/v2/ahead/app/blobs/{sha(data)}")
    assert status == 200 and body == data


def test_the_sessions_held_ahead_are_cancelled_at_the_origin_when_the_edge_stops(origin, proxy, make_edge):
    edge = make_edge()
    push_blob(edge.url, "ahead/stop", os.urandom(10_000))
    wait_for(lambda: _posts_answered(proxy, "ahead/stop") >= 3, "the edge to open two sessions ahead")
    edge.stop()
    cancelled = [(path, status) for method, path, status in proxy.requests
                 if method == "DELETE" and path.startswith("/v2/ahead/stop/blobs/uploads/")]
    assert len(cancelled) == 2 and all(200 <= status < 300 for _, status in cancelled), proxy.requests
    for path, _ in cancelled:  # gone at the origin
        status, _, _ = request(origin.url, "GET", path)
        assert status == 404, path


def test_sessions_ahead_can_be_turned_off(origin, proxy, make_edge):
    edge = make_edge(OCICACHE_ORIGIN_SESSIONS_AHEAD="0")
    push_blob(edge.url, "ahead/off", os.urandom(10_000))
    push_blob(edge.url, "ahead/off", os.urandom(10_000))
    assert _posts_answered(proxy, "ahead/off") == 2, proxy.requests


def test_a_session_opened_ahead_has_its_empty_copy_made_then_and_removed_when_given_up(origin, proxy, make_edge):
    """The edge makes the empty local copy of a session it opens ahead as it opens it, so the
    POST that takes it writes nothing; the copies of the sessions still held go when it stops."""
    edge = make_edge()
    spool = edge.data_dir / "cache" / "partial"
    push_blob(edge.url, "ahead/copies", os.urandom(10_000))
    wait_for(lambda: _posts_answered(proxy, "ahead/copies") >= 3, "the edge to open two sessions ahead")
    wait_for(lambda: len(list(spool.glob("fwd-*.json"))) == 2, "the two empty copies")
    held = sorted(spool.glob("fwd-*.data"))
    assert len(held) == 2 and all(p.stat().st_size == 0 for p in held), held
    assert all(json.loads(p.with_suffix(".json").read_text())["offset"] == 0 for p in held)
    status, got, body = request(edge.url, "POST", "/v2/ahead/copies/blobs/uploads/")
    assert status == 202, (status, body)
    location = urlsplit(got["Location"])
    copy = SessionCopies(spool).paths_of(location.path.rsplit("/", 1)[1])[0]
    assert copy in held  # the POST took a session opened ahead, its copy made already
    data = os.urandom(300_000)
    path = location.path + (f"?{location.query}" if location.query else "")
    status, got, body = request(edge.url, "PATCH", path, data, OCTET)
    assert status == 202, (status, body)
    assert copy.read_bytes() == data  # the PATCH went into that copy
    location = urlsplit(got["Location"])
    path = location.path + (f"?{location.query}&" if location.query else "?")
    status, _, body = request(edge.url, "PUT", f"{path}digest={sha(data)}", b"", OCTET)
    assert status == 201, (status, body)
    assert not copy.exists()  # kept in the store
    edge.stop()  # the sessions still held are given up, their copies with them
    assert list(spool.glob("fwd-*")) == []
