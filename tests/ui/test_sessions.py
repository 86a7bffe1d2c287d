"""Signing in to the UI, over HTTP against the app (`make_app`, as served): the form is all an
anonymous viewer gets, the POST is checked like the API's Basic auth (same failed-login budget)
and refused from another site, the cookie is HttpOnly and SameSite=Strict and holds a token
that grants nothing on the API (or an HMAC session on a node without a token key), and the ACL
decides which repositories a signed-in user sees."""
from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import stat
import urllib.parse

import jwt
import pytest

from ocicache import config
from ocicache.app import RELOAD, make_app
from ocicache.auth import tokens
from ocicache.ui import session as ui_session

from ..api.helpers import push_image
from ..auth.test_tls import self_signed
from ..nodeproc import NodeProcess
from .users import ACL, PASSWORDS, write_htpasswd

REPOS = ["demo/app", "demo/multi", "team/r1"]


def basic(user: str, password: str | None = None) -> dict[str, str]:
    password = PASSWORDS[user] if password is None else password
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class AsAdmin:
    """The test client with admin's Basic credentials on every request (for push_image)."""

    def __init__(self, client) -> None:
        self.client = client

    def __getattr__(self, name):
        method = getattr(self.client, name)
        return lambda *a, headers=None, **k: method(*a, headers={**(headers or {}), **basic("admin")}, **k)


@pytest.fixture
def files(tmp_path):
    key = tmp_path / "token.pem"
    tokens.keygen(key)
    return {"htpasswd": write_htpasswd(tmp_path / "htpasswd"), "key": key}


def auth_config(tmp_path, files, token_key: bool = True, **ratelimit):
    auth = {"htpasswd": str(files["htpasswd"]), "acl": ACL}
    if token_key:
        auth["token_key"] = str(files["key"])
    overrides = {"storage": {"data_dir": str(tmp_path / "data")}, "auth": auth}
    if ratelimit:
        overrides["ratelimit"] = ratelimit
    return config.load(env={}, overrides=overrides)


async def started(aiohttp_client, cfg):
    client = await aiohttp_client(make_app(cfg))
    client.session.cookie_jar.clear()
    for repo in REPOS:
        await push_image(AsAdmin(client), repo, "v1")
    return client


@pytest.fixture
async def client(aiohttp_client, tmp_path, files):
    return await started(aiohttp_client, auth_config(tmp_path, files))


def origin_of(client) -> str:
    return str(client.make_url("/")).rstrip("/")


async def sign_in(client, user: str, password: str | None = None, next_path: str | None = None, origin=True,
                  fetch_site: str | None = None):
    form = {"username": user, "password": PASSWORDS[user] if password is None else password}
    if next_path is not None:
        form["next"] = next_path
    headers = {"Origin": origin_of(client)} if origin is True else {"Origin": origin} if origin else {}
    if fetch_site is not None:
        headers["Sec-Fetch-Site"] = fetch_site
    resp = await client.post("/ui/login", data=form, headers=headers, allow_redirects=False)
    client.session.cookie_jar.clear()  # each request below sends the cookie it means to
    return resp


async def cookie_of(client, user: str) -> dict[str, str]:
    resp = await sign_in(client, user)
    assert resp.status == 303, await resp.text()
    return {"Cookie": f"{ui_session.COOKIE}={resp.cookies[ui_session.COOKIE].value}"}


async def get(client, path: str, headers=None):
    resp = await client.get(path, headers=headers or {}, allow_redirects=False)
    client.session.cookie_jar.clear()
    return resp, await resp.text()


async def test_an_anonymous_viewer_gets_the_login_form_and_nothing_else(client):
    for path in ("/ui/", "/ui/cache", "/ui/r/demo/app/", "/ui/r/nothing/", "/ui/r/demo/app/-/m/v1"):
        resp, _ = await get(client, path)
        assert resp.status == 303, path
        want = "/ui/login" if path == "/ui/" else f"/ui/login?next={path}"
        assert resp.headers["Location"] == want
    resp, body = await get(client, "/ui/login?next=/ui/r/demo/app/")
    assert resp.status == 200 and '<form class="login" method="post" action="/ui/login">' in body
    assert 'name="next" value="/ui/r/demo/app/"' in body
    assert "<nav>" not in body and all(repo not in body.replace('value="/ui/r/demo/app/"', "") for repo in REPOS)


@pytest.mark.parametrize("origin, fetch_site", [(None, None), ("http://evil.example", None), ("null", None),
                                                 ("null", "cross-site"), ("null", "same-site"),
                                                 ("http://evil.example", "same-origin"), (None, "same-origin")])
