"""What the current request's access-log line will say, filled in by the layers it passes.

The access middleware (`ocicache.http.access`) opens a fresh dict per request; code deeper
down (the cache, the admin API) adds facts with `note(cache="hit")`. Outside a request
(warm-up, CLI) `note` does nothing. Tasks created during a request share its dict.
"""
from __future__ import annotations

from contextvars import ContextVar
from typing import Any

_FACTS: ContextVar[dict[str, Any] | None] = ContextVar("ocicache_request_facts", default=None)


def begin() -> tuple[dict[str, Any], object]:
    """Open the facts of a new request; returns (facts, token for `end`)."""
    facts: dict[str, Any] = {}
    return facts, _FACTS.set(facts)


def end(token: object) -> None:
    _FACTS.reset(token)  # type: ignore[arg-type]


def note(**facts: Any) -> None:
    """Record facts about the current request; the first value of a key wins."""
    current = _FACTS.get()
    if current is not None:
        for key, value in facts.items():
            current.setdefault(key, value)
