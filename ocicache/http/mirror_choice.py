"""Which registry answers a request: the node's own, or one of its mirrored upstreams.

`choose(request, name, access)` is called once per `/v2/<name>/...` request, after the name
passed the grammar and the client's access was checked. In order:
1. `?ns=<registry-host>` (containerd's mirror convention, hosts.toml);
2. the Host header, when it is an alias of an upstream (`ghcr.mirror.example`);
3. a path prefix naming an upstream: `/v2/<registry-host>/<repo>/...` (the prefix is dropped);
4. otherwise the node's own origin, or, on a pure mirror, the first upstream (what Docker's
   `registry-mirrors` expects: it mirrors docker.io and sends no `ns`).
Mirrors are read-only: pushes and deletes there are refused with DENIED.
"""
from __future__ import annotations

from aiohttp import web
import yarl

from .. import errors
from ..auth.scope import PULL
from ..errors import OCIError
from ..registry import Registry
from ..registry.mirrors import Mirror, Mirrors

MIRRORS = web.AppKey("mirrors", Mirrors)
# aiohttp >= 3.12 has typed request keys; older versions take a plain string
CHOSEN = web.RequestKey("chosen_registry", Registry) if hasattr(web, "RequestKey") else "chosen_registry"
"""request[CHOSEN]: the Registry that answers this request (read by state.registry_of)."""


def _host(request: web.Request) -> str:
    try:
        return (yarl.URL(f"http://{request.host}").host or "").lower()
    except ValueError:
        return ""


def _pick(upstreams: Mirrors, request: web.Request, name: str) -> tuple[Mirror | None, str]:
    ns = request.query.get("ns")
    if ns:
        return upstreams.named(ns.lower(), "from ?ns="), name
    alias = upstreams.aliases.get(_host(request))
    if alias is not None:
        return upstreams.named(alias, f"Host alias {_host(request)}"), name
    first, _, rest = name.partition("/")
    if rest and first in upstreams.by_name:
        return upstreams.by_name[first], rest
    return upstreams.default, name


def choose(request: web.Request, name: str, access: str) -> str:
    """The repository name the handler works on; the chosen Registry goes on the request."""
    upstreams = request.app.get(MIRRORS)
    if upstreams is None:
        return name
    upstream, repo = _pick(upstreams, request, name)
    if upstream is None:
        return name  # the node's own origin
    if access != PULL:
        own = "" if upstreams.pure_mirror else (" or to this node's own repositories (no upstream prefix, "
                                                "no ?ns=)")
        raise OCIError(errors.DENIED, f"repository {name} is mirrored read-only from upstream {upstream.name}: "
                       f"it cannot be pushed to or deleted here; push to {upstream.name} itself{own}",
                       detail={"name": name, "upstream": upstream.name})
    repo = upstream.repository(repo)
    upstreams.check_allowed(upstream, repo)
    request[CHOSEN] = upstream.registry
    return repo


def chosen(request: web.Request) -> Registry | None:
    return request.get(CHOSEN)
