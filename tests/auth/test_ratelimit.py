"""Rate limits: a burst beyond the limit gets 429 TOOMANYREQUESTS with Retry-After while
other clients are unaffected; X-Forwarded-For counts only from a trusted proxy."""
from __future__ import annotations

from ocicache.auth.ratelimit import TokenBuckets

from ..api.helpers import error_code
from .conftest import basic

PROXY = {"trusted_proxies": ["127.0.0.0/8"]}


def limits(**kw):
    return {"enabled": "true", "per_ip_rate": 1, "per_ip_burst": 5, "per_identity_rate": 1000,
            "per_identity_burst": 1000, **kw}


def test_bucket_refills_at_its_rate():
    buckets = TokenBuckets(rate=2, burst=3)
    assert [buckets.take("a", now=0.0) for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a", now=0.0) == 0.5
    assert buckets.take("b", now=0.0) == 0
    assert buckets.take("a", now=0.5) == 0
    assert buckets.wait("a", now=0.5) == 0.5
    assert buckets.take("a", now=10.0) == 0  # refilled, never above the burst
    assert [buckets.take("a", now=10.0) for _ in range(3)] == [0, 0, 0.5]


def test_bucket_forgets_least_recently_used_keys():
    buckets = TokenBuckets(rate=1, burst=1, max_keys=2)
    for key in ("a", "b", "c"):
        buckets.take(key, now=0.0)
    assert buckets.take("a", now=0.0) == 0  # forgotten, so full again
    assert buckets.take("c", now=0.0) == 1.0


async def test_burst_beyond_the_limit_gets_429_and_others_are_unaffected(make_client):
    client = await make_client(ratelimit=limits(**PROXY))
    noisy = {"X-Forwarded-For": "203.0.113.7"}
    statuses = [(await client.get("/v2/public/lib/tags/list", headers=noisy)).status for _ in range(8)]
    assert statuses[:5] == [404] * 5 and statuses[5:] == [429] * 3
    resp = await client.get("/v2/public/lib/tags/list", headers=noisy)
    assert resp.status == 429
    assert await error_code(resp) == "TOOMANYREQUESTS"
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.headers["Cache-Control"] == "no-store"
    quiet = {"X-Forwarded-For": "198.51.100.1"}
    assert (await client.get("/v2/public/lib/tags/list", headers=quiet)).status == 404


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(make_client):
    client = await make_client(ratelimit=limits())
    for i in range(5):  # a different X-Forwarded-For each time does not buy more requests
        assert (await client.get("/v2/public/lib/tags/list", headers={"X-Forwarded-For": f"10.0.0.{i}"})).status == 404
    assert (await client.get("/v2/public/lib/tags/list", headers={"X-Forwarded-For": "10.0.0.99"})).status == 429


async def test_the_client_cannot_choose_its_address_behind_a_trusted_proxy(make_client):
    client = await make_client(ratelimit=limits(**PROXY))
    for i in range(5):  # the left part of the header is the client's; the proxy appends the real peer
        headers = {"X-Forwarded-For": f"1.1.1.{i}, 203.0.113.9"}
        assert (await client.get("/v2/public/lib/tags/list", headers=headers)).status == 404
    headers = {"X-Forwarded-For": "1.1.1.200, 203.0.113.9"}
    assert (await client.get("/v2/public/lib/tags/list", headers=headers)).status == 429


async def test_per_identity_limit(make_client):
    client = await make_client(ratelimit=limits(per_ip_rate=1000, per_ip_burst=1000, per_identity_rate=1,
                                                per_identity_burst=3))
    statuses = [(await client.get("/v2/team/app/tags/list", headers=basic("alice"))).status for _ in range(4)]
    assert statuses == [404, 404, 404, 429]
    assert (await client.get("/v2/team/app/tags/list", headers=basic("bob"))).status == 404


async def test_failed_logins_are_limited_per_address(make_client):
    client = await make_client(ratelimit={"auth_failures_per_minute": 3, **PROXY})
    attacker = {"X-Forwarded-For": "203.0.113.66"}
    statuses = [(await client.get("/v2/", headers={**basic("alice", f"guess{i}"), **attacker})).status
                for i in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    resp = await client.get("/token", headers={**basic("alice"), **attacker})
    assert resp.status == 429  # even the right password waits
    assert (await client.get("/v2/", headers={**basic("alice"), "X-Forwarded-For": "198.51.100.5"})).status == 200


async def test_rate_limits_are_off_without_auth_unless_asked(client):
    for _ in range(600):
        resp = await client.get("/v2/")
    assert resp.status == 200
