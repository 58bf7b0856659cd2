"""The trading step uses the chosen policy: raw, or learned from the user's closed trades."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from driftloop.adapters.marketdata.candle import Candle
from driftloop.adapters.venues.paper.feed import LiveFeed
from driftloop.adapters.venues.paper.venue import PaperVenue
from driftloop.bootstrap import bootstrap
from driftloop.domain.errors import InputError
from driftloop.domain.model import Analysis, Prediction, Recommendation, Timeframe, TradeStatus
from driftloop.loop import build_loop

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def analysis(n: int) -> Analysis:
    return Analysis(
        id=f"a{n}", timestamp=T0, symbol="SOL-PERP", timeframe=Timeframe.M5, prediction=Prediction.BULLISH,
        confidence=Decimal(70), recommendation=Recommendation.BUY, stop_loss=Decimal(95),
        take_profit=Decimal(110), size_usd=Decimal(1000),
    )  # fmt: skip


def test_learned_policy_without_history_takes_like_raw_and_records_its_decision(tmp_path: Path) -> None:
    async def session() -> None:
        venue = PaperVenue()
        app = build_loop(bootstrap(database_url=f"sqlite:///{tmp_path / 'p.db'}"), venue=venue)
        candle = Candle(T0, Decimal(100), Decimal(101), Decimal(99), Decimal(100), Decimal(1))
        await LiveFeed(venue, app.history, [candle]).step()
        trade = await app.trading.place_trade("u", analysis(1), policy="learned")
        assert trade.status is TradeStatus.OPEN
        assert trade.learning_data["policy"] == "learned"
        assert trade.learning_data["decision"] == "TAKE"
        with pytest.raises(InputError, match="raw or learned"):
            await app.trading.place_trade("u", analysis(2), policy="clever")
        await app.monitor.shutdown()

    asyncio.run(session())
