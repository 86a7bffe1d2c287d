"""Pushes through an edge are written through to its registry origin (issue 15): the origin
holds what was pushed, the edge's store learns it at once, sessions hop between edges, and
`[origin] read_only` refuses at the first request."""
from __future__ import annotations

import json
import os
from urllib.parse import urlsplit

from ..ocisync import OCI_MANIFEST, request, sha
from .origins import copies_with_bytes, push_blob, push_image

OCTET = {"Content-Type": "application/octet-stream"}


def _path(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + ("?" + parts.query if parts.query else "")


def _get(url: str, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    return request(url, "GET", path, headers=headers)


def test_blob_push_through_edge_lands_at_origin(origin, make_edge):
    edge = make_edge()
    data = os.urandom(300_000)
    digest = push_blob(edge.url, "pt/blob", data)
    status, _, body = _get(origin.url, f"/v2/pt/blob/blobs/{digest}")
    assert status == 200 and sha(body) == digest
    status, _, body = _get(edge.url, f"/v2/pt/blob/blobs/{digest}")
    assert status == 200 and body == data


def test_chunked_upload_with_content_range_hops_from_edge_a_to_edge_b(origin, make_edge):
    a, b = make_edge(name="a"), make_edge(name="b")
    first, second = os.urandom(100_000), os.urandom(50_000)
    status, got, body = request(a.url, "POST", "/v2/pt/hop/blobs/uploads/")
    assert status == 202, body
    status, got, body = request(a.url, "PATCH", _path(got["Location"]), first,
                                {**OCTET, "Content-Range": f"0-{len(first) - 1}"})
    assert status == 202 and got["Range"] == f"0-{len(first) - 1}", (status, body)
    location = _path(got["Location"])
    status, got, body = request(b.url, "PATCH", location, second,
                                {**OCTET, "Content-Range": f"{len(first)}-{len(first) + len(second) - 1}"})
    assert status == 202, (status, body)
    digest = sha(first + second)
    location = _path(got["Location"])
    sep = "&" if "?" in location else "?"
    status, got, body = request(b.url, "PUT", f"{location}{sep}digest={digest}", b"", OCTET)
    assert status == 201 and got["Docker-Content-Digest"] == digest, (status, body)
    assert got["Location"] == f"/v2/pt/hop/blobs/{digest}"
    status, _, body = _get(origin.url, f"/v2/pt/hop/blobs/{digest}")
    assert status == 200 and sha(body) == digest


def test_upload_started_on_edge_finished_on_ocicache_origin(tmp_path, make_edge, origin):
    if origin.kind != "ocicache":
        return  # distribution's Location carries its own _state: checked by the hop test above
    edge = make_edge()
    data = os.urandom(70_000)
    status, got, _ = request(edge.url, "POST", "/v2/pt/direct/blobs/uploads/")
    status, got, body = request(edge.url, "PATCH", _path(got["Location"]), data, OCTET)
    assert status == 202, body
    status, _, body = request(origin.url, "PUT", f"{_path(got['Location'])}?digest={sha(data)}", b"", OCTET)
    assert status == 201, body


def test_digest_mismatch_commits_nothing_anywhere(origin, make_edge):
    edge = make_edge()
    data, wrong = b"a" * 5000, sha(b"b" * 5000)
    status, got, _ = request(edge.url, "POST", "/v2/pt/bad/blobs/uploads/")
    status, got, body = request(edge.url, "PATCH", _path(got["Location"]), data, OCTET)
    location = _path(got["Location"])
    status, _, body = request(edge.url, "PUT", f"{location}{'&' if '?' in location else '?'}digest={wrong}",
                              b"", OCTET)
    assert status == 400 and json.loads(body)["errors"][0]["code"] == "DIGEST_INVALID", body
    for url in (origin.url, edge.url):
        assert request(url, "HEAD", f"/v2/pt/bad/blobs/{wrong}")[0] == 404
        assert request(url, "HEAD", f"/v2/pt/bad/blobs/{sha(data)}")[0] == 404
    assert not copies_with_bytes(edge.data_dir)


def test_image_push_tag_pull_and_delete_through_edge(origin, make_edge):
    edge = make_edge()
    layer = os.urandom(20_000)
    digest = push_image(edge.url, "pt/img", "v1", layer)
    accept = {"Accept": OCI_MANIFEST}
    status, got, body = _get(origin.url, "/v2/pt/img/manifests/v1", accept)
    assert status == 200 and sha(body) == digest
    status, got, body = _get(edge.url, "/v2/pt/img/manifests/v1", accept)
    assert status == 200 and got["Docker-Content-Digest"] == digest
    # by digest, with a subject: OCI-Subject comes back
    manifest = json.loads(body)
    manifest["subject"] = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body)}
    referrer = json.dumps(manifest).encode()
    status, got, answer = request(edge.url, "PUT", f"/v2/pt/img/manifests/{sha(referrer)}", referrer,
                                  {"Content-Type": OCI_MANIFEST})
    assert status == 201 and got.get("OCI-Subject") == digest, (status, answer)
    assert _get(origin.url, f"/v2/pt/img/manifests/{sha(referrer)}", accept)[0] == 200
    # mount into another repository
    status, got, answer = request(edge.url, "POST", f"/v2/pt/other/blobs/uploads/?mount={sha(layer)}&from=pt/img")
    assert status == 201, (status, answer)
    assert request(origin.url, "HEAD", f"/v2/pt/other/blobs/{sha(layer)}")[0] == 200
    # deletes are passed through
    status, _, answer = request(edge.url, "DELETE", f"/v2/pt/img/manifests/{sha(referrer)}")
    assert status == 202, answer
    assert _get(origin.url, f"/v2/pt/img/manifests/{sha(referrer)}", accept)[0] == 404
    status, _, answer = request(edge.url, "DELETE", f"/v2/pt/other/blobs/{sha(layer)}")
    assert status == 202, answer
    assert request(origin.url, "HEAD", f"/v2/pt/other/blobs/{sha(layer)}")[0] == 404


