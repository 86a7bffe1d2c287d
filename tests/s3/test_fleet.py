"""Nodes sharing one S3 bucket: a push through any node is in the bucket before it is
acknowledged; a pull through any other node finds it; uploads continue across nodes."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time

import pytest

from ..clients.images import write_set
from ..ocisync import request, sha
from .conftest import bucket_keys, pending_multipart

MiB = 1024 * 1024


def skopeo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=300)


def raw_digest(ref: str) -> str:
    out = skopeo("inspect", "--raw", "--tls-verify=false", ref)
    assert out.returncode == 0, out.stderr
    return "sha256:" + hashlib.sha256(out.stdout.encode()).hexdigest()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Generated OCI layouts (tests/clients/images.py): a 6 MiB one-layer image and a 12 MiB two-layer one."""
    out = tmp_path_factory.mktemp("images")
    return out, write_set(out, small_bytes=6 * MiB, multi_bytes=12 * MiB, multi_layers=2)


def test_push_through_a_pull_through_b(fleet, images, s3server, bucket):
    a, b = fleet(2)
    layouts, want = images
    pushed = skopeo("copy", "--dest-tls-verify=false", f"oci:{layouts}/multilayer:latest",
                    f"docker://{a.hostport}/team/app:v1")
    assert pushed.returncode == 0, pushed.stderr
    assert any(k.endswith("/_manifests/tags/v1/current/link") for k in bucket_keys(s3server, bucket))
    digest = want["multilayer"]
    back = skopeo("copy", "--src-tls-verify=false", f"docker://{b.hostport}/team/app@{digest}",
                  f"oci:{layouts}/back:latest")
    assert back.returncode == 0, back.stderr
    assert raw_digest(f"docker://{b.hostport}/team/app:v1") == digest
    # the tag moves through A; B sees it within its tag TTL (1 s)
    moved = skopeo("copy", "--dest-tls-verify=false", f"oci:{layouts}/small:latest",
                   f"docker://{a.hostport}/team/app:v1")
    assert moved.returncode == 0, moved.stderr
    time.sleep(1.2)
    assert raw_digest(f"docker://{b.hostport}/team/app:v1") == want["small"]
    assert pending_multipart(s3server, bucket) == []


def chunked_upload(nodes, repo: str, data: bytes, chunk: int) -> tuple[int, bytes]:
    """POST on nodes[0], PATCHes round-robin over the nodes, PUT on the next one."""
    status, headers, _ = request(nodes[0].url, "POST", f"/v2/{repo}/blobs/uploads/")
    assert status == 202
    location = headers["Location"]
    for i, start in enumerate(range(0, len(data), chunk)):
        node = nodes[(i + 1) % len(nodes)]
        piece = data[start:start + chunk]
        status, headers, body = request(node.url, "PATCH", location, piece,
                                        {"Content-Range": f"{start}-{start + len(piece) - 1}"})
        assert status == 202, body
        assert headers["Range"] == f"0-{start + len(piece) - 1}"
    status, _, body = request(nodes[0].url, "PUT", f"{location}?digest={sha(data)}")
    return status, body


def test_chunked_upload_alternating_between_nodes(fleet, s3server, bucket):
    nodes = fleet(3)
    data = os.urandom(13 * MiB + 77)
    status, body = chunked_upload(nodes, "team/alt", data, 3 * MiB)
    assert status == 201, body
    for node in nodes:
        assert request(node.url, "GET", f"/v2/team/alt/blobs/{sha(data)}")[2] == data
    assert pending_multipart(s3server, bucket) == []
    assert not [k for k in bucket_keys(s3server, bucket) if "/_uploads/" in k]


