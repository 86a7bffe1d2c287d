"""SessionCopies (origin/sessioncopies.py): an edge's copy of a forwarded upload session and
what becomes of it: kept in the store when it hashes to the pushed digest, dropped when it does
not, dropped with a warning naming the blob when the store cannot take it, taken back out when
the origin refuses the push."""
from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

from ocicache.origin.base import LocalCopies
from ocicache.origin.sessioncopies import ForwardedSession, SessionCopies
from ocicache.reference import Digest


class Store:
    def __init__(self, fail: bool = False) -> None:
        self.kept: dict[str, bytes] = {}
        self.fail = fail

    def keep(self, digest: Digest, path: Path, size: int) -> bool:
        if self.fail:
            raise OSError(28, "No space left on device")
        self.kept[str(digest)] = path.read_bytes()[:size]
        path.unlink()
        return True

    def forget(self, digest: Digest) -> None:
        self.kept.pop(str(digest), None)


def _copies(tmp_path: Path, store: Store) -> SessionCopies:
    spool = tmp_path / "partial"
    return SessionCopies(spool, LocalCopies(spool_dir=spool, keep=store.keep, forget=store.forget))


def _copy_of(copies: SessionCopies, data: bytes) -> ForwardedSession:
    session = ForwardedSession("abc123", "team/app")
    copies.begin(session)
    assert copies.has_empty(session)
    copies.paths(session)[0].write_bytes(data)
    session.hasher.update(data)
    session.offset = len(data)
    return session


def _sha(data: bytes) -> Digest:
    return Digest.parse("sha256:" + hashlib.sha256(data).hexdigest())


def test_a_whole_copy_goes_to_the_store_and_comes_out_again_when_the_origin_refuses(tmp_path):
    store = Store()
    copies = _copies(tmp_path, store)
    data = b"layer bytes" * 1000
    session = _copy_of(copies, data)
    assert asyncio.run(copies.keep_if_whole(session, _sha(data), len(data))) is True
    assert store.kept == {str(_sha(data)): data}
    assert not any(copies.paths(session)[i].exists() for i in (0, 1))
    asyncio.run(copies.unkeep(_sha(data), True))
    assert store.kept == {}


def test_a_copy_that_is_not_the_pushed_blob_is_dropped_not_kept(tmp_path):
    store = Store()
    copies = _copies(tmp_path, store)
    session = _copy_of(copies, b"only part of it")
    assert asyncio.run(copies.keep_if_whole(session, _sha(b"the whole blob"), 14)) is None
    assert store.kept == {} and session.hasher is None
    assert not copies.has_empty(session) and not list((tmp_path / "partial").iterdir())


def test_a_store_that_cannot_take_the_copy_drops_it_with_a_warning_naming_the_blob(tmp_path, caplog):
    copies = _copies(tmp_path, Store(fail=True))
    data = b"x" * 5000
    session = _copy_of(copies, data)
    with caplog.at_level(logging.WARNING, logger="ocicache.forwarded"):
        assert asyncio.run(copies.keep_if_whole(session, _sha(data), len(data))) is None
    assert not list((tmp_path / "partial").iterdir())
    (record,) = caplog.records
    message = record.getMessage()
    assert str(_sha(data)) in message and "team/app" in message and "check the cache disk" in message
