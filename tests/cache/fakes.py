"""Fakes shared by the store tests."""
from __future__ import annotations


class Clock:
    """A clock the test moves by hand: `clock.now = 31`."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now