def test_node_killed_mid_upload_resumes_after_restart(fleet):
    (a,) = fleet(1)
    data = os.urandom(12 * MiB)
    status, headers, _ = request(a.url, "POST", "/v2/team/kill/blobs/uploads/")
    location = headers["Location"]
    half = 7 * MiB
    status, headers, _ = request(a.url, "PATCH", location, data[:half], {"Content-Range": f"0-{half - 1}"})
    assert status == 202
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait()
    a.start()
    status, headers, _ = request(a.url, "GET", location)
    assert status == 204 and headers["Range"] == f"0-{half - 1}"
    status, _, _ = request(a.url, "PATCH", location, data[half:], {"Content-Range": f"{half}-{len(data) - 1}"})
    assert status == 202
    status, _, body = request(a.url, "PUT", f"{location}?digest={sha(data)}")
    assert status == 201, body
    assert request(a.url, "GET", f"/v2/team/kill/blobs/{sha(data)}")[2] == data


def test_digest_mismatch_leaves_no_object_and_no_multipart(fleet, s3server, bucket):
    a, b = fleet(2)
    data = os.urandom(11 * MiB)
    status, headers, _ = request(a.url, "POST", "/v2/team/bad/blobs/uploads/")
    location = headers["Location"]
    assert request(b.url, "PATCH", location, data, {"Content-Range": f"0-{len(data) - 1}"})[0] == 202
    assert pending_multipart(s3server, bucket) != []          # parts went out while the client sent
    wrong = sha(b"something else")
    status, _, body = request(a.url, "PUT", f"{location}?digest={wrong}")
    assert status == 400 and b"DIGEST_INVALID" in body
    assert pending_multipart(s3server, bucket) == []
    keys = bucket_keys(s3server, bucket)
    assert not [k for k in keys if "/blobs/" in k or "/_uploads/" in k], keys
    # monolithic push with a wrong digest: same
    status, _, _ = request(a.url, "POST", f"/v2/team/bad/blobs/uploads/?digest={wrong}", data)
    assert status == 400
    assert pending_multipart(s3server, bucket) == [] and not [k for k in bucket_keys(s3server, bucket) if "/blobs/" in k]


def test_pushing_node_keeps_what_it_pushed(fleet):
    a, b = fleet(2)
    whole = os.urandom(9 * MiB)
    status, _, body = request(a.url, "POST", f"/v2/team/keep/blobs/uploads/?digest={sha(whole)}", whole)
    assert status == 201, body
    cached = a.data_dir / "cache" / "blobs" / "sha256" / sha(whole)[7:9] / sha(whole)[7:]
    assert cached.read_bytes() == whole
    # an upload split across nodes leaves no whole copy on either: nothing is kept locally
    split = os.urandom(7 * MiB)
    status, _ = chunked_upload([a, b], "team/keep", split, 4 * MiB)
    assert status == 201
    for node in (a, b):
        assert not (node.data_dir / "cache" / "blobs" / "sha256" / sha(split)[7:9] / sha(split)[7:]).exists()
        assert not list((node.data_dir / "cache" / "partial").glob("upload-*"))


def test_abandoned_upload_expires_and_its_multipart_is_aborted(tmp_path, s3server, bucket):
    from ..nodeproc import NodeProcess

    node = NodeProcess(tmp_path / "idle", "--origin", f"s3://{bucket}/fleet",
                       env={**s3server.env, "OCICACHE_S3_PART_BYTES": str(5 * MiB),
                            "OCICACHE_LIMITS_UPLOAD_IDLE_TIMEOUT": "2"})
    node.start()
    try:
        status, headers, _ = request(node.url, "POST", "/v2/team/idle/blobs/uploads/")
        location = headers["Location"]
        assert request(node.url, "PATCH", location, os.urandom(6 * MiB), {"Content-Range": f"0-{6 * MiB - 1}"})[0] == 202
        assert pending_multipart(s3server, bucket) != []
        def session_keys():
            return [k for k in bucket_keys(s3server, bucket) if "/_uploads/" in k]
        # the sweep aborts the multipart upload first, then deletes the session's objects (so a
        # failed abort is retried at the next sweep); wait for both steps
        deadline = time.monotonic() + 15
        while (pending_multipart(s3server, bucket) or session_keys()) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert pending_multipart(s3server, bucket) == []
        assert session_keys() == []
        assert request(node.url, "GET", location)[0] == 404
    finally:
        node.stop()
