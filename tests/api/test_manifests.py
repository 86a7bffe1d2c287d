"""Manifests: push (end-7), pull and existence (end-3), delete (end-9). With `algo`, blobs and
descriptors use sha256 or sha512, and a manifest pushed by digest is addressed by that digest's
algorithm (one pushed by tag by its sha256, the canonical one)."""
from __future__ import annotations

import pytest

from .helpers import (DOCKER_LIST, DOCKER_MANIFEST, MISSING, OCI_INDEX, OCI_MANIFEST, descriptor, dumps,
                      error_code, image_manifest, index_manifest, missing, push_blob, push_image, put_manifest,
                      raw_url, sha)

REPO = "acme/app"


async def test_put_get_head_by_tag(client, algo):
    image = await push_image(client, REPO, "v1", algo=algo)
    resp = await client.get(f"/v2/{REPO}/manifests/v1")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == OCI_MANIFEST
    assert resp.headers["Docker-Content-Digest"] == image.digest
    assert await resp.read() == image.manifest
    resp = await client.head(f"/v2/{REPO}/manifests/v1")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == OCI_MANIFEST
    assert resp.headers["Docker-Content-Digest"] == image.digest
    assert int(resp.headers["Content-Length"]) == len(image.manifest)
    assert await resp.read() == b""


async def test_put_response_headers(client, algo):
    config, layer = b'{"os":"linux"}', b"layer"
    await push_blob(client, REPO, config, algo)
    await push_blob(client, REPO, layer, algo)
    body = image_manifest(config, layer, algo=algo)
    resp = await put_manifest(client, REPO, "v1", body, OCI_MANIFEST)
    assert resp.headers["Location"] == f"/v2/{REPO}/manifests/{sha(body)}"
    assert resp.headers["Docker-Content-Digest"] == sha(body)
    assert "OCI-Subject" not in resp.headers


async def test_content_type_parameters_are_ignored(client):
    config, layer = b'{"os":"linux"}', b"layer"
    await push_blob(client, REPO, config)
    await push_blob(client, REPO, layer)
    body = image_manifest(config, layer)
    await put_manifest(client, REPO, "v1", body, f"{OCI_MANIFEST}; charset=utf-8")
    resp = await client.get(f"/v2/{REPO}/manifests/v1")
    assert resp.headers["Content-Type"] == OCI_MANIFEST
    resp = await put_manifest(client, REPO, "v2", body, f"{OCI_INDEX}; charset=utf-8", status=400)
    assert await error_code(resp) == "MANIFEST_INVALID"


async def test_put_and_get_by_digest(client, algo):
    image = await push_image(client, REPO, None, algo=algo)
    assert image.digest == sha(image.manifest, algo)
    resp = await client.get(f"/v2/{REPO}/manifests/{image.digest}")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == OCI_MANIFEST
    assert resp.headers["Docker-Content-Digest"] == image.digest
    assert "immutable" in resp.headers["Cache-Control"]
    assert await resp.read() == image.manifest
    resp = await client.get(f"/v2/{REPO}/tags/list")
    assert (await resp.json())["tags"] == []


async def test_bytes_are_kept_exactly(client):
    config, layer = b"{}", b"l"
    await push_blob(client, REPO, config)
    await push_blob(client, REPO, layer)
    body = b'{ "schemaVersion" : 2,\n "mediaType": "%s",\n "config": %s, "layers": [] }\n' % (
        OCI_MANIFEST.encode(), dumps(descriptor("application/vnd.oci.image.config.v1+json", config)))
    await put_manifest(client, REPO, "spaced", body, OCI_MANIFEST)
    resp = await client.get(f"/v2/{REPO}/manifests/spaced")
    assert await resp.read() == body
    assert resp.headers["Docker-Content-Digest"] == sha(body)


