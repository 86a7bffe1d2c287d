"""An edge in front of a protected registry origin (issue 15): `[origin] username` with
`password` or `password_file` (and `token_realms` for a token service on another port).
Pulls and pushes through the edge carry the edge's credentials, Basic (distribution with
htpasswd) or the token flow (distribution with `auth: token`, tests/tokenissuer.py as realm);
a client pushing to an edge with auth on is authorised by the edge's ACL; wrong credentials
are refused at the first request (the POST), naming the origin and the setting to fix."""
from __future__ import annotations

import base64
import json
import os

import pytest

from ocicache.auth.htpasswd import hash_password
from ocicache.commands import build_parser
from ocicache.config import ConfigError, load

from ..distribution import Distribution
from ..nodeproc import NodeProcess
from ..ocisync import OCI_MANIFEST, request, sha
from ..tokenissuer import TokenIssuer
from .conftest import EDGE_ENV
from .origins import push_blob, push_image

ORIGIN_USERS = {"edge-bot": "origin-secret-1"}
EDGE_USERS = {"bob": "bob-pw", "carol": "carol-pw"}
ACL = """
[[auth.acl]]
repository = "**"
who = ["authenticated"]
actions = ["pull"]

[[auth.acl]]
repository = "team/**"
who = ["bob"]
actions = ["pull", "push"]
"""


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def error_of(body: bytes) -> dict:
    return json.loads(body)["errors"][0]


@pytest.fixture(scope="module")
def htpasswd_origin(tmp_path_factory):
    registry = Distribution(tmp_path_factory.mktemp("basic-origin"), auth="htpasswd", users=ORIGIN_USERS).start()
    yield registry
    registry.stop()


@pytest.fixture(scope="module")
def issuer(tmp_path_factory):
    issuer = TokenIssuer(tmp_path_factory.mktemp("issuer"), ORIGIN_USERS).start()
    yield issuer
    issuer.stop()


@pytest.fixture(scope="module")
def token_origin(tmp_path_factory, issuer):
    registry = Distribution(tmp_path_factory.mktemp("token-origin"), auth="token", issuer=issuer).start()
    yield registry
    registry.stop()


@pytest.fixture
def edge_of(tmp_path):
    """edge_of(origin_url, password, *args, **env): a started edge with `[origin]` credentials
    for edge-bot, its password in a file."""
    started = []

    def make(origin_url: str, password: str, *args: str, **env: str) -> NodeProcess:
        secret = tmp_path / f"origin-password-{len(started)}"
        secret.write_text(password + "\n")
        secret.chmod(0o600)
        node = NodeProcess(tmp_path / f"edge-{len(started)}", "--origin", origin_url, *args,
                           env={**EDGE_ENV, "OCICACHE_ORIGIN_USERNAME": "edge-bot",
                                "OCICACHE_ORIGIN_PASSWORD_FILE": str(secret), **env})
        node.start()
        started.append(node)
        return node

    yield make
    for node in started:
        node.stop()


def pull(url: str, repo: str, tag: str, headers: dict | None = None) -> tuple[str, list[bytes]]:
    """(manifest digest, blob bodies) of an image pulled by tag."""
    status, got, body = request(url, "GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST,
                                                                                     **(headers or {})})
    assert status == 200, (status, body)
    manifest = json.loads(body)
    blobs = []
    for descriptor in [manifest["config"], *manifest["layers"]]:
        status, _, blob = request(url, "GET", f"/v2/{repo}/blobs/{descriptor['digest']}", headers=headers)
        assert status == 200 and sha(blob) == descriptor["digest"], (status, descriptor)
        blobs.append(blob)
    return sha(body), blobs


def test_basic_origin_push_and_pull_through_an_edge_with_its_own_acl(tmp_path, htpasswd_origin, edge_of):
    edge_htpasswd = tmp_path / "edge.htpasswd"
    edge_htpasswd.write_text("".join(f"{user}:{hash_password(pw, rounds=4)}\n" for user, pw in EDGE_USERS.items()))
    (tmp_path / "acl.toml").write_text(ACL)
    edge = edge_of(htpasswd_origin.url, ORIGIN_USERS["edge-bot"], "--htpasswd", str(edge_htpasswd),
                   "--config", str(tmp_path / "acl.toml"))
    origin_creds = basic("edge-bot", ORIGIN_USERS["edge-bot"])
    # a pull: content pushed at the origin directly comes through the edge
    layer = os.urandom(50_000)
    want = push_image(htpasswd_origin.url, "team/base", "v1", layer, headers=origin_creds)
    digest, blobs = pull(edge.url, "team/base", "v1", basic("carol", "carol-pw"))
    assert digest == want and blobs[1] == layer
    # a push by bob (the edge's ACL lets him push to team/**) lands at the origin
    pushed = push_image(edge.url, "team/app", "v1", os.urandom(200_000), headers=basic("bob", "bob-pw"))
    assert pull(htpasswd_origin.url, "team/app", "v1", origin_creds)[0] == pushed
    # carol may pull but not push: refused by the edge, before the origin is asked
    status, _, body = request(edge.url, "POST", "/v2/team/app/blobs/uploads/", headers=basic("carol", "carol-pw"))
    assert status == 403 and error_of(body)["code"] == "DENIED", (status, body)
    # anonymous clients are asked to log in to the edge (its own challenge, not the origin's)
    status, got, body = request(edge.url, "POST", "/v2/team/app/blobs/uploads/")
    assert status == 401 and 'realm="test"' not in got.get("WWW-Authenticate", ""), (status, got, body)


