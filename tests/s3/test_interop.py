"""CNCF distribution (Debian's docker-registry) with its s3 driver on the same bucket and
prefix: it pulls what ocicache pushed, and ocicache serves what it pushed."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request

import pytest

from ..nodeproc import free_port
from .test_fleet import images, raw_digest, skopeo  # noqa: F401  (fixture)

IN_CI = os.environ.get("CI") == "true"


@pytest.fixture
def distribution(tmp_path, s3server, bucket):
    if shutil.which("docker-registry") is None:
        if IN_CI:
            pytest.fail("docker-registry (Debian package) is not installed")
        pytest.skip("docker-registry is not installed")
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(f"""version: 0.1
log: {{level: warn}}
storage:
  s3:
    accesskey: {s3server.env["AWS_ACCESS_KEY_ID"]}
    secretkey: {s3server.env["AWS_SECRET_ACCESS_KEY"]}
    region: us-east-1
    regionendpoint: {s3server.url}
    bucket: {bucket}
    rootdirectory: /fleet
    forcepathstyle: true
    secure: false
    v4auth: true
  delete: {{enabled: true}}
  cache: {{blobdescriptor: inmemory}}
http: {{addr: "127.0.0.1:{port}"}}
""")
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    log = open(tmp_path / "registry.log", "wb")
    proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)
    log.close()


def test_distribution_and_ocicache_serve_each_others_pushes(fleet, distribution, images, tmp_path):
    (node,) = fleet(1)
    layouts, want = images
    ours = skopeo("copy", "--dest-tls-verify=false", f"oci:{layouts}/multilayer:latest",
                  f"docker://{node.hostport}/interop/ours:v1")
    assert ours.returncode == 0, ours.stderr
    pulled = skopeo("copy", "--src-tls-verify=false", f"docker://{distribution}/interop/ours:v1",
                    f"oci:{tmp_path}/via-distribution:latest")
    assert pulled.returncode == 0, pulled.stderr
    assert raw_digest(f"docker://{distribution}/interop/ours:v1") == want["multilayer"]

    theirs = skopeo("copy", "--dest-tls-verify=false", f"oci:{layouts}/small:latest",
                    f"docker://{distribution}/interop/theirs:v1")
    assert theirs.returncode == 0, theirs.stderr
    pulled = skopeo("copy", "--src-tls-verify=false", f"docker://{node.hostport}/interop/theirs:v1",
                    f"oci:{tmp_path}/via-ocicache:latest")
    assert pulled.returncode == 0, pulled.stderr
    assert raw_digest(f"docker://{node.hostport}/interop/theirs:v1") == want["small"]
