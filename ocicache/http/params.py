"""Parsing of request parameters whose grammar is HTTP's or the spec's, not the registry's."""
from __future__ import annotations

import re

from aiohttp import web

from .. import errors
from ..errors import OCIError
from ..reference import SUPPORTED, Digest, UnsupportedDigest, check_tag, is_digest

# RFC 9110 14.1.2: byte-range-spec / suffix-byte-range-spec
_RANGE_RE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")
# OCI distribution spec, "Pushing a blob in chunks": Content-Range: <start>-<end>
# (also accepted: the RFC form some clients send, "bytes <start>-<end>/<total>")
_CONTENT_RANGE_RE = re.compile(r"\s*(?:bytes\s+)?(\d+)-(\d+)(?:/(?:\d+|\*))?\s*")
MAX_INT_DIGITS = 19


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(offset, length) for a single satisfiable Range; None to serve the whole blob.

    Per RFC 9110 14.2, a Range that does not parse, or asks for several ranges, is ignored;
    one that cannot be satisfied is a 416 with `Content-Range: bytes */<size>`.
    """
    if not header:
        return None
    match = _RANGE_RE.fullmatch(header)
    if match is None:
        return None
    first, last = match.groups()
    if len(first) > MAX_INT_DIGITS or len(last) > MAX_INT_DIGITS or (not first and not last):
        return None
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
        if last and int(last) < start:
            return None  # invalid range-spec: ignored
    else:
        suffix = int(last)
        start, end = max(size - suffix, 0), size - 1
        if suffix == 0:
            start = size
    if start >= size:
        raise OCIError(errors.RANGE_INVALID, f"range {header.strip()[:60]!r} is outside the blob's "
                       f"{size} bytes", headers={"Content-Range": f"bytes */{size}"})
    return start, end - start + 1


def content_range(header: str | None) -> tuple[int, int] | None:
    """(start, end) of a chunk's Content-Range, inclusive; None when absent."""
    if header is None:
        return None
    match = _CONTENT_RANGE_RE.fullmatch(header)
    if match is None or any(len(g) > MAX_INT_DIGITS for g in match.groups()[:2]):
        raise OCIError(errors.BLOB_UPLOAD_INVALID, f"Content-Range {header[:60]!r} is not <start>-<end>")
    start, end = int(match.group(1)), int(match.group(2))
    if end < start:
        raise OCIError(errors.RANGE_INVALID, f"Content-Range {header[:60]!r} ends before it starts")
    return start, end


def content_length(request: web.Request) -> int | None:
    value = request.headers.get("Content-Length")
    if value is None:
        return None
    if not value.strip().isdigit() or len(value.strip()) > MAX_INT_DIGITS:
        raise OCIError(errors.SIZE_INVALID, f"Content-Length {value[:40]!r} is not a number")
    return int(value)


def digest_param(request: web.Request, required: bool) -> Digest | None:
    values = request.query.getall("digest", [])
    if not values:
        if required:
            raise OCIError(errors.DIGEST_INVALID, "the digest query parameter is required to finish an upload")
        return None
    return Digest.parse(values[0])


def readable_digest(text: str, repo: str, unknown: errors.ErrorCode) -> Digest:
    """A digest in a read or delete URL. One of an algorithm this registry does not store
    (well-formed, e.g. sha384:<96 hex>) names nothing here: `unknown` (BLOB_UNKNOWN or
    MANIFEST_UNKNOWN), 404. A malformed one is 400 DIGEST_INVALID, as everywhere."""
    try:
        return Digest.parse(text)
    except UnsupportedDigest as exc:
        what = "blob" if unknown is errors.BLOB_UNKNOWN else "manifest"
        raise OCIError(unknown, f"{what} {text[:150]} is not in repository {repo}: this registry holds only "
                       f"{' and '.join(SUPPORTED)} content ({exc.algorithm} is not stored here)",
                       detail={"name": repo, "digest": text[:150]}) from None


def readable_reference(text: str, repo: str) -> "Digest | str":
    """A manifest reference in a read or delete URL: a tag, or a digest (`readable_digest`)."""
    if is_digest(text):
        return readable_digest(text, repo, errors.MANIFEST_UNKNOWN)
    return check_tag(text)


def page(request: web.Request, max_page: int) -> tuple[int | None, str | None]:
    """`n` and `last` of a paginated listing (spec: "Listing Tags")."""
    n_text = request.query.get("n")
    n = None
    if n_text is not None:
        if not n_text.isdigit() or len(n_text) > MAX_INT_DIGITS:
            raise OCIError(errors.PAGINATION_INVALID, f"n={n_text[:40]!r} is not a non-negative integer")
        n = min(int(n_text), max_page)
    return n, request.query.get("last")
