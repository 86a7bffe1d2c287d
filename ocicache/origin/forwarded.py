"""Upload sessions forwarded to a registry origin as the bytes arrive (write-through).

The session lives at the origin. The edge's upload id is the origin's own: the last segment
of the origin's `Location` (`/v2/<repo>/blobs/uploads/<id>`), with the origin's query (CNCF
distribution's `_state`) carried in the edge's Location, so the edge's Location is the
origin's path. Any edge in front of the same origin, or the origin itself, can continue it.

While a PATCH streams through, the edge hashes the bytes and writes a local copy in
`spool_dir` (origin/sessioncopies.py: `fwd-<id>.data` and `fwd-<id>.json`, offset and hash state), only for a session
opened here and seen whole here; the copy goes to the edge's store (`LocalCopies.keep`) once
the origin answered 201 to the final PUT, or, for a final PUT carrying the last bytes, while
the origin verifies it, taken out again unless its answer is 201. A session another node took part in is
forwarded without a copy: the origin verifies the digest. Nothing is acknowledged before the
origin acknowledged it; an origin failure is a 503 UNAVAILABLE (clients retry) and drops the
local copy.

A POST takes a session opened at the origin ahead of it when there is one for the repository
(origin/sessionpool.py, `[origin] sessions_ahead`): the same origin session a forwarded POST
would have opened, without the round trip. Such a session's empty local copy is made as it is
opened (`_open_ahead`), while no request waits for it, and removed as soon as the pool gives
the session up (`_drop_ahead`).

One request per session at a time on this node (`_held`): an asyncio lock within a worker and
flock(2) on `fwd-<id>.data` across the node's workers, so two PATCHes of one session landing on
two workers never interleave the copy or its hash state; the second waits for the first.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import re
from contextlib import asynccontextmanager
from typing import Any, AsyncIterable, AsyncIterator

import yarl

from ..errors import OCIError
from ..hotpaths import digest as hashing
from ..reference import Digest
from .base import LocalCopies
from .hashwrite import CopiedBody, HashWriter
from .sessioncopies import ForwardedSession, SessionCopies
from .sessionpool import SessionPool
from .uploads import UploadStore, flock_exclusive

SEGMENT_RE = re.compile(r"[A-Za-z0-9_=-][A-Za-z0-9._=-]{0,255}")
"""An origin's upload id as it may appear in a path (no '/', not '.' or '..')."""


def parse_range_end(value: str | None) -> int | None:
    """The offset a `Range: 0-<last>` header announces (None when absent or malformed)."""
    match = re.fullmatch(r"\s*(?:bytes=)?0-(\d+)\s*", value or "")
    return None if match is None else int(match.group(1)) + 1


