"""Time in the paper venue: the candles fed so far move it, and funding falls due as they pass.

The paper venue in live mode has no wall clock of its own: its "now" is the open time of the last
candle fed for each market. This module keeps that per-market state and answers the time-driven
questions of the paper-fill rules (Definitions, Paper fills 3 and 6): which funding timestamps a
candle passes, and at which price each one settles.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol


class CandleLike(Protocol):
    """What the paper venue reads from a candle (`driftloop.adapters.marketdata.candle.Candle` fits)."""

    @property
    def ts(self) -> datetime: ...  # the bar's open time, aware UTC

    @property
    def open(self) -> Decimal: ...

    @property
    def high(self) -> Decimal: ...

    @property
    def low(self) -> Decimal: ...

    @property
    def close(self) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class FundingDue:
    """One funding timestamp passed by a candle, with its rate and settlement price `price(t)`."""

    ts: datetime
    rate: Decimal
    price: Decimal


class MarketClock:
    """Per-market candle time of the paper venue, and its funding schedule.

    `funding` maps a market index to `(timestamp, rate)` pairs (any order; aware UTC timestamps).
    """

    def __init__(self, funding: Mapping[int, Sequence[tuple[datetime, Decimal]]] | None = None) -> None:
        self._funding: dict[int, list[tuple[datetime, Decimal]]] = {
            market: sorted(series) for market, series in (funding or {}).items()
        }
        self._funding_ts: dict[int, list[datetime]] = {
            market: [ts for ts, _ in series] for market, series in self._funding.items()
        }
        self._last: dict[int, CandleLike] = {}

    def last_candle(self, market_index: int) -> CandleLike | None:
        """The last candle fed for the market, or None before the first one."""
        return self._last.get(market_index)

    def last_price(self, market_index: int) -> Decimal | None:
        """The market's current price: the close of its last candle, None before the first one."""
        candle = self._last.get(market_index)
        return None if candle is None else candle.close

    def is_new(self, market_index: int, candle: CandleLike) -> bool:
        """Whether the candle moves the market's time forward (a re-delivered or older bar does not).

        Raises ValueError for a naive timestamp: the venue works in aware UTC only.
        """
        if candle.ts.tzinfo is None:
            raise ValueError(f"candle timestamp {candle.ts.isoformat()} is naive; aware UTC expected")
        last = self._last.get(market_index)
        return last is None or candle.ts > last.ts

    def funding_due(self, market_index: int, candle: CandleLike) -> list[FundingDue]:
        """Funding timestamps `t` the candle passes, oldest first: previous candle's open time < t ≤ its own.

        Only positions open before this candle are owed them, so `entry time < t ≤ exit time` holds
        (rule 6). `price(t)` is the open of the candle that opens at `t`, else of the last candle
        before `t` (the previous one). Nothing is due at a market's first candle. Call before `advance`.
        """
        previous = self._last.get(market_index)
        series = self._funding.get(market_index)
        if previous is None or not series:
            return []
        stamps = self._funding_ts[market_index]
        window = series[bisect_right(stamps, previous.ts) : bisect_right(stamps, candle.ts)]
        return [FundingDue(t, rate, candle.open if t == candle.ts else previous.open) for t, rate in window]

    def advance(self, market_index: int, candle: CandleLike) -> None:
        """Record the candle as the market's latest."""
        self._last[market_index] = candle
