"""The monitor runs the loops due at the same moment as one batch, and spaces batches that come back to
back by at least `BATCH_GAP`, so that under load more users share a cycle."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from driftloop.adapters.clock import SystemClock
from driftloop.services.monitor import BATCH_GAP, Monitor
from driftloop.services.monitoring import CheckResult


class RecordingCapture:
    """Stands in for `OutcomeCapture.check_users`: records each batch and when it started."""

    def __init__(self) -> None:
        self.batches: list[tuple[float, list[str]]] = []

    async def check_users(self, user_ids: Sequence[str]) -> dict[str, CheckResult | Exception]:
        self.batches.append((time.perf_counter(), list(user_ids)))
        await asyncio.sleep(0.005)  # the batch's work, during which other loops fall due
        return {user: CheckResult(user) for user in user_ids}


def unused(*_: Any) -> Any:
    raise AssertionError("not used by batching")


def test_loops_due_together_share_a_batch_and_back_to_back_batches_are_spaced() -> None:
    async def go() -> list[tuple[float, list[str]]]:
        capture = RecordingCapture()
        monitor = Monitor(capture, unused, unused, SystemClock())  # type: ignore[arg-type]
        first = asyncio.create_task(monitor._loop_cycle("a"))
        while not capture.batches:  # "a" is being checked
            await asyncio.sleep(0)
        later = [asyncio.create_task(monitor._loop_cycle(user)) for user in ("b", "c", "b")]
        results = await asyncio.gather(first, *later)
        assert [r.user_id for r in results] == ["a", "b", "c", "b"]
        await asyncio.sleep(2 * BATCH_GAP)  # idle: the next push is checked alone
        await monitor._loop_cycle("d")
        return capture.batches

    batches = asyncio.run(go())
    assert [users for _, users in batches] == [["a"], ["b", "c"], ["d"]]
    # the second batch gathered for the gap (measured from inside the batches: a hair later than the start)
    assert batches[1][0] - batches[0][0] >= 0.9 * BATCH_GAP
