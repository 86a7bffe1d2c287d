"""Path traversal in any part of the URL: never a 500, never a file outside the data dir.

Paths are sent raw (`yarl.URL(..., encoded=True)`), so neither the client nor the
server's URL parsing removes the '..' or percent-escapes before the registry sees them.
"""
from __future__ import annotations

import os

import pytest

from .helpers import OCI_MANIFEST, push_image, raw_url, sha

REPO = "acme/safe"
METHODS = ("GET", "HEAD", "PUT", "POST", "PATCH", "DELETE")
ATTACKS = [
    # repository name
    "/v2/../../pwned/manifests/latest",
    "/v2/acme/../../../pwned/manifests/latest",
    "/v2/%2e%2e/%2e%2e/pwned/manifests/latest",
    "/v2/acme/%2e%2e%2f%2e%2e%2f%2e%2e%2fpwned/manifests/v1",
    "/v2/acme%2f..%2f..%2f..%2fpwned/blobs/uploads/",
    "/v2/%2fetc%2fpwned/manifests/v1",
    "/v2//tmp/pwned/manifests/v1",
    "/v2/acme/..%5c..%5cpwned/manifests/v1",
    "/v2/acme/pw%00ned/manifests/v1",
    "/v2/acme/safe/..%2f..%2f..%2f..%2fpwned/tags/list",
    "/v2/..%2f..%2fpwned/referrers/sha256:" + "a" * 64,
    # manifest reference
    f"/v2/{REPO}/manifests/..%2f..%2f..%2fpwned",
    f"/v2/{REPO}/manifests/%2e%2e",
    f"/v2/{REPO}/manifests/..",
    f"/v2/{REPO}/manifests/sha256:..%2f..%2f..%2fpwned",
    f"/v2/{REPO}/manifests/sha256:%2e%2e%2f%2e%2e%2fpwned",
    # blob digest
    f"/v2/{REPO}/blobs/sha256:%2e%2e%2f%2e%2e%2fpwned",
    f"/v2/{REPO}/blobs/..%2f..%2f..%2f..%2fetc%2fpasswd",
    f"/v2/{REPO}/blobs/sha256:..",
    f"/v2/{REPO}/referrers/sha256:..%2f..%2fpwned",
    # upload id
    f"/v2/{REPO}/blobs/uploads/..%2f..%2f..%2fpwned",
    f"/v2/{REPO}/blobs/uploads/%2e%2e",
    f"/v2/{REPO}/blobs/uploads/..%2f..%2forigin",
    # query parameters
    f"/v2/{REPO}/blobs/uploads/?digest=sha256:..%2f..%2f..%2fpwned",
    f"/v2/{REPO}/blobs/uploads/?mount=sha256:..%2fpwned&from=..%2f..%2fpwned",
    f"/v2/{REPO}/blobs/uploads/?mount=sha256:{'a' * 64}&from=%2e%2e%2f%2e%2e%2fpwned",
    f"/v2/{REPO}/tags/list?last=..%2f..%2fpwned&n=1",
    f"/v2/{REPO}/referrers/sha256:{'a' * 64}?artifactType=..%2f..%2fpwned",
    "/v2/_catalog?last=..%2f..%2fpwned",
]


def snapshot(tmp_path) -> tuple[set[str], set[str]]:
    """Entries beside the data dir, and everything inside it whose path mentions the attack."""
    outside = {str(p) for p in tmp_path.rglob("*") if "data" not in p.relative_to(tmp_path).parts[:1]}
    outside |= {str(p) for p in tmp_path.parent.iterdir()}
    inside = {str(p) for p in (tmp_path / "data").rglob("*") if "pwned" in str(p) or "passwd" in str(p)}
    return outside, inside


@pytest.mark.parametrize("path", ATTACKS)
async def test_traversal_is_refused_without_500(client, tmp_path, path):
    image = await push_image(client, REPO, "v1")
    before = snapshot(tmp_path)
    for method in METHODS:
        resp = await client.session.request(method, raw_url(client, path), data=image.manifest,
                                            headers={"Content-Type": OCI_MANIFEST, "Content-Range": "0-9"})
        assert resp.status < 500, (method, path, await resp.text())
        if resp.status >= 400 and method != "HEAD":
            body = await resp.json(content_type=None)
            assert body["errors"][0]["code"] != "UNKNOWN"
        if resp.status in (200, 201, 202, 204):
            # only ways in that ignore the hostile part are allowed to succeed
            assert "?" in path or path.endswith("/blobs/uploads/"), (method, path, resp.status)
    assert snapshot(tmp_path) == before
    assert not os.path.exists(tmp_path / "pwned")


async def test_traversal_in_digest_of_finishing_upload(client, tmp_path):
    resp = await client.post(f"/v2/{REPO}/blobs/uploads/")
    location = resp.headers["Location"]
    before = snapshot(tmp_path)
    for digest in ("sha256:..%2f..%2f..%2fpwned", "..%2f..%2fpwned", "sha256:%2e%2e"):
        resp = await client.session.put(raw_url(client, f"{location}?digest={digest}"), data=b"x")
        assert resp.status == 400
        assert (await resp.json())["errors"][0]["code"] == "DIGEST_INVALID"
    assert snapshot(tmp_path) == before


async def test_dot_segments_inside_valid_grammar_stay_inside(client, cfg, tmp_path):
    """Names may contain '.', '_' and '-' (e.g. 'a.b/c..d' is not valid, 'a.b' is)."""
    image = await push_image(client, "a.b/c-d/e__f", "v.1")
    resp = await client.get("/v2/a.b/c-d/e__f/manifests/v.1")
    assert resp.status == 200
    assert resp.headers["Docker-Content-Digest"] == image.digest
    assert sha(await resp.read()) == image.digest
    resp = await client.session.get(raw_url(client, "/v2/a.b/c..d/manifests/v.1"))
    assert resp.status == 400
    assert (await resp.json())["errors"][0]["code"] == "NAME_INVALID"
    assert {p.name for p in tmp_path.iterdir()} == {"data"}
    assert all(cfg.data_path in p.resolve().parents for p in cfg.data_path.rglob("*"))
