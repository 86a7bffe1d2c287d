"""SIGHUP reload (service/reload.py) in a running app, one test per reloadable key
(docs/DEPLOY.md): [log] level, [admin] token_file, [auth] htpasswd acl groups token_key
verify_keys realm service issuer token_ttl, [ratelimit] per_ip_rate per_ip_burst
per_identity_rate per_identity_burst trusted_proxies. Restart-only keys are named in a
warning and not applied; an invalid config applies nothing."""
from __future__ import annotations

import logging

import jwt
import pytest

from ocicache import config
from ocicache.app import make_app
from ocicache.auth import tokens
from ocicache.service import reload

from ..auth.conftest import PASSWORDS, basic, bearer, write_htpasswd

OPEN_ACL = [{"repository": "**", "who": ["authenticated"], "actions": ["pull", "push"]}]


class Node:
    """make_app(cfg) behind a test client, and reloads of it with other config overrides."""

    def __init__(self, aiohttp_client, tmp_path) -> None:
        self.aiohttp_client, self.tmp_path = aiohttp_client, tmp_path
        self.client = None

    def load(self, sections: dict) -> config.Config:
        return config.load(env={}, overrides={"storage": {"data_dir": str(self.tmp_path / "data")}, **sections})

    async def start(self, **sections):
        self.client = await self.aiohttp_client(make_app(self.load(sections)))
        return self.client

    def reload(self, **sections) -> bool:
        return reload.reload(self.client.server.app, lambda: self.load(sections))

    async def status(self, path: str, headers: dict | None = None) -> int:
        resp = await self.client.get(path, headers=headers or {})
        await resp.read()
        return resp.status


@pytest.fixture
def node(aiohttp_client, tmp_path):
    return Node(aiohttp_client, tmp_path)


@pytest.fixture
def users(tmp_path):
    """Two htpasswd files: one with alice only, one with bob only."""
    return {"alice": str(write_htpasswd(tmp_path / "alice.htpasswd", {"alice": PASSWORDS["alice"]})),
            "bob": str(write_htpasswd(tmp_path / "bob.htpasswd", {"bob": PASSWORDS["bob"]}))}


@pytest.fixture
def keys(tmp_path):
    out = {}
    for name in ("one", "two"):
        tokens.keygen(tmp_path / f"{name}.pem")
        out[name] = str(tmp_path / f"{name}.pem")
    return out


def auth(users, **more) -> dict:
    return {"auth": {"htpasswd": users["alice"], "acl": OPEN_ACL, **more}}


async def token_for(node: Node, user: str = "alice", scope: str = "repository:r/x:pull") -> dict:
    resp = await node.client.get(f"/token?scope={scope}", headers=basic(user))
    assert resp.status == 200, await resp.text()
    return await resp.json()


# ---- [log] and [admin] ----
async def test_log_level(node):
    await node.start(log={"level": "INFO"})
    root = logging.getLogger()
    before = root.level
    try:
        assert node.reload(log={"level": "DEBUG"})
        assert root.level == logging.DEBUG
    finally:
        root.setLevel(before)


async def test_admin_token_file(node, tmp_path):
    old, new = tmp_path / "old.token", tmp_path / "new.token"
    old.write_text("o" * 32)
    new.write_text("n" * 32)
    await node.start(admin={"token_file": str(old)})
    assert await node.status("/admin/pins", bearer("o" * 32)) == 405  # a file:// node keeps no cache
    assert node.reload(admin={"token_file": str(new)})
    assert await node.status("/admin/pins", bearer("o" * 32)) == 401
    assert await node.status("/admin/pins", bearer("n" * 32)) == 405


# ---- [auth] ----
async def test_htpasswd(node, users):
    await node.start(**auth(users))
    assert (await node.status("/v2/", basic("alice")), await node.status("/v2/", basic("bob"))) == (200, 401)
    assert node.reload(**auth(users, htpasswd=users["bob"]))
    assert (await node.status("/v2/", basic("alice")), await node.status("/v2/", basic("bob"))) == (401, 200)


async def test_acl(node, users):
    only_a = [{"repository": "a/**", "who": ["alice"], "actions": ["pull"]}]
    only_b = [{"repository": "b/**", "who": ["alice"], "actions": ["pull"]}]
    await node.start(**auth(users, acl=only_a))
    assert await node.status("/v2/b/x/tags/list", basic("alice")) == 403
    assert node.reload(**auth(users, acl=only_b))
    assert await node.status("/v2/b/x/tags/list", basic("alice")) == 404  # allowed: no such repository
    assert await node.status("/v2/a/x/tags/list", basic("alice")) == 403


async def test_groups(node, users):
    acl = [{"repository": "**", "who": ["group:readers"], "actions": ["pull"]}]
    await node.start(**auth(users, acl=acl, groups={"readers": ["carol"]}))
    assert await node.status("/v2/r/x/tags/list", basic("alice")) == 403
    assert node.reload(**auth(users, acl=acl, groups={"readers": ["alice"]}))
    assert await node.status("/v2/r/x/tags/list", basic("alice")) == 404


async def test_token_key(node, users, keys):
    await node.start(**auth(users, token_key=keys["one"]))
    first = (await token_for(node))["token"]
    assert await node.status("/v2/r/x/tags/list", bearer(first)) == 404
    assert node.reload(**auth(users, token_key=keys["two"]))
    assert await node.status("/v2/r/x/tags/list", bearer(first)) == 401  # signed by a key no longer known
    second = (await token_for(node))["token"]
    assert await node.status("/v2/r/x/tags/list", bearer(second)) == 404


