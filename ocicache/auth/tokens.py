"""Signed bearer tokens (Docker's "Token Authentication Implementation", jwt.md).

A token is a JWT signed with ES256 (EC P-256) or RS256 (RSA) whose claims are
`iss`, `sub` (the user; empty for anonymous), `aud` (the service), `exp`, `nbf`, `iat`,
`jti` and `access` (the granted scopes). Every node of a fleet holds the same key, or its
public half, so any node accepts any node's tokens. The header names the key by `kid`, the
RFC 7638 thumbprint of its public JWK; verification picks the key by `kid` and allows only
that key's algorithm (so `alg: none` and algorithm swaps fail), and checks `aud`, `iss`,
`exp` and `nbf` with a little leeway for clocks across the fleet.

The rest of the node reaches this module through auth/tokenservice.py, which imports it by name
only when a key is configured or made: PyJWT and cryptography stay out of a node without one.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .scope import Access, from_claims, to_claims
from .tokenservice import KeyFileError, TokenError

LEEWAY_S = 30
VERIFIED_CACHE_MAX = 10000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def key_id(public) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of a public key."""
    numbers = public.public_numbers()
    if isinstance(public, ec.EllipticCurvePublicKey):
        jwk = {"crv": "P-256", "kty": "EC", "x": _b64(numbers.x.to_bytes(32, "big")),
               "y": _b64(numbers.y.to_bytes(32, "big"))}
    else:
        jwk = {"e": _b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")), "kty": "RSA",
               "n": _b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"))}
    return _b64(hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest())


def _algorithm(public) -> str:
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1":
        return "ES256"
    if isinstance(public, rsa.RSAPublicKey) and public.key_size >= 2048:
        return "RS256"
    raise KeyFileError("unsupported key: use an EC P-256 key (ES256) or an RSA key of 2048 bits or more (RS256)")


def load_key(path: str | os.PathLike):
    """(private key or None, public key) from a PEM file holding either."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"key file {path}: {exc.strerror or exc}") from None
    try:
        if b"PRIVATE KEY" in data:
            private = serialization.load_pem_private_key(data, password=None)
            public = private.public_key()
        else:
            private, public = None, serialization.load_pem_public_key(data)
        _algorithm(public)
    except KeyFileError as exc:
        raise KeyFileError(f"key file {path}: {exc}") from None
    except (ValueError, TypeError):  # the library's text names its internals: say what to do
        raise KeyFileError(f"key file {path}: not a PEM key without a passphrase (make one with "
                           "`ocicache token keygen FILE`, or `openssl ecparam -name prime256v1 -genkey -noout`)") from None
    return private, public


def keygen(path: str | os.PathLike) -> str:
    """Write a new EC P-256 private key to `path` (mode 0600) and its public half to
    `path.pub`; returns the key id. Refuses to overwrite an existing key."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public = private.public_key()
    Path(f"{path}.pub").write_bytes(public.public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo))
    return key_id(public)


@dataclass(frozen=True)
class Claims:
    subject: str | None  # None: anonymous
    access: frozenset[Access]
    expires: float


class TokenService:
    """Issues tokens (when it holds a private key) and verifies them (with any known public key)."""

    def __init__(self, key_path: str | os.PathLike, extra_public: Iterable[str | os.PathLike] = (), *,
                 issuer: str, service: str, ttl: int) -> None:
        self.private, public = load_key(key_path)
        self.kid = key_id(public)
        self.keys = {self.kid: public}
        for path in extra_public:
            _, other = load_key(path)
            self.keys[key_id(other)] = other
        self.issuer, self.service, self.ttl = issuer, service, ttl
        self._verified: dict[str, Claims] = {}

    @property
    def can_issue(self) -> bool:
        return self.private is not None

    def issue(self, subject: str | None, granted: Iterable[Access]) -> tuple[str, int, str]:
        """(token, expires_in, issued_at RFC 3339) for `subject` with `granted` access."""
        if self.private is None:
            raise TokenError("this node holds only a public key and cannot issue tokens")
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": subject or "", "aud": self.service, "exp": now + self.ttl,
                  "nbf": now, "iat": now, "jti": secrets.token_urlsafe(16), "access": to_claims(granted)}
        token = jwt.encode(claims, self.private, algorithm=_algorithm(self.private.public_key()),
                           headers={"kid": self.kid, "typ": "JWT"})
        issued_at = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return token, self.ttl, issued_at

    def verify(self, token: str) -> Claims:
        now = time.time()
        cached = self._verified.get(token)
        if cached is not None and cached.expires + LEEWAY_S > now:
            return cached
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("malformed token") from None
        key = self.keys.get(header.get("kid")) if isinstance(header.get("kid"), str) else None
        if key is None:
            raise TokenError("token signed by an unknown key")
        try:
            claims = jwt.decode(token, key, algorithms=[_algorithm(key)], audience=self.service,
                                issuer=self.issuer, leeway=LEEWAY_S,
                                options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.InvalidAudienceError:
            raise TokenError(f"token is not for service {self.service!r}") from None
        except jwt.InvalidIssuerError:
            raise TokenError(f"token was not issued by {self.issuer!r}") from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {type(exc).__name__}") from None
        result = Claims(claims["sub"] or None, from_claims(claims.get("access")), float(claims["exp"]))
        if len(self._verified) >= VERIFIED_CACHE_MAX:
            self._verified = {t: c for t, c in self._verified.items() if c.expires + LEEWAY_S > now}
            if len(self._verified) >= VERIFIED_CACHE_MAX:
                self._verified.clear()
        self._verified[token] = result
        return result
