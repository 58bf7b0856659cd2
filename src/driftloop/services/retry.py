"""Retry temporary faults with exponential backoff and full jitter."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from driftloop.domain.errors import TemporaryError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.05
    max_delay: float = 2.0
    timeout: float = 10.0  # per attempt; a timeout counts as a temporary fault

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


_JITTER = random.Random()  # noqa: S311 - jitter, not cryptography (one generator: seeding one costs)


async def with_retry(
    call: Callable[[], Awaitable[T]], policy: RetryPolicy, rng: random.Random | None = None
) -> T:
    """Run `call`, retrying `TemporaryError` and timeouts; the last failure propagates.

    The timeout wraps the call in place (`asyncio.timeout`, no task per attempt): venue calls are on
    the hot paths of placing and monitoring."""
    rng = rng or _JITTER
    for attempt in range(policy.attempts):
        try:
            async with asyncio.timeout(policy.timeout):
                return await call()
        except (TemporaryError, TimeoutError):
            if attempt == policy.attempts - 1:
                raise
            await asyncio.sleep(policy.delay(attempt, rng))
    raise AssertionError("unreachable")