class ForwardedUploads(UploadStore):
    def __init__(self, origin: Any, local: LocalCopies | None, sessions_ahead: int = 0) -> None:
        """`origin`: the DistributionOrigin (its `write`, `passed_back`, `pushed`, `_url`);
        `sessions_ahead`: sessions kept open at the origin per repository pushed to (0: none)."""
        super().__init__()
        self.origin = origin
        self.copies = SessionCopies(local.spool_dir if local is not None else None, local)
        self.pool = SessionPool(self._open_ahead, self._cancel_at_origin, depth=sessions_ahead,
                                given_up=self._drop_ahead)

    async def close(self) -> None:
        await self.pool.close()

    # ---- the origin's session URL ----
    def _url(self, session: ForwardedSession, extra: dict[str, str] | None = None) -> yarl.URL:
        ref = yarl.URL(f"/v2/{session.repo}/blobs/uploads/{session.segment}?{session.id.partition('?')[2]}")
        query = dict(ref.query)
        query.update(extra or {})
        return self.origin._url(ref.path).with_query(query)

    def _adopt(self, session: ForwardedSession, location: str | None, range_header: str | None) -> None:
        """Take the origin's new Location (its `_state` may change every request) and offset."""
        if location:
            url = yarl.URL(location)
            prefix = f"/v2/{session.repo}/blobs/uploads/"
            segment = url.path[len(prefix):] if url.path.startswith(prefix) else ""
            if not SEGMENT_RE.fullmatch(segment) or segment in (".", ".."):
                raise self.origin._unavailable(f"upload to {session.repo}: the origin answered Location "
                                               f"{location[:200]!r}, not a session under {prefix}")
            session.id = segment + (f"?{url.query_string}" if url.query_string else "")
        end = parse_range_end(range_header)
        if end == 1 and range_header.strip().endswith("0-0"):  # 0-0 is sent for 0 bytes and for 1
            session.offset = min(session.offset, 1)
        elif end is not None:
            session.offset = end

    @asynccontextmanager
    async def _held(self, segment: str) -> AsyncIterator[None]:
        """The session, held by this request alone on this node, until the block ends.

        Within a worker an asyncio lock; across workers flock(2) on the local copy
        (`fwd-<id>.data`: written in place, never replaced, unlike the `.json` beside it, which
        `os.replace` swaps for a new file on every save). Without a copy here there is no
        local state to guard (the origin orders what it is sent).

        A second request for the session waits rather than being refused: that is what
        this node answers for a session staged on its own disk (registry/uploads.py), so the
        answer does not depend on which worker took which request. Once it holds the session
        it asks the origin where the session stands, so a chunk is appended where the first
        one ended, and what a registry says about such a chunk comes back as it said it: a
        Content-Range that no longer starts at the end is 416 RANGE_INVALID (the spec), and
        CNCF distribution refuses a request carrying a stale `_state` with BLOB_UPLOAD_INVALID
        (its "upload resumed at wrong offset"). Refusing here instead would add a failure that
        depends on timing the client cannot see; clients send one chunk at a time.
        """
        async with self.lock_for(segment):
            paths = self.copies.paths_of(segment)
            try:
                fd = os.open(paths[0], os.O_RDWR) if paths else None
            except FileNotFoundError:
                fd = None
            try:
                if fd is not None:
                    await flock_exclusive(fd)
                yield
            finally:
                if fd is not None:
                    os.close(fd)

    # ---- the store ----
    async def _open_at_origin(self, repo: str) -> str:
        """A POST at the origin: the id of the session it opened (its Location's segment and query)."""
        resp = await self._write(repo, "POST", self.origin._url(f"/v2/{repo}/blobs/uploads/"),
                                 f"opening an upload to {repo}", {"Content-Length": "0"})
        try:
            if resp.status != 202:
                raise await self.origin.passed_back(resp, f"opening an upload to {repo}")
            session = ForwardedSession("", repo)
            self._adopt(session, resp.headers.get("Location"), None)
        finally:
            resp.release()
        return session.id

    async def _write(self, repo: str, method: str, url: yarl.URL, what: str, headers: dict[str, str] | None = None,
                     data: AsyncIterator[bytes] | None = None) -> Any:
        """`origin.write`, heeding what its answer says of the sessions opened ahead: an origin
        unreachable, failing (5xx) or no longer knowing a session (404) may have lost them too."""
        try:
            resp = await self.origin.write(method, url, what, headers, data=data)
        except OCIError:
            self.pool.flush()
            raise
        if resp.status == 404 or resp.status >= 500:
            self.pool.flush(repo)
        return resp

    async def _cancel_at_origin(self, repo: str, upload_id: str) -> None:
        resp = await self.origin.write("DELETE", self._url(ForwardedSession(upload_id, repo)),
                                       f"cancelling upload {upload_id.partition('?')[0][:64]} of {repo}")
        resp.release()

    async def _open_ahead(self, repo: str) -> str:
        """A session for the pool: opened at the origin, its empty local copy made now (when
        that fails, the POST that takes the session tries again: `create`)."""
        upload_id = await self._open_at_origin(repo)
        with contextlib.suppress(OSError):
            self.copies.begin(ForwardedSession(upload_id, repo))
        return upload_id

    def _drop_ahead(self, repo: str, upload_id: str) -> None:
        """The local copy of a session the pool gives up (the pool cancels it at the origin)."""
        self.copies.drop(ForwardedSession(upload_id, repo))

    async def create(self, repo: str, digest: Digest | None = None) -> ForwardedSession:
        """A session at the origin: one opened ahead for `repo` (origin/sessionpool.py), its local
        copy made then in sha256, else a POST now."""
        algorithm = digest.algorithm if digest else "sha256"
        ahead = self.pool.take(repo)
        session = ForwardedSession(ahead or await self._open_at_origin(repo), repo, algorithm=algorithm)
        if ahead is not None and algorithm == ForwardedSession.algorithm and self.copies.has_empty(session):
            session.hasher = hashing.new(algorithm)  # made by _open_ahead
        else:
            self.copies.begin(session)
        return session

    @asynccontextmanager
    async def open(self, repo: str, upload_id: str) -> AsyncIterator[ForwardedSession]:
        """The session as the origin has it (one GET of its status), held on this node."""
        async with self._opened(repo, upload_id, trust_copy=False) as session:
            yield session

    @asynccontextmanager
    async def open_for_write(self, repo: str, upload_id: str) -> AsyncIterator[ForwardedSession]:
        """The session for a PATCH or a final PUT: when this node holds a copy of every byte so far,
        its offset is taken from the copy and the origin is not asked (`confirmed` False), as
        the request that follows tells anyway. If another node appended meanwhile, the origin
        says so: a chunk appended without a range comes back with an end that is not the copy's
        (the copy is dropped), a Content-Range that does not start at the copy's end has the
        registry `refresh` the session first, a final PUT with a body leaves a copy that does
        not hash to its digest (dropped; the origin verified every byte it holds), and an empty
        final PUT whose copy does not hash to its digest asks the origin (`commit`)."""
        async with self._opened(repo, upload_id, trust_copy=True) as session:
            yield session

    @asynccontextmanager
    async def _opened(self, repo: str, upload_id: str, trust_copy: bool) -> AsyncIterator[ForwardedSession]:
        segment, _, query = upload_id.partition("?")
        if not SEGMENT_RE.fullmatch(segment) or segment in (".", ".."):
            raise self.unknown(repo, upload_id)
        async with self._held(segment):
            session = ForwardedSession(upload_id, repo)
            if not (trust_copy and self.copies.load(session, trusted=True)):
                try:
                    await self._status(session)
                except BaseException:
                    self.copies.drop(session)  # the origin lost it, or is gone: no staged copy stays
                    raise
                self.copies.load(session)
            yield session

    async def refresh(self, session: ForwardedSession) -> None:
        """Ask the origin where a session opened from this node's copy stands; a copy that no
        longer ends where the origin's session does is dropped (another node appended)."""
        if session.confirmed:
            return
        local_end = session.offset
        await self._status(session)
        session.confirmed = True
        if session.offset != local_end:
            self.copies.drop(session)

    async def _status(self, session: ForwardedSession) -> None:
        """Where the origin's session stands (its offset and current Location)."""
        what = f"upload {session.segment[:64]} of {session.repo}"
        resp = await self._write(session.repo, "GET", self._url(session), what)
        try:
            if resp.status == 404:
                raise self.unknown(session.repo, session.segment)
            if resp.status not in (200, 204):
                raise await self.origin.passed_back(resp, what)
            self._adopt(session, resp.headers.get("Location"), resp.headers.get("Range"))
        finally:
            resp.release()

    async def append(self, session: ForwardedSession, body: AsyncIterable[bytes],
                     expected: int | None = None) -> int:
        """Stream the body to the origin's session, hashing and copying it on the way.

        With `expected` (the chunk's Content-Range length) the range goes to the origin too, so
        an origin that checks a streamed chunk against its range (an ocicache node) refuses a
        short or long one itself and keeps its session where it was: its 400 comes back as it
        said it, and only this node's local copy is given up. An origin that takes the chunk
        anyway (CNCF distribution checks a range only beside a Content-Length) holds bytes it
        cannot undo: the registry refuses the chunk and `rollback` ends the session.
        """
        content_range = None if expected is None else f"{session.offset}-{session.offset + expected - 1}"
        return (await self._forward(session, body, content_range))[0]

    async def append_and_commit(self, session: ForwardedSession, body: AsyncIterable[bytes], digest: Digest) -> int:
        """The last chunk and the commit in one request: PUT ?digest= with the body, streamed
        to the origin's session as `append` streams a PATCH; returns the bytes it carried.

        The origin verifies the digest over every byte of its session (some may have come
        through other nodes) and commits nothing when it does not match: its DIGEST_INVALID
        comes back as it said it. Only its 201 makes the blob the client's; this node's copy,
        hashed on the way, goes to the store only when it hashes to `digest` as well.
        """
        sent, kept = await self._forward(session, body, None, digest)
        if kept is not None or session.confirmed:  # the blob's size is known
            self.origin.pushed(session.repo, digest, session.offset)
        return sent

    async def _forward(self, session: ForwardedSession, body: AsyncIterable[bytes], content_range: str | None,
                       digest: Digest | None = None) -> tuple[int, bool | None]:
        """A PATCH of the body to the origin's session (a PUT ?digest= with `digest`); returns
        the bytes sent and, for a PUT, `copies.keep_if_whole`'s answer.

        The local copy is hashed and written in a worker thread (hashwrite.py), a batch behind
        the bytes sent on, so the event loop only receives and sends; once the body has ended
        it is settled (and, for a PUT, kept in the store: `copies.keep_if_whole`) while the origin still
        verifies and writes. A copy kept that way before the origin's 201 is taken out of the
        store again when the origin refuses or fails: only the origin's answer makes the blob
        this node's. A copy that cannot be written (the edge's disk full) is given up and the
        bytes still go through: the origin verifies the digest."""
        paths = self.copies.paths(session) if session.hasher is not None else None
        fd = os.open(paths[0], os.O_WRONLY) if paths else None
        copy = HashWriter(session.hasher, fd, session.offset) if fd is not None else None
        start, resp, kept = session.offset, None, None
        relayed = CopiedBody(body, copy, None if digest is None else
                             lambda: self.copies.keep_if_whole(session, digest, start + relayed.sent))
        what = f"upload {session.segment[:64]} of {session.repo}" if digest is None else \
            f"finishing upload {session.segment[:64]} of {session.repo} as {digest}"
        try:
            try:
                resp = await self._send_chunk(session, relayed.pieces(), content_range, digest, what)
            finally:
                kept = await relayed.finish()  # before `fd` is closed: no thread writes to it after
        except BaseException:
            if resp is not None:
                resp.release()
            await self.copies.unkeep(digest, kept)
            self.copies.drop(session)
            raise
        finally:
            if fd is not None:
                os.close(fd)
        try:
            if resp.status != (202 if digest is None else 201):
                await self.copies.unkeep(digest, kept)
                self.copies.drop(session)
                raise await self.origin.passed_back(resp, what)
            session.offset = start + relayed.sent
            if digest is None:  # a 201's Location names the blob, not the session
                self._adopt(session, resp.headers.get("Location"), resp.headers.get("Range"))
                if session.offset != start + relayed.sent:
                    relayed.copying = False  # the origin's session had bytes this copy lacks
                session.confirmed = True
        finally:
            resp.release()
        if copy is not None and not relayed.copying:
            self.copies.drop(session)
        if digest is None:
            self.copies.save(session)
        return relayed.sent, kept

    async def _send_chunk(self, session: ForwardedSession, data: AsyncIterator[bytes], content_range: str | None,
                          digest: Digest | None, what: str) -> Any:
        headers = {"Content-Type": "application/octet-stream"}
        if content_range is not None:
            headers["Content-Range"] = content_range
        if digest is None:
            return await self._write(session.repo, "PATCH", self._url(session), what, headers, data)
        return await self._write(session.repo, "PUT", self._url(session, {"digest": str(digest)}), what, headers, data)

    @staticmethod
    def mark(session: ForwardedSession) -> int:
        return session.offset

    async def rollback(self, session: ForwardedSession, mark: int) -> None:
        """A refused chunk the origin did not take changes nothing here; one it holds cannot
        be taken back: the session ends."""
        if session.offset != mark:
            await self.discard(session)

    async def commit(self, session: ForwardedSession, digest: Digest) -> None:
        """Verify here when every byte went through this node, then PUT at the origin; only
        its 201 makes the blob the client's (and the local copy the store's). A copy whose
        offset the origin did not confirm and that does not hash to `digest` has the origin
        asked first: if another node appended, the copy is dropped and the origin verifies."""
        actual = await self.copies.digest(session, digest)
        if actual is not None and actual != digest and not session.confirmed:
            await self.refresh(session)
            actual = await self.copies.digest(session, digest)
        if actual is not None and actual != digest:
            await self.discard(session)
            raise self.digest_mismatch(session.repo, actual, digest)
        what = f"finishing upload {session.segment[:64]} of {session.repo} as {digest}"
        try:
            resp = await self._write(session.repo, "PUT", self._url(session, {"digest": str(digest)}), what,
                                     {"Content-Length": "0", "Content-Type": "application/octet-stream"})
        except BaseException:
            self.copies.drop(session)
            raise
        try:
            if resp.status != 201:
                self.copies.drop(session)
                raise await self.origin.passed_back(resp, what)
        finally:
            resp.release()
        self.origin.pushed(session.repo, digest, session.offset)
        if session.hasher is not None:  # verified above against `digest`
            await self.copies.store(session, digest, session.offset)

    async def discard(self, session: ForwardedSession) -> None:
        self.copies.drop(session)
        try:
            await self._cancel_at_origin(session.repo, session.id)
        except OCIError:
            pass  # the origin expires sessions nobody finishes

    async def expire(self, older_than: float) -> int:
        """Local copies of sessions idle for `older_than` seconds (the origin expires its own)."""
        return await asyncio.to_thread(self.copies.expire, older_than)

