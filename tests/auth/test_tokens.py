"""Tokens: accepted by every node that shares the key; tampered, expired, `alg: none`,
wrong-key, wrong-audience and wrong-issuer tokens refused with an invalid_token challenge."""
from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ocicache.auth import tokens
from ocicache.auth.guard import GATE
from ocicache.auth.scope import Access

from .conftest import bearer
from .test_challenge import challenge, token_for

SCOPE = "repository:team/app:pull"


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def forge(service: tokens.TokenService, private=None, alg="ES256", kid=None, **overrides) -> str:
    now = int(time.time())
    claims = {"iss": "ocicache", "sub": "alice", "aud": "ocicache", "exp": now + 300, "nbf": now, "iat": now,
              "jti": "x", "access": [{"type": "repository", "name": "team/app", "actions": ["pull"]}]}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, private or service.private, algorithm=alg, headers={"kid": kid or service.kid})


async def refused(client, token: str) -> str:
    resp = await client.get("/v2/team/app/tags/list", headers=bearer(token))
    assert resp.status == 401, await resp.text()
    assert challenge(resp)["error"] == "invalid_token"
    return (await resp.json())["errors"][0]["message"]


async def test_a_forged_but_valid_token_is_accepted(aclient):
    """The control for the cases below: the forging helper makes tokens the node accepts."""
    service = aclient.app[GATE].tokens
    resp = await aclient.get("/v2/team/app/tags/list", headers=bearer(forge(service)))
    assert resp.status == 404


async def test_tampered_token_is_refused(aclient):
    token = await token_for(aclient, SCOPE, "alice")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["access"][0]["actions"] = ["pull", "push", "delete"]
    assert "invalid" in await refused(aclient, f"{header}.{_b64(claims)}.{signature}")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    await refused(aclient, f"{header}.{payload}.{flipped}")


async def test_expired_token_is_refused(aclient):
    service = aclient.app[GATE].tokens
    old = int(time.time()) - 3600
    assert "expired" in await refused(aclient, forge(service, exp=old, iat=old - 300, nbf=old - 300))


async def test_not_yet_valid_token_is_refused(aclient):
    service = aclient.app[GATE].tokens
    later = int(time.time()) + 3600
    await refused(aclient, forge(service, nbf=later, iat=later))


async def test_alg_none_is_refused(aclient):
    service = aclient.app[GATE].tokens
    now = int(time.time())
    claims = {"iss": "ocicache", "sub": "admin", "aud": "ocicache", "exp": now + 300, "iat": now,
              "access": [{"type": "repository", "name": "team/app", "actions": ["pull"]}]}
    for header in ({"alg": "none", "typ": "JWT", "kid": service.kid}, {"alg": "none"}):
        await refused(aclient, f"{_b64(header)}.{_b64(claims)}.")


async def test_hs256_with_the_public_key_as_secret_is_refused(aclient):
    service = aclient.app[GATE].tokens
    public_pem = service.keys[service.kid].public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "JWT", "kid": service.kid}
    import hashlib
    import hmac
    now = int(time.time())
    body = f"{_b64(header)}.{_b64({'iss': 'ocicache', 'sub': 'a', 'aud': 'ocicache', 'exp': now + 99, 'iat': now})}"
    sig = base64.urlsafe_b64encode(hmac.new(public_pem, body.encode(), hashlib.sha256).digest()).rstrip(b"=")
    await refused(aclient, f"{body}.{sig.decode()}")


async def test_wrong_key_is_refused(aclient, auth_files):
    service = aclient.app[GATE].tokens
    other, _ = tokens.load_key(auth_files["other_key"])
    assert "unknown key" in await refused(aclient, forge(service, private=other, kid=tokens.key_id(other.public_key())))
    # signed by another key but claiming this node's key id
    assert "invalid" in await refused(aclient, forge(service, private=other))
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    await refused(aclient, forge(service, private=rsa_key, alg="RS256"))


async def test_wrong_audience_and_issuer_are_refused(aclient):
    service = aclient.app[GATE].tokens
    assert "service" in await refused(aclient, forge(service, aud="another-registry"))
    assert "issued" in await refused(aclient, forge(service, iss="someone-else"))
    await refused(aclient, forge(service, aud=None))
    await refused(aclient, forge(service, exp=None))


async def test_garbage_tokens_are_refused(aclient):
    for junk in ("", "abc", "a.b.c", "....", "eyJhbGciOiJFUzI1NiJ9.e30.", "x" * 5000):
        resp = await aclient.get("/v2/team/app/tags/list", headers={"Authorization": f"Bearer {junk}"})
        assert resp.status == 401


async def test_token_from_node_a_is_accepted_by_node_b(make_client):
    node_a = await make_client()
    node_b = await make_client()
    token = await token_for(node_a, SCOPE, "alice")
    assert (await node_b.get("/v2/team/app/tags/list", headers=bearer(token))).status == 404


async def test_verify_only_node_accepts_tokens_and_issues_none(make_client, auth_files):
    issuer = await make_client()
    verifier = await make_client(token_key=f"{auth_files['key']}.pub", realm="https://issuer.example/token")
    token = await token_for(issuer, SCOPE, "alice")
    assert (await verifier.get("/v2/team/app/tags/list", headers=bearer(token))).status == 404
    resp = await verifier.get("/v2/")
    assert challenge(resp)["realm"] == "https://issuer.example/token"
    assert (await verifier.get("/token", params={"scope": SCOPE})).status == 404


async def test_rotation_old_key_accepted_through_verify_keys(make_client, auth_files):
    old_node = await make_client()
    token = await token_for(old_node, SCOPE, "alice")
    new_node = await make_client(token_key=str(auth_files["other_key"]),
                                 verify_keys=[f"{auth_files['key']}.pub"])
    assert (await new_node.get("/v2/team/app/tags/list", headers=bearer(token))).status == 404
    only_new = await make_client(token_key=str(auth_files["other_key"]))
    await refused(only_new, token)


def test_keygen_writes_a_private_key_readable_only_by_its_owner(tmp_path):
    path = tmp_path / "k.pem"
    kid = tokens.keygen(path)
    assert path.stat().st_mode & 0o777 == 0o600
    private, public = tokens.load_key(path)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert tokens.key_id(public) == kid == tokens.key_id(tokens.load_key(f"{path}.pub")[1])
    with pytest.raises(FileExistsError):
        tokens.keygen(path)


def test_claims_follow_the_docker_token_spec(tmp_path):
    tokens.keygen(tmp_path / "k.pem")
    service = tokens.TokenService(tmp_path / "k.pem", issuer="iss", service="svc", ttl=60)
    token, expires_in, _ = service.issue("alice", [Access.repo("a/b", "pull"), Access.repo("a/b", "push")])
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["kid"] == service.kid
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["access"] == [{"type": "repository", "name": "a/b", "actions": ["pull", "push"]}]
    assert (claims["iss"], claims["sub"], claims["aud"]) == ("iss", "alice", "svc")
    assert claims["exp"] - claims["iat"] == expires_in == 60
    assert claims["jti"]
