"""Candles as column arrays: floats to search, exact strings to account."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

import numpy as np
import numpy.typing as npt

from driftloop.adapters.marketdata.candle import Candle

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


class CandleLike(Protocol):
    @property
    def ts(self) -> datetime: ...
    @property
    def open(self) -> Decimal: ...
    @property
    def high(self) -> Decimal: ...
    @property
    def low(self) -> Decimal: ...
    @property
    def close(self) -> Decimal: ...
    @property
    def volume(self) -> Decimal: ...


def to_ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000) if ts.microsecond else int(ts.timestamp()) * 1000


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True, slots=True)
class CandleSeries:
    """One market's bars in time order.

    The float columns are for vectorised searches only; every price that enters
    an account is read back exactly from the text columns (`price`).
    """

    ts: Ints  # bar open time, epoch ms
    open: Floats
    high: Floats
    low: Floats
    open_text: Sequence[str]
    high_text: Sequence[str]
    low_text: Sequence[str]
    close_text: Sequence[str] = ()
    volume_text: Sequence[str] = ()
    symbol: str | None = None

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def bar_ms(self) -> int:
        """Bar length: the smallest positive gap between consecutive bars."""
        if len(self.ts) < 2:
            return 60_000
        gaps = np.diff(self.ts)
        return int(gaps[gaps > 0].min())

    def open_at(self, i: int) -> Decimal:
        return Decimal(self.open_text[i])

    def high_at(self, i: int) -> Decimal:
        return Decimal(self.high_text[i])

    def low_at(self, i: int) -> Decimal:
        return Decimal(self.low_text[i])

    def time_at(self, i: int) -> datetime:
        return from_ms(int(self.ts[i]))

    def to_candles(self) -> list[Candle]:
        """The bars as `Candle` objects (for analysts)."""
        n = len(self.ts)
        closes = self.close_text or self.open_text
        volumes = self.volume_text or ["0"] * n
        return [
            Candle(
                self.time_at(i),
                Decimal(self.open_text[i]),
                Decimal(self.high_text[i]),
                Decimal(self.low_text[i]),
                Decimal(closes[i]),
                Decimal(volumes[i]),
            )
            for i in range(n)
        ]

    @classmethod
    def from_candles(cls, candles: Sequence[CandleLike], symbol: str | None = None) -> CandleSeries:
        opens = [str(c.open) for c in candles]
        highs = [str(c.high) for c in candles]
        lows = [str(c.low) for c in candles]
        return cls(
            ts=np.array([to_ms(c.ts) for c in candles], dtype=np.int64),
            open=np.array(opens, dtype=np.float64),
            high=np.array(highs, dtype=np.float64),
            low=np.array(lows, dtype=np.float64),
            open_text=opens,
            high_text=highs,
            low_text=lows,
            close_text=[str(c.close) for c in candles],
            volume_text=[str(c.volume) for c in candles],
            symbol=symbol,
        )
