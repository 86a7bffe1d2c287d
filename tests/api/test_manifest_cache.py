"""Manifests answered from memory stay correct across pushes, retags and deletes through the node."""
from __future__ import annotations

from .helpers import OCI_MANIFEST, push_image


async def get_digest(client, repo: str, reference: str) -> tuple[int, str | None]:
    resp = await client.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
    await resp.read()
    return resp.status, resp.headers.get("Docker-Content-Digest")


async def test_retag_is_seen_at_once(client, algo):
    first = await push_image(client, "cache/app", "v1", seed="one", algo=algo)
    assert await get_digest(client, "cache/app", "v1") == (200, first.digest)
    second = await push_image(client, "cache/app", "v1", seed="two", algo=algo)
    assert await get_digest(client, "cache/app", "v1") == (200, second.digest)


async def test_deletes_are_seen_at_once(client, algo):
    image = await push_image(client, "cache/app", "v1", algo=algo)
    untagged = await push_image(client, "cache/app", None, seed="by digest", algo=algo)
    assert (await get_digest(client, "cache/app", image.digest))[0] == 200
    assert (await get_digest(client, "cache/app", untagged.digest)) == (200, untagged.digest)
    assert (await get_digest(client, "cache/app", "v1"))[0] == 200
    for digest in (image.digest, untagged.digest):
        resp = await client.delete(f"/v2/cache/app/manifests/{digest}")
        assert resp.status == 202
        assert (await get_digest(client, "cache/app", digest))[0] == 404
    assert (await get_digest(client, "cache/app", "v1"))[0] == 404


async def test_tag_delete_is_seen_at_once(client):
    await push_image(client, "cache/app", "v1")
    assert (await get_digest(client, "cache/app", "v1"))[0] == 200
    assert (await client.delete("/v2/cache/app/manifests/v1")).status == 202
    assert (await get_digest(client, "cache/app", "v1"))[0] == 404


async def test_a_manifest_cached_in_one_repository_is_not_served_from_another(client, algo):
    image = await push_image(client, "cache/app", None, algo=algo)
    assert (await get_digest(client, "cache/app", image.digest))[0] == 200
    assert (await get_digest(client, "cache/other", image.digest))[0] == 404
