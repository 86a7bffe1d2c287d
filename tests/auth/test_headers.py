"""Security headers on every response; no-store on credentials and uploads; no secrets logged."""
from __future__ import annotations

import logging

import pytest

from ..api.helpers import push_blob
from .conftest import basic

SECURITY = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
            "Referrer-Policy": "no-referrer", "Docker-Distribution-API-Version": "registry/2.0"}


def assert_secure(resp):
    for name, value in SECURITY.items():
        assert resp.headers.get(name) == value, (resp.url, name, resp.headers.get(name))
    assert resp.headers["Server"] == "ocicache"


@pytest.mark.parametrize("method,path", [("GET", "/v2/"), ("GET", "/v2/_catalog"), ("GET", "/nothing"),
                                         ("GET", "/v2/a/tags/list"), ("POST", "/v2/"),
                                         ("GET", "/v2/BAD/tags/list"), ("HEAD", "/v2/a/manifests/x")])
async def test_every_response_carries_security_headers_auth_off(client, method, path):
    assert_secure(await client.request(method, path))


async def test_blob_responses_streamed_or_not_carry_them(client):
    digest = await push_blob(client, "a/b", b"hello" * 1000)
    for headers in ({}, {"Range": "bytes=1-3"}):
        resp = await client.get(f"/v2/a/b/blobs/{digest}", headers=headers)
        assert resp.status in (200, 206)
        assert_secure(resp)
        assert resp.headers["Cache-Control"].startswith("public")  # auth off: shared caches welcome


async def test_upload_responses_are_no_store(client):
    resp = await client.post("/v2/a/b/blobs/uploads/")
    assert resp.status == 202 and resp.headers["Cache-Control"] == "no-store"
    resp = await client.post("/v2/a/b/blobs/uploads/", params={"digest": "sha256:" + "0" * 64}, data=b"x")
    assert resp.status == 400 and resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path,headers", [("/v2/", {}), ("/v2/team/app/tags/list", basic("carol")),
                                          ("/token", {}), ("/token", basic("alice", "bad"))])
async def test_auth_responses_are_no_store(aclient, path, headers):
    resp = await aclient.get(path, headers=headers)
    assert resp.headers["Cache-Control"] == "no-store"
    assert_secure(resp)


async def test_secrets_never_reach_the_log(aclient, caplog):
    caplog.set_level(logging.DEBUG)
    await aclient.get("/v2/", headers=basic("alice", "hunter2-wrong"))
    resp = await aclient.get("/token", params={"scope": "repository:team/app:pull"}, headers=basic("alice"))
    token = (await resp.json())["token"]
    await aclient.get("/v2/team/app/tags/list", headers={"Authorization": f"Bearer {token}x"})
    text = caplog.text
    assert "hunter2" not in text and "alice-pw" not in text and token not in text