@pytest.mark.parametrize("image_type,index_type", [(OCI_MANIFEST, OCI_INDEX), (DOCKER_MANIFEST, DOCKER_LIST)])
async def test_image_and_index_types(client, image_type, index_type, algo):
    image = await push_image(client, REPO, None, media_type=image_type, algo=algo)
    resp = await client.get(f"/v2/{REPO}/manifests/{image.digest}")
    assert resp.headers["Content-Type"] == image_type
    index = index_manifest([(image_type, image.manifest)], index_type, algo)
    await put_manifest(client, REPO, "multi", index, index_type)
    await put_manifest(client, REPO, sha(index, algo), index, index_type)
    for ref, digest in (("multi", sha(index)), (sha(index), sha(index)), (sha(index, algo), sha(index, algo))):
        resp = await client.get(f"/v2/{REPO}/manifests/{ref}", headers={"Accept": index_type})
        assert resp.status == 200
        assert resp.headers["Content-Type"] == index_type
        assert resp.headers["Docker-Content-Digest"] == digest
        assert await resp.read() == index


@pytest.mark.parametrize("declared", [False, True])
async def test_oci_types_without_media_type_field_are_known_by_shape(client, declared):
    image = await push_image(client, REPO, "img")
    extra = {"mediaType": OCI_INDEX} if declared else {}
    index = dumps({"schemaVersion": 2, "manifests": [descriptor(OCI_MANIFEST, image.manifest)], **extra})
    manifest = dumps({"schemaVersion": 2, "config": descriptor("application/vnd.oci.image.config.v1+json",
                                                                b"{}"), "layers": []})
    await push_blob(client, REPO, b"{}")
    await put_manifest(client, REPO, "plain", manifest, OCI_MANIFEST)
    await put_manifest(client, REPO, "multi", index, OCI_INDEX)
    for tag, media_type in (("plain", OCI_MANIFEST), ("multi", OCI_INDEX)):
        resp = await client.get(f"/v2/{REPO}/manifests/{tag}")
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"] == media_type


async def test_docker_manifest_must_declare_media_type(client):
    config = b"{}"
    await push_blob(client, REPO, config)
    body = dumps({"schemaVersion": 2, "config": descriptor(
        "application/vnd.docker.container.image.v1+json", config), "layers": []})
    resp = await put_manifest(client, REPO, "nomt", body, DOCKER_MANIFEST, status=400)
    assert await error_code(resp) == "MANIFEST_INVALID"
    assert (await client.get(f"/v2/{REPO}/manifests/nomt")).status == 404


async def test_schema1_refused(client):
    body = dumps({"schemaVersion": 1, "name": REPO, "tag": "old", "fsLayers": [], "history": []})
    for ct in ("application/vnd.docker.distribution.manifest.v1+prettyjws",
               "application/vnd.docker.distribution.manifest.v1+json", "application/json"):
        resp = await put_manifest(client, REPO, "old", body, ct, status=400)
        assert await error_code(resp) == "MANIFEST_INVALID"
    assert (await client.get(f"/v2/{REPO}/manifests/old")).status == 404


@pytest.mark.parametrize("body,content_type", [
    (b"{not json", OCI_MANIFEST),
    (b"[1, 2]", OCI_MANIFEST),
    (b"\xff\xfe", OCI_MANIFEST),
    (dumps({"schemaVersion": 2, "mediaType": "application/x-unknown", "layers": []}), "application/x-unknown"),
    (dumps({"schemaVersion": 2, "layers": []}), "text/plain"),
    (dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}), OCI_MANIFEST),  # no config
    (dumps({"schemaVersion": 3, "mediaType": OCI_INDEX, "manifests": []}), OCI_INDEX),
    (dumps({"schemaVersion": 2, "mediaType": OCI_INDEX}), OCI_INDEX),  # no manifests list
    (dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": "sha256:bad", "size": 1}]}), OCI_INDEX),
    (dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": MISSING, "size": -1}]}), OCI_INDEX),
    (dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}), OCI_MANIFEST),  # type clash
])
async def test_invalid_manifest(client, body, content_type):
    resp = await put_manifest(client, REPO, "bad", body, content_type, status=400)
    assert await error_code(resp) == "MANIFEST_INVALID"
    assert (await client.get(f"/v2/{REPO}/manifests/bad")).status == 404


