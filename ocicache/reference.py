"""Repository name, tag and digest grammar (OCI distribution spec, "Pulling"). Pure, no I/O."""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import errors
from .errors import OCIError

# <name>: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
NAME_RE = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*")
# <reference> as a tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
# <digest>: algorithm ":" encoded (OCI image spec, "Digests"):
#   algorithm [a-z0-9]+([+._-][a-z0-9]+)*   encoded [a-zA-Z0-9=_-]+
DIGEST_RE = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
HEX_RE = re.compile(r"[a-f0-9]+")
SUPPORTED = {"sha256": 64, "sha512": 128}
"""The algorithms this registry stores and verifies, with the length of their lowercase hex."""
FIXED_ENCODINGS = {"blake3": 64, "sha384": 96}
"""Algorithms registered elsewhere (image spec: blake3; go-digest: sha384) that this registry does
not store: their encoding is still checked, so `sha384:xyz` is malformed, not merely unsupported."""
MAX_NAME_LENGTH = 255
MAX_DIGEST_LENGTH = 256


class UnsupportedDigest(OCIError):
    """A well-formed digest of an algorithm this registry does not store (e.g. sha384:<96 hex>).

    Pushing content under it is 400 DIGEST_INVALID (this error as raised); reading or deleting
    by it is 404 BLOB_UNKNOWN / MANIFEST_UNKNOWN, since nothing here can have that name
    (`ocicache.http.params.readable_digest`)."""

    def __init__(self, text: str, algorithm: str) -> None:
        self.algorithm = algorithm
        super().__init__(errors.DIGEST_INVALID, f"digest {text[:150]!r} uses the algorithm {algorithm!r}, which "
                         f"this registry does not store; push with {' or '.join(SUPPORTED)}",
                         detail={"digest": text[:150], "supported": list(SUPPORTED)})


@dataclass(frozen=True, order=True)
class Digest:
    """A content digest of a supported algorithm (`SUPPORTED`): sha256 or sha512."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def parse(cls, text: str) -> "Digest":
        """The digest `text` names. Malformed: OCIError DIGEST_INVALID; well-formed but of an
        algorithm not stored here: UnsupportedDigest (also DIGEST_INVALID, 400)."""
        if not text or len(text) > MAX_DIGEST_LENGTH or not DIGEST_RE.fullmatch(text):
            raise _malformed(text, "expected <algorithm>:<encoded>, e.g. sha256:<64 hex> or sha512:<128 hex>")
        algorithm, _, encoded = text.partition(":")
        length = SUPPORTED.get(algorithm) or FIXED_ENCODINGS.get(algorithm)
        if length is not None and (len(encoded) != length or not HEX_RE.fullmatch(encoded)):
            raise _malformed(text, f"a {algorithm} digest is {length} lowercase hex characters")
        if algorithm not in SUPPORTED:
            raise UnsupportedDigest(text, algorithm)
        return cls(algorithm, encoded)

    @classmethod
    def from_hex(cls, hexdigest: str, algorithm: str = "sha256") -> "Digest":
        return cls(algorithm, hexdigest)


def _malformed(text: str, expected: str) -> OCIError:
    return OCIError(errors.DIGEST_INVALID, f"invalid digest {text[:150]!r}: {expected}",
                    detail={"digest": text[:150]})


def is_digest(reference: str) -> bool:
    return ":" in reference


def check_name(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH or not NAME_RE.fullmatch(name):
        raise OCIError(errors.NAME_INVALID, f"invalid repository name {name[:100]!r}: "
                       "lowercase alphanumerics separated by '.', '_', '__', '-' and '/'",
                       detail={"name": name[:100]})
    return name


def check_tag(tag: str) -> str:
    if not TAG_RE.fullmatch(tag):
        raise OCIError(errors.TAG_INVALID, f"invalid tag {tag[:140]!r}: up to 128 of [A-Za-z0-9_.-], "
                       "not starting with '.' or '-'", detail={"tag": tag[:140]})
    return tag


def parse_reference(reference: str) -> "Digest | str":
    """A manifest reference: a Digest, or a checked tag string."""
    if is_digest(reference):
        return Digest.parse(reference)
    return check_tag(reference)
