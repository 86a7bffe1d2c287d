"""What handlers ask of access control: may this request do that to this repository?

The authentication middleware (`middleware.py`) leaves the caller's `Principal` on the
request; with auth off there is none and every question here answers yes. Routing calls
`authorize` once it knows the repository and the handler's action.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from aiohttp import web

from .acl import Acl
from .scope import CATALOG, Access



def request_key(name: str, typ: type):
    """A typed key for request storage (aiohttp 3.12+), a plain string before that."""
    maker = getattr(web, "RequestKey", None)
    return maker(name, typ) if maker is not None else f"ocicache.{name}"


@dataclass(frozen=True)
class Principal:
    user: str | None                    # None: anonymous
    token: frozenset[Access] | None     # a bearer token's access; None with Basic or no credentials


PRINCIPAL = request_key("principal", Principal)


def principal_of(request: web.Request) -> Principal | None:
    return request.get(PRINCIPAL)


def authorize(request: web.Request, name: str, action: str) -> None:
    """Raise the spec's 401 (with a challenge naming the scope) or 403 DENIED unless allowed."""
    principal = principal_of(request)
    if principal is not None:
        request.app[GATE].check(request, principal, Access.repo(name, action))


def authorize_catalog(request: web.Request) -> None:
    principal = principal_of(request)
    if principal is not None:
        request.app[GATE].check(request, principal, Access(*CATALOG))


def may(request: web.Request, name: str, action: str) -> bool:
    """Whether the caller may, without raising (a blob mount's source repository)."""
    principal = principal_of(request)
    return principal is None or request.app[GATE].allows(principal, Access.repo(name, action))


def visible(request: web.Request, names: Iterable[str]) -> list[str]:
    """The repositories among `names` the caller may pull (what the catalog shows)."""
    principal = principal_of(request)
    if principal is None:
        return list(names)
    acl = request.app[GATE].acl
    return [name for name in names if acl.allows(principal.user, name, "pull")]


class Gate:
    """The decision, given who the caller is. Implemented by the middleware's `Authenticator`."""

    acl: Acl

    def check(self, request: web.Request, principal: Principal, access: Access) -> None:
        raise NotImplementedError

    def allows(self, principal: Principal, access: Access) -> bool:
        raise NotImplementedError


GATE = web.AppKey("auth_gate", Gate)
