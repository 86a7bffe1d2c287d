"""Choosing the upstream per request: ?ns=, path prefix, Host alias, the default; Docker Hub's
`library/` rule; two upstreams holding the same repository name; pushes refused on mirrors
while the node's own origin keeps taking them; an upstream that is another ocicache node."""
from __future__ import annotations

import json

from ..distribution import Distribution
from ..nodeproc import NodeProcess
from ..ocisync import request
from .conftest import error_of, get, push_image, sha


def digest_of(edge: NodeProcess, path: str, **headers: str) -> str:
    status, resp_headers, body = get(edge.url, path, headers)
    assert status == 200, (path, body)
    assert sha(body) == resp_headers["Docker-Content-Digest"]
    return sha(body)


def test_two_upstreams_same_repository(tmp_path, started):
    hub = started(Distribution(tmp_path / "hub"))
    quay = started(Distribution(tmp_path / "quay"))
    on_hub = push_image(hub.url, "library/app", "v1", b"hub layer " * 1000)
    on_quay = push_image(quay.url, "library/app", "v1", b"quay layer " * 1000)
    assert on_hub != on_quay
    edge = started(NodeProcess(tmp_path / "edge", "--upstream", f"docker.io={hub.url}",
                               "--upstream", f"quay.test={quay.url}",
                               env={"OCICACHE_UPSTREAMS_ALIASES": "quay.mirror.test=quay.test"}))
    assert digest_of(edge, "/v2/app/manifests/v1") == on_hub  # pure mirror: the first; library/
    assert digest_of(edge, "/v2/library/app/manifests/v1?ns=docker.io") == on_hub
    assert digest_of(edge, "/v2/app/manifests/v1?ns=docker.io") == on_hub
    assert digest_of(edge, "/v2/docker.io/app/manifests/v1") == on_hub
    assert digest_of(edge, "/v2/library/app/manifests/v1?ns=quay.test") == on_quay
    assert digest_of(edge, "/v2/quay.test/library/app/manifests/v1") == on_quay
    assert digest_of(edge, "/v2/library/app/manifests/v1", Host=f"quay.mirror.test:{edge.port}") == on_quay
    status, _, body = get(edge.url, "/v2/app/manifests/v1?ns=quay.test")  # no library/ rule off Docker Hub
    assert status == 404 and error_of(body)["code"] == "MANIFEST_UNKNOWN", body

    layer = json.loads(get(edge.url, "/v2/app/manifests/v1")[2])["layers"][0]["digest"]
    status, _, blob = get(edge.url, f"/v2/docker.io/app/blobs/{layer}")
    assert status == 200 and sha(blob) == layer
    status, _, body = get(edge.url, f"/v2/quay.test/library/app/blobs/{layer}")  # cached, but not quay's
    assert status == 404 and error_of(body)["code"] == "BLOB_UNKNOWN", body


def test_unknown_upstream_and_pushes_on_a_pure_mirror(tmp_path, started):
    hub = started(Distribution(tmp_path / "hub"))
    edge = started(NodeProcess(tmp_path / "edge", "--upstream", f"docker.io={hub.url}"))
    status, _, body = get(edge.url, "/v2/library/app/manifests/v1?ns=ghcr.io")
    err = error_of(body)
    assert status == 404 and err["code"] == "NAME_UNKNOWN", body
    assert "ghcr.io" in err["message"] and "--upstream" in err["message"] and "docker.io" in err["message"]
    for path in ("/v2/team/app/blobs/uploads/", "/v2/docker.io/team/app/blobs/uploads/"):
        status, _, body = request(edge.url, "POST", path)
        err = error_of(body)
        assert status == 403 and err["code"] == "DENIED", body
        assert "upstream docker.io" in err["message"] and "read-only" in err["message"]


def test_own_origin_beside_a_chained_ocicache_upstream(tmp_path, started):
    regional = started(NodeProcess(tmp_path / "regional"))
    upstream_digest = push_image(regional.url, "team/app", "v1", b"regional layer " * 500)
    edge = started(NodeProcess(tmp_path / "edge", "--origin", (tmp_path / "own").as_uri(),
                               "--upstream", f"regional.test={regional.url}"))
    own_digest = push_image(edge.url, "team/app", "v1", b"own layer " * 500)  # pushes keep working
    assert digest_of(edge, "/v2/team/app/manifests/v1") == own_digest
    assert digest_of(edge, "/v2/regional.test/team/app/manifests/v1") == upstream_digest
    assert digest_of(edge, "/v2/team/app/manifests/v1?ns=regional.test") == upstream_digest
    for method, path in (("POST", "/v2/regional.test/team/app/blobs/uploads/"),
                         ("POST", "/v2/team/app/blobs/uploads/?ns=regional.test"),
                         ("DELETE", f"/v2/regional.test/team/app/manifests/{upstream_digest}")):
        status, _, body = request(edge.url, method, path)
        err = error_of(body)
        assert status == 403 and err["code"] == "DENIED", (path, body)
        assert "this node's own repositories" in err["message"]
    assert digest_of(regional, "/v2/team/app/manifests/v1") == upstream_digest


def test_referrers_from_the_tag_schema_of_an_upstream_without_the_api(tmp_path, started):
    from ..ocisync import request as send

    hub = started(Distribution(tmp_path / "hub"))  # distribution 2.8: no referrers API
    subject = push_image(hub.url, "team/app", "v1", b"subject " * 100)
    sbom = push_image(hub.url, "team/app", "sbom", b"sbom " * 100)
    sbom_size = len(get(hub.url, f"/v2/team/app/manifests/{sbom}")[2])
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                       "digest": sbom, "size": sbom_size}]}).encode()
    status, _, body = send(hub.url, "PUT", f"/v2/team/app/manifests/sha256-{subject[7:]}", index,
                           {"Content-Type": "application/vnd.oci.image.index.v1+json"})
    assert status == 201, body
    edge = started(NodeProcess(tmp_path / "edge", "--upstream", f"hub.test={hub.url}"))
    status, _, body = get(edge.url, f"/v2/hub.test/team/app/referrers/{subject}")
    assert status == 200, body
    assert [m["digest"] for m in json.loads(body)["manifests"]] == [sbom]
    status, _, body = get(edge.url, f"/v2/hub.test/team/app/referrers/{sbom}")
    assert status == 200 and json.loads(body)["manifests"] == []
