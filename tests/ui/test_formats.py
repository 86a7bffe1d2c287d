"""Docker's manifest formats (image manifest v2 schema 2, manifest list) on the manifest page,
over HTTP against the app: the same sections as for OCI ones."""
from __future__ import annotations

from ..api.helpers import DOCKER_LIST, DOCKER_MANIFEST, index_manifest, push_image, put_manifest, sha


async def test_a_docker_image_and_manifest_list_are_shown(client):
    image = await push_image(client, "docker/app", "v1", media_type=DOCKER_MANIFEST)
    listing = index_manifest([(DOCKER_MANIFEST, image.manifest)], DOCKER_LIST)
    await put_manifest(client, "docker/app", "list", listing, DOCKER_LIST)
    resp = await client.get("/ui/r/docker/app/-/m/v1")
    body = await resp.text()
    assert resp.status == 200 and DOCKER_MANIFEST in body and image.layer in body and image.config in body
    assert "linux/amd64" in body  # from the config
    resp = await client.get("/ui/r/docker/app/-/m/list")
    body = await resp.text()
    assert resp.status == 200 and DOCKER_LIST in body and '<table class="list platforms">' in body
    assert f'href="/ui/r/docker/app/-/m/{image.digest}"' in body and sha(listing) in body
