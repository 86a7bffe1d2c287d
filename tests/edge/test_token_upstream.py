"""An edge reading CNCF distribution with token auth (tests/tokenissuer.py as its realm).

Here the edge reaches it as a mirrored upstream: `--upstream NAME=URL` with `[upstreams]
credentials` and, the realm being on another port, `[upstreams] token_realms` (as its
`--origin`, with `[origin]` credentials, it also takes pushes: tests/edge/test_push_auth.py).
It fetches one token per repository scope and reuses it for every manifest, blob and
revalidation until it expires, also with 8 clients pulling at once.
"""
from __future__ import annotations

import os
import time

import pytest

from ..distribution import Distribution
from ..faultproxy import FaultProxy
from ..nodeproc import NodeProcess
from ..tokenissuer import TokenIssuer
from .conftest import EDGE_ENV
from .origins import push_image
from .test_pulls import concurrently, pull, tag_answer

USERS = {"alice": "s3cret-pw"}
MiB = 1024 * 1024


@pytest.fixture
def issuer(tmp_path):
    issuer = TokenIssuer(tmp_path / "issuer", USERS).start()
    yield issuer
    issuer.stop()


@pytest.fixture
def registry(tmp_path, issuer):
    registry = Distribution(tmp_path / "registry", auth="token", issuer=issuer).start()
    yield registry
    registry.stop()


@pytest.fixture
def proxy(registry):
    with FaultProxy(registry.url) as fp:
        yield fp


@pytest.fixture
def edge(tmp_path, proxy, issuer):
    node = NodeProcess(tmp_path / "edge", "--upstream", f"tok.test={proxy.url}",
                       env={**EDGE_ENV, "OCICACHE_UPSTREAMS_CREDENTIALS": "tok.test=alice:s3cret-pw",
                            "OCICACHE_UPSTREAMS_TOKEN_REALMS": f"tok.test={issuer.url}"})
    node.start()
    yield node
    node.stop()


def pusher(issuer: TokenIssuer, repo: str) -> dict:
    return {"Authorization": "Bearer " + issuer.issue("alice", [f"repository:{repo}:push,pull"])}


def refused(proxy) -> list:
    return [r for r in proxy.requests if r[2] == 401]


def test_one_token_per_scope_reused_for_manifests_blobs_and_revalidation(registry, issuer, proxy, edge):
    layers = [os.urandom(MiB) for _ in range(3)]
    want = push_image(registry.url, "team/app", "v1", *layers, headers=pusher(issuer, "team/app"))
    tools = push_image(registry.url, "team/tools", "v1", os.urandom(1000), headers=pusher(issuer, "team/tools"))
    issuer.requests.clear()
    assert tag_answer(edge, "tok.test/team/app", "v1") == (200, want)
    assert issuer.requests == [("alice", "repository:team/app:pull")]
    assert len(refused(proxy)) == 1                 # the first HEAD met the challenge, once
    results = concurrently(8, pull, edge.url, "tok.test/team/app", "v1")
    assert len(results) == 8 and all(r == results[0] for r in results), results
    digest, blobs = results[0]
    assert digest == want and len(blobs) == 4
    assert issuer.requests == [("alice", "repository:team/app:pull")]
    assert len(refused(proxy)) == 1, proxy.requests # every blob HEAD and GET carried the token
    assert sum(1 for r in proxy.requests if r[0] == "GET" and "/blobs/" in r[1]) == 4
    time.sleep(1.2)                                 # past the tag TTL: revalidated with the same token
    proxy.reset()
    assert tag_answer(edge, "tok.test/team/app", "v1") == (200, want)
    assert proxy.requests == [("HEAD", "/v2/team/app/manifests/v1", 200)]
    assert pull(edge.url, "tok.test/team/tools", "v1")[0] == tools   # another scope: its own token
    assert issuer.requests == [("alice", "repository:team/app:pull"), ("alice", "repository:team/tools:pull")]
