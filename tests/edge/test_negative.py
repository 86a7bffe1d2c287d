"""Existence checks at an edge (issue 21): many clients asking at once for one digest cost one
origin request, and the origin's "unknown" for a digest is remembered for negative_ttl by
every worker, until this node writes the repository. Origin requests are counted at the fault
proxy between the edge and the origin (`proxy.requests`)."""
from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ..coherence.http1 import request
from ..faultproxy import FaultProxy
from ..nodeproc import NodeProcess
from ..ocisync import OCI_MANIFEST, sha
from .conftest import EDGE_ENV
from .origins import push_blob, put_manifest

NEGATIVE_TTL = 2.5  # long enough for the repeated HEADs on a loaded machine, short to wait out
PARALLEL = 50
ENV = {**EDGE_ENV, "OCICACHE_CACHE_NEGATIVE_TTL": str(NEGATIVE_TTL)}


@pytest.fixture(scope="module")
def counted(origin):
    with FaultProxy(origin.url) as fp:
        yield fp


@pytest.fixture(scope="module")
def edges(counted, tmp_path_factory):
    """One edge with one worker (coalescing is per worker), one with two (the shared cache)."""
    root = tmp_path_factory.mktemp("negative")
    one = NodeProcess(root / "one", "--origin", counted.url, env=ENV)
    two = NodeProcess(root / "two", "--origin", counted.url, "--workers", "2", env=ENV)
    try:
        one.start()
        two.start()
        yield one, two
    finally:
        one.stop()
        two.stop()


@pytest.fixture
def proxy(counted):
    counted.reset()
    yield counted
    counted.reset()


def asked(proxy: FaultProxy, path: str) -> list[int]:
    """The statuses the origin answered for `path`, in order."""
    return [status for _, path_qs, status in list(proxy.requests) if path_qs == path]


def heads(edge: NodeProcess, path: str, count: int, parallel: bool = False) -> list[int]:
    """Statuses of `count` HEADs, each on a new connection (so on any worker)."""
    if not parallel:
        return [request(edge.hostport, "HEAD", path)[0] for _ in range(count)]
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: request(edge.hostport, "HEAD", path)[0], range(count)))


def missing(repo: str) -> str:
    return f"/v2/{repo}/blobs/{sha(os.urandom(16))}"


def test_parallel_heads_of_a_cold_blob_ask_the_origin_once(origin, edges, proxy):
    one, _ = edges
    path = f"/v2/neg/cold/blobs/{push_blob(origin.url, 'neg/cold', os.urandom(3000))}"
    proxy.delay_s = 0.5  # the origin answers slowly: the 50 HEADs arrive while the first is asked
    assert heads(one, path, PARALLEL, parallel=True) == [200] * PARALLEL
    assert asked(proxy, path) == [200]


def test_a_missing_digest_is_asked_once_then_remembered_for_negative_ttl(edges, proxy):
    one, _ = edges
    path = missing("neg/missing")
    proxy.delay_s = 0.5
    started = time.monotonic()
    assert heads(one, path, PARALLEL, parallel=True) == [404] * PARALLEL
    answered = time.monotonic()  # the origin's 404 came before this: remembered until >= started + ttl
    proxy.delay_s = 0.0
    assert asked(proxy, path) == [404]
    again: list[int] = []  # up to 20 more, all sent while the remembered 404 must still hold
    while len(again) < 20 and time.monotonic() < started + NEGATIVE_TTL - 0.2:
        again += heads(one, path, 1)
    print(f"\n{PARALLEL} parallel + {len(again)} HEADs of a missing digest within negative_ttl: "
          f"{asked(proxy, path)} at the origin")
    assert len(again) >= 3, "fewer than 3 HEADs fitted in negative_ttl on this machine; raise NEGATIVE_TTL"
    assert again == [404] * len(again)
    assert asked(proxy, path) == [404]
    time.sleep(max(0.0, answered + NEGATIVE_TTL + 0.1 - time.monotonic()))
    assert heads(one, path, 1) == [404]
    assert asked(proxy, path) == [404, 404]  # past negative_ttl: asked again


def test_an_origin_failure_is_not_remembered(edges, proxy):
    one, _ = edges
    path = missing("neg/failing")
    proxy.status_override, proxy.status_kinds = 503, {"blob"}
    status = heads(one, path, 1)[0]
    assert status >= 500 and set(asked(proxy, path)) == {503}
    proxy.status_override = None
    assert heads(one, path, 1) == [404]
    assert asked(proxy, path)[-1] == 404  # the next HEAD asked the origin


def test_every_worker_answers_a_remembered_404_and_a_push_through_the_node_ends_it(edges, proxy):
    _, two = edges
    data = os.urandom(2000)
    path = f"/v2/neg/shared/blobs/{sha(data)}"
    assert heads(two, path, 1) == [404]
    assert heads(two, path, 20) == [404] * 20  # new connections: both workers answer
    assert asked(proxy, path) == [404]
    push_blob(two.url, "neg/shared", data)  # through the edge, within negative_ttl
    assert heads(two, path, 20) == [200] * 20  # at once, on every worker


def test_a_missing_manifest_by_digest_is_remembered_until_it_is_pushed_through_the_node(edges, proxy):
    _, two = edges
    config = b"{}"
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": push_blob(two.url, "neg/manifest", config), "size": len(config)},
                "layers": [], "annotations": {"nonce": os.urandom(8).hex()}}
    digest = sha(json.dumps(manifest).encode())
    path = f"/v2/neg/manifest/manifests/{digest}"
    accept = {"Accept": OCI_MANIFEST}
    assert [request(two.hostport, "GET", path, headers=accept)[0] for _ in range(10)] == [404] * 10
    assert asked(proxy, path) == [404]
    assert put_manifest(two.url, "neg/manifest", digest, manifest) == digest
    assert [request(two.hostport, "GET", path, headers=accept)[0] for _ in range(10)] == [200] * 10


def test_a_mount_through_the_node_ends_a_remembered_404_on_every_worker(origin, edges, proxy):
    _, two = edges
    digest = push_blob(origin.url, "neg/source", os.urandom(2000))  # at the origin, not cached here
    path = f"/v2/neg/target/blobs/{digest}"
    assert heads(two, path, 10) == [404] * 10
    status, _, body = request(two.hostport, "POST", f"/v2/neg/target/blobs/uploads/?mount={digest}&from=neg/source")
    assert status == 201, body
    assert heads(two, path, 20) == [200] * 20  # the mount moved the repository's generation
