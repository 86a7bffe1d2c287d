"""Fixtures for access-control tests: users, keys, and apps with auth on (make_app, as served)."""
from __future__ import annotations

import base64
from pathlib import Path

import bcrypt
import pytest

from ocicache.app import make_app
from ocicache.auth import tokens

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "admin": "admin-pw"}
GROUPS = {"devs": ["alice", "bob"], "admins": ["admin"]}
ACL = [
    {"repository": "public/**", "who": ["*"], "actions": ["pull"]},
    {"repository": "public/**", "who": ["group:devs"], "actions": ["push"]},
    {"repository": "team/*", "who": ["group:devs"], "actions": ["pull", "push"]},
    {"repository": "team/secret", "who": ["carol"], "actions": ["pull"]},
    {"repository": "**", "who": ["group:admins"], "actions": ["*"]},
]


def write_htpasswd(path: Path, passwords: dict[str, str] = PASSWORDS) -> Path:
    path.write_text("".join(f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(4)).decode()}\n"
                            for u, p in passwords.items()))
    return path


def basic(user: str, password: str | None = None) -> dict[str, str]:
    password = PASSWORDS.get(user, "x") if password is None else password
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Authed:
    """A test client that sends `headers` with every request (for the API helpers)."""

    def __init__(self, client, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers

    def __getattr__(self, name):
        method = getattr(self.client, name)
        return lambda *a, headers=None, **k: method(*a, headers={**(headers or {}), **self.headers}, **k)


@pytest.fixture(scope="session")
def auth_files(tmp_path_factory):
    base = tmp_path_factory.mktemp("authfiles")
    key = base / "token.pem"
    tokens.keygen(key)
    other = base / "other.pem"
    tokens.keygen(other)
    return {"htpasswd": write_htpasswd(base / "htpasswd"), "key": key, "other_key": other}


def auth_cfg(cfg, auth_files, **auth):
    settings = {"htpasswd": str(auth_files["htpasswd"]), "token_key": str(auth_files["key"])}
    settings.update(auth)
    return cfg.replace(auth=settings)


@pytest.fixture
async def make_client(aiohttp_client, cfg, auth_files):
    """make_client(acl=..., ratelimit=..., limits=...) -> a test client of make_app with auth on."""
    async def make(acl=ACL, groups=GROUPS, ratelimit=None, limits=None, **auth):
        c = auth_cfg(cfg, auth_files, acl=list(acl), groups=dict(groups), **auth)
        if ratelimit is not None:
            c = c.replace(ratelimit=ratelimit)
        if limits is not None:
            c = c.replace(limits=limits)
        return await aiohttp_client(make_app(c))
    return make


@pytest.fixture
async def aclient(make_client):
    return await make_client()
