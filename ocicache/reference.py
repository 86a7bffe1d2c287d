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
# <digest>: algorithm ":" encoded; sha256 encodings are 64 lowercase hex characters.
DIGEST_RE = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
SHA256_HEX_RE = re.compile(r"[a-f0-9]{64}")
MAX_NAME_LENGTH = 255


@dataclass(frozen=True, order=True)
class Digest:
    """A content digest. Only sha256 is accepted (sha512 is optional in the spec)."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def parse(cls, text: str) -> "Digest":
        if not text or len(text) > 256 or not DIGEST_RE.fullmatch(text):
            raise OCIError(errors.DIGEST_INVALID, f"invalid digest {text[:100]!r}: expected sha256:<64 hex>",
                           detail={"digest": text[:100]})
        algorithm, _, encoded = text.partition(":")
        if algorithm != "sha256":
            raise OCIError(errors.UNSUPPORTED, f"digest algorithm {algorithm!r} is not supported; use sha256",
                           detail={"digest": text[:100]}, status=400)
        if not SHA256_HEX_RE.fullmatch(encoded):
            raise OCIError(errors.DIGEST_INVALID, f"invalid sha256 digest {text[:100]!r}: expected 64 lowercase hex",
                           detail={"digest": text[:100]})
        return cls(algorithm, encoded)

    @classmethod
    def from_hex(cls, hexdigest: str) -> "Digest":
        return cls("sha256", hexdigest)


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