async def test_sign_in_is_refused_unless_the_browser_says_it_comes_from_this_site(client, origin, fetch_site):
    resp = await sign_in(client, "alice", origin=origin, fetch_site=fetch_site)
    body = await resp.text()
    assert resp.status == 403 and "Origin" in body, body
    assert ui_session.COOKIE not in resp.cookies


async def test_a_null_origin_with_same_origin_fetch_metadata_signs_in(client):
    """Chromium's form POST from a no-referrer page: `Origin: null`, `Sec-Fetch-Site: same-origin`."""
    resp = await sign_in(client, "alice", origin="null", fetch_site="same-origin")
    assert resp.status == 303 and ui_session.COOKIE in resp.cookies


async def test_the_cookie_is_strict_and_its_token_grants_nothing_on_the_api(client):
    resp = await sign_in(client, "alice", next_path="/ui/r/demo/app/")
    assert resp.status == 303 and resp.headers["Location"] == "/ui/r/demo/app/"
    header = resp.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/ui" in header
    assert "Secure" not in header  # served over plain HTTP here
    token = resp.cookies[ui_session.COOKIE].value
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["access"] == []
    api = await client.get("/v2/demo/app/tags/list", headers={"Authorization": f"Bearer {token}"})
    assert api.status == 401  # a pull needs a token that grants it


async def test_a_user_sees_only_the_repositories_the_acl_lets_them_pull(client):
    alice = await cookie_of(client, "alice")
    resp, body = await get(client, "/ui/", alice)
    assert resp.status == 200 and "demo/app" in body and "demo/multi" not in body and "team/r1" not in body
    assert "signed in as <b>alice</b>" in body
    hidden, hidden_body = await get(client, "/ui/r/demo/multi/", alice)
    absent, absent_body = await get(client, "/ui/r/demo/none/", alice)
    assert hidden.status == absent.status == 404
    assert hidden_body == absent_body.replace("demo/none", "demo/multi")  # the same answer as for nothing
    hidden, hidden_body = await get(client, "/ui/r/demo/multi/-/m/v1", alice)
    absent, absent_body = await get(client, "/ui/r/demo/none/-/m/v1", alice)
    assert hidden.status == absent.status == 404
    assert hidden_body == absent_body.replace("demo/none", "demo/multi")
    resp, body = await get(client, "/ui/r/demo/app/-/m/v1", alice)
    assert resp.status == 200 and "docker pull" in body
    bob = await cookie_of(client, "bob")
    _, body = await get(client, "/ui/", bob)
    assert all(repo in body for repo in REPOS)


async def test_a_wrong_password_gets_the_form_again(client):
    resp = await sign_in(client, "alice", "wrong")
    body = await resp.text()
    assert resp.status == 401 and "Incorrect user name or password." in body and 'value="alice"' in body
    assert ui_session.COOKIE not in resp.cookies


async def test_failed_sign_ins_spend_the_apis_failed_login_budget(aiohttp_client, tmp_path, files):
    cfg = auth_config(tmp_path, files, auth_failures_per_user_per_minute=2)
    client = await started(aiohttp_client, cfg)
    for _ in range(2):
        assert (await sign_in(client, "alice", "wrong")).status == 401
    resp = await sign_in(client, "alice")  # the right password, past the budget
    body = await resp.text()
    assert resp.status == 429 and "too many failed logins for user alice" in body and resp.headers["Retry-After"]
    assert resp.headers["Content-Type"].startswith("text/html")
    api = await client.get("/v2/demo/app/tags/list", headers=basic("alice"))
    assert api.status == 429  # one budget for the UI and the API


@pytest.mark.parametrize("next_path", ["//evil.example/x", "https://evil.example/", "/v2/_catalog", "/ui/\\\\evil"])
async def test_after_sign_in_the_browser_stays_on_the_ui(client, next_path):
    resp = await sign_in(client, "bob", next_path=next_path)
    assert resp.status == 303 and resp.headers["Location"] == "/ui/"


async def test_sign_out_clears_the_cookie(client):
    bob = await cookie_of(client, "bob")
    resp, _ = await get(client, "/ui/logout", bob)
    assert resp.status == 303 and resp.headers["Location"] == "/ui/login"
    assert resp.cookies[ui_session.COOKIE].value == "" and resp.cookies[ui_session.COOKIE]["max-age"] == "0"


async def test_without_a_token_key_the_session_is_signed_with_the_nodes_own_key(aiohttp_client, tmp_path, files):
    cfg = auth_config(tmp_path, files, token_key=False)
    client = await started(aiohttp_client, cfg)
    alice = await cookie_of(client, "alice")
    value = alice["Cookie"].split("=", 1)[1]
    assert value.count(".") == 1
    key = cfg.data_path / "auth" / "ui-session.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600 and len(key.read_bytes()) == 32
    resp, body = await get(client, "/ui/", alice)
    assert resp.status == 200 and "signed in as <b>alice</b>" in body
    payload, mac = value.split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"sub": "bob", "exp": 4102444800}).encode()).rstrip(b"=").decode()
    for bad in (f"{forged}.{mac}", f"{payload}.{mac[:-2]}AA", "garbage", f"{payload}."):
        resp, _ = await get(client, "/ui/", {"Cookie": f"{ui_session.COOKIE}={bad}"})
        assert resp.status == 303 and resp.headers["Location"] == "/ui/login", bad


