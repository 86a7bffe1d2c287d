"""The UI's URL scheme. Repository names hold '/', so what follows a name comes after a fixed
`-` segment, which no name can contain (every component of a name starts with [a-z0-9]):

    /ui/                               repositories (?n=&last=)
    /ui/r/<name>/                      tags of a repository (?n=&last=)
    /ui/r/<name>/-/m/<tag or digest>   an image or an index, its referrers
    /ui/cache                          the edge cache (nodes that cache)
    /ui/login, /ui/logout              signing in and out (auth on)
    /ui/static/<file>                  the stylesheet and script
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

ROOT = "/ui/"
REPO = "/ui/r/"
MARKER = "/-/"
CACHE = "/ui/cache"
LOGIN = "/ui/login"
LOGOUT = "/ui/logout"
STATIC = "/ui/static/"


def repo_url(name: str) -> str:
    return f"{REPO}{quote(name, safe='/')}/"


def manifest_url(name: str, reference: str) -> str:
    return f"{repo_url(name)}-/m/{quote(reference, safe=':')}"


def page_url(path: str, n: int, last: str) -> str:
    return f"{path}?n={n}&last={quote(last, safe='')}"


@dataclass(frozen=True)
class Target:
    """What a path under /ui/r/ names: `page` is "tags" (name only), "manifest" (with a reference)
    or "slash" (the name without its trailing '/': redirected to the tags page)."""

    page: str
    name: str
    reference: str | None = None


def parse_repo_path(path: str) -> Target | None:
    """The page a path under /ui/r/ asks for; None when it names no page (a 404). The name and
    reference are checked against the OCI grammar by the caller."""
    rest = path[len(REPO):]
    if MARKER in rest:
        name, _, tail = rest.partition(MARKER)
        kind, sep, reference = tail.partition("/")
        if kind != "m" or not sep or not reference or "/" in reference or not name:
            return None
        return Target("manifest", name, reference)
    if not rest:
        return None
    if rest.endswith("/"):
        return Target("tags", rest[:-1])
    return Target("slash", rest)
