"""The OCI error table and the one exception type that carries it.

Codes are registered once here and rendered in one middleware
(`ocicache.http.middleware`) as the body the distribution spec defines:
``{"errors": [{"code": ..., "message": ..., "detail": ...}]}``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorCode:
    code: str
    message: str
    status: int


# OCI Distribution spec, "Error Codes" (code-1 .. code-14), plus the status the spec
# or CNCF distribution uses for each.
BLOB_UNKNOWN = ErrorCode("BLOB_UNKNOWN", "blob unknown to registry", 404)
BLOB_UPLOAD_INVALID = ErrorCode("BLOB_UPLOAD_INVALID", "blob upload invalid", 400)
BLOB_UPLOAD_UNKNOWN = ErrorCode("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", 404)
DIGEST_INVALID = ErrorCode("DIGEST_INVALID", "provided digest did not match uploaded content", 400)
MANIFEST_BLOB_UNKNOWN = ErrorCode("MANIFEST_BLOB_UNKNOWN", "manifest references a manifest or blob unknown to registry", 400)
MANIFEST_INVALID = ErrorCode("MANIFEST_INVALID", "manifest invalid", 400)
MANIFEST_UNKNOWN = ErrorCode("MANIFEST_UNKNOWN", "manifest unknown to registry", 404)
NAME_INVALID = ErrorCode("NAME_INVALID", "invalid repository name", 400)
NAME_UNKNOWN = ErrorCode("NAME_UNKNOWN", "repository name not known to registry", 404)
SIZE_INVALID = ErrorCode("SIZE_INVALID", "provided length did not match content length", 400)
MANIFEST_TOO_BIG = ErrorCode("SIZE_INVALID", "manifest is larger than the registry accepts", 413)
UNAUTHORIZED = ErrorCode("UNAUTHORIZED", "authentication required", 401)
DENIED = ErrorCode("DENIED", "requested access to the resource is denied", 403)
UNSUPPORTED = ErrorCode("UNSUPPORTED", "the operation is unsupported", 405)
TOOMANYREQUESTS = ErrorCode("TOOMANYREQUESTS", "too many requests", 429)
TAG_INVALID = ErrorCode("TAG_INVALID", "manifest tag did not match URI", 400)
RANGE_INVALID = ErrorCode("RANGE_INVALID", "requested range not satisfiable", 416)
PAGINATION_INVALID = ErrorCode("PAGINATION_NUMBER_INVALID", "invalid number of results requested", 400)
UNAVAILABLE = ErrorCode("UNAVAILABLE", "the origin is unavailable", 503)
NOT_FOUND = ErrorCode("NOT_FOUND", "no such route in the OCI distribution API", 404)
METHOD_NOT_ALLOWED = ErrorCode("UNSUPPORTED", "method not allowed on this route", 405)


class OCIError(Exception):
    """An error a client can cause or must be told about, rendered as OCI error JSON.

    ``message`` overrides the table's generic text with one that names the
    repository, digest or tag involved and what to do; ``headers`` are added to
    the response (e.g. ``Range`` on an out-of-order chunk, ``Retry-After``).
    """

    def __init__(self, code: ErrorCode, message: str | None = None, *,
                 detail: Any = None, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.code = code
        self.message = message or code.message
        self.detail = detail
        self.status = status or code.status
        self.headers = headers or {}
        super().__init__(f"{code.code}: {self.message}")

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code.code, "message": self.message}
        if self.detail is not None:
            err["detail"] = self.detail
        return {"errors": [err]}


class Unsupported(OCIError):
    """An optional ability that this origin or store does not have."""

    def __init__(self, what: str) -> None:
        super().__init__(UNSUPPORTED, what)
