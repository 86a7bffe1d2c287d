"""The token service as the rest of the node sees it, without PyJWT and cryptography (issue 18:
about 10 MiB in each of a node's processes): its errors, and the calls that build a service or a
key, which import auth/tokens.py (and with it those libraries) by name the first time they run.

A node without `[auth] token_key` never imports them; one with a key imports them while its
config is checked (config/checks.py), before the workers are forked, so its processes share
them. tests/test_lazy_imports.py checks a running node. auth/tokens.py sits in this package like
any other module, so lint-imports checks what it imports.
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Iterable

SIGNING_MODULE = f"{__package__}.tokens"
"""The module that signs and verifies tokens with PyJWT and cryptography, imported by name."""


class KeyFileError(ValueError):
    """A key file is missing, unreadable, or not an EC P-256 or RSA (2048+ bit) PEM key."""


class TokenError(Exception):
    """A bearer token that must not be accepted; the message says why (never the token)."""


def signing() -> ModuleType:
    """auth/tokens.py, imported now if it was not."""
    return importlib.import_module(SIGNING_MODULE)


def open_service(key_path: str | os.PathLike, extra_public: Iterable[str | os.PathLike] = (), *,
                 issuer: str, service: str, ttl: int):
    """An auth/tokens.py TokenService holding `key_path` (private or public) and the other public keys it accepts;
    raises KeyFileError for a key it cannot use."""
    return signing().TokenService(key_path, extra_public, issuer=issuer, service=service, ttl=ttl)


def keygen(path: str | os.PathLike) -> str:
    """Write a new EC P-256 private key to `path` and its public half to `path.pub` (tokens.keygen);
    returns the key id."""
    return signing().keygen(path)
