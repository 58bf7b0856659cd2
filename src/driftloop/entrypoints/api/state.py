"""What the routes share: the loop, the metrics, the idempotency store (one per app)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from anyio import to_thread
from fastapi import Depends, Request

from driftloop.adapters.db.uow import SqlUnitOfWork
from driftloop.adapters.venues.paper.feed import LiveFeed
from driftloop.bootstrap import Container
from driftloop.entrypoints.api.idempotency import IdempotencyStore, KeyedLocks
from driftloop.entrypoints.api.metrics import Metrics
from driftloop.loop import LoopApp
from driftloop.services.policy import Policy
from driftloop.services.trading import TradingService

T = TypeVar("T")
STATUS_TTL = 1.0  # seconds; a bound only: every change this process makes clears the cache at once


class StatusCache:
    """`GET /api/drift/feedback` answers, kept until anything changes them.

    Cleared by every mutating request and every monitoring cycle (and failed cycle) of this
    process, so the answer is never staler than what this process did; `STATUS_TTL` bounds
    what other processes (a separate monitor worker) may have changed meanwhile. A value
    computed while a change happened is not kept (the generation moved on).
    """

    def __init__(self, ttl: float = STATUS_TTL) -> None:
        self.ttl = ttl
        self.generation = 0
        self._entries: dict[str | None, tuple[float, Any]] = {}
        self.locks = KeyedLocks()

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()

    def get(self, key: str | None) -> Any | None:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[0] > self.ttl:
            return None
        return entry[1]

    def put(self, key: str | None, generation: int, value: Any) -> None:
        if generation == self.generation:
            self._entries[key] = (time.monotonic(), value)


@dataclass
class ApiState:
    container: Container
    loop: LoopApp
    trading: TradingService
    metrics: Metrics
    policies: dict[str, Policy]
    feeds: list[LiveFeed]
    monitor_enabled: bool
    version: str
    idempotency: IdempotencyStore = field(default_factory=IdempotencyStore)
    analysis_locks: KeyedLocks = field(default_factory=KeyedLocks)
    status_cache: StatusCache = field(default_factory=StatusCache)

    def uow(self) -> SqlUnitOfWork:
        return self.container.uow()

    async def read(self, work: Callable[[SqlUnitOfWork], T]) -> T:
        """Run a read-only unit of work in a worker thread (the event loop keeps serving)."""

        def run() -> T:
            with self.uow() as uow:
                return work(uow)

        return await to_thread.run_sync(run)

    async def in_thread(self, work: Callable[..., T], *args: Any) -> T:
        return await to_thread.run_sync(work, *args)


def get_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


State = Annotated[ApiState, Depends(get_state)]
