"""`ocicache gc` on a file:// origin: --dry-run lists exactly the old unreferenced blobs,
gc deletes exactly those, young ones (pushes in progress) stay, and images still pull."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

from ..nodeproc import NodeProcess
from ..ocisync import push_blob, push_image, request

OLD = time.time() - 7200


def blob_dir(node: NodeProcess, digest: str):
    return node.data_dir / "origin/docker/registry/v2/blobs/sha256" / digest[7:9] / digest[7:]


def age(node: NodeProcess, repo: str, digest: str) -> None:
    """Make a blob (and its layer link) look two hours old."""
    for path in (blob_dir(node, digest) / "data",
                 node.data_dir / "origin/docker/registry/v2/repositories" / repo / "_layers/sha256" / digest[7:] / "link"):
        os.utime(path, (OLD, OLD))


def gc(node: NodeProcess, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ocicache", "gc", "--data-dir", str(node.data_dir), *args],
                          capture_output=True, text=True, timeout=120)


def pull_ok(node: NodeProcess, repo: str, tag: str) -> bool:
    status, _, body = request(node.url, "GET", f"/v2/{repo}/manifests/{tag}",
                              headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert status == 200
    doc = json.loads(body)
    for desc in [doc["config"], *doc["layers"]]:
        status, _, data = request(node.url, "GET", f"/v2/{repo}/blobs/{desc['digest']}")
        if status != 200 or "sha256:" + hashlib.sha256(data).hexdigest() != desc["digest"]:
            return False
    return True


def test_gc_dry_run_then_gc_removes_exactly_the_unreferenced_blobs(node):
    push_image(node.url, "gc/app", "v1", os.urandom(50_000))
    push_image(node.url, "gc/other", "v1", os.urandom(30_000))
    orphans = [push_blob(node.url, "gc/app", os.urandom(20_000)) for _ in range(3)]
    young = push_blob(node.url, "gc/app", os.urandom(10_000))          # a push still in progress
    for digest in orphans:
        age(node, "gc/app", digest)
    everything = {p.parent.name for p in (node.data_dir / "origin/docker/registry/v2/blobs").rglob("data")}

    dry = gc(node, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    listed = {line.split()[2] for line in dry.stdout.splitlines() if line.startswith("would delete sha256:")}
    assert listed == set(orphans)
    assert "kept 1 unreferenced" in dry.stdout
    assert {p.parent.name for p in (node.data_dir / "origin/docker/registry/v2/blobs").rglob("data")} == everything

    real = gc(node)
    assert real.returncode == 0, real.stderr
    assert {line.split()[1] for line in real.stdout.splitlines() if line.startswith("deleted sha256:")} == set(orphans)
    left = {p.parent.name for p in (node.data_dir / "origin/docker/registry/v2/blobs").rglob("data")}
    assert left == everything - {d[7:] for d in orphans}
    assert young[7:] in left
    for digest in orphans:       # gone for clients too, not a dangling link
        assert request(node.url, "HEAD", f"/v2/gc/app/blobs/{digest}")[0] == 404
    assert pull_ok(node, "gc/app", "v1") and pull_ok(node, "gc/other", "v1")
    assert "deleted 0 unreferenced" in gc(node).stdout                      # idempotent


def test_gc_refuses_a_remote_origin(tmp_path):
    run = subprocess.run([sys.executable, "-m", "ocicache", "gc", "--origin", "http://127.0.0.1:9",
                          "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "not a local directory" in run.stderr and "Traceback" not in run.stderr