def test_read_only_edge_refuses_at_first_request(origin, make_edge):
    edge = make_edge(OCICACHE_ORIGIN_READ_ONLY="true")
    status, got, body = request(edge.url, "POST", "/v2/pt/ro/blobs/uploads/")
    assert status == 405 and "Allow" in got, (status, body)
    message = json.loads(body)["errors"][0]["message"]
    assert "read-only" in message and "push to" in message
    status, got, body = request(edge.url, "PUT", "/v2/pt/ro/manifests/v1", b"{}", {"Content-Type": OCI_MANIFEST})
    assert status == 405 and got["Allow"] == "GET, HEAD", body
    status, got, body = request(edge.url, "DELETE", "/v2/pt/ro/manifests/v1")
    assert status == 405 and got["Allow"] == "GET, HEAD", body


def test_origin_gone_mid_upload_is_retryable_never_201(origin, make_edge, proxy):
    edge = make_edge()
    data = os.urandom(50_000)
    status, got, _ = request(edge.url, "POST", "/v2/pt/gone/blobs/uploads/")
    assert status == 202
    location = _path(got["Location"])
    proxy.stop()  # the origin is gone for the edge
    status, _, body = request(edge.url, "PATCH", location, data, OCTET)
    assert status >= 500 and json.loads(body)["errors"][0]["code"] == "UNAVAILABLE", (status, body)
    assert not copies_with_bytes(edge.data_dir)



def test_session_back_on_edge_a_after_edge_b_appended(origin, make_edge):
    """Edge A holds a copy of the session and takes its offset from it without asking the origin;
    edge B appends meanwhile. A's next chunks land where the origin's session ends (a Content-Range
    from B's end is taken once A asked the origin again; a chunk without one is appended there),
    A's stale copy is never kept, and the final PUT with a body on A commits the right blob."""
    a, b = make_edge(name="a"), make_edge(name="b")
    parts = [os.urandom(n) for n in (60_000, 40_000, 30_000, 20_000, 10_000)]
    status, got, body = request(a.url, "POST", "/v2/pt/back/blobs/uploads/")
    assert status == 202, body
    status, got, body = request(a.url, "PATCH", _path(got["Location"]), parts[0], OCTET)
    assert status == 202 and got["Range"] == f"0-{len(parts[0]) - 1}", (status, body)
    status, got, body = request(b.url, "PATCH", _path(got["Location"]), parts[1], OCTET)
    assert status == 202, (status, body)
    end = len(parts[0]) + len(parts[1])
    assert got["Range"] == f"0-{end - 1}"
    # back on A, with the Content-Range B's answer implies: not where A's copy ends
    status, got, body = request(a.url, "PATCH", _path(got["Location"]), parts[2],
                                {**OCTET, "Content-Range": f"{end}-{end + len(parts[2]) - 1}"})
    assert status == 202, (status, body)
    end += len(parts[2])
    assert got["Range"] == f"0-{end - 1}"
    status, got, body = request(b.url, "PATCH", _path(got["Location"]), parts[3], OCTET)
    assert status == 202, (status, body)
    # A again, a final PUT carrying the last chunk without a range
    location = _path(got["Location"])
    data = b"".join(parts)
    digest = sha(data)
    status, got, body = request(a.url, "PUT", f"{location}{'&' if '?' in location else '?'}digest={digest}",
                                parts[4], OCTET)
    assert status == 201 and got["Docker-Content-Digest"] == digest, (status, body)
    for url in (origin.url, a.url, b.url):
        status, got, body = _get(url, f"/v2/pt/back/blobs/{digest}")
        assert status == 200 and body == data, (url, status)
        assert int(got["Content-Length"]) == len(data)
    assert not copies_with_bytes(a.data_dir)


def test_empty_final_put_on_edge_a_after_edge_b_appended(origin, make_edge):
    """A's copy lacks B's chunk and does not hash to the digest: A asks the origin before it
    refuses anything, drops its copy, and the origin verifies and commits the whole blob."""
    a, b = make_edge(name="a"), make_edge(name="b")
    first, second = os.urandom(50_000), os.urandom(25_000)
    status, got, body = request(a.url, "POST", "/v2/pt/emptyput/blobs/uploads/")
    status, got, body = request(a.url, "PATCH", _path(got["Location"]), first, OCTET)
    assert status == 202, (status, body)
    status, got, body = request(b.url, "PATCH", _path(got["Location"]), second, OCTET)
    assert status == 202, (status, body)
    location, digest = _path(got["Location"]), sha(first + second)
    status, got, body = request(a.url, "PUT", f"{location}{'&' if '?' in location else '?'}digest={digest}",
                                b"", OCTET)
    assert status == 201 and got["Docker-Content-Digest"] == digest, (status, body)
    for url in (origin.url, a.url):
        status, _, body = _get(url, f"/v2/pt/emptyput/blobs/{digest}")
        assert status == 200 and body == first + second, (url, status)
    assert not copies_with_bytes(a.data_dir)