async def test_a_session_past_half_its_life_is_renewed(aiohttp_client, tmp_path, files, monkeypatch):
    client = await started(aiohttp_client, auth_config(tmp_path, files, token_key=False))
    monkeypatch.setattr(ui_session, "SESSION_S", 20)
    short = await cookie_of(client, "alice")
    monkeypatch.setattr(ui_session, "SESSION_S", 3600)  # 20 s left of 3600: renewed
    resp, _ = await get(client, "/ui/", short)
    assert resp.status == 200, dict(resp.headers)
    renewed = resp.cookies[ui_session.COOKIE]
    assert "HttpOnly" in resp.headers["Set-Cookie"] and "SameSite=Strict" in resp.headers["Set-Cookie"]
    assert renewed["max-age"] == "3600" and renewed.value != short["Cookie"].split("=", 1)[1]
    resp, _ = await get(client, "/ui/logout", short)  # signing out is not undone by a renewal
    assert resp.cookies[ui_session.COOKIE].value == ""


async def test_with_auth_off_there_is_no_sign_in(aiohttp_client, tmp_path):
    client = await aiohttp_client(make_app(config.load(env={}, overrides={"storage": {"data_dir": str(tmp_path)}})))
    resp, _ = await get(client, "/ui/login")
    assert resp.status == 303 and resp.headers["Location"] == "/ui/"
    resp, body = await get(client, "/ui/")
    assert resp.status == 200 and "signed in" not in body and "sign out" not in body


def test_over_tls_the_cookie_is_secure(tmp_path, files):
    cert, key = self_signed(tmp_path)
    node = NodeProcess(tmp_path / "node", tls=True, env={
        "OCICACHE_TLS_CERT": str(cert), "OCICACHE_TLS_KEY": str(key), "OCICACHE_AUTH_HTPASSWD": str(files["htpasswd"])})
    node.start()
    try:
        conn = http.client.HTTPSConnection("127.0.0.1", node.port, context=ssl._create_unverified_context(), timeout=10)
        body = urllib.parse.urlencode({"username": "alice", "password": PASSWORDS["alice"]})
        conn.request("POST", "/ui/login", body=body, headers={
            "Origin": node.url, "Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        assert resp.status == 303
        cookie = resp.getheader("Set-Cookie")
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie, cookie
    finally:
        node.stop()


async def test_a_page_reads_a_bounded_stretch_of_the_catalog_when_the_acl_hides_most(aiohttp_client, tmp_path,
                                                                                    files):
    """alice may pull demo/app only, which sorts after 50 names she may not: with n=1 a page reads
    at most SCAN_BATCHES catalog pages of 2, then links on from where it stopped."""
    client = await started(aiohttp_client, auth_config(tmp_path, files))
    for i in range(50):
        await push_image(AsAdmin(client), f"a{i:02d}", "v1")
    alice = await cookie_of(client, "alice")
    resp, body = await get(client, "/ui/?n=1", alice)
    assert resp.status == 200 and "None you may pull in this part of the catalog" in body
    assert 'rel="next" href="/ui/?n=1&amp;last=a39"' in body  # 20 batches of 2 names read: a00 .. a39
    resp, body = await get(client, "/ui/?n=1&last=a39", alice)
    assert '<a href="/ui/r/demo/app/">demo/app</a>' in body and 'rel="next"' not in body


async def test_a_user_taken_out_of_the_htpasswd_file_loses_the_session_on_reload(aiohttp_client, tmp_path, files):
    cfg = auth_config(tmp_path, files, token_key=False)
    client = await started(aiohttp_client, cfg)
    alice, bob = await cookie_of(client, "alice"), await cookie_of(client, "bob")
    fewer = tmp_path / "htpasswd-without-alice"
    fewer.write_text("".join(line + "\n" for line in files["htpasswd"].read_text().splitlines()
                             if not line.startswith("alice:")))
    new = cfg.replace(auth={"htpasswd": str(fewer), "acl": ACL})
    swaps = [hook(new) for hook in client.server.app[RELOAD].hooks]  # what SIGHUP does (service/reload.py)
    for swap in swaps:
        swap()
    resp, _ = await get(client, "/ui/", alice)
    assert resp.status == 303 and resp.headers["Location"] == "/ui/login"
    resp, _ = await get(client, "/ui/", bob)
    assert resp.status == 200