async def test_referenced_blob_missing(client, algo):
    config = b"{}"
    await push_blob(client, REPO, config, algo)
    body = image_manifest(config, b"never pushed", algo=algo)
    resp = await put_manifest(client, REPO, "v1", body, OCI_MANIFEST, status=400)
    assert await error_code(resp) == "MANIFEST_BLOB_UNKNOWN"
    assert (await resp.json())["errors"][0]["detail"]["digest"] == sha(b"never pushed", algo)


async def test_blob_under_the_other_algorithm_does_not_count(client, algo):
    config, layer = b"{}", b"layer"
    other = "sha512" if algo == "sha256" else "sha256"
    await push_blob(client, REPO, config, other)
    await push_blob(client, REPO, layer, other)
    resp = await put_manifest(client, REPO, "v1", image_manifest(config, layer, algo=algo), OCI_MANIFEST, status=400)
    assert await error_code(resp) == "MANIFEST_BLOB_UNKNOWN"


async def test_blob_in_another_repo_does_not_count(client, algo):
    config, layer = b"{}", b"layer"
    await push_blob(client, "other/repo", config, algo)
    await push_blob(client, "other/repo", layer, algo)
    resp = await put_manifest(client, REPO, "v1", image_manifest(config, layer, algo=algo), OCI_MANIFEST, status=400)
    assert await error_code(resp) == "MANIFEST_BLOB_UNKNOWN"


async def test_index_child_missing(client, algo):
    index = index_manifest([(OCI_MANIFEST, b'{"not":"pushed"}')], algo=algo)
    resp = await put_manifest(client, REPO, "multi", index, OCI_INDEX, status=400)
    assert await error_code(resp) == "MANIFEST_BLOB_UNKNOWN"


async def test_manifest_too_big_is_413(client):
    filler = "x" * (4 * 1024 * 1024 + 10)
    body = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [],
                  "annotations": {"filler": filler}})
    resp = await put_manifest(client, REPO, "big", body, OCI_INDEX, status=413)
    assert await error_code(resp) == "SIZE_INVALID"

    async def chunked():  # no Content-Length: the limit is enforced while reading
        for i in range(0, len(body), 256 * 1024):
            yield body[i:i + 256 * 1024]

    resp = await client.put(f"/v2/{REPO}/manifests/big", data=chunked(), headers={"Content-Type": OCI_INDEX})
    assert resp.status == 413
    assert await error_code(resp) == "SIZE_INVALID"
    assert (await client.get(f"/v2/{REPO}/manifests/big")).status == 404


async def test_manifest_just_under_limit_is_accepted(client):
    base = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [], "annotations": {"f": ""}})
    body = base.replace(b'"f":""', b'"f":"' + b"x" * (4 * 1024 * 1024 - len(base)) + b'"')
    assert len(body) == 4 * 1024 * 1024
    await put_manifest(client, REPO, "big", body, OCI_INDEX)


async def test_put_by_digest_that_does_not_match(client, algo):
    image = await push_image(client, REPO, "v1", algo=algo)
    other = sha(image.manifest + b" ", algo)
    resp = await put_manifest(client, REPO, other, image.manifest, OCI_MANIFEST, status=400)
    assert await error_code(resp) == "DIGEST_INVALID"
    assert (await client.get(f"/v2/{REPO}/manifests/{other}")).status == 404


async def test_subject_sets_oci_subject_header(client, algo):
    image = await push_image(client, REPO, None, algo=algo)
    config, layer = b'{"sig":1}', b"signature"
    await push_blob(client, REPO, config, algo)
    await push_blob(client, REPO, layer, algo)
    body = image_manifest(config, layer, algo=algo, subject=descriptor(OCI_MANIFEST, image.manifest, algo))
    resp = await put_manifest(client, REPO, sha(body, algo), body, OCI_MANIFEST)
    assert resp.headers["OCI-Subject"] == image.digest == sha(image.manifest, algo)
    assert resp.headers["Docker-Content-Digest"] == sha(body, algo)


@pytest.mark.parametrize("tag", ["-lead", ".dot", "t" * 129, "sp%20ace", "a+b"])
async def test_bad_tag(client, tag):
    image = await push_image(client, REPO, "v1")
    resp = await put_manifest(client, REPO, tag, image.manifest, OCI_MANIFEST, status=400)
    assert await error_code(resp) == "TAG_INVALID"
    resp = await client.get(f"/v2/{REPO}/manifests/{tag}")
    assert resp.status == 400
    assert await error_code(resp) == "TAG_INVALID"


