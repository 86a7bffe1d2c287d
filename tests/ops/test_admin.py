"""The admin API on a real edge: off by default, bearer secret, purge, pin, prefetch, fills,
and OCI error JSON for bad input."""
from __future__ import annotations

import json
import os

import pytest

from ..faultproxy import FaultProxy
from ..nodeproc import NodeProcess
from ..ocisync import push_image, request

SECRET = "s3cret-" + "x" * 32


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    base = tmp_path_factory.mktemp("admin")
    (base / "token").write_text(SECRET + "\n")
    origin = NodeProcess(base / "origin")
    origin.start()
    proxy = FaultProxy(origin.url)
    proxy.start()
    node = NodeProcess(base / "edge", "--origin", proxy.url, "--workers", "2",
                       env={"OCICACHE_ADMIN_TOKEN_FILE": str(base / "token")})
    node.start()
    yield origin, proxy, node
    node.stop()
    proxy.stop()
    origin.stop()


def admin(node, method, path, body=None, token=SECRET):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    status, _, out = request(node.url, method, path, data, headers)
    return status, json.loads(out)


def cached(node, digest) -> bool:
    return (node.data_dir / "cache/blobs/sha256" / digest[7:9] / digest[7:]).exists()


def image_digests(origin, repo):
    _, _, body = request(origin.url, "GET", f"/v2/{repo}/manifests/v1",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    doc = json.loads(body)
    return [d["digest"] for d in [doc["config"], *doc["layers"]]]


def test_off_by_default_and_needs_the_secret(node, edge):
    status, body = admin(node, "GET", "/admin/fills")
    assert status == 404 and "token_file" in body["errors"][0]["message"]
    _, _, e = edge
    assert admin(e, "GET", "/admin/fills", token=None)[0] == 401
    status, body = admin(e, "GET", "/admin/fills", token="wrong")
    assert status == 401 and body["errors"][0]["code"] == "UNAUTHORIZED"
    status, body = admin(e, "GET", "/admin/fills")
    assert status == 200 and body["fills"] == []


def test_prefetch_purge_and_pin(edge):
    origin, proxy, e = edge
    push_image(origin.url, "adm/app", "v1", os.urandom(100_000))
    digests = image_digests(origin, "adm/app")
    status, body = admin(e, "POST", "/admin/prefetch", {"image": "adm/app:v1"})
    assert status == 200 and body["blobs"] == 2 and body["bytes"] > 100_000
    assert all(cached(e, d) for d in digests)
    status, body = admin(e, "POST", "/admin/purge", {"repository": "adm/app", "digest": digests[1]})
    assert status == 200 and body["removed"] == [digests[1]] and not cached(e, digests[1])
    assert body["reaches"].startswith("this node only: its origin (registry) keeps no purge journal"), body
    assert cached(e, digests[0])
    status, body = admin(e, "POST", "/admin/purge", {"repository": "adm/app", "tag": "v1"})
    assert status == 200 and digests[0] in body["removed"] and not cached(e, digests[0])
    proxy.reset()
    assert request(e.url, "GET", f"/v2/adm/app/blobs/{digests[1]}")[0] == 200
    assert proxy.counts[("GET", "blob")] == 1                  # purged: fetched from the origin again
    status, body = admin(e, "PUT", "/admin/pins/adm/app")
    assert status == 200 and body["pinned_digests"] == 3       # manifest, config, layer
    status, body = admin(e, "GET", "/admin/pins")
    assert [p["repository"] for p in body["pins"]] == ["adm/app"]
    assert admin(e, "DELETE", "/admin/pins/adm/app")[0] == 200
    status, body = admin(e, "DELETE", "/admin/pins/adm/app")
    assert status == 404 and body["errors"][0]["code"] == "NAME_UNKNOWN"


@pytest.mark.parametrize("path,body,status,code", [
    ("/admin/purge", b"{not json", 400, "INVALID_REQUEST"),
    ("/admin/purge", {"repository": "Bad..Name"}, 400, "NAME_INVALID"),
    ("/admin/purge", {"repository": "a/b", "digest": "sha256:xyz"}, 400, "DIGEST_INVALID"),
    ("/admin/purge", {"repository": "a/b", "tag": "-bad"}, 400, "TAG_INVALID"),
    ("/admin/purge", {"repository": "never/pushed"}, 404, "NAME_UNKNOWN"),
    ("/admin/prefetch", {"image": "never/pushed:v1"}, 404, "MANIFEST_UNKNOWN"),
])
def test_bad_input_gets_oci_errors(edge, path, body, status, code):
    got, out = admin(edge[2], "POST", path, body)
    assert (got, out["errors"][0]["code"]) == (status, code)
