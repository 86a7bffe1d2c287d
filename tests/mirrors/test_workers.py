"""One tag cache per upstream for all the workers of a mirroring node (issue 14): with the
upstream stopped, a tag one worker cached answers 200 on every worker within stale_if_error
(a tag cache per worker answered 503 from the worker that never saw it)."""
from __future__ import annotations

import time

from ..coherence.http1 import request
from ..distribution import Distribution
from ..nodeproc import NodeProcess
from .conftest import MANIFEST_ACCEPT, push_image

TAG_TTL = 0.5


def test_a_stopped_upstream_answers_the_same_on_every_worker(tmp_path, started):
    reg = started(Distribution(tmp_path / "reg"))
    digest = push_image(reg.url, "team/app", "v1", b"mirrored layer " * 100)
    edge = started(NodeProcess(tmp_path / "edge", "--upstream", f"up.test={reg.url}", "--workers", "2",
                               env={"OCICACHE_CACHE_TAG_TTL": str(TAG_TTL), "OCICACHE_CACHE_STALE_IF_ERROR": "60",
                                    "OCICACHE_UPSTREAMS_RETRIES": "0"}))
    path = "/v2/up.test/team/app/manifests/v1"
    accept = {"Accept": MANIFEST_ACCEPT}
    status, headers, _ = request(edge.hostport, "GET", path, headers=accept)  # one worker caches it
    assert (status, headers.get("docker-content-digest")) == (200, digest)
    reg.stop()                                            # the upstream is gone
    time.sleep(TAG_TTL + 0.1)                             # past tag_ttl: every answer revalidates
    answers = [request(edge.hostport, "HEAD", path, headers=accept)[0] for _ in range(20)]
    print(f"20 HEADs over new connections, upstream stopped: {answers}")
    assert answers == [200] * 20