async def test_longest_tag_is_fine(client):
    await push_image(client, REPO, "T" * 128)
    assert (await client.get(f"/v2/{REPO}/manifests/{'T' * 128}")).status == 200


@pytest.mark.parametrize("name", ["Upper/case", "a/../b", "..", "/lead", "a//b", "trail/", "a" * 300,
                                  "under_", "-dash", "x/.hidden"])
async def test_bad_names(client, name):
    image = await push_image(client, REPO, "v1")
    for method, data in (("PUT", image.manifest), ("GET", None), ("HEAD", None), ("DELETE", None)):
        resp = await client.session.request(method, raw_url(client, f"/v2/{name}/manifests/v1"), data=data,
                                            headers={"Content-Type": OCI_MANIFEST})
        assert resp.status == 400, (method, name)
        if method != "HEAD":
            assert await error_code(resp) == "NAME_INVALID"


@pytest.mark.no_namespace  # a 255-character name has no room for one; no other test uses it
async def test_longest_name_is_fine(client):
    name = "/".join(["a" * 63] * 4)  # 255 characters
    await push_image(client, name, "v1")
    assert (await client.get(f"/v2/{name}/manifests/v1")).status == 200


async def test_unknown_manifest(client, algo):
    await push_image(client, REPO, "v1", algo=algo)
    for ref in ("nope", MISSING, missing(algo)):
        resp = await client.get(f"/v2/{REPO}/manifests/{ref}")
        assert resp.status == 404
        assert await error_code(resp) == "MANIFEST_UNKNOWN"
        resp = await client.head(f"/v2/{REPO}/manifests/{ref}")
        assert resp.status == 404
    resp = await client.get("/v2/never/pushed/manifests/v1")
    assert resp.status == 404
    assert await error_code(resp) in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN")


async def test_manifest_of_another_repo_is_404(client, algo):
    image = await push_image(client, REPO, "v1", algo=algo)
    untagged = await push_image(client, REPO, None, seed="untagged", algo=algo)
    await push_image(client, "other/repo", "v2", algo=algo)
    for ref in ("v1", image.digest, untagged.digest):
        resp = await client.get(f"/v2/other/repo/manifests/{ref}")
        assert resp.status == 404
        assert await error_code(resp) == "MANIFEST_UNKNOWN"


async def test_delete_tag_leaves_digest(client, algo):
    image = await push_image(client, REPO, "v1", algo=algo)
    resp = await client.delete(f"/v2/{REPO}/manifests/v1")
    assert resp.status == 202
    resp = await client.get(f"/v2/{REPO}/manifests/v1")
    assert resp.status == 404
    assert await error_code(resp) == "MANIFEST_UNKNOWN"
    resp = await client.get(f"/v2/{REPO}/manifests/{image.digest}")
    assert resp.status == 200
    assert await resp.read() == image.manifest
    resp = await client.delete(f"/v2/{REPO}/manifests/v1")
    assert resp.status == 404
    assert await error_code(resp) == "MANIFEST_UNKNOWN"


async def test_delete_digest_removes_its_tags(client, algo):
    image = await push_image(client, REPO, "v1", algo=algo)
    await put_manifest(client, REPO, "also", image.manifest, OCI_MANIFEST)
    other = await push_image(client, REPO, "keep", seed="other", algo=algo)
    resp = await client.delete(f"/v2/{REPO}/manifests/{image.digest}")
    assert resp.status == 202
    for ref in ("v1", "also", image.digest):
        resp = await client.get(f"/v2/{REPO}/manifests/{ref}")
        assert resp.status == 404, ref
        assert await error_code(resp) == "MANIFEST_UNKNOWN"
    resp = await client.get(f"/v2/{REPO}/tags/list")
    assert (await resp.json())["tags"] == ["keep"]
    assert (await client.get(f"/v2/{REPO}/manifests/{other.digest}")).status == 200
    resp = await client.delete(f"/v2/{REPO}/manifests/{image.digest}")
    assert resp.status == 404
    assert await error_code(resp) == "MANIFEST_UNKNOWN"


