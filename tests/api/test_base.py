"""end-1 (API version check), unknown routes and unsupported methods."""
from __future__ import annotations

import pytest

from .helpers import error_code, push_blob


async def test_base_endpoint_answers_200_with_api_version(client):
    resp = await client.get("/v2/")
    assert resp.status == 200
    assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert await resp.json() == {}


async def test_base_endpoint_without_trailing_slash(client):
    resp = await client.get("/v2")
    assert resp.status == 200
    assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"


async def test_head_base_endpoint(client):
    resp = await client.head("/v2/")
    assert resp.status == 200
    assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"


async def test_errors_carry_api_version_and_json_type(client):
    resp = await client.get("/v2/nothing/here/at/all")
    assert resp.status == 404
    assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert resp.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("path", ["/v2/foo/bar", "/v2/foo/blobs", "/v2/foo/manifests/",
                                  "/v2/foo/tags", "/v2/foo/referrers/", "/v3/"])
async def test_unknown_routes_are_404_oci_json(client, path):
    resp = await client.get(path)
    assert resp.status == 404
    if path.startswith("/v2"):
        assert await error_code(resp) == "NOT_FOUND"


@pytest.mark.parametrize("method,path", [
    ("POST", "/v2/"),
    ("DELETE", "/v2/_catalog"),
    ("POST", "/v2/foo/manifests/latest"),
    ("PATCH", "/v2/foo/blobs/sha256:" + "a" * 64),
    ("PUT", "/v2/foo/blobs/sha256:" + "a" * 64),
    ("GET", "/v2/foo/blobs/uploads/"),
    ("DELETE", "/v2/foo/tags/list"),
    ("POST", "/v2/foo/referrers/sha256:" + "a" * 64),
])
async def test_wrong_method_is_405_oci_json(client, method, path):
    resp = await client.request(method, path)
    assert resp.status == 405
    assert await error_code(resp) == "UNSUPPORTED"
    assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"


async def test_405_names_allowed_methods(client):
    digest = await push_blob(client, "allow/me", b"x")
    resp = await client.put(f"/v2/allow/me/blobs/{digest}")
    assert resp.status == 405
    assert set(resp.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "DELETE"}
