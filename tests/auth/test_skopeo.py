"""The docker-login flow with a real client: skopeo against real nodes started with
`--htpasswd` and `--token-key`. Push through node A and pull through node B (sharing the
key and the origin directory), `skopeo login`, refusals; a token from A accepted by B."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request

import pytest

from ..nodeproc import NodeProcess
from .conftest import ACL, GROUPS, PASSWORDS, basic, write_htpasswd

pytestmark = [pytest.mark.clients]
IN_CI = os.environ.get("CI") == "true"


def _toml_list(values) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def write_config(path) -> None:
    lines = ["[auth.groups]"] + [f"{g} = {_toml_list(m)}" for g, m in GROUPS.items()]
    for rule in ACL:
        lines += ["", "[[auth.acl]]", f"repository = {json.dumps(rule['repository'])}",
                  f"who = {_toml_list(rule['who'])}", f"actions = {_toml_list(rule['actions'])}"]
    path.write_text("\n".join(lines) + "\n")


def oci_layout(root, seed: str) -> str:
    """A one-layer OCI image layout tagged latest; returns its manifest digest."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        hexdigest = hashlib.sha256(data).hexdigest()
        (blobs / hexdigest).write_bytes(data)
        return "sha256:" + hexdigest

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        payload = (seed * 5000).encode()
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime = len(payload), 0
        tar.addfile(info, io.BytesIO(payload))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": put(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": put(layer), "size": len(layer)}]}).encode()
    digest = put(manifest)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
    return digest


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    if shutil.which("skopeo") is None:
        if IN_CI:
            pytest.fail("skopeo is not installed")
        pytest.skip("skopeo is not installed")
    base = tmp_path_factory.mktemp("fleet")
    htpasswd, key = write_htpasswd(base / "htpasswd"), base / "token.pem"
    keygen = subprocess.run([sys.executable, "-m", "ocicache", "token", "keygen", str(key)], capture_output=True,
                            text=True)
    assert keygen.returncode == 0 and "key id" in keygen.stdout, keygen.stderr
    write_config(base / "acl.toml")
    args = ["--htpasswd", str(htpasswd), "--token-key", str(key), "--config", str(base / "acl.toml")]
    node_a = NodeProcess(base / "a", *args)
    node_a.start()
    node_b = NodeProcess(base / "b", *args, "--origin", (base / "a" / "origin").as_uri())
    try:
        node_b.start()
    except Exception:
        node_a.stop()
        raise
    yield {"a": node_a, "b": node_b, "base": base}
    node_b.stop()
    node_a.stop()


def skopeo(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["skopeo", "--debug" if os.environ.get("SKOPEO_DEBUG") else "--tmpdir=/tmp", *args],
                          input=stdin, capture_output=True, text=True, timeout=180)


def creds(user: str, password: str | None = None) -> str:
    return f"{user}:{PASSWORDS[user] if password is None else password}"


def test_push_through_a_and_pull_through_b_with_creds(fleet, tmp_path):
    digest = oci_layout(tmp_path / "src", "push-pull")
    a, b = fleet["a"], fleet["b"]
    push = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds("alice"),
                  f"oci:{tmp_path / 'src'}:latest", f"docker://{a.hostport}/team/app:v1")
    assert push.returncode == 0, push.stderr
    pull = skopeo("copy", "--src-tls-verify=false", "--src-creds", creds("bob"),
                  f"docker://{b.hostport}/team/app:v1", f"oci:{tmp_path / 'dst'}:latest")
    assert pull.returncode == 0, pull.stderr
    index = json.loads((tmp_path / "dst" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
    inspect = skopeo("inspect", "--raw", "--tls-verify=false", "--creds", creds("alice"),
                     f"docker://{b.hostport}/team/app:v1")
    assert inspect.returncode == 0 and "sha256:" + hashlib.sha256(inspect.stdout.encode()).hexdigest() == digest


def test_without_or_with_wrong_credentials_skopeo_is_refused(fleet, tmp_path):
    oci_layout(tmp_path / "src", "refused")
    a = fleet["a"]
    anonymous = skopeo("copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'src'}:latest",
                       f"docker://{a.hostport}/team/app:anon")
    assert anonymous.returncode != 0
    assert any(word in anonymous.stderr.lower() for word in ("unauthorized", "authentication required", "denied"))
    wrong = skopeo("inspect", "--tls-verify=false", "--creds", creds("alice", "wrong"),
                   f"docker://{a.hostport}/team/app:v1")
    assert wrong.returncode != 0
    denied = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds("carol"),
                    f"oci:{tmp_path / 'src'}:latest", f"docker://{a.hostport}/team/app:carol")
    assert denied.returncode != 0
    assert any(word in denied.stderr.lower() for word in ("denied", "forbidden", "403"))


def test_skopeo_login_then_use_the_saved_credentials(fleet, tmp_path):
    a = fleet["a"]
    authfile = tmp_path / "auth.json"
    login = skopeo("login", "--tls-verify=false", "--authfile", str(authfile), "-u", "alice", "--password-stdin",
                   a.hostport, stdin=PASSWORDS["alice"] + "\n")
    assert login.returncode == 0, login.stderr
    assert "Login Succeeded" in login.stdout
    bad = skopeo("login", "--tls-verify=false", "--authfile", str(tmp_path / "bad.json"), "-u", "alice",
                 "--password-stdin", a.hostport, stdin="nope\n")
    assert bad.returncode != 0
    oci_layout(tmp_path / "src", "login")
    push = skopeo("copy", "--dest-tls-verify=false", "--authfile", str(authfile),
                  f"oci:{tmp_path / 'src'}:latest", f"docker://{a.hostport}/team/login:v1")
    assert push.returncode == 0, push.stderr
    tags = skopeo("list-tags", "--tls-verify=false", "--authfile", str(authfile), f"docker://{a.hostport}/team/login")
    assert tags.returncode == 0 and '"v1"' in tags.stdout


def _get(url: str, headers: dict[str, str]) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_token_from_node_a_is_accepted_by_node_b(fleet):
    a, b = fleet["a"], fleet["b"]
    status, body, _ = _get(f"{a.url}/token?service=ocicache&scope=repository:team/app:pull", basic("alice"))
    assert status == 200
    token = json.loads(body)["token"]
    status, body, _ = _get(f"{b.url}/v2/team/app/tags/list", {"Authorization": f"Bearer {token}"})
    assert status == 200 and json.loads(body)["name"] == "team/app"
    status, _, headers = _get(f"{b.url}/v2/team/app/tags/list", {})
    assert status == 401
    assert headers["WWW-Authenticate"] == (f'Bearer realm="http://{b.hostport}/token",service="ocicache",'
                                           'scope="repository:team/app:pull"')
