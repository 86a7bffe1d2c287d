"""The image generator itself: deterministic, real tars whose diff_ids are right, Docker-valid
configs, OCI 1.1 referrers a node lists, and docker-load archives with the right layers."""
from __future__ import annotations

import gzip
import hashlib
import json
import tarfile

from ..ocisync import request
from .dockerarchive import read_archive_manifest
from .images import OCI_INDEX, build, write_docker_archive
from .registry import push_blob_file, push_manifest_file, referrers
from .verify import file_sha256, rehash_blobs


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a, b = build("multiarch", tmp_path / "a"), build("multiarch", tmp_path / "b")
    c = build("multiarch", tmp_path / "c", seed=1)
    assert a.manifest_digest == b.manifest_digest and a.files() == b.files()
    assert (tmp_path / "a" / "index.json").read_bytes() == (tmp_path / "b" / "index.json").read_bytes()
    assert c.manifest_digest != a.manifest_digest and not (c.blob_digests & a.blob_digests)
    assert rehash_blobs(tmp_path / "a" / "blobs" / "sha256") == {}


def test_layers_are_tars_and_the_config_names_their_diff_ids(tmp_path):
    layout = build("multilayer", tmp_path / "m")
    image = layout.image()
    config = json.loads(layout.blob_path(image.config_digest).read_bytes())
    assert (config["architecture"], config["os"], config["rootfs"]["type"]) == ("amd64", "linux", "layers")
    assert config["rootfs"]["diff_ids"] == [layer.diff_id for layer in image.layers]
    assert len(image.layers) == 4 and 100 * 2**20 <= layout.total_bytes < 101 * 2**20
    for layer in image.layers:
        with gzip.open(layout.blob_path(layer.digest)) as raw:
            assert "sha256:" + hashlib.file_digest(raw, "sha256").hexdigest() == layer.diff_id
        with tarfile.open(layout.blob_path(layer.digest)) as tar:
            files = [m for m in tar.getmembers() if m.isfile()]
        assert sum(m.size for m in files if m.name.endswith(".bin")) == 25 * 2**20
        ratio = layer.size / layer.raw_size
        assert 0.999 < ratio <= 1.001                     # incompressible content, gzip level 0


def test_multiarch_is_an_index_of_two_platforms_sharing_a_base_layer(tmp_path):
    layout = build("multiarch", tmp_path / "ma")
    assert layout.media_type == OCI_INDEX
    index = json.loads(layout.blob_path(layout.manifest_digest).read_bytes())
    assert [m["platform"] for m in index["manifests"]] == [
        {"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm64", "variant": "v8"}]
    amd64, arm64 = layout.image("linux/amd64"), layout.image("linux/arm64")
    assert amd64.layers[0] == arm64.layers[0] and amd64.layers[1] != arm64.layers[1]
    assert json.loads(layout.blob_path(arm64.config_digest).read_bytes())["variant"] == "v8"


def test_artifact_referrers_are_listed_by_a_node(tmp_path, node):
    layout = build("artifact", tmp_path / "art")
    repo = "art/app"
    for digest in layout.blob_digests | {d for r in layout.referrers for d in r.blob_digests}:
        push_blob_file(node.url, repo, layout.blob_path(digest), digest)
    push_manifest_file(node.url, repo, "v1", layout.blob_path(layout.manifest_digest))
    for ref in layout.referrers:
        headers = push_manifest_file(node.url, repo, ref.digest, layout.blob_path(ref.digest))
        assert headers.get("OCI-Subject") == layout.manifest_digest
    listed = referrers(node.url, repo, layout.manifest_digest)
    assert {(m["digest"], m["artifactType"]) for m in listed["manifests"]} == {
        (r.digest, r.artifact_type) for r in layout.referrers}
    sbom = referrers(node.url, repo, layout.manifest_digest, "application/spdx+json")
    assert [m["digest"] for m in sbom["manifests"]] == [layout.referrers[1].digest]
    assert request(node.url, "GET", f"/v2/{repo}/manifests/{layout.referrers[0].digest}")[0] == 200


def test_docker_archive_holds_config_and_uncompressed_layers(tmp_path):
    layout = build("multiarch", tmp_path / "ma")
    arm64 = layout.image("linux/arm64")
    archive = write_docker_archive(layout, tmp_path / "arm64.tar", "example/ma:v1", platform="linux/arm64")
    (entry,) = read_archive_manifest(archive)
    assert entry["RepoTags"] == ["example/ma:v1"] and entry["Config"] == f"{arm64.config_digest[7:]}.json"
    assert entry["Layers"] == [f"{layer.diff_id[7:]}/layer.tar" for layer in arm64.layers]
    extracted = tmp_path / "x"
    with tarfile.open(archive) as tar:
        tar.extractall(extracted, filter="data")
    assert [file_sha256(extracted / name) for name in entry["Layers"]] == [layer.diff_id for layer in arm64.layers]
    assert file_sha256(extracted / entry["Config"]) == arm64.config_digest


def test_docker_archive_can_carry_the_gzip_blobs(tmp_path):
    layout = build("small", tmp_path / "s")
    archive = write_docker_archive(layout, tmp_path / "s.tar", "example/s:v1", compressed=True)
    (entry,) = read_archive_manifest(archive)
    assert entry["Layers"] == [f"blobs/sha256/{layer.digest[7:]}" for layer in layout.image().layers]
    with tarfile.open(archive) as tar:
        assert tar.getmember(entry["Layers"][0]).size == layout.image().layers[0].size
