"""Upstream credentials go only to trusted token services (issue 21).

A hostile upstream (a small aiohttp server here) answers 401 naming a token realm on another
port; the mirror must not ask that realm, let alone send it the configured user:password.
The realm server records every request it gets. Listing the realm in `[upstreams]
token_realms` trusts it; anonymous mirrors may ask any realm that is not plain http elsewhere.
"""
from __future__ import annotations

import base64
import hashlib
import json

import pytest
import yarl
from aiohttp import web

from ocicache.app import make_app
from ocicache.origin.upstream_auth import realm_refusal

SECRET = "alice:top-secret-pw"
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + "0" * 64, "size": 2}, "layers": []}).encode()


class Recorder:
    """An aiohttp server that records (path, Authorization) of every request."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def record(self, request: web.Request) -> None:
        self.seen.append((request.path_qs, request.headers.get("Authorization", "")))

    def secrets_seen(self) -> list[str]:
        encoded = base64.b64encode(SECRET.encode()).decode()
        return [auth for _, auth in self.seen if encoded in auth or "top-secret" in auth]


async def start_realm(aiohttp_server, redirect_to: str | None = None) -> tuple[Recorder, str]:
    rec = Recorder()

    async def token(request: web.Request) -> web.StreamResponse:
        rec.record(request)
        if redirect_to:
            raise web.HTTPFound(redirect_to)
        return web.json_response({"token": "granted-token", "expires_in": 300})

    app = web.Application()
    app.router.add_get("/token", token)
    server = await aiohttp_server(app)
    return rec, str(server.make_url("/token"))


async def start_upstream(aiohttp_server, realm_holder: dict) -> tuple[Recorder, str]:
    """An upstream that asks for a bearer token from whatever realm it is told to name."""
    rec = Recorder()

    async def any_route(request: web.Request) -> web.StreamResponse:
        rec.record(request)
        if request.headers.get("Authorization") != "Bearer granted-token":
            challenge = f'Bearer realm="{realm_holder["realm"]}",service="evil",scope="repository:lib/app:pull"'
            return web.json_response({"errors": [{"code": "UNAUTHORIZED", "message": "log in"}]}, status=401,
                                     headers={"WWW-Authenticate": challenge})
        digest = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
        return web.Response(body=MANIFEST if request.method == "GET" else None, headers={
            "Content-Type": "application/vnd.oci.image.manifest.v1+json", "Docker-Content-Digest": digest,
            "Content-Length": str(len(MANIFEST))})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", any_route)
    server = await aiohttp_server(app)
    return rec, str(server.make_url("")).rstrip("/")


async def mirror(aiohttp_client, cfg, upstream: str, credentials: bool = True, realms=None):
    settings = {"registries": {"evil.test": upstream}}
    if credentials:
        settings["credentials"] = {"evil.test": SECRET}
    if realms is not None:
        settings["token_realms"] = {"evil.test": realms}
    return await aiohttp_client(make_app(cfg.replace(upstreams=settings)))


async def test_a_realm_on_another_port_never_gets_the_credentials(aiohttp_server, aiohttp_client, cfg):
    realm_rec, realm = await start_realm(aiohttp_server)
    holder = {"realm": realm}
    upstream_rec, upstream = await start_upstream(aiohttp_server, holder)
    client = await mirror(aiohttp_client, cfg, upstream)
    resp = await client.get("/v2/lib/app/manifests/v1?ns=evil.test")
    assert resp.status == 502, await resp.text()
    err = (await resp.json())["errors"][0]
    assert err["code"] == "UNAVAILABLE"
    assert realm in err["message"] and "token_realms" in err["message"] and "evil.test" in err["message"]
    assert realm_rec.seen == []  # not even asked
    assert realm_rec.secrets_seen() == [] and upstream_rec.secrets_seen() == []
    assert upstream_rec.seen  # the upstream was asked (and answered 401)


async def test_a_listed_realm_gets_them(aiohttp_server, aiohttp_client, cfg):
    realm_rec, realm = await start_realm(aiohttp_server)
    upstream_rec, upstream = await start_upstream(aiohttp_server, {"realm": realm})
    origin = str(yarl.URL(realm).origin())
    client = await mirror(aiohttp_client, cfg, upstream, realms=[origin])
    resp = await client.get("/v2/lib/app/manifests/v1?ns=evil.test",
                            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert resp.status == 200, await resp.text()
    assert await resp.read() == MANIFEST
    assert len(realm_rec.secrets_seen()) >= 1  # Basic alice:... went to the listed token service
    assert upstream_rec.secrets_seen() == []  # the upstream itself only ever saw the token


async def test_credentials_do_not_follow_a_redirect_of_the_token_service(aiohttp_server, aiohttp_client, cfg):
    elsewhere_rec, elsewhere = await start_realm(aiohttp_server)
    realm_rec, realm = await start_realm(aiohttp_server, redirect_to=elsewhere)
    _, upstream = await start_upstream(aiohttp_server, {"realm": realm})
    client = await mirror(aiohttp_client, cfg, upstream, realms=[str(yarl.URL(realm).origin())])
    resp = await client.get("/v2/lib/app/manifests/v1?ns=evil.test")
    assert resp.status == 503, await resp.text()
    assert "302" in (await resp.json())["errors"][0]["message"]
    assert realm_rec.secrets_seen() and elsewhere_rec.seen == []


async def test_an_anonymous_mirror_may_ask_a_realm_on_its_own_host(aiohttp_server, aiohttp_client, cfg):
    realm_rec, realm = await start_realm(aiohttp_server)
    _, upstream = await start_upstream(aiohttp_server, {"realm": realm})
    client = await mirror(aiohttp_client, cfg, upstream, credentials=False)
    resp = await client.get("/v2/lib/app/manifests/v1?ns=evil.test",
                            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert resp.status == 200, await resp.text()
    assert realm_rec.seen and all(auth == "" for _, auth in realm_rec.seen)


def test_which_realms_are_trusted():
    hub = yarl.URL("https://registry-1.docker.io")
    assert realm_refusal(hub, "https://auth.docker.io/token") is None  # built in
    assert realm_refusal(hub, "https://registry-1.docker.io:443/token") is None  # its own origin
    assert "not listed" in realm_refusal(hub, "https://evil.example/token")
    assert "not listed" in realm_refusal(hub, "https://registry-1.docker.io:8443/token")  # another port
    assert "plain http" in realm_refusal(hub, "http://auth.docker.io/token")  # downgrade elsewhere
    assert realm_refusal(hub, "https://evil.example/token", with_credentials=False) is None
    assert "plain http" in realm_refusal(hub, "http://evil.example/token", with_credentials=False)
    assert "http(s)" in realm_refusal(hub, "file:///etc/passwd")
    own = yarl.URL("https://reg.example:5000")
    assert realm_refusal(own, "https://auth.example/token", ["https://auth.example"]) is None
    assert "not listed" in realm_refusal(own, "http://reg.example:5000/token")  # same host, scheme downgraded
    assert realm_refusal(own, "http://reg.example:5000/token", ["http://reg.example:5000"]) is None


@pytest.mark.parametrize("realms,message", [
    (["http://auth.example"], "in clear"),
    (["ftp://auth.example"], "https://host"),
    ([3], "list of URLs"),
])
def test_listed_realms_are_checked_at_start(cfg, realms, message):
    from ocicache.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        cfg.replace(upstreams={"registries": {"reg.example": "https://reg.example"},
                               "token_realms": {"reg.example": realms}})


def test_a_realm_for_an_unknown_upstream_is_an_error(cfg):
    from ocicache.config import ConfigError

    with pytest.raises(ConfigError, match="not in \\[upstreams\\] registries"):
        cfg.replace(upstreams={"registries": {"reg.example": "https://reg.example"},
                               "token_realms": {"other.example": ["https://auth.example"]}})
