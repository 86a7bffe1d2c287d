"""Every route without credentials -> 401 with the right challenge; Basic and bearer flows;
403 DENIED for a user without the right; insufficient_scope for a token that is too narrow."""
from __future__ import annotations

import re

import pytest

from ocicache.http import routes

from ..api.helpers import MISSING, error_code, push_image, sha
from .conftest import ACL, Authed, basic, bearer

DIGEST = "sha256:" + "a" * 64
# (method, path, action) for every route of the API, on repository team/app
ROUTES = [
    ("GET", "/v2/team/app/blobs/" + DIGEST, "pull"),
    ("HEAD", "/v2/team/app/blobs/" + DIGEST, "pull"),
    ("DELETE", "/v2/team/app/blobs/" + DIGEST, "delete"),
    ("GET", "/v2/team/app/manifests/latest", "pull"),
    ("HEAD", "/v2/team/app/manifests/latest", "pull"),
    ("PUT", "/v2/team/app/manifests/latest", "push"),
    ("DELETE", "/v2/team/app/manifests/" + DIGEST, "delete"),
    ("GET", "/v2/team/app/tags/list", "pull"),
    ("GET", "/v2/team/app/referrers/" + DIGEST, "pull"),
    ("POST", "/v2/team/app/blobs/uploads/", "push"),
    ("GET", "/v2/team/app/blobs/uploads/" + "0" * 32, "push"),
    ("PATCH", "/v2/team/app/blobs/uploads/" + "0" * 32, "push"),
    ("PUT", "/v2/team/app/blobs/uploads/" + "0" * 32 + "?digest=" + DIGEST, "push"),
    ("DELETE", "/v2/team/app/blobs/uploads/" + "0" * 32, "push"),
]
CHALLENGE = re.compile(r'Bearer realm="(?P<realm>[^"]+)",service="(?P<service>[^"]+)"(?:,scope="(?P<scope>[^"]+)")?'
                       r'(?:,error="(?P<error>[^"]+)")?(?:,error_description="[^"]+")?')


def challenge(resp) -> dict:
    match = CHALLENGE.fullmatch(resp.headers["WWW-Authenticate"])
    assert match, resp.headers["WWW-Authenticate"]
    return match.groupdict()


async def token_for(client, scope: str | list[str] | None, user: str | None = None, password=None) -> str:
    scopes = [scope] if isinstance(scope, str) else (scope or [])
    params = [("service", "ocicache")] + [("scope", s) for s in scopes]
    resp = await client.get("/token", params=params, headers=basic(user, password) if user else {})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["token"] == body["access_token"]
    return body["token"]


def test_every_routed_handler_has_an_access():
    for _pattern, methods in routes.ROUTES:
        for handler in methods.values():
            assert handler in routes.ACCESS, handler


async def test_base_without_credentials_is_401_with_bearer_challenge(aclient):
    resp = await aclient.get("/v2/")
    assert resp.status == 401
    assert await error_code(resp) == "UNAUTHORIZED"
    got = challenge(resp)
    host = f"{aclient.server.host}:{aclient.server.port}"
    assert got == {"realm": f"http://{host}/token", "service": "ocicache", "scope": None, "error": None}
    assert resp.headers["Cache-Control"] == "no-store"


async def test_realm_can_be_fixed_by_config(make_client):
    client = await make_client(realm="https://auth.example/token")
    assert challenge(await client.get("/v2/"))["realm"] == "https://auth.example/token"


async def test_realm_ignores_a_hostile_host_header(aclient):
    resp = await aclient.get("/v2/", headers={"Host": 'evil",error="x'})
    assert resp.status in (400, 401)
    if resp.status == 401:
        assert challenge(resp)["realm"] == "http://localhost/token"


@pytest.mark.parametrize("method,path,action", ROUTES)
async def test_every_route_without_credentials_is_401_with_scope(aclient, method, path, action):
    resp = await aclient.request(method, path)
    assert resp.status == 401
    got = challenge(resp)
    want = "pull,push" if action == "push" else action
    assert got["scope"] == f"repository:team/app:{want}"
    assert got["service"] == "ocicache"
    if method != "HEAD":
        assert await error_code(resp) == "UNAUTHORIZED"


