"""In-memory bar history per market: the `MarketData` port for live paper trading."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import datetime

from driftloop.domain.model import Bar


class BarHistory:
    """Bars as they are fed, per market, kept in time order (later duplicates are ignored)."""

    def __init__(self) -> None:
        self._bars: dict[int, list[Bar]] = {}
        self._times: dict[int, list[datetime]] = {}

    def add(self, market_index: int, bar: Bar) -> None:
        times = self._times.setdefault(market_index, [])
        if times and bar.ts <= times[-1]:
            return
        times.append(bar.ts)
        self._bars.setdefault(market_index, []).append(bar)

    def bars(self, market_index: int, start: datetime, end: datetime) -> Sequence[Bar]:
        times = self._times.get(market_index, [])
        lo, hi = bisect_left(times, start), bisect_right(times, end)
        return self._bars.get(market_index, [])[lo:hi]
