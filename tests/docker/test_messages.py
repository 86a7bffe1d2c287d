"""What `docker` prints when a pull or push fails: a missing tag, a denied push, an origin that
is down. Each message must name the repository and say what to do, not just give a status."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from ..distribution import write_htpasswd
from ..nodeproc import NodeProcess
from .helpers import load, push, tiny_layout

pytestmark = pytest.mark.docker
ACL = """
[[auth.acl]]
repository = "**"
who = ["authenticated"]
actions = ["pull"]

[[auth.acl]]
repository = "team/**"
who = ["alice"]
actions = ["pull", "push"]
"""


def failed(docker, *args: str) -> str:
    """docker's stderr for a command that must fail."""
    result = docker.attempt(*args)
    assert result.returncode != 0, f"docker {' '.join(args)} succeeded:\n{result.stdout}"
    print(f"$ docker {' '.join(args)}\n{result.stderr.strip()}")     # shown with -rP
    return result.stderr.strip()


@pytest.fixture(scope="module")
def auth_node(tmp_path_factory):
    """A node with htpasswd logins, a token service and an ACL: alice may push team/**, every
    logged-in user may pull, nobody else may push."""
    base = tmp_path_factory.mktemp("authnode")
    write_htpasswd(base / "htpasswd", {"alice": "alice-pw", "bob": "bob-pw"})
    keygen = subprocess.run([sys.executable, "-m", "ocicache", "token", "keygen", str(base / "token.pem")],
                            capture_output=True, text=True)
    assert keygen.returncode == 0, keygen.stderr
    (base / "acl.toml").write_text(ACL)
    node = NodeProcess(base / "node", "--htpasswd", str(base / "htpasswd"), "--token-key", str(base / "token.pem"),
                       "--config", str(base / "acl.toml"))
    node.start()
    yield node
    node.stop()
    shutil.rmtree(base, ignore_errors=True)


def test_missing_tag_names_the_repository_and_where_the_tags_are(docker, origin, tmp_path):
    ref = f"{origin.hostport}/dk/msg-tag:v1"
    load(docker, tiny_layout(tmp_path / "src"), ref, tmp_path)
    push(docker, ref)
    err = failed(docker, "pull", f"{origin.hostport}/dk/msg-tag:v2")
    assert "manifest unknown" in err and "tag 'v2' is not in repository dk/msg-tag" in err, err
    assert "/v2/dk/msg-tag/tags/list" in err and "push that tag first" in err, err


def test_missing_tag_through_an_edge_names_the_origin(docker, origin, make_edge):
    edge = make_edge(origin.url)
    err = failed(docker, "pull", f"{edge.hostport}/dk/msg-nothing:v9")
    assert "manifest v9 is not in repository dk/msg-nothing" in err and origin.url in err, err
    assert "/v2/dk/msg-nothing/tags/list" in err, err


def test_anonymous_push_is_told_to_log_in(docker, auth_node, tmp_path):
    ref = f"{auth_node.hostport}/team/app:v1"
    load(docker, tiny_layout(tmp_path / "src"), ref, tmp_path)
    err = failed(docker, "push", ref)
    assert "authentication required to push team/app" in err, err
    assert f"docker login {auth_node.hostport}" in err, err


def test_push_without_the_right_names_user_and_repository(docker, auth_node, tmp_path):
    ref = f"{auth_node.hostport}/other/app:v1"
    load(docker, tiny_layout(tmp_path / "src"), ref, tmp_path)
    docker.login(auth_node.hostport, "bob", "bob-pw")
    err = failed(docker, "push", ref)
    assert "denied: user bob may not push other/app" in err, err
    assert "ask the registry's operator for push access" in err, err

    docker.login(auth_node.hostport, "alice", "alice-pw")   # the same image, by a user who may
    allowed = f"{auth_node.hostport}/team/app:v1"
    docker.run("tag", ref, allowed)
    push(docker, allowed)


def test_push_to_a_read_only_mirror_says_where_to_push(docker, tmp_path):
    mirror = NodeProcess(tmp_path / "mirror", "--upstream", "docker.io=http://127.0.0.1:9")
    mirror.start()
    try:
        ref = f"{mirror.hostport}/team/app:v1"
        load(docker, tiny_layout(tmp_path / "src"), ref, tmp_path)
        err = failed(docker, "push", ref)
    finally:
        mirror.stop()
    assert "denied:" in err and "team/app" in err and "read-only" in err, err


def test_cold_pull_with_the_origin_down(docker, make_edge, tmp_path):
    origin = NodeProcess(tmp_path / "origin")
    origin.start()
    try:
        ref = f"{origin.hostport}/dk/msg-down:v1"
        load(docker, tiny_layout(tmp_path / "src"), ref, tmp_path)
        push(docker, ref)
        edge = make_edge(origin.url)
    finally:
        origin.stop()
    err = failed(docker, "pull", f"{edge.hostport}/dk/msg-down:v1")
    assert "503" in err and origin.url in err and "/v2/dk/msg-down/manifests/v1" in err, err
    assert "check that the origin is up and reachable from this node" in err, err
