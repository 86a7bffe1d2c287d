"""The Docker engine against a node: push, pull by tag and by digest, `docker manifest inspect`,
a multi-layer image from the classic builder, save/load, and a multi-arch index."""
from __future__ import annotations

import hashlib
import json
import tarfile

import pytest

from ..clients.registry import push_blob_file, push_manifest_file
from .helpers import (blobs_of, content_digest, load, manifest_of, push, repo_digest, requests_served,
                      tiny_layout)

pytestmark = pytest.mark.docker
KiB = 1024


def test_push_then_pull_by_tag(docker, origin, tmp_path):
    layout = tiny_layout(tmp_path / "src", 96 * KiB, 32 * KiB)
    repo, ref = "dk/bytag", f"{origin.hostport}/dk/bytag:v1"
    assert load(docker, layout, ref, tmp_path) == layout.image().config_digest
    pushed = push(docker, ref)
    assert content_digest(origin.url, repo, "v1") == pushed
    blobs = blobs_of(manifest_of(origin.url, repo, "v1"))
    assert len(blobs) == 3 and blobs[layout.image().config_digest] == layout.image().config_size

    docker.clean_images()
    gets = requests_served(origin, "blob")
    out = docker.run("pull", ref)
    assert f"Digest: {pushed}" in out and "Downloaded newer image" in out, out
    assert requests_served(origin, "blob") - gets == len(blobs)     # config and both layers, fetched for real
    assert repo_digest(docker, ref, f"{origin.hostport}/{repo}") == pushed
    assert docker.inspect(ref)["Id"] == layout.image().config_digest
    assert docker.inspect(ref)["RootFS"]["Layers"] == [layer.diff_id for layer in layout.image().layers]


def test_pull_by_digest(docker, origin, tmp_path):
    layout = tiny_layout(tmp_path / "src")
    repo, ref = "dk/bydigest", f"{origin.hostport}/dk/bydigest:v1"
    load(docker, layout, ref, tmp_path)
    pushed = push(docker, ref)
    docker.clean_images()

    by_digest = f"{origin.hostport}/{repo}@{pushed}"
    out = docker.run("pull", by_digest)
    assert f"Digest: {pushed}" in out, out
    assert docker.inspect(by_digest)["Id"] == layout.image().config_digest
    assert docker.inspect(by_digest)["RepoTags"] == []                     # pulled by digest: no tag
    assert repo_digest(docker, by_digest, f"{origin.hostport}/{repo}") == content_digest(origin.url, repo, pushed)


def test_manifest_inspect_insecure(docker, origin, tmp_path):
    layout = tiny_layout(tmp_path / "src", 40 * KiB, 50 * KiB)
    repo, ref = "dk/inspect", f"{origin.hostport}/dk/inspect:v1"
    load(docker, layout, ref, tmp_path)
    pushed = push(docker, ref)
    docker.clean_images()                                                  # inspect asks the registry, not the engine

    stored = manifest_of(origin.url, repo, "v1")
    for target in (ref, f"{origin.hostport}/{repo}@{pushed}"):
        shown = json.loads(docker.run("manifest", "inspect", "--insecure", target))
        assert shown == stored, target
    assert [layer["size"] for layer in stored["layers"]] == [
        d["size"] for d in json.loads(docker.run("manifest", "inspect", "--insecure", ref))["layers"]]
    assert stored["config"]["digest"] == layout.image().config_digest


def test_multilayer_image_from_the_classic_builder(docker, origin, tmp_path):
    context = tmp_path / "context"
    context.mkdir()
    lines = ["FROM scratch"]
    for i, size in enumerate((100 * KiB, 300 * KiB, 20 * KiB, 150 * KiB)):
        with open(context / f"part{i}.bin", "wb") as f:
            f.write(hashlib.sha256(f"{tmp_path}{i}".encode()).digest() * (size // 32))
        lines.append(f"COPY part{i}.bin /data/part{i}.bin")
    lines.append('LABEL org.example.test="classic builder"')
    (context / "Dockerfile").write_text("\n".join(lines) + "\n")
    ref = f"{origin.hostport}/dk/built:v1"
    docker.run("build", "-q", "-t", ref, str(context))
    built = docker.inspect(ref)
    assert len(built["RootFS"]["Layers"]) == 4

    pushed = push(docker, ref)
    manifest = manifest_of(origin.url, "dk/built", "v1")
    assert len(manifest["layers"]) == 4 and content_digest(origin.url, "dk/built", "v1") == pushed
    docker.clean_images()
    docker.run("pull", ref)
    pulled = docker.inspect(ref)
    assert pulled["Id"] == built["Id"] and pulled["RootFS"]["Layers"] == built["RootFS"]["Layers"]
    assert pulled["Config"]["Labels"] == {"org.example.test": "classic builder"}


def test_save_and_load_round_trip(docker, origin, tmp_path):
    layout = tiny_layout(tmp_path / "src", 64 * KiB, 80 * KiB)
    repo, ref = "dk/saved", f"{origin.hostport}/dk/saved:v1"
    load(docker, layout, ref, tmp_path)
    pushed = push(docker, ref)
    docker.clean_images()
    docker.run("pull", ref)

    archive = tmp_path / "saved.tar"
    docker.run("save", "-o", str(archive), ref)
    with tarfile.open(archive) as tar:                 # every layer tar as docker holds it, rehashed
        entries = json.load(tar.extractfile("manifest.json"))
        assert entries[0]["RepoTags"] == [ref]
        layer_hashes = ["sha256:" + hashlib.file_digest(tar.extractfile(name), "sha256").hexdigest()
                        for name in entries[0]["Layers"]]
    assert layer_hashes == [layer.diff_id for layer in layout.image().layers]

    docker.clean_images()
    assert f"Loaded image: {ref}" in docker.run("load", "-i", str(archive))
    archive.unlink()
    assert docker.inspect(ref)["Id"] == layout.image().config_digest
    again = f"{origin.hostport}/dk/saved-again:v1"
    docker.run("tag", ref, again)
    assert push(docker, again) == pushed               # the loaded image pushes to the same manifest


def test_multi_arch_index_pulls_the_engine_platform(docker, origin, image_layout):
    layout = image_layout("multiarch")
    repo = "dk/multiarch"
    for digest in sorted(layout.blob_digests):
        push_blob_file(origin.url, repo, layout.blob_path(digest), digest)
    for image in layout.images:
        push_manifest_file(origin.url, repo, image.digest, layout.blob_path(image.digest))
    push_manifest_file(origin.url, repo, "v1", layout.blob_path(layout.manifest_digest))

    ref = f"{origin.hostport}/{repo}:v1"
    # (Not `docker manifest inspect`: the 20.10 CLI cannot read OCI indexes; the engine can.)
    out = docker.run("pull", ref)
    assert f"Digest: {layout.manifest_digest}" in out, out
    pulled = docker.inspect(ref)
    assert pulled["Architecture"] == "amd64" and pulled["Id"] == layout.image("linux/amd64").config_digest
    assert repo_digest(docker, ref, f"{origin.hostport}/{repo}") == layout.manifest_digest
    arm = layout.image("linux/arm64")
    docker.run("pull", "--platform", "linux/arm64/v8", ref)
    assert docker.inspect(ref)["Id"] == arm.config_digest and docker.inspect(ref)["Architecture"] == "arm64"
