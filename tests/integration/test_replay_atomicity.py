"""A replay that fails while storing leaves nothing behind; a rerun then stores everything once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from driftloop.adapters.clock import FixedClock
from driftloop.adapters.db import tables
from driftloop.adapters.db.repositories import SqlTradeRepository
from driftloop.adapters.db.uow import SqlUnitOfWork
from driftloop.adapters.marketdata.candle import Candle
from driftloop.adapters.marketdata.series import CandleSeries
from driftloop.adapters.venues.paper.engine import PaperParams, ReplayEngine
from driftloop.domain.model import Analysis, Prediction, Recommendation, Timeframe
from driftloop.domain.trade import Trade
from driftloop.services.replay import replay

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def series() -> CandleSeries:
    rows = [("100", "101", "99"), ("100.5", "103", "100"), ("102", "102.5", "96"), ("97", "98", "95")]
    return CandleSeries.from_candles(
        [
            Candle(T0.replace(minute=5 * i), *(Decimal(x) for x in (o, h, low, o)), Decimal(1))
            for i, (o, h, low) in enumerate(rows)
        ],
        symbol="SOL-PERP",
    )


def analyses() -> list[Analysis]:
    return [
        Analysis(
            id=f"a{i}",
            timestamp=T0,
            symbol="SOL-PERP",
            timeframe=Timeframe.M5,
            prediction=Prediction.BULLISH,
            confidence=Decimal(60),
            recommendation=Recommendation.BUY,
            stop_loss=Decimal(97 - i),
            take_profit=Decimal("102.5"),
            size_usd=Decimal(500),
        )
        for i in range(6)
    ]


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for name, table in tables.metadata.tables.items()
            if name != "alembic_version"
        }


def run(engine: Engine) -> None:
    replay(
        analyses(),
        ReplayEngine(series(), PaperParams(), run_id="run_x"),
        SqlUnitOfWork(engine),
        FixedClock(T0),
        "run_x",
        {"p": 1},
    )


def test_crash_while_storing_writes_nothing_and_rerun_is_complete(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = SqlTradeRepository.save_many

    def crash_halfway(self: SqlTradeRepository, trades: Sequence[Trade], recorded_at: datetime) -> None:
        original(self, list(trades)[:3], recorded_at)
        raise RuntimeError("power cut")

    monkeypatch.setattr(SqlTradeRepository, "save_many", crash_halfway)
    with pytest.raises(RuntimeError):
        run(engine)
    assert all(count == 0 for count in row_counts(engine).values()), row_counts(engine)

    monkeypatch.setattr(SqlTradeRepository, "save_many", original)
    run(engine)
    after_one = row_counts(engine)
    assert after_one["trades"] == 6 and after_one["fills"] == 12
    run(engine)
    assert row_counts(engine) == after_one
