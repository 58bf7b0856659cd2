"""The learned policy per user is kept up to date incrementally and always equals a rebuild."""

from __future__ import annotations

import dataclasses
import math
import random
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from driftloop.adapters.db.uow import SqlUnitOfWork
from driftloop.domain.model import TradeStatus
from driftloop.domain.trade import Trade
from driftloop.learning.policy import LearnedPolicy
from driftloop.learning.records import LearningRecord
from driftloop.services.learning import REREAD, PolicyBook
from integration.test_insight_aggregates import AT, live_trade


def save(engine: Engine, trades: list[Trade], at=AT) -> None:  # type: ignore[no-untyped-def]
    with SqlUnitOfWork(engine) as uow:
        uow.trades.save_many(trades, at)
        uow.commit()


def rebuilt(engine: Engine, user: str) -> LearnedPolicy:
    with SqlUnitOfWork(engine) as uow:
        closed = uow.trades.live_trades(user, TradeStatus.CLOSED)
    closed.sort(key=lambda t: (t.outcome.closed_at, t.id))  # type: ignore[union-attr]
    return LearnedPolicy.from_records([LearningRecord.from_trade(t) for t in closed])


def close(x: Any, y: Any) -> bool:
    """Equal, floats to 1e-9 (an incremental policy adds the same numbers in another order)."""
    if isinstance(x, float) and isinstance(y, float):
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(close(x[k], y[k]) for k in x)
    if isinstance(x, list | tuple) and isinstance(y, list | tuple):
        return len(x) == len(y) and all(close(a, b) for a, b in zip(x, y, strict=True))
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return type(x) is type(y) and close(dataclasses.asdict(x), dataclasses.asdict(y))  # type: ignore[arg-type]
    return bool(x == y)


def same_decisions(a: LearnedPolicy, b: LearnedPolicy, probes: list[Trade]) -> bool:
    return all(close(a.decide("alice", t.analysis), b.decide("alice", t.analysis)) for t in probes)


def test_incremental_refresh_equals_rebuild(engine: Engine) -> None:
    rng = random.Random(21)
    pairs = [live_trade(rng, i) for i in range(80)]
    probes = [live_trade(rng, 1000 + i)[0] for i in range(15)]
    book = PolicyBook(lambda: SqlUnitOfWork(engine))
    save(engine, [closed for _, closed in pairs[:40]])
    first = book.learned("alice")
    assert same_decisions(first, rebuilt(engine, "alice"), probes)
    assert book.learned("alice") is first and book.rebuilds == 1  # nothing new: the cached policy

    save(engine, [opened for opened, _ in pairs[40:]])  # open trades teach nothing
    assert book.learned("alice") is first
    for start in range(40, 80, 10):
        save(engine, [closed for _, closed in pairs[start : start + 10]], at=AT + timedelta(minutes=start))
        policy = book.learned("alice")
        assert policy is first and book.rebuilds == 1  # observed incrementally
        assert same_decisions(policy, rebuilt(engine, "alice"), probes)


def test_a_late_commit_is_caught_by_the_count(engine: Engine) -> None:
    rng = random.Random(4)
    pairs = [live_trade(rng, i) for i in range(30)]
    probes = [live_trade(rng, 1000 + i)[0] for i in range(10)]
    book = PolicyBook(lambda: SqlUnitOfWork(engine))
    save(engine, [closed for _, closed in pairs[:20]], at=AT + timedelta(hours=5))
    book.learned("alice")
    # written "long ago" (stamped before the re-read window) but committed only now
    save(engine, [closed for _, closed in pairs[20:]], at=AT + timedelta(hours=5) - 2 * REREAD)
    policy = book.learned("alice")
    assert book.rebuilds == 2
    assert same_decisions(policy, rebuilt(engine, "alice"), probes)
