"""Rate-limit budgeting against an upstream that sends Docker Hub's RateLimit-Remaining, the
allow-list, and the [upstreams] configuration."""
from __future__ import annotations

import hashlib
import json

import pytest
from aiohttp import web

from ocicache import config
from ocicache.app import make_app
from ocicache.commands import main
from ocicache.config import ConfigError
from ocicache.origin.ratebudget import RateBudget
from ocicache.origin.upstream_auth import parse_challenge, scope_of

MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + "0" * 64, "size": 2}, "layers": []}).encode()
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


@pytest.fixture
async def hub(aiohttp_server):
    """A registry answering one manifest, with `RateLimit-Remaining: 2;w=21600` like Docker Hub."""
    seen: list[tuple[str, str]] = []

    async def manifest(request: web.Request) -> web.Response:
        seen.append((request.method, request.path))
        headers = {"RateLimit-Remaining": "2;w=21600", "Docker-Content-Digest": DIGEST,
                   "Content-Type": "application/vnd.oci.image.manifest.v1+json"}
        return web.Response(body=MANIFEST, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/v2/{name:.+}/manifests/{ref}", manifest)
    server = await aiohttp_server(app)
    return server, seen


async def edge_client(aiohttp_client, tmp_path, url: str, **upstreams):
    cfg = config.load(env={}, overrides={"storage": {"data_dir": str(tmp_path / "data")},
                                         "upstreams": {"registries": {"docker.io": url}, **upstreams}})
    return await aiohttp_client(make_app(cfg))


async def test_budget_refuses_manifest_gets_before_the_upstream_bans(aiohttp_client, tmp_path, hub):
    server, seen = hub
    client = await edge_client(aiohttp_client, tmp_path, str(server.make_url("")), rate_limit_reserve=2)
    resp = await client.get(f"/v2/alpine/manifests/{DIGEST}")
    assert resp.status == 200 and await resp.read() == MANIFEST
    assert seen == [("GET", f"/v2/library/alpine/manifests/{DIGEST}")]
    resp = await client.get(f"/v2/busybox/manifests/{DIGEST}")  # RateLimit-Remaining 2 <= reserve
    body = await resp.json()
    assert resp.status == 429 and body["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert "upstream docker.io" in body["errors"][0]["message"] and int(resp.headers["Retry-After"]) >= 1
    assert len(seen) == 1
    resp = await client.head("/v2/alpine/manifests/latest")  # HEADs do not count on Docker Hub
    assert resp.status == 200 and seen[-1] == ("HEAD", "/v2/library/alpine/manifests/latest")


async def test_allow_list(aiohttp_client, tmp_path, hub):
    server, seen = hub
    client = await edge_client(aiohttp_client, tmp_path, str(server.make_url("")),
                               allow=["docker.io/library/*"])
    assert (await client.get(f"/v2/alpine/manifests/{DIGEST}")).status == 200
    resp = await client.get(f"/v2/someone/tool/manifests/{DIGEST}")
    body = await resp.json()
    assert resp.status == 403 and body["errors"][0]["code"] == "DENIED"
    assert "docker.io/someone/tool" in body["errors"][0]["message"] and "allow" in body["errors"][0]["message"]
    assert all("someone" not in path for _, path in seen)


def test_rate_budget_window():
    now = [100.0]
    budget = RateBudget("upstream docker.io", reserve=1, retry_after=30, clock=lambda: now[0])
    budget.check("GET", "/v2/library/a/manifests/v1")
    budget.observe({"RateLimit-Remaining": "1;w=21600"})
    with pytest.raises(Exception) as caught:
        budget.check("GET", "/v2/library/a/manifests/v1")
    assert caught.value.headers["Retry-After"] == "30"
    budget.check("HEAD", "/v2/library/a/manifests/v1")
    budget.check("GET", "/v2/library/a/blobs/sha256:" + "1" * 64)
    now[0] += 31
    budget.check("GET", "/v2/library/a/manifests/v1")  # trusted no longer: ask again


def test_challenge_and_scope_parsing():
    scheme, params = parse_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                                     'scope="repository:library/alpine:pull,push"')
    assert scheme == "bearer" and params["realm"] == "https://auth.docker.io/token"
    assert params["scope"] == "repository:library/alpine:pull,push"
    assert scope_of("/v2/library/alpine/blobs/sha256:abc") == "repository:library/alpine:pull"
    assert scope_of("/v2/_catalog") == "registry:catalog:*"


def test_upstreams_config(tmp_path):
    env = {"OCICACHE_UPSTREAMS_REGISTRIES": "docker.io=https://registry-1.docker.io,ghcr.io=https://ghcr.io",
           "OCICACHE_UPSTREAMS_ALIASES": "ghcr.mirror.example=ghcr.io"}
    cfg = config.load(env=env)
    assert list(cfg.upstreams.registries) == ["docker.io", "ghcr.io"] and cfg.pure_mirror
    assert cfg.upstreams.aliases == {"ghcr.mirror.example": "ghcr.io"}
    with pytest.raises(ConfigError, match="quay.io.*not in"):
        config.load(env={**env, "OCICACHE_UPSTREAMS_ALIASES": "q.example=quay.io"})
    with pytest.raises(ConfigError, match="expected http"):
        config.load(env={"OCICACHE_UPSTREAMS_REGISTRIES": "docker.io=ftp://x"})
    assert not config.load(env=env, overrides={"storage": {"origin": "http://o:5000"}}).pure_mirror
    assert main(["serve", "--data-dir", str(tmp_path), "--upstream", "docker.io"]) == 2