async def test_catalog_without_credentials_is_401(make_client):
    client = await make_client(acl=ACL[1:])  # nothing for anonymous
    resp = await client.get("/v2/_catalog")
    assert resp.status == 401
    assert challenge(resp)["scope"] == "registry:catalog:*"


@pytest.mark.parametrize("method,path,action", ROUTES)
async def test_every_route_denies_a_user_without_the_right(aclient, method, path, action):
    resp = await aclient.request(method, path, headers=basic("carol"))  # carol: only pull on team/secret
    assert resp.status == 403
    if method != "HEAD":
        assert await error_code(resp) == "DENIED"


@pytest.mark.parametrize("method,path,action", ROUTES)
async def test_every_route_with_a_token_lacking_the_scope(aclient, method, path, action):
    token = await token_for(aclient, "repository:other/repo:pull", "alice")
    resp = await aclient.request(method, path, headers=bearer(token))
    if action == "delete":  # alice may never delete: 403 DENIED, still saying which scope is needed
        assert resp.status == 403
    else:  # alice could get the scope: 401 so that the client fetches a wider token
        assert resp.status == 401
    got = challenge(resp)
    assert got["error"] == "insufficient_scope"
    assert got["scope"] == f"repository:team/app:{'pull,push' if action == 'push' else action}"


async def test_wrong_password_is_401_and_right_password_is_200(aclient):
    assert (await aclient.get("/v2/", headers=basic("alice", "nope"))).status == 401
    assert (await aclient.get("/v2/", headers=basic("nobody", "nope"))).status == 401
    assert (await aclient.get("/v2/", headers={"Authorization": "Basic %%%"})).status == 401
    assert (await aclient.get("/v2/", headers={"Authorization": "Digest x"})).status == 401
    resp = await aclient.get("/v2/", headers=basic("alice"))
    assert resp.status == 200
    assert await resp.json() == {}


async def test_login_flow_challenge_token_retry_push_and_pull(aclient):
    """What docker login / push / pull do: 401, token for the challenged scope, retry."""
    resp = await aclient.get("/v2/")
    realm = challenge(resp)["realm"]
    assert realm.endswith("/token")
    login = await token_for(aclient, None, "alice")
    assert (await aclient.get("/v2/", headers=bearer(login))).status == 200

    resp = await aclient.post("/v2/team/app/blobs/uploads/", headers=bearer(login))
    scope = challenge(resp)["scope"]
    assert resp.status == 401 and scope == "repository:team/app:pull,push"
    token = await token_for(aclient, scope, "alice")

    image = await push_image(Authed(aclient, bearer(token)), "team/app", "v1")
    resp = await aclient.get(f"/v2/team/app/manifests/{image.digest}", headers=bearer(token))
    assert resp.status == 200 and sha(await resp.read()) == image.digest
    resp = await aclient.get(f"/v2/team/app/blobs/{image.layer}", headers=bearer(token))
    assert resp.status == 200
    assert resp.headers["Cache-Control"].startswith("private")  # not for shared caches with auth on
    resp = await aclient.get(f"/v2/team/app/blobs/{MISSING}", headers=bearer(token))
    assert resp.status == 404  # allowed, and simply not there


async def test_token_grants_only_the_allowed_subset(aclient):
    from ocicache.auth.guard import GATE

    service = aclient.app[GATE].tokens
    token = await token_for(aclient, ["repository:team/app:pull,push,delete", "repository:secret/x:pull",
                                      "repository:public/lib:pull,push", "registry:catalog:*",
                                      "repository:Bad..Name:pull", "junk"], "alice")
    granted = {(a.name, a.action) for a in service.verify(token).access}
    assert granted == {("team/app", "pull"), ("team/app", "push"), ("public/lib", "pull"),
                       ("public/lib", "push"), ("catalog", "*")}


