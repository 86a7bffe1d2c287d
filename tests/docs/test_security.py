"""docs/SECURITY.md, run as written: the token key and a user under /etc/ocicache (a folder here),
the page's own `node.toml` example (groups, ACL, trusted proxies, TLS with a self-signed
certificate at its paths) checked by `config check` and served; then what the page promises of
it: HTTPS with HSTS, anonymous pulls of public/**, a challenge naming the configured realm,
devs pushing team/**, nobody deleting."""
from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.request

from ..nodeproc import free_port
from .markdown import blocks
from .shell import _UNVERIFIED, DocShell

PW = "s3cret-enough"
SERVE = ("ocicache serve --htpasswd /etc/ocicache/htpasswd --token-key /etc/ocicache/token.pem "
         "--config node.toml")


def _call(url: str, method: str = "GET", headers: dict | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10, context=_UNVERIFIED) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _node_toml() -> str:
    example = [b for b in blocks("SECURITY.md") if b.lang == "toml" and "[[auth.acl]]" in b.text]
    assert len(example) == 1, "SECURITY.md's node.toml example is gone: update tests/docs/test_security.py"
    return example[0].text


def test_security_md(tmp_path):
    etc = tmp_path / "etc"
    (etc / "tls").mkdir(parents=True)
    port = free_port()
    sh = DocShell("SECURITY.md", tmp_path, cwd=tmp_path, subs=[("/etc/ocicache", str(etc))],
                  env={"PW": PW, "OCICACHE_SERVER_LISTEN": f"127.0.0.1:{port}",
                       "OCICACHE_STORAGE_DATA_DIR": str(tmp_path / "data")})
    try:
        sh.run("ocicache token keygen /etc/ocicache/token.pem")
        sh.run('ocicache htpasswd /etc/ocicache/htpasswd alice <<<"$PW"')
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout", str(etc / "tls/privkey.pem"),
                        "-out", str(etc / "tls/fullchain.pem")], check=True, capture_output=True, timeout=60)
        (tmp_path / "node.toml").write_text(_node_toml().replace("/etc/ocicache", str(etc)))
        check = subprocess.run(["bash", "-c", "ocicache config check node.toml"], cwd=tmp_path, env=sh.env,
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stderr
        assert "2 ACL rules" in check.stdout and "tls        on" in check.stdout, check.stdout
        url = f"https://127.0.0.1:{port}"
        sh.start(SERVE, url + "/v2/")
        status, headers, _ = _call(url + "/v2/")
        assert status == 401 and headers.get("Strict-Transport-Security"), headers
        assert _call(url + "/v2/public/tool/tags/list")[0] == 404         # anonymous may pull public/**
        status, headers, _ = _call(url + "/v2/team/app/tags/list")
        assert status == 401 and 'realm="https://registry.example.com/token"' in headers["WWW-Authenticate"]
        assert 'scope="repository:team/app:pull"' in headers["WWW-Authenticate"], headers
        basic = {"Authorization": "Basic " + base64.b64encode(f"alice:{PW}".encode()).decode()}
        status, _, body = _call(url + "/token?service=ocicache&scope=repository:team/app:pull,push,delete", headers=basic)
        assert status == 200, body
        granted = json.loads(base64.urlsafe_b64decode(json.loads(body)["token"].split(".")[1] + "=="))["access"]
        assert granted == [{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}], granted
        status, _, _ = _call(url + "/v2/team/app/blobs/uploads/", "POST", basic)
        assert status == 202                                               # group devs pushes team/**
        digest = "sha256:" + "0" * 64
        assert _call(url + f"/v2/team/app/manifests/{digest}", "DELETE", basic)[0] == 403   # nobody deletes
        sh.skip("docker login node.example.com", "tests/docker/test_messages.py logs a real Docker engine in "
                "to a node with htpasswd, a token service and an ACL")
    finally:
        sh.close()
