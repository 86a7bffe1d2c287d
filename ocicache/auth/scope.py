"""Scopes of Docker's token authentication ("Token Scope Documentation").

    scope          := resourcescope [ ' ' resourcescope ]*
    resourcescope  := resourcetype ":" resourcename ":" action [ ',' action ]*
    resourcetype   := resourcetypevalue [ '(' resourcetypevalue ')' ]

A token's `access` claim is a list of {"type", "name", "actions"}; here one granted
action on one resource is an `Access` triple. Pure, no I/O.
"""
from __future__ import annotations

from typing import Iterable, NamedTuple

from ..errors import OCIError
from ..reference import check_name

PULL, PUSH, DELETE = "pull", "push", "delete"
REPOSITORY_ACTIONS = (PULL, PUSH, DELETE)
CATALOG = ("registry", "catalog", "*")


class Access(NamedTuple):
    type: str
    name: str
    action: str

    @classmethod
    def repo(cls, name: str, action: str) -> "Access":
        return cls("repository", name, action)


def parse_scopes(values: Iterable[str]) -> list[Access]:
    """Every (type, name, action) asked for; malformed scopes and unknown types are dropped
    (a token service grants what it can and ignores the rest)."""
    out: list[Access] = []
    for value in values:
        for item in value.split():
            rtype, sep, rest = item.partition(":")
            name, sep2, actions = rest.rpartition(":")
            if not (sep and sep2 and name):
                continue
            rtype = rtype.split("(", 1)[0]  # repository(plugin) -> repository
            for action in actions.split(","):
                out.extend(_expand(rtype, name, action))
    return list(dict.fromkeys(out))


def _expand(rtype: str, name: str, action: str) -> list[Access]:
    if rtype == "repository":
        try:
            check_name(name)
        except OCIError:
            return []
        if action == "*":
            return [Access.repo(name, a) for a in REPOSITORY_ACTIONS]
        return [Access.repo(name, action)] if action in REPOSITORY_ACTIONS else []
    if (rtype, name, action) == CATALOG:
        return [Access(*CATALOG)]
    return []


def to_claims(granted: Iterable[Access]) -> list[dict]:
    """The JWT `access` claim: one entry per resource with its granted actions, in order."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for access in granted:
        grouped.setdefault((access.type, access.name), []).append(access.action)
    return [{"type": t, "name": n, "actions": actions} for (t, n), actions in grouped.items()]


def from_claims(claims: object) -> frozenset[Access]:
    """The triples of a verified token's `access` claim; anything malformed grants nothing."""
    out: set[Access] = set()
    if not isinstance(claims, list):
        return frozenset()
    for entry in claims:
        if not isinstance(entry, dict):
            continue
        rtype, name, actions = entry.get("type"), entry.get("name"), entry.get("actions")
        if isinstance(rtype, str) and isinstance(name, str) and isinstance(actions, list):
            out.update(Access(rtype, name, a) for a in actions if isinstance(a, str))
    return frozenset(out)


def format_scope(access: Access) -> str:
    return f"{access.type}:{access.name}:{access.action}"
