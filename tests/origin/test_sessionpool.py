"""SessionPool (origin/sessionpool.py): upload sessions opened at an origin ahead of the POSTs
that take them; with an origin of its own (a list of what was opened and cancelled)."""
from __future__ import annotations

import asyncio

import pytest

from ocicache.errors import OCIError, UNAVAILABLE
from ocicache.origin.sessionpool import SessionPool


class FakeOrigin:
    def __init__(self) -> None:
        self.opened: list[str] = []
        self.cancelled: list[str] = []
        self.refuse = False

    async def open_one(self, repo: str) -> str:
        await asyncio.sleep(0)
        if self.refuse:
            raise OCIError(UNAVAILABLE, "origin http://o: opening an upload failed")
        self.opened.append(f"{repo}#{len(self.opened)}")
        return self.opened[-1]

    async def cancel_one(self, repo: str, session: str) -> None:
        self.cancelled.append(session)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def pool_of(origin: FakeOrigin, clock: Clock, **kwargs) -> SessionPool:
    return SessionPool(origin.open_one, origin.cancel_one, clock=clock, **kwargs)


def test_the_first_post_opens_ahead_and_the_next_takes_what_was_opened():
    async def run():
        origin, clock = FakeOrigin(), Clock()
        pool = pool_of(origin, clock, depth=2)
        assert pool.take("a/b") is None  # nothing opened yet: the POST goes to the origin
        await settle()
        assert origin.opened == ["a/b#0", "a/b#1"] and pool.held() == 2
        assert pool.take("a/b") == "a/b#0"
        await settle()
        assert pool.take("a/b") == "a/b#1"
        assert pool.take("c/d") is None  # per repository
        await pool.close()
        assert origin.cancelled and set(origin.cancelled) <= set(origin.opened)
        assert "a/b#0" not in origin.cancelled and "a/b#1" not in origin.cancelled  # taken: the client's
        assert pool.held() == 0
    asyncio.run(run())


def test_a_session_older_than_max_age_is_cancelled_not_handed_out():
    async def run():
        origin, clock = FakeOrigin(), Clock()
        pool = pool_of(origin, clock, depth=1, max_age=30.0)
        pool.take("r")
        await settle()
        clock.now += 31
        assert pool.take("r") is None
        await settle()
        assert origin.cancelled == ["r#0"]
        assert pool.take("r") == "r#1"  # opened again by the refill
        await pool.close()
    asyncio.run(run())


def test_an_origin_that_refuses_is_not_asked_again_until_the_backoff_ends():
    async def run():
        origin, clock = FakeOrigin(), Clock()
        origin.refuse = True
        pool = pool_of(origin, clock, depth=2, backoff=30.0)
        assert pool.take("r") is None
        await settle()
        origin.refuse = False
        assert pool.take("r") is None
        await settle()
        assert origin.opened == []  # within the backoff: not asked
        clock.now += 31
        pool.take("r")
        await settle()
        assert len(origin.opened) == 2
        await pool.close()
    asyncio.run(run())


def test_flush_gives_up_what_is_held_and_cancels_it():
    async def run():
        origin, clock = FakeOrigin(), Clock()
        pool = pool_of(origin, clock, depth=1)
        pool.take("a")
        pool.take("b")
        await settle()
        pool.flush("a")
        await settle()
        assert origin.cancelled == ["a#0"] and pool.held() == 1
        pool.flush()
        await settle()
        assert sorted(origin.cancelled) == ["a#0", "b#1"] and pool.held() == 0
        await pool.close()
    asyncio.run(run())


@pytest.mark.parametrize("max_repos", [1, 3])
def test_the_least_recently_pushed_repository_gives_its_sessions_up(max_repos):
    async def run():
        origin, clock = FakeOrigin(), Clock()
        pool = pool_of(origin, clock, depth=1, max_repos=max_repos)
        for repo in ["r0", "r1", "r2", "r3"]:
            pool.take(repo)
            await settle()
        assert pool.held() == max_repos
        assert len(origin.cancelled) == 4 - max_repos
        assert origin.cancelled[0] == "r0#0"
        await pool.close()
        assert sorted(origin.cancelled) == sorted(origin.opened)
    asyncio.run(run())


def test_depth_zero_opens_nothing():
    async def run():
        origin, clock = FakeOrigin(), Clock()
        pool = pool_of(origin, clock, depth=0)
        assert pool.take("r") is None
        await settle()
        assert origin.opened == [] and pool.held() == 0
        await pool.close()
    asyncio.run(run())


def test_given_up_is_told_at_once_of_every_session_the_pool_gives_up():
    """`given_up` runs before the pool yields to the loop: whoever looks right after a flush, an
    expiry or the close finds the caller's state for those sessions gone already."""
    async def run():
        origin, clock = FakeOrigin(), Clock()
        dropped: list[str] = []
        pool = SessionPool(origin.open_one, origin.cancel_one, clock=clock, depth=1,
                           given_up=lambda repo, session: dropped.append(session))
        pool.take("a")
        pool.take("b")
        await settle()
        pool.flush("a")
        assert dropped == ["a#0"] and origin.cancelled == []  # told now; the origin hears later
        clock.now += 31  # older than max_age: given up as it is found, not handed out
        assert pool.take("b") is None
        assert dropped == ["a#0", "b#1"]
        await settle()
        held = [s for s in origin.opened if s not in dropped]
        assert held and pool.held() == len(held)
        await pool.close()
        assert sorted(dropped) == sorted(origin.opened) == sorted(origin.cancelled)
    asyncio.run(run())
