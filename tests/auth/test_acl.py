"""The ACL: glob semantics, configuration errors, and the whole matrix user x repository x
action on the small config in conftest, through Basic credentials and through tokens."""
from __future__ import annotations

import itertools

import pytest

from ocicache import config
from ocicache.auth.acl import Acl, AclError, glob_to_regex
from ocicache.auth.guard import GATE

from .conftest import basic, bearer
from .test_challenge import token_for

USERS = [None, "alice", "bob", "carol", "admin"]
REPOS = ["public/lib", "public/a/b", "team/app", "team/secret", "team/app/sub", "other/x"]
ACTIONS = ["pull", "push", "delete"]
# Written out by hand from conftest.ACL, not computed by the code under test.
EXPECTED = {
    None: {"public/lib": {"pull"}, "public/a/b": {"pull"}},
    "alice": {"public/lib": {"pull", "push"}, "public/a/b": {"pull", "push"}, "team/app": {"pull", "push"},
              "team/secret": {"pull", "push"}},
    "carol": {"public/lib": {"pull"}, "public/a/b": {"pull"}, "team/secret": {"pull"}},
    "admin": {repo: set(ACTIONS) for repo in REPOS},
}
EXPECTED["bob"] = EXPECTED["alice"]
DIGEST = "sha256:" + "b" * 64


def expected(user, repo, action) -> bool:
    return action in EXPECTED[user].get(repo, set())


async def attempt(client, headers, repo, action):
    if action == "pull":
        return await client.get(f"/v2/{repo}/tags/list", headers=headers)
    if action == "push":
        return await client.post(f"/v2/{repo}/blobs/uploads/", headers=headers)
    return await client.delete(f"/v2/{repo}/manifests/{DIGEST}", headers=headers)


ALLOWED_STATUS = {"pull": 404, "push": 202, "delete": 404}


async def test_matrix_with_basic_credentials(aclient):
    for user, repo, action in itertools.product(USERS, REPOS, ACTIONS):
        headers = basic(user) if user else {}
        resp = await attempt(aclient, headers, repo, action)
        if expected(user, repo, action):
            assert resp.status == ALLOWED_STATUS[action], (user, repo, action, resp.status)
        else:
            assert resp.status == (401 if user is None else 403), (user, repo, action, resp.status)


async def test_matrix_with_tokens(aclient):
    service = aclient.app[GATE].tokens
    for user, repo in itertools.product(USERS, REPOS):
        token = await token_for(aclient, f"repository:{repo}:pull,push,delete", user)
        granted = {a.action for a in service.verify(token).access if a.name == repo}
        assert granted == EXPECTED[user].get(repo, set()), (user, repo)
        for action in ACTIONS:
            resp = await attempt(aclient, bearer(token), repo, action)
            if expected(user, repo, action):
                assert resp.status == ALLOWED_STATUS[action], (user, repo, action, resp.status)
            else:
                assert resp.status in (401, 403), (user, repo, action, resp.status)


async def test_default_acl_lets_authenticated_users_pull_and_push_only(make_client):
    client = await make_client(acl=[], groups={})
    assert (await client.get("/v2/any/repo/tags/list", headers=basic("carol"))).status == 404
    assert (await client.post("/v2/any/repo/blobs/uploads/", headers=basic("carol"))).status == 202
    assert (await client.delete(f"/v2/any/repo/manifests/{DIGEST}", headers=basic("carol"))).status == 403
    assert (await client.get("/v2/any/repo/tags/list")).status == 401


@pytest.mark.parametrize("pattern,name,matches", [
    ("team/*", "team/app", True), ("team/*", "team/app/x", False), ("team/**", "team/app/x", True),
    ("team/**", "team", False), ("**", "a", True), ("a?c", "abc", True), ("a?c", "a/c", False),
    ("lib.x", "libax", False), ("*/base", "org/base", True), ("*/base", "org/sub/base", False),
])
def test_glob(pattern, name, matches):
    assert bool(glob_to_regex(pattern).fullmatch(name)) is matches


@pytest.mark.parametrize("rules,groups,message", [
    ([{"repository": "a/*", "who": ["x"]}], {}, "actions"),
    ([{"repository": "a/*", "who": [], "actions": ["pull"]}], {}, "who"),
    ([{"repository": "A/*", "who": ["x"], "actions": ["pull"]}], {}, "repository"),
    ([{"repository": "a", "who": ["x"], "actions": ["fly"]}], {}, "unknown action"),
    ([{"repository": "a", "who": ["group:nope"], "actions": ["pull"]}], {}, "group:nope"),
    ([{"repository": "a", "who": ["x"], "actions": ["pull"], "extra": 1}], {}, "unknown keys"),
    (["not a table"], {}, "table"),
    ([], {"g": "alice"}, "list of user names"),
])
def test_bad_rules_are_refused(rules, groups, message):
    with pytest.raises(AclError, match=message):
        Acl(rules, groups)


def test_bad_acl_in_a_config_file_fails_config_check(tmp_path, auth_files):
    path = tmp_path / "node.toml"
    path.write_text(f'''
[auth]
htpasswd = "{auth_files['htpasswd']}"

[[auth.acl]]
repository = "a/**"
who = ["group:missing"]
actions = ["pull"]
''')
    with pytest.raises(config.ConfigError, match="group:missing"):
        config.load(path, env={})


def test_acl_and_groups_from_a_config_file(tmp_path, auth_files):
    path = tmp_path / "node.toml"
    path.write_text(f'''
[auth]
htpasswd = "{auth_files['htpasswd']}"
token_key = "{auth_files['key']}"

[auth.groups]
devs = ["alice"]

[[auth.acl]]
repository = "team/**"
who = ["group:devs", "anonymous"]
actions = ["pull"]
''')
    cfg = config.load(path, env={})
    acl = Acl(cfg.auth.acl, cfg.auth.groups)
    assert acl.allows("alice", "team/x", "pull") and acl.allows(None, "team/x", "pull")
    assert not acl.allows("bob", "team/x", "pull") and not acl.allows("alice", "team/x", "push")
    assert cfg.auth.enabled and cfg.ratelimit_enabled


def test_missing_files_fail_config_check(tmp_path):
    with pytest.raises(config.ConfigError, match="htpasswd"):
        config.load(env={}, overrides={"auth": {"htpasswd": str(tmp_path / "nope")}})
    with pytest.raises(config.ConfigError, match="key file"):
        config.load(env={}, overrides={"auth": {"token_key": str(tmp_path / "nope")}})
    (tmp_path / "plain").write_text("alice:secret\n")
    with pytest.raises(config.ConfigError, match="bcrypt"):
        config.load(env={}, overrides={"auth": {"htpasswd": str(tmp_path / "plain")}})
    (tmp_path / "notkey").write_text("-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n")
    with pytest.raises(config.ConfigError, match="key file"):
        config.load(env={}, overrides={"auth": {"token_key": str(tmp_path / "notkey")}})


def test_auth_is_off_by_default():
    cfg = config.load(env={})
    assert not cfg.auth.enabled and not cfg.ratelimit_enabled and not cfg.tls.cert


def test_environment_turns_auth_on(auth_files):
    cfg = config.load(env={"OCICACHE_AUTH_HTPASSWD": str(auth_files["htpasswd"]),
                           "OCICACHE_AUTH_VERIFY_KEYS": f"{auth_files['key']}.pub, {auth_files['other_key']}.pub"})
    assert cfg.auth.enabled
    assert cfg.auth.verify_keys == (f"{auth_files['key']}.pub", f"{auth_files['other_key']}.pub")
