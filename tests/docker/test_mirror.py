"""Docker Hub names (no registry host) through a mirror node set in dockerd's `registry-mirrors`.
The node mirrors `docker.io` from a stand-in for Docker Hub that holds the images: CNCF
distribution, or another ocicache node. Nothing here reaches the real Docker Hub: the names are
made up, and a pull the mirror cannot answer would fail on DNS."""
from __future__ import annotations

import shutil

import pytest

from ..distribution import Distribution
from ..nodeproc import NodeProcess
from .helpers import EdgeCounters, blobs_of, load, manifest_of, push, repo_digest, requests_served, tiny_layout

pytestmark = pytest.mark.docker
KiB = 1024


@pytest.fixture
def mirrored(engine, tmp_path):
    """mirrored(upstream_url) -> a mirror node (`--upstream docker.io=URL`) that dockerd uses as its
    registry mirror; the engine is back to no mirrors afterwards."""
    nodes = []

    def start(upstream_url: str) -> NodeProcess:
        node = NodeProcess(tmp_path / f"mirror{len(nodes)}", "--upstream", f"docker.io={upstream_url}",
                           "--workers", "2")
        node.start()
        nodes.append(node)
        engine.reload_mirrors([node.url])
        return node

    yield start
    engine.reload_mirrors([])
    for node in nodes:
        node.stop()
        shutil.rmtree(node.data_dir, ignore_errors=True)


def seed_hub(docker, hub_hostport: str, tmp_path, repo: str, tag: str) -> tuple[str, str]:
    """Put a fresh image at hub/repo:tag with docker itself; (manifest digest, config digest)."""
    layout = tiny_layout(tmp_path / repo.replace("/", "-"), 48 * KiB, 16 * KiB)
    ref = f"{hub_hostport}/{repo}:{tag}"
    load(docker, layout, ref, tmp_path)
    pushed = push(docker, ref)
    docker.clean_images()
    return pushed, layout.image().config_digest


def test_docker_hub_names_through_a_mirror_of_cncf_distribution(docker, mirrored, tmp_path):
    hub = Distribution(tmp_path / "hub").start()
    try:
        official, official_id = seed_hub(docker, hub.hostport, tmp_path, "library/busyboxish", "1.36")
        user, user_id = seed_hub(docker, hub.hostport, tmp_path, "team/tool", "2")
        mirror = mirrored(hub.url)
        blobs = blobs_of(manifest_of(hub.url, "library/busyboxish", "1.36"))

        counters = EdgeCounters(mirror)
        out = docker.run("pull", "busyboxish:1.36")                  # docker.io/library/busyboxish:1.36
        assert f"Digest: {official}" in out and "docker.io/library/busyboxish:1.36" in out, out
        assert docker.inspect("busyboxish:1.36")["Id"] == official_id
        assert repo_digest(docker, "busyboxish:1.36", "busyboxish") == official
        assert counters.delta()["fills"] == len(blobs)              # it came through the mirror

        docker.run("pull", "team/tool:2")
        assert docker.inspect("team/tool:2")["Id"] == user_id
        assert repo_digest(docker, "team/tool:2", "team/tool") == user

        docker.clean_images()
        counters = EdgeCounters(mirror)
        docker.run("pull", "library/busyboxish:1.36")                # the same image, spelled out: warm
        assert docker.inspect("busyboxish:1.36")["Id"] == official_id
        warm = counters.delta()
        assert (warm["fills"], warm["fetched"]) == (0, 0), warm
    finally:
        hub.stop()
        shutil.rmtree(hub.dir, ignore_errors=True)


def test_docker_hub_names_through_a_mirror_of_an_ocicache_node(docker, mirrored, tmp_path):
    hub = NodeProcess(tmp_path / "hub")
    hub.start()
    try:
        pushed, image_id = seed_hub(docker, hub.hostport, tmp_path, "library/tinyhub", "3.1")
        mirror = mirrored(hub.url)
        gets = requests_served(hub, "blob")
        ref = f"tinyhub@{pushed}"                                     # by digest, Docker Hub spelling
        docker.run("pull", ref)
        assert docker.inspect(ref)["Id"] == image_id
        assert requests_served(hub, "blob") - gets == 3              # config and two layers, via the mirror
        assert EdgeCounters(mirror).before["fills"] == 3
    finally:
        hub.stop()
        shutil.rmtree(hub.data_dir, ignore_errors=True)
