"""README.md, run as written: the embedded default node (what `make run` serves) on a free port,
skopeo pushing an `img.tar` made as the README says (a docker-save archive) and inspecting it,
then access control: a token key, an htpasswd user, and a node that wants them."""
from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.request

from ..clients.images import build, write_docker_archive
from ..nodeproc import NodeProcess, free_port
from .conftest import require
from .shell import DocShell

PASSWORD = "correct horse battery staple"


def test_make_run_serves_the_embedded_default_and_make_test_is_this_suite(tmp_path):
    sh = DocShell("README.md", tmp_path)
    sh.skip("make test", "this suite; .ci/run calls it")
    sh.skip("make run", "its recipe is checked here; the node it serves is started on a free port below")
    recipe = subprocess.run(["make", "-n", "run"], cwd=sh.cwd, capture_output=True, text=True, timeout=60).stdout
    assert "-m ocicache serve --listen 127.0.0.1:5000 --data-dir ./data" in recipe, recipe


def test_try_it_with_skopeo(tmp_path):
    require("skopeo")
    node = NodeProcess(tmp_path / "data")        # the embedded default: a file:// origin in the data dir
    node.start()
    sh = DocShell("README.md", tmp_path, subs=[("127.0.0.1:5000", node.hostport)], cwd=tmp_path)
    try:
        write_docker_archive(build("multiarch", tmp_path / "layout"), tmp_path / "img.tar", "alpine:3.20")
        sh.run("skopeo copy --dest-tls-verify=false docker-archive:img.tar docker://127.0.0.1:5000/demo/app:v1")
        inspect = json.loads(sh.run("skopeo inspect --tls-verify=false docker://127.0.0.1:5000/demo/app:v1").stdout)
        assert inspect["Name"].endswith("/demo/app") and inspect["Architecture"] == "amd64", inspect
        assert (tmp_path / "data/origin/docker/registry/v2/repositories/demo/app").is_dir()  # distribution's layout
    finally:
        node.stop()


def _get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_access_control(tmp_path):
    port = free_port()
    sh = DocShell("README.md", tmp_path, cwd=tmp_path,
                  env={"PASSWORD": PASSWORD, "OCICACHE_SERVER_LISTEN": f"127.0.0.1:{port}"})
    try:
        keygen = sh.run("ocicache token keygen token.pem").stdout
        assert "token.pem.pub" in keygen and (tmp_path / "token.pem.pub").exists()
        assert (tmp_path / "token.pem").stat().st_mode & 0o077 == 0                  # private key 0600
        sh.run('ocicache htpasswd htpasswd alice <<<"$PASSWORD"')
        assert (tmp_path / "htpasswd").read_text().startswith("alice:$2")            # bcrypt
        url = f"http://127.0.0.1:{port}"
        sh.start("ocicache serve --htpasswd htpasswd --token-key token.pem", url + "/v2/")
        status, _ = _get(url + "/v2/")
        assert status == 401
        basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
        status, body = _get(url + "/token?service=ocicache&scope=repository:demo/app:pull,push",
                            {"Authorization": f"Basic {basic}"})
        assert status == 200, body
        token = json.loads(body)["token"]
        assert _get(url + "/v2/", {"Authorization": f"Bearer {token}"})[0] == 200    # docker login's check
        wrong = base64.b64encode(b"alice:wrong").decode()
        assert _get(url + "/token?service=ocicache", {"Authorization": f"Basic {wrong}"})[0] == 401
    finally:
        sh.close()
