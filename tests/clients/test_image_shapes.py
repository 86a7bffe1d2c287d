"""Images shaped like the ones users pull (8 MB in one layer, 78 MB in four, 374 MB in 11,
850 MB in 7, 1.13 GB in 12), generated once per session: each pushed with skopeo to an origin
node, pulled back directly and through an edge node (`--origin <origin> --workers 2`); the
manifest digest is compared, every pulled blob rehashed, and the edge's /metrics must show one
origin fetch per blob. Pulled copies are deleted as soon as they are checked."""
from __future__ import annotations

import pytest

from .images import MB, SHAPES
from .scenarios import TAG, cold_pull_through_edge, skopeo_pull_back
from .skopeo import Skopeo

pytestmark = pytest.mark.clients
USER_SHAPES = ["8mb", "78mb", "374mb", pytest.param("850mb", marks=pytest.mark.slow),
               pytest.param("1130mb", marks=pytest.mark.slow)]


@pytest.mark.parametrize("shape", USER_SHAPES)
def test_push_then_pull_direct_and_through_edge(origin_and_edge, image_layout, shape, tmp_path):
    origin, edge = origin_and_edge
    skopeo = Skopeo(timeout=900)
    layout = image_layout(shape)
    repo = f"shapes/app-{shape}"
    skopeo.copy(layout.ref, f"docker://{origin.hostport}/{repo}:{TAG}")
    assert skopeo.digest(f"docker://{origin.hostport}/{repo}:{TAG}") == layout.manifest_digest
    skopeo_pull_back(skopeo, origin.hostport, repo, layout, tmp_path / "direct")
    cold_pull_through_edge(edge, layout, lambda: skopeo_pull_back(skopeo, edge.hostport, repo, layout,
                                                                  tmp_path / "edge"))


@pytest.mark.parametrize("shape, megabytes, layers", [("8mb", 8, 1), ("78mb", 78, 4), ("374mb", 374, 11),
                                                      ("850mb", 850, 7), ("1130mb", 1130, 12)])
def test_user_shapes_have_the_sizes_they_are_named_after(shape, megabytes, layers):
    assert len(SHAPES[shape].layers) == layers
    assert sum(SHAPES[shape].layers) == megabytes * MB
