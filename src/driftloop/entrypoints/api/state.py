"""What the routes share: the loop, the metrics, the idempotency store (one per app)."""

from __future__ import annotations

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