async def test_retag_moves_tag(client):
    first = await push_image(client, REPO, "v1")
    second = await push_image(client, REPO, "v1", seed="second")
    assert first.digest != second.digest
    resp = await client.get(f"/v2/{REPO}/manifests/v1")
    assert resp.headers["Docker-Content-Digest"] == second.digest
    assert (await client.get(f"/v2/{REPO}/manifests/{first.digest}")).status == 200


async def test_by_tag_get_with_accept_excluding_type(client):
    await push_image(client, REPO, "v1")
    resp = await client.get(f"/v2/{REPO}/manifests/v1", headers={"Accept": DOCKER_MANIFEST})
    assert resp.status == 404
    assert await error_code(resp) == "MANIFEST_UNKNOWN"
    for accept in (f"{DOCKER_MANIFEST}, {OCI_MANIFEST}", "*/*", f"{OCI_MANIFEST};q=0.9"):
        resp = await client.get(f"/v2/{REPO}/manifests/v1", headers={"Accept": accept})
        assert resp.status == 200, accept
        assert resp.headers["Content-Type"] == OCI_MANIFEST


async def test_by_digest_under_sha512_and_by_tag_are_two_revisions(client):
    """A manifest pushed by its sha512 is addressed by that digest only; pushed again by tag it is
    also the sha256 revision the tag points at. Deleting one leaves the other."""
    image = await push_image(client, REPO, None, algo="sha512")
    assert (await client.get(f"/v2/{REPO}/manifests/{sha(image.manifest)}")).status == 404
    resp = await put_manifest(client, REPO, "v1", image.manifest, OCI_MANIFEST)
    assert resp.headers["Docker-Content-Digest"] == sha(image.manifest)
    resp = await client.get(f"/v2/{REPO}/manifests/v1")
    assert resp.headers["Docker-Content-Digest"] == sha(image.manifest)
    assert (await client.delete(f"/v2/{REPO}/manifests/{image.digest}")).status == 202
    assert (await client.get(f"/v2/{REPO}/manifests/{image.digest}")).status == 404
    resp = await client.get(f"/v2/{REPO}/manifests/v1")
    assert resp.status == 200
    assert await resp.read() == image.manifest


OTHER_ALGORITHMS = ["sha384:" + "a" * 96, "blake3:" + "b" * 64, "md5:" + "c" * 32]


@pytest.mark.parametrize("digest", OTHER_ALGORITHMS)
async def test_manifest_digest_of_another_algorithm(client, digest):
    """Reads and deletes: 404 MANIFEST_UNKNOWN (nothing can be stored under it); a push: 400."""
    image = await push_image(client, REPO, "v1")
    for method in ("GET", "HEAD", "DELETE"):
        resp = await client.request(method, f"/v2/{REPO}/manifests/{digest}")
        assert resp.status == 404, method
        if method != "HEAD":
            assert await error_code(resp) == "MANIFEST_UNKNOWN"
    resp = await put_manifest(client, REPO, digest, image.manifest, OCI_MANIFEST, status=400)
    assert await error_code(resp) == "DIGEST_INVALID"


@pytest.mark.parametrize("digest", ["sha512:" + "a" * 64, "sha384:xyz", "sha256:" + "A" * 64])
async def test_malformed_manifest_digest_is_400(client, digest):
    for method in ("GET", "DELETE", "PUT"):
        resp = await client.request(method, f"/v2/{REPO}/manifests/{digest}", data=b"{}",
                                    headers={"Content-Type": OCI_MANIFEST})
        assert resp.status == 400, method
        assert await error_code(resp) == "DIGEST_INVALID"


async def test_descriptor_of_another_algorithm_is_refused(client):
    body = image_manifest(b"{}", b"layer")
    body = body.replace(sha(b"layer").encode(), b"sha384:" + b"a" * 96)
    resp = await put_manifest(client, REPO, "v1", body, OCI_MANIFEST, status=400)
    assert await error_code(resp) == "MANIFEST_INVALID"
    assert "sha384" in (await resp.json())["errors"][0]["message"]
