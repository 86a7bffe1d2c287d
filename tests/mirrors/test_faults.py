"""An upstream that rate-limits, corrupts or goes down: a stale tag or a clean error naming the
upstream, never wrong bytes."""
from __future__ import annotations

import http.client
import json
import time

from ..distribution import Distribution
from ..faultproxy import FaultProxy
from ..nodeproc import NodeProcess
from .conftest import error_of, get, push_image, sha

EDGE_ENV = {"OCICACHE_CACHE_TAG_TTL": "0.5", "OCICACHE_CACHE_STALE_IF_ERROR": "60",
            "OCICACHE_UPSTREAMS_RETRIES": "1"}


def layer_of(edge: NodeProcess, path: str) -> str:
    return json.loads(get(edge.url, path)[2])["layers"][0]["digest"]


def get_blob_or_broken(edge: NodeProcess, path: str) -> bytes | None:
    """The whole body, or None when the node cut the connection before the end."""
    try:
        return get(edge.url, path)[2]
    except (http.client.IncompleteRead, ConnectionError):
        return None


def test_upstream_429_corrupt_and_down(tmp_path, started):
    reg = started(Distribution(tmp_path / "reg"))
    v1 = push_image(reg.url, "team/app", "v1", b"one " * 5000)
    v2 = push_image(reg.url, "team/app", "v2", b"two " * 5000)
    proxy = started(FaultProxy(reg.url))
    edge = started(NodeProcess(tmp_path / "edge", "--upstream", f"up.test={proxy.url}", env=EDGE_ENV))
    assert sha(get(edge.url, "/v2/up.test/team/app/manifests/v1")[2]) == v1

    # wrong bytes from the upstream: a manifest is refused, a blob never arrives whole
    proxy.corrupt, proxy.fault_kinds = True, {"manifest", "blob"}
    status, _, body = get(edge.url, f"/v2/up.test/team/app/manifests/{v2}")
    assert status == 503 and "upstream up.test" in error_of(body)["message"], body
    layer2 = json.loads(get(reg.url, f"/v2/team/app/manifests/{v2}")[2])["layers"][0]["digest"]
    got = get_blob_or_broken(edge, f"/v2/up.test/team/app/blobs/{layer2}")
    assert got is None or (len(got) != 20000 and not got.startswith(b"two"))  # never the wrong whole
    proxy.corrupt = False
    assert sha(get(edge.url, f"/v2/up.test/team/app/blobs/{layer2}")[2]) == layer2

    # 429: a known tag is served stale, new content gets 429 + Retry-After naming the upstream,
    # and the node stops asking the upstream until Retry-After has passed
    time.sleep(0.6)
    proxy.status_override, proxy.retry_after = 429, "2"
    layer1 = layer_of(edge, "/v2/up.test/team/app/manifests/v1")  # stale, from the tag cache
    status, headers, body = get(edge.url, "/v2/up.test/team/app/manifests/v3")
    err = error_of(body)
    assert status == 429 and err["code"] == "TOOMANYREQUESTS", body
    assert "upstream up.test" in err["message"] and 1 <= int(headers["Retry-After"]) <= 2
    asked = len(proxy.requests)
    status, _, _ = get(edge.url, "/v2/up.test/team/app/manifests/v4")
    assert status == 429 and len(proxy.requests) == asked
    proxy.status_override = None
    time.sleep(2.1)
    assert sha(get(edge.url, f"/v2/up.test/team/app/blobs/{layer1}")[2]) == layer1

    # down: the tag serves stale, content never fetched gets 503 naming the upstream
    reg.stop()
    time.sleep(0.6)
    assert sha(get(edge.url, "/v2/up.test/team/app/manifests/v1")[2]) == v1
    status, _, body = get(edge.url, "/v2/up.test/team/app/manifests/v5")
    err = error_of(body)
    assert status == 503 and err["code"] == "UNAVAILABLE" and "upstream up.test" in err["message"], body
