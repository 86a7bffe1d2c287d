"""The tag cache: TTL, revalidation, stale-if-error, negative caching."""
from __future__ import annotations

import pytest

from ocicache import errors
from ocicache.errors import OCIError
from ocicache.reference import Digest
from ocicache.cache.tags import TagCache

from .fakes import Clock

A = Digest.from_hex("aa" * 32)
B = Digest.from_hex("bb" * 32)


class Origin:
    def __init__(self) -> None:
        self.answer: Digest | OCIError = A
        self.calls = 0

    async def fetch(self) -> Digest:
        self.calls += 1
        if isinstance(self.answer, OCIError):
            raise self.answer
        return self.answer


@pytest.fixture
def setup():
    clock, origin = Clock(), Origin()
    return TagCache(ttl=30, stale_if_error=60, negative_ttl=5, clock=clock), clock, origin


async def test_fresh_entry_served_without_origin(setup):
    cache, clock, origin = setup
    assert await cache.resolve("t", origin.fetch) == A
    origin.answer = B
    clock.now = 29
    assert await cache.resolve("t", origin.fetch) == A
    assert origin.calls == 1


async def test_stale_entry_revalidated(setup):
    cache, clock, origin = setup
    await cache.resolve("t", origin.fetch)
    origin.answer = B
    clock.now = 31
    assert await cache.resolve("t", origin.fetch) == B
    assert origin.calls == 2


async def test_stale_if_error_window(setup):
    cache, clock, origin = setup
    await cache.resolve("t", origin.fetch)
    origin.answer = OCIError(errors.UNAVAILABLE, "down")
    clock.now = 89
    assert await cache.resolve("t", origin.fetch) == A
    clock.now = 91
    with pytest.raises(OCIError) as exc:
        await cache.resolve("t", origin.fetch)
    assert exc.value.code is errors.UNAVAILABLE


async def test_unknown_tag_cached_negatively(setup):
    cache, clock, origin = setup
    origin.answer = OCIError(errors.MANIFEST_UNKNOWN, "no such tag")
    for _ in range(3):
        with pytest.raises(OCIError):
            await cache.resolve("t", origin.fetch)
    assert origin.calls == 1
    origin.answer = A
    clock.now = 6
    assert await cache.resolve("t", origin.fetch) == A


async def test_forget_drops_entry(setup):
    cache, clock, origin = setup
    await cache.resolve("t", origin.fetch)
    origin.answer = B
    cache.forget("t")
    assert await cache.resolve("t", origin.fetch) == B


async def test_forget_repository_drops_its_tags_only(setup):
    cache, clock, origin = setup
    for key in (("r", "v1"), ("r", "v2"), ("s", "v1")):
        await cache.resolve(key, origin.fetch)
    origin.answer = B
    cache.forget_repository("r")
    assert await cache.resolve(("r", "v1"), origin.fetch) == B
    assert await cache.resolve(("r", "v2"), origin.fetch) == B
    assert await cache.resolve(("s", "v1"), origin.fetch) == A  # still cached
