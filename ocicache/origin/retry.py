"""The one retry policy for backends: after a failure that may pass (a connection error, a 5xx,
a body cut short), try again at most `retries` times, waiting 0.1 s, 0.2 s, 0.4 s, ... (capped).

Used by the registry origin (distribution.py) for its requests and by the edge's fills
(cache/fills.py) for resuming a blob by Range. The S3 origin's calls are retried by botocore
with the same count (s3client.py: `retries` + 1 attempts, its standard mode).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    retries: int = 3
    """Attempts after the first."""
    base: float = 0.1
    """Seconds before the first retry; each later wait doubles."""
    cap: float = 5.0
    """The longest wait."""

    def allows(self, failures: int) -> bool:
        """Whether another attempt is due after `failures` failed ones."""
        return failures <= self.retries

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure (1, 2, ...)."""
        return min(self.cap, self.base * 2 ** (failures - 1))

    async def wait(self, failures: int) -> None:
        await asyncio.sleep(self.delay(failures))
