"""Live mode for the paper venue: a price feed that moves it bar by bar, in (accelerated) real time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator

from driftloop.adapters.marketdata.candle import Candle
from driftloop.adapters.marketdata.history import BarHistory
from driftloop.adapters.venues.paper.venue import PaperVenue
from driftloop.domain.model import Bar


class LiveFeed:
    """Feeds candles of one market to the paper venue and to the bar history.

    `speed` is the acceleration: a 5-minute bar lasts 300 s / speed of wall time
    (`speed=0` feeds as fast as possible). `step()` feeds one bar by hand.
    """

    def __init__(
        self,
        venue: PaperVenue,
        history: BarHistory,
        candles: Iterable[Candle],
        market_index: int = 0,
        speed: float = 0.0,
        bar_seconds: float = 300.0,
    ):
        self.venue, self.history, self.market_index = venue, history, market_index
        self.speed, self.bar_seconds = speed, bar_seconds
        self._candles: Iterator[Candle] = iter(candles)
        self.fed = 0
        self.last: Candle | None = None

    async def step(self) -> Candle | None:
        """Feed the next bar; None when the feed is exhausted."""
        candle = next(self._candles, None)
        if candle is None:
            return None
        self.history.add(self.market_index, Bar(candle.ts, candle.open, candle.high, candle.low))
        await self.venue.on_candle(self.market_index, candle)
        self.fed += 1
        self.last = candle
        return candle

    async def run(self, bars: int | None = None) -> int:
        """Feed bars (all, or `bars` of them) at the configured speed; returns how many were fed."""
        start = self.fed
        while bars is None or self.fed - start < bars:
            if await self.step() is None:
                break
            await asyncio.sleep(self.bar_seconds / self.speed if self.speed > 0 else 0)
        return self.fed - start
