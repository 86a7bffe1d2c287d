"""docs/MIRRORS.md, run as written: the four-upstream node with each upstream a local registry
node standing in for docker.io, ghcr.io, quay.io and registry.k8s.io; then "Which upstream
answers a request" (ns, path prefix, the first upstream of a pure mirror, Docker Hub's library/),
read-only pushes, and the page's [upstreams] config block through `config check`."""
from __future__ import annotations

import os
import subprocess

from ..nodeproc import NodeProcess, free_port
from ..ocisync import push_blob, push_image, request
from .conftest import pull
from .markdown import blocks
from .shell import DocShell

SERVE = ("ocicache serve --listen 0.0.0.0:5000 --data-dir /var/cache/ocicache --upstream "
         "docker.io=https://registry-1.docker.io --upstream ghcr.io=https://ghcr.io --upstream quay.io=https://quay.io "
         "--upstream registry.k8s.io=https://registry.k8s.io")
UPSTREAMS = {"docker.io": "https://registry-1.docker.io", "ghcr.io": "https://ghcr.io", "quay.io": "https://quay.io",
             "registry.k8s.io": "https://registry.k8s.io"}


def test_mirrors_md(tmp_path):
    nodes = {name: NodeProcess(tmp_path / name.replace(".", "-")) for name in UPSTREAMS}
    port = free_port()
    try:
        for node in nodes.values():
            node.start()
        push_image(nodes["docker.io"].url, "library/alpine", "3.20", os.urandom(20_000))
        push_image(nodes["ghcr.io"].url, "org/tool", "v1", os.urandom(20_000))
        push_image(nodes["quay.io"].url, "org/app", "v1", os.urandom(20_000))
        push_image(nodes["registry.k8s.io"].url, "pause", "3.9", os.urandom(20_000))
        subs = [(f"={url}", f"={nodes[name].url}") for name, url in UPSTREAMS.items()]
        sh = DocShell("MIRRORS.md", tmp_path, subs=[*subs, ("0.0.0.0:5000", f"127.0.0.1:{port}"),
                                                    ("/var/cache/ocicache", str(tmp_path / "edge"))])
        url = f"http://127.0.0.1:{port}"
        try:
            sh.start(SERVE, url + "/v2/")
            pull(url, "alpine", "3.20")                                  # pure mirror: the first upstream, library/
            pull(url, "library/alpine", "3.20", query="?ns=docker.io")
            pull(url, "ghcr.io/org/tool", "v1")                          # path prefix
            pull(url, "org/app", "v1", query="?ns=quay.io")                        # containerd's ns
            pull(url, "pause", "3.9", query="?ns=registry.k8s.io")
            status, _, body = request(url, "GET", "/v2/org/app/manifests/v1?ns=gcr.io")
            assert status == 404 and b"gcr.io" in body and b"quay.io" in body, body   # names what it mirrors
            status, _, body = request(url, "POST", f"/v2/ghcr.io/org/tool/blobs/uploads/?digest=sha256:{'0' * 64}", b"")
            assert status == 403 and b"DENIED" in body and b"read-only" in body, body
            push_blob(nodes["ghcr.io"].url, "org/tool", b"pushes go to the upstream itself")
        finally:
            sh.close()
    finally:
        for node in nodes.values():
            node.stop()


def test_the_upstreams_config_block_passes_config_check(tmp_path):
    block = [b for b in blocks("MIRRORS.md") if b.lang == "toml" and b.text.startswith("[upstreams]")]
    assert len(block) == 1, "MIRRORS.md's [upstreams] example is gone: update tests/docs/test_mirrors.py"
    creds = tmp_path / "dockerhub.creds"
    creds.write_text("mirror-bot:hunter22\n")
    (tmp_path / "node.toml").write_text(block[0].text.replace("/etc/ocicache/dockerhub.creds", str(creds)))
    run = subprocess.run(["ocicache", "config", "check", "node.toml"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, env={**DocShell("MIRRORS.md", tmp_path).env})
    assert run.returncode == 0, run.stderr
    assert "docker.io=https://registry-1.docker.io (with credentials)" in run.stdout, run.stdout
    assert "ghcr.io=https://ghcr.io (alias ghcr.mirror.example)" in run.stdout, run.stdout
    assert "allowed: docker.io/library/*, ghcr.io/my-org/*" in run.stdout, run.stdout
    assert "a pure mirror (requests naming no upstream go to docker.io)" in run.stdout, run.stdout
