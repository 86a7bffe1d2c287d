"""Images shaped like the ones people pull (tests/clients/images.py: 8 MB in 1 layer, 78 MB,
374 MB in 11 layers, 850 MB, 1.13 GB in 12 layers), `docker load`ed and pushed by the engine to
a node, then pulled back through that node and through an edge; digests compared at each step.
Each step's time is printed at the end of the session. The big files go as soon as a step no
longer needs them: the layout after `docker load`, the images after each pull, the nodes (and
their stores) with the test."""
from __future__ import annotations

import shutil

import pytest

from ..nodeproc import NodeProcess
from .helpers import EdgeCounters, blobs_of, content_digest, load, manifest_of, push, repo_digest, timed

pytestmark = pytest.mark.docker
SHAPES = ["8mb", "78mb", "374mb", pytest.param("850mb", marks=pytest.mark.slow),
          pytest.param("1130mb", marks=pytest.mark.slow)]


@pytest.fixture
def own_origin(tmp_path):
    """A node of its own per shape, so that its store is removed right after the test."""
    node = NodeProcess(tmp_path / "origin")
    node.start()
    yield node
    node.stop()
    shutil.rmtree(node.data_dir, ignore_errors=True)


@pytest.mark.parametrize("shape", SHAPES)
def test_user_shaped_image_push_and_pull_back(shape, docker, own_origin, make_edge, image_layout, tmp_path):
    repo = f"shapes/app-{shape}"
    ref = f"{own_origin.hostport}/{repo}:v1"
    try:
        with timed(shape, "generate layout"):
            layout = image_layout(shape)
        image = layout.image()
        with timed(shape, "docker load"):
            assert load(docker, layout, ref, tmp_path) == image.config_digest
    finally:
        image_layout.drop(shape)
    assert len(docker.inspect(ref)["RootFS"]["Layers"]) == len(image.layers)
    with timed(shape, "docker push to a node"):
        pushed = push(docker, ref)
    assert content_digest(own_origin.url, repo, "v1") == pushed
    blobs = blobs_of(manifest_of(own_origin.url, repo, "v1"))
    assert len(blobs) == len(image.layers) + 1

    docker.clean_images()
    with timed(shape, "docker pull from the node"):
        docker.run("pull", ref)
    assert repo_digest(docker, ref, f"{own_origin.hostport}/{repo}") == pushed
    assert docker.inspect(ref)["Id"] == image.config_digest
    docker.clean_images()

    edge = make_edge(own_origin.url)
    counters = EdgeCounters(edge)
    through_edge = f"{edge.hostport}/{repo}:v1"
    with timed(shape, "docker pull through an edge (cold)"):
        docker.run("pull", through_edge)
    assert repo_digest(docker, through_edge, f"{edge.hostport}/{repo}") == pushed
    assert docker.inspect(through_edge)["Id"] == image.config_digest
    fetched = counters.delta()
    assert (fetched["fills"], fetched["fetched"]) == (len(blobs), sum(blobs.values())), fetched
    docker.clean_images()
