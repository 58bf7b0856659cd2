"""Trades placed while a batch is being stored are stored together (a group commit), and a trade the
store refuses fails alone: the others of its batch are stored and answered."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, event, func, select

from driftloop.adapters.clock import SystemClock
from driftloop.adapters.db import tables
from driftloop.adapters.db.uow import SqlUnitOfWork
from driftloop.adapters.marketdata.candle import Candle
from driftloop.adapters.marketdata.history import BarHistory
from driftloop.adapters.venues.paper.feed import LiveFeed
from driftloop.adapters.venues.paper.venue import PaperVenue
from driftloop.domain.model import Analysis, Prediction, Recommendation, Timeframe, TradeStatus
from driftloop.domain.trade import Trade
from driftloop.services.trading import TradingService

T0 = datetime(2025, 1, 1, tzinfo=UTC)
POISON = "poison"


def analysis(n: int, analysis_id: str | None = None) -> Analysis:
    return Analysis(
        id=analysis_id or f"a{n}", timestamp=T0, symbol="SOL-PERP", timeframe=Timeframe.M5,
        prediction=Prediction.BULLISH, confidence=Decimal(70), recommendation=Recommendation.BUY,
        stop_loss=Decimal(95), take_profit=Decimal(110), size_usd=Decimal(100),
    )  # fmt: skip


class RefusingTrades:
    """The SQL trade repository, refusing to save a batch that holds the poisoned analysis."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def save_many(self, trades: Sequence[Trade], recorded_at: datetime) -> None:
        if any(t.analysis.id == POISON for t in trades):
            raise ValueError("the store refuses this trade")
        self.inner.save_many(trades, recorded_at)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class RefusingUnitOfWork(SqlUnitOfWork):
    @property
    def trades(self) -> Any:  # type: ignore[override]
        return RefusingTrades(super().trades)


def commits(engine: Engine) -> list[int]:
    counter = [0]

    def count(_connection: Any) -> None:
        counter[0] += 1

    event.listen(engine, "commit", count)
    return counter


async def placed(engine: Engine, orders: Sequence[tuple[str, Analysis]]) -> list[Trade | BaseException]:
    venue = PaperVenue()
    candle = Candle(T0, Decimal(100), Decimal(101), Decimal(99), Decimal(100), Decimal(1))
    await LiveFeed(venue, BarHistory(), [candle]).step()
    trading = TradingService(lambda: RefusingUnitOfWork(engine), lambda _: venue, SystemClock())
    return await asyncio.gather(*(trading.place_trade(user, a) for user, a in orders), return_exceptions=True)


def test_trades_placed_together_are_stored_in_fewer_transactions(engine: Engine) -> None:
    counter = commits(engine)
    results = asyncio.run(placed(engine, [(f"user-{i}", analysis(i)) for i in range(30)]))
    assert all(isinstance(r, Trade) and r.status is TradeStatus.OPEN for r in results)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(tables.trades)).scalar_one() == 30
        monitored = select(func.count()).where(tables.accounts.c.monitoring_active.is_(True))
        assert connection.execute(monitored.select_from(tables.accounts)).scalar_one() == 30
    assert 1 <= counter[0] < 30  # batched: far fewer commits than trades


def test_a_refused_trade_fails_alone_and_a_repeated_analysis_is_stored_once(engine: Engine) -> None:
    orders = [(f"user-{i}", analysis(i)) for i in range(8)]
    orders.insert(3, ("user-x", analysis(0, POISON)))
    orders.append(("user-0", analysis(0)))  # the same analysis as the first order, in the same moment
    results = asyncio.run(placed(engine, orders))
    refused = results[3]
    assert isinstance(refused, ValueError) and "refuses" in str(refused)
    stored = [r for i, r in enumerate(results) if i != 3]
    assert all(isinstance(r, Trade) for r in stored)
    first, repeat = stored[0], stored[-1]
    assert isinstance(first, Trade) and isinstance(repeat, Trade) and repeat.id == first.id
    with SqlUnitOfWork(engine) as uow:
        assert len(uow.trades.list_for_run("")) == 8
        assert uow.trades.find_live("user-x", POISON) is None
        assert [t.id for t in uow.trades.live_trades("user-0")] == [first.id]
