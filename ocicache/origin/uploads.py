"""The contract of an upload store, and what every store shares.

Two stores keep it: `registry.uploads.Uploads` (sessions staged on this node's disk, handed to
the origin whole by `put_blob`) and `origin.s3uploads.S3Uploads` (sessions kept in the bucket,
written through part by part). Which one a node uses is the origin's `upload_mode`.
"""
from __future__ import annotations

import asyncio
import fcntl
import re
import weakref

from .. import errors
from ..errors import OCIError
from ..hotpaths import digest as hashing
from ..hotpaths.digest import Hasher
from ..reference import Digest

UUID_RE = re.compile(r"[0-9a-f]{32}")
"""Upload session ids: 32 lowercase hex characters (uuid4().hex)."""


def state_key(algorithm: str) -> str:
    """Where a saved session keeps its hash state: `sha256_state` (as before sha512 was
    supported, so sessions survive an upgrade) or `sha512_state`."""
    return f"{algorithm}_state"


async def flock_exclusive(fd: int, poll: float = 0.005) -> None:
    """Take flock(2) LOCK_EX on `fd` without blocking the event loop: another worker process
    holding it (a request on the same session) is waited for, polling every `poll` seconds.
    The lock goes with the descriptor: closing `fd` releases it."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            await asyncio.sleep(poll)


def load_hasher(state: dict) -> tuple[str, Hasher]:
    """(algorithm, hasher) of a saved session; KeyError/ValueError if it holds none that fits."""
    for algorithm in hashing.ALGORITHMS:
        if state_key(algorithm) in state:
            return algorithm, hashing.from_state(algorithm, bytes.fromhex(state[state_key(algorithm)]))
    raise KeyError("no hash state")


class UploadStore:
    """What every upload store shares. A store has, besides these:

    `async create(repo, digest=None)` -> session (digest: known up front, monolithic push);
    `open(repo, id)` -> async context manager yielding the session, current and held exclusively;
    `async append(session, body, expected=None)` -> bytes appended (hashed as they arrive,
    durable on return); `expected`: the chunk's announced length (Content-Range), which a
    store that cannot undo what it passed on uses to hold a chunk until it arrived whole;
    `mark(session)` / `async rollback(session, mark)`: undo a chunk that was refused;
    `async commit(session, digest)`: verify the whole upload (on a mismatch discard it and
    raise DIGEST_INVALID) and make the blob readable in the origin by its digest;
    `async discard(session)`: forget it and everything it stored.
    Optionally `async append_and_commit(session, body, digest)` -> bytes appended: a final chunk
    and the commit as one step (a forwarded session sends them as one PUT; the registry uses it
    for a final PUT with a body and no Content-Range when the store has it).
    Sessions have `id`, `repo`, `offset` and `range_header()`.
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def lock_for(self, upload_id: str) -> asyncio.Lock:
        lock = self._locks.get(upload_id)
        if lock is None:
            lock = self._locks[upload_id] = asyncio.Lock()
        return lock

    async def close(self) -> None:
        """Give back what the store holds open elsewhere (a node stopping); most hold nothing."""

    def open_for_write(self, repo: str, upload_id: str):
        """`open` for a PATCH or the final PUT. A store that can take the session from what it
        holds, without asking where the session lives, overrides it (a forwarded session)."""
        return self.open(repo, upload_id)

    @staticmethod
    def unknown(repo: str, upload_id: str) -> OCIError:
        return OCIError(errors.BLOB_UPLOAD_UNKNOWN, f"upload {upload_id[:64]!r} is not in progress for "
                        f"repository {repo}; start a new upload with POST /v2/{repo}/blobs/uploads/",
                        detail={"uuid": upload_id[:64], "name": repo})

    @staticmethod
    def digest_mismatch(repo: str, actual: Digest, expected: Digest) -> OCIError:
        return OCIError(errors.DIGEST_INVALID, f"upload to {repo} hashes to {actual}, not the "
                        f"{expected} the client named; the upload was discarded, push it again",
                        detail={"expected": str(expected), "actual": str(actual)})
