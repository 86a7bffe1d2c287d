"""Per-repository access control: rules by repository pattern granting actions to subjects.

A rule is ``{repository = "team-a/**", who = ["alice", "group:devs"], actions = ["pull", "push"]}``.
Patterns are globs over repository names: ``*`` and ``?`` stay within one path component,
``**`` crosses them. Subjects are a user name, ``group:<name>``, ``anonymous`` (no
credentials), ``authenticated`` (any user) or ``*`` (everyone). Rules only grant: what no
rule grants is denied. Compiled once, at configuration time.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Mapping

from .scope import REPOSITORY_ACTIONS

ANONYMOUS, AUTHENTICATED, EVERYONE = "anonymous", "authenticated", "*"
DEFAULT_RULES = ({"repository": "**", "who": [AUTHENTICATED], "actions": ["pull", "push"]},)
_PATTERN_CHARS = re.compile(r"[a-z0-9._/*?-]+")


class AclError(ValueError):
    """An ACL rule or group is malformed; the message names it."""


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    parts, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            parts.append(".*")
            i += 2
            continue
        parts.append({"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i])))
        i += 1
    return re.compile("".join(parts))


@dataclass(frozen=True)
class Rule:
    pattern: str
    regex: re.Pattern[str]
    who: frozenset[str]
    actions: frozenset[str]


def _rule(index: int, raw: Any, groups: Mapping[str, frozenset[str]]) -> Rule:
    where = f"[[auth.acl]] rule {index + 1}"
    if not isinstance(raw, Mapping):
        raise AclError(f"{where}: expected a table with repository, who and actions")
    unknown = set(raw) - {"repository", "who", "actions"}
    if unknown:
        raise AclError(f"{where}: unknown keys {', '.join(sorted(map(str, unknown)))}; a rule has repository, "
                       "who and actions")
    pattern, who, actions = raw.get("repository"), raw.get("who"), raw.get("actions")
    if not isinstance(pattern, str) or not _PATTERN_CHARS.fullmatch(pattern):
        raise AclError(f"{where}: repository {pattern!r} must be a glob of [a-z0-9._/-] with * ? **")
    if not isinstance(who, list) or not who or not all(isinstance(w, str) and w for w in who):
        raise AclError(f"{where}: who must be a non-empty list of users, group:<name>, "
                       f"{ANONYMOUS}, {AUTHENTICATED} or *")
    for subject in who:
        if subject.startswith("group:") and subject[6:] not in groups:
            raise AclError(f"{where}: {subject} is not defined under [auth.groups]")
    if not isinstance(actions, list) or not actions:
        raise AclError(f"{where}: actions must be a non-empty list of pull, push, delete or *")
    expanded: set[str] = set()
    for action in actions:
        if action == "*":
            expanded.update(REPOSITORY_ACTIONS)
        elif action in REPOSITORY_ACTIONS:
            expanded.add(action)
        else:
            raise AclError(f"{where}: unknown action {action!r}; use pull, push, delete or *")
    return Rule(pattern, glob_to_regex(pattern), frozenset(who), frozenset(expanded))


class Acl:
    """Which actions a user (None: anonymous) may take on a repository."""

    def __init__(self, rules: Iterable[Any] = (), groups: Mapping[str, Any] | None = None) -> None:
        self.groups: dict[str, frozenset[str]] = {}
        for name, members in (groups or {}).items():
            if not isinstance(members, (list, tuple)) or not all(isinstance(m, str) for m in members):
                raise AclError(f"[auth.groups] {name}: expected a list of user names")
            self.groups[name] = frozenset(members)
        self.rules = tuple(_rule(i, raw, self.groups) for i, raw in enumerate(rules or DEFAULT_RULES))
        self.actions = lru_cache(maxsize=65536)(self._actions)

    def subjects(self, user: str | None) -> frozenset[str]:
        if user is None:
            return frozenset((EVERYONE, ANONYMOUS))
        member_of = {f"group:{g}" for g, members in self.groups.items() if user in members}
        return frozenset((EVERYONE, AUTHENTICATED, user, *member_of))

    def _actions(self, user: str | None, repo: str) -> frozenset[str]:
        subjects = self.subjects(user)
        granted: set[str] = set()
        for rule in self.rules:
            if rule.who & subjects and rule.regex.fullmatch(repo):
                granted |= rule.actions
        return frozenset(granted)

    def allows(self, user: str | None, repo: str, action: str) -> bool:
        return action in self.actions(user, repo)

    def grants_any(self, user: str | None) -> bool:
        """Whether some rule names this user at all (who may then list the catalog)."""
        subjects = self.subjects(user)
        return any(rule.who & subjects for rule in self.rules)