async def test_verify_keys(node, users, keys, tmp_path):
    await node.start(**auth(users, token_key=keys["one"]))
    first = (await token_for(node))["token"]
    public_one = tmp_path / "one.pem.pub"
    assert node.reload(**auth(users, token_key=keys["two"], verify_keys=[str(public_one)]))
    assert await node.status("/v2/r/x/tags/list", bearer(first)) == 404  # the old key still verifies
    second = (await token_for(node))["token"]
    assert jwt.get_unverified_header(second)["kid"] == tokens.key_id(tokens.load_key(keys["two"])[1])


async def test_realm_and_service(node, users, keys):
    await node.start(**auth(users, token_key=keys["one"]))
    resp = await node.client.get("/v2/")
    assert 'service="ocicache"' in resp.headers["WWW-Authenticate"]
    assert node.reload(**auth(users, token_key=keys["one"], realm="https://auth.example/token",
                              service="fleet"))
    resp = await node.client.get("/v2/")
    challenge = resp.headers["WWW-Authenticate"]
    assert 'realm="https://auth.example/token"' in challenge and 'service="fleet"' in challenge


async def test_issuer_and_token_ttl(node, users, keys):
    await node.start(**auth(users, token_key=keys["one"]))
    assert node.reload(**auth(users, token_key=keys["one"], issuer="fleet-issuer", token_ttl=77))
    answer = await token_for(node)
    claims = jwt.decode(answer["token"], options={"verify_signature": False})
    assert answer["expires_in"] == 77 and claims["iss"] == "fleet-issuer"
    assert await node.status("/v2/r/x/tags/list", bearer(answer["token"])) == 404


# ---- [ratelimit] ----
async def test_per_ip_rate(node):
    await node.start(ratelimit={"enabled": "true", "per_ip_rate": 0.001, "per_ip_burst": 1})
    assert [await node.status("/v2/") for _ in range(2)] == [200, 429]
    assert node.reload(ratelimit={"enabled": "true", "per_ip_rate": 100000.0, "per_ip_burst": 1})
    assert await node.status("/v2/") == 200


async def test_per_ip_burst(node):
    await node.start(ratelimit={"enabled": "true", "per_ip_rate": 0.001, "per_ip_burst": 50})
    assert await node.status("/v2/") == 200
    assert node.reload(ratelimit={"enabled": "true", "per_ip_rate": 0.001, "per_ip_burst": 1})
    assert [await node.status("/v2/") for _ in range(2)] == [200, 429]  # the bucket now holds 1


async def test_per_identity_rate(node, users):
    await node.start(**auth(users), ratelimit={"per_identity_rate": 0.001, "per_identity_burst": 1})
    assert [await node.status("/v2/", basic("alice")) for _ in range(2)] == [200, 429]
    assert node.reload(**auth(users), ratelimit={"per_identity_rate": 100000.0, "per_identity_burst": 1})
    assert await node.status("/v2/", basic("alice")) == 200


async def test_per_identity_burst(node, users):
    await node.start(**auth(users), ratelimit={"per_identity_rate": 0.001, "per_identity_burst": 50})
    assert await node.status("/v2/", basic("alice")) == 200
    assert node.reload(**auth(users), ratelimit={"per_identity_rate": 0.001, "per_identity_burst": 1})
    assert [await node.status("/v2/", basic("alice")) for _ in range(2)] == [200, 429]


async def test_trusted_proxies(node):
    limits = {"enabled": "true", "per_ip_rate": 0.001, "per_ip_burst": 1}
    await node.start(ratelimit=limits)
    # untrusted peer: X-Forwarded-For is ignored, both requests are the same client
    assert [await node.status("/v2/", {"X-Forwarded-For": ip}) for ip in ("192.0.2.1", "192.0.2.2")] == [200, 429]
    assert node.reload(ratelimit={**limits, "trusted_proxies": ["127.0.0.1/32"]})
    assert [await node.status("/v2/", {"X-Forwarded-For": ip}) for ip in ("192.0.2.3", "192.0.2.4")] == [200, 200]


# ---- what is not applied ----
async def test_restart_only_keys_are_named_and_not_applied(node, users, caplog):
    await node.start(cache={"tag_ttl": 30.0})
    with caplog.at_level(logging.INFO, logger="ocicache.reload"):
        assert node.reload(cache={"tag_ttl": 5.0}, server={"listen": "127.0.0.1:5999"}, **auth(users))
    warning = next(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "NOT applied" in warning
    for key in ("[cache] tag_ttl", "[server] listen", "[auth] htpasswd", "[auth] acl"):
        assert key in warning
    assert await node.status("/v2/") == 200  # turning authentication on needs a restart
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ocicache.reload"):  # still not applied: named again
        assert node.reload(cache={"tag_ttl": 5.0})
    assert any("[cache] tag_ttl" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


async def test_an_invalid_config_applies_nothing(node, users, tmp_path):
    await node.start(**auth(users))
    bad_token = tmp_path / "short.token"
    bad_token.write_text("short")
    assert not node.reload(**auth(users, htpasswd=users["bob"]), admin={"token_file": str(bad_token)})
    assert (await node.status("/v2/", basic("alice")), await node.status("/v2/", basic("bob"))) == (200, 401)