async def test_anonymous_token_gets_what_anonymous_may(aclient):
    token = await token_for(aclient, ["repository:public/lib:pull,push", "repository:team/app:pull"])
    resp = await aclient.get("/v2/public/lib/tags/list", headers=bearer(token))
    assert resp.status == 404  # allowed; the repository is empty
    resp = await aclient.get("/v2/team/app/tags/list", headers=bearer(token))
    assert resp.status == 401 and challenge(resp)["error"] == "insufficient_scope"


async def test_anonymous_pull_where_the_acl_allows_needs_no_token(aclient):
    assert (await aclient.get("/v2/public/lib/tags/list")).status == 404
    assert (await aclient.post("/v2/public/lib/blobs/uploads/")).status == 401


async def test_token_endpoint_refuses_bad_credentials_and_other_services(aclient):
    resp = await aclient.get("/token", params={"service": "ocicache"}, headers=basic("alice", "wrong"))
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Basic ")
    assert resp.headers["Cache-Control"] == "no-store"
    resp = await aclient.get("/token", params={"service": "elsewhere"}, headers=basic("alice"))
    assert resp.status == 400


async def test_token_response_shape(aclient):
    resp = await aclient.get("/token", params={"service": "ocicache", "scope": "repository:team/a:pull"},
                             headers=basic("bob"))
    body = await resp.json()
    assert set(body) == {"token", "access_token", "expires_in", "issued_at"}
    assert body["expires_in"] == 300
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["issued_at"])
    assert resp.headers["Cache-Control"] == "no-store"


async def test_oauth2_password_grant(aclient):
    resp = await aclient.post("/token", data={"grant_type": "password", "username": "alice",
                                              "password": "alice-pw", "service": "ocicache",
                                              "scope": "repository:team/a:pull repository:x/y:push",
                                              "client_id": "test"})
    assert resp.status == 200
    body = await resp.json()
    assert body["scope"] == "repository:team/a:pull"
    assert body["token_type"] == "Bearer"
    assert (await aclient.get("/v2/team/a/tags/list", headers=bearer(body["access_token"]))).status == 404
    resp = await aclient.post("/token", data={"grant_type": "password", "username": "alice", "password": "x"})
    assert resp.status == 401
    resp = await aclient.post("/token", data={"grant_type": "refresh_token", "refresh_token": "x"})
    assert resp.status == 400 and (await resp.json())["error"] == "unsupported_grant_type"


async def test_catalog_lists_only_what_the_caller_may_pull(aclient):
    admin = basic("admin")
    for repo in ("team/app", "team/secret", "public/lib", "private/x"):
        await push_image(Authed(aclient, admin), repo, "v1")

    async def catalog(headers):
        resp = await aclient.get("/v2/_catalog", headers=headers)
        assert resp.status == 200, await resp.text()
        return (await resp.json())["repositories"]

    assert await catalog(admin) == ["private/x", "public/lib", "team/app", "team/secret"]
    assert await catalog(basic("alice")) == ["public/lib", "team/app", "team/secret"]
    assert await catalog(basic("carol")) == ["public/lib", "team/secret"]
    assert await catalog({}) == ["public/lib"]  # the ACL gives anonymous something
    token = await token_for(aclient, "registry:catalog:*", "carol")
    assert await catalog(bearer(token)) == ["public/lib", "team/secret"]
    narrow = await token_for(aclient, "repository:team/secret:pull", "carol")
    resp = await aclient.get("/v2/_catalog", headers=bearer(narrow))
    assert resp.status == 401 and challenge(resp)["scope"] == "registry:catalog:*"


async def test_mount_from_a_repository_the_caller_may_not_pull_falls_back_to_upload(aclient):
    admin = basic("admin")
    image = await push_image(Authed(aclient, admin), "private/x", "v1")
    resp = await aclient.post("/v2/team/app/blobs/uploads/", params={"mount": image.layer, "from": "private/x"},
                              headers=basic("alice"))
    assert resp.status == 202  # a new session, not the private blob
    resp = await aclient.post("/v2/team/app/blobs/uploads/", params={"mount": image.layer, "from": "private/x"},
                              headers=admin)
    assert resp.status == 201
