"""The rest of the registry API an edge reads from its origin, against each kind of origin:
tag lists and the catalog (distribution 2.8 ignores `n` on tag lists, so the edge pages them
itself; its catalog comes 2 repositories a page here, so the edge follows the Link headers),
Docker manifest lists served byte for byte, blobs scoped to their repository, and referrers
(distribution 2.8 has no referrers API: clients push the spec's `sha256-<hex>` tag instead)."""
from __future__ import annotations

import json
import os

from ..ocisync import OCI_MANIFEST, request, sha
from .origins import OCI_INDEX, push_blob, push_image, put_manifest

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
EMPTY = "application/vnd.oci.empty.v1+json"


def get(url: str, path: str, accept: str = OCI_MANIFEST) -> tuple[int, dict, bytes]:
    return request(url, "GET", path, headers={"Accept": accept})


def error_of(body: bytes) -> dict:
    return json.loads(body)["errors"][0]


def test_tag_list_and_catalog_paged(origin, proxy, make_edge):
    for tag in ("c", "a", "b"):
        push_image(origin.url, "api/tags", tag, os.urandom(100))
    edge = make_edge()
    status, _, body = get(edge.url, "/v2/api/tags/tags/list")
    assert status == 200 and json.loads(body) == {"name": "api/tags", "tags": ["a", "b", "c"]}
    status, headers, body = get(edge.url, "/v2/api/tags/tags/list?n=2")
    assert status == 200 and json.loads(body)["tags"] == ["a", "b"]
    status, _, body = get(edge.url, headers["Link"].split(">")[0].lstrip("<"))
    assert status == 200 and json.loads(body)["tags"] == ["c"]
    status, _, body = get(edge.url, "/v2/api/nothing/tags/list")
    assert status == 404 and error_of(body)["code"] == "NAME_UNKNOWN" and "api/nothing" in error_of(body)["message"]
    for i in range(5):
        push_image(origin.url, f"api/cat-{i}", "v1", os.urandom(100))
    proxy.reset()
    status, _, body = get(edge.url, "/v2/_catalog")
    repositories = json.loads(body)["repositories"]
    assert status == 200 and {"api/tags", *(f"api/cat-{i}" for i in range(5))} <= set(repositories)
    assert repositories == sorted(set(repositories))
    pages = [r for r in proxy.requests if r[1].startswith("/v2/_catalog")]
    assert len(pages) >= (3 if origin.kind == "distribution" else 1), pages   # 2 a page: Links followed


def test_docker_manifest_list_and_manifest_served_byte_for_byte(origin, proxy, make_edge):
    config, layer = b'{"architecture":"amd64","os":"linux"}', os.urandom(5000)
    image = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
             "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                        "digest": push_blob(origin.url, "api/docker", config), "size": len(config)},
             "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                         "digest": push_blob(origin.url, "api/docker", layer), "size": len(layer)}]}
    image_digest = put_manifest(origin.url, "api/docker", "amd64", image)
    listing = {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
        {"mediaType": DOCKER_MANIFEST, "digest": image_digest, "size": len(json.dumps(image).encode()),
         "platform": {"architecture": "amd64", "os": "linux"}}]}
    list_digest = put_manifest(origin.url, "api/docker", "multi", listing)
    edge = make_edge()
    status, headers, body = get(edge.url, "/v2/api/docker/manifests/multi", f"{DOCKER_LIST}, {DOCKER_MANIFEST}")
    assert status == 200 and sha(body) == list_digest == headers["Docker-Content-Digest"]
    assert headers["Content-Type"] == DOCKER_LIST
    child = json.loads(body)["manifests"][0]["digest"]
    status, headers, body = get(edge.url, f"/v2/api/docker/manifests/{child}", DOCKER_MANIFEST)
    assert status == 200 and sha(body) == image_digest and headers["Content-Type"] == DOCKER_MANIFEST
    status, _, body = get(edge.url, f"/v2/api/docker/blobs/{sha(layer)}")
    assert status == 200 and body == layer


def test_a_blob_is_served_only_through_a_repository_that_holds_it(origin, proxy, make_edge):
    data = os.urandom(10_000)
    digest = push_blob(origin.url, "api/owner", data)
    push_blob(origin.url, "api/other", os.urandom(10))  # the repository exists, without that blob
    edge = make_edge()
    assert request(edge.url, "GET", f"/v2/api/owner/blobs/{digest}")[2] == data   # now cached
    for repo in ("api/other", "api/stranger"):
        status, _, body = request(edge.url, "GET", f"/v2/{repo}/blobs/{digest}")
        assert status == 404 and error_of(body)["code"] == "BLOB_UNKNOWN", body
        assert repo in error_of(body)["message"] and digest in error_of(body)["message"]


def test_referrers_through_the_edge(origin, proxy, make_edge):
    subject = push_image(origin.url, "api/refs", "v1", os.urandom(100))
    empty = push_blob(origin.url, "api/refs", b"{}")
    sbom = os.urandom(300)
    artifact = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/spdx+json",
                "config": {"mediaType": EMPTY, "digest": empty, "size": 2},
                "layers": [{"mediaType": "application/spdx+json", "digest": push_blob(origin.url, "api/refs", sbom),
                            "size": len(sbom)}],
                "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 0}}
    data = json.dumps(artifact).encode()
    artifact_digest = put_manifest(origin.url, "api/refs", sha(data), artifact)   # pushed by digest
    if get(origin.url, f"/v2/api/refs/referrers/{subject}")[0] == 404:
        # what a client does at a registry without the API (distribution 2.8): the referrers tag
        put_manifest(origin.url, "api/refs", f"sha256-{subject[7:]}", {
            "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": artifact_digest, "size": len(data),
                 "artifactType": "application/spdx+json"}]})
    edge = make_edge()
    status, headers, body = get(edge.url, f"/v2/api/refs/referrers/{subject}", OCI_INDEX)
    assert status == 200 and headers["Content-Type"] == OCI_INDEX, body
    listed = json.loads(body)["manifests"]
    assert [(m["digest"], m.get("artifactType")) for m in listed] == [(artifact_digest, "application/spdx+json")]
    status, _, body = get(edge.url, f"/v2/api/refs/manifests/{artifact_digest}")
    assert status == 200 and sha(body) == artifact_digest