def test_wrong_origin_password_is_refused_at_the_post_naming_origin_and_setting(htpasswd_origin, edge_of):
    edge = edge_of(htpasswd_origin.url, "not-the-password")
    status, _, body = request(edge.url, "POST", "/v2/team/wrong/blobs/uploads/")
    error = error_of(body)
    assert status == 403 and error["code"] == "DENIED", (status, body)
    assert htpasswd_origin.url in error["message"] and "[origin] username and password" in error["message"]
    assert "not-the-password" not in body.decode()
    status, _, body = request(edge.url, "GET", "/v2/team/base/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert status == 403 and "[origin] username" in error_of(body)["message"], (status, body)
    assert "not-the-password" not in (edge.log_path.read_text())


def test_token_origin_push_and_pull_as_the_edges_user(token_origin, issuer, edge_of):
    edge = edge_of(token_origin.url, ORIGIN_USERS["edge-bot"], OCICACHE_ORIGIN_TOKEN_REALMS=issuer.url)
    issuer.requests.clear()
    data = os.urandom(120_000)
    digest = push_blob(edge.url, "tok/app", data)
    manifest = push_image(edge.url, "tok/app", "v1", data)
    token = issuer.issue("edge-bot", ["repository:tok/app:pull"])
    status, _, body = request(token_origin.url, "GET", f"/v2/tok/app/blobs/{digest}",
                              headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and body == data
    assert pull(edge.url, "tok/app", "v1")[0] == manifest
    # the origin saw the edge's user, with the push scope, for every write
    assert issuer.requests and {user for user, _ in issuer.requests} == {"edge-bot"}, issuer.requests
    assert ("edge-bot", "repository:tok/app:pull,push") in issuer.requests


def test_wrong_password_at_the_token_service_is_refused_at_the_post(token_origin, issuer, edge_of):
    edge = edge_of(token_origin.url, "wrong", OCICACHE_ORIGIN_TOKEN_REALMS=issuer.url)
    status, _, body = request(edge.url, "POST", "/v2/tok/wrong/blobs/uploads/")
    error = error_of(body)
    assert status == 403 and error["code"] == "DENIED", (status, body)
    assert token_origin.url in error["message"] and issuer.url in error["message"]
    assert "[origin] username and password" in error["message"]


def test_token_service_not_listed_is_not_sent_the_credentials(token_origin, issuer, edge_of):
    edge = edge_of(token_origin.url, ORIGIN_USERS["edge-bot"])  # no [origin] token_realms
    issuer.requests.clear()
    status, _, body = request(edge.url, "POST", "/v2/tok/unlisted/blobs/uploads/")
    assert status == 502 and "[origin] token_realms" in error_of(body)["message"], (status, body)
    assert issuer.requests == []


def config_check(monkeypatch, capsys, **env: str) -> tuple[int, str]:
    """`ocicache config check --origin http://127.0.0.1:9` in this process: (exit code, its output)."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    args = build_parser().parse_args(["config", "check", "--origin", "http://127.0.0.1:9"])
    code = args.run(args)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_config_check_never_shows_the_origin_password(monkeypatch, capsys):
    code, out = config_check(monkeypatch, capsys, OCICACHE_ORIGIN_USERNAME="edge-bot",
                             OCICACHE_ORIGIN_PASSWORD="hunter2-secret")
    assert code == 0 and "as user edge-bot" in out and "hunter2" not in out, out
    # both set: refused, naming the keys and where they were set, never the value
    code, out = config_check(monkeypatch, capsys, OCICACHE_ORIGIN_PASSWORD_FILE="/nonexistent")
    assert code == 2 and "OCICACHE_ORIGIN_PASSWORD=(hidden)" in out and "hunter2" not in out, out


@pytest.mark.parametrize("origin_section, named", [
    ('username = "edge-bot"\npassword = 1234567', "expected a string"),      # coerced: the value is hidden
    ('password = "1234567"', "set username too"),
    ('username = "edge-bot"\npassword = "1234567"\npassword_file = "/x"', "keep one"),
    ('username = "edge-bot"\npassword_file = "/nonexistent/pw"', "/nonexistent/pw"),
    ('token_realms = ["ftp://auth.example"]', "expected https://host[:port]"),
])
def test_origin_credential_errors_name_the_key_never_the_secret(tmp_path, origin_section, named):
    path = tmp_path / "node.toml"
    path.write_text(f'[storage]\norigin = "http://127.0.0.1:9"\n\n[origin]\n{origin_section}\n')
    with pytest.raises(ConfigError) as info:
        load(path, env={})
    assert named in str(info.value) and "1234567" not in str(info.value), str(info.value)


def test_credentials_for_an_origin_that_is_not_a_registry_are_refused(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(env={"OCICACHE_STORAGE_DATA_DIR": str(tmp_path), "OCICACHE_ORIGIN_USERNAME": "edge-bot",
                  "OCICACHE_ORIGIN_PASSWORD": "1234567"})
    assert "not a registry" in str(info.value) and "1234567" not in str(info.value), str(info.value)
