"""Built-in technical analyst: fast/slow EMA crossover with ATR-based stop and target.

Indicators are computed once over the whole series in floats (analytics); the few emitted prices are exact
Decimals on a 0.001 tick. A signal is decided on a bar's close and stamped with that close time (the next
bar's open), so a replay never trades on information from inside the signal bar.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import numpy.typing as npt

from driftloop.adapters.marketdata.candle import Candle
from driftloop.domain.model import Analysis, Prediction, Recommendation, Timeframe

FloatArray = npt.NDArray[np.float64]

TICK = Decimal("0.001")
_TIMEFRAME_MINUTES = {
    Timeframe.M5: 5,
    Timeframe.M15: 15,
    Timeframe.H1: 60,
    Timeframe.H4: 240,
    Timeframe.D1: 1440,
}
# Confidence = 50 + 40·tanh(k·strength), strength = |fast − slow| / ATR on the signal bar. Right after a
# cross the gap is small (median ~0.04 ATR, 95th percentile ~0.12 on 5m bars), so k is set to spread
# typical signals over ~50–85 rather than bunching them just above 50.
_CONF_FLOOR = 50.0
_CONF_SPAN = 40.0
_CONF_GAIN = 12.0


@dataclass(frozen=True, slots=True)
class TechnicalAnalyst:
    """EMA(fast)/EMA(slow) crossover: BUY on an upward cross, SELL on a downward one.

    Stop = entry ∓ `stop_atr`·ATR(`atr_period`), target = entry ± `reward_risk`·stop distance.
    At most one signal every `min_gap_bars` bars.
    """

    fast: int = 20
    slow: int = 50
    atr_period: int = 14
    stop_atr: Decimal = Decimal("1.5")
    reward_risk: Decimal = Decimal("2")
    size_usd: Decimal = Decimal("1000")
    leverage: Decimal = Decimal("3")
    max_hold_minutes: int | None = 720
    symbol: str = "SOL-PERP"
    timeframe: str = "5m"
    min_gap_bars: int = 12

    def __post_init__(self) -> None:
        if not 0 < self.fast < self.slow:
            raise ValueError("need 0 < fast < slow")
        if self.atr_period <= 0 or self.min_gap_bars < 0:
            raise ValueError("atr_period must be > 0 and min_gap_bars >= 0")
        # Accept ints/floats/strings for the money-like knobs but hold them as exact Decimals.
        for name in ("stop_atr", "reward_risk", "size_usd", "leverage"):
            value = Decimal(str(getattr(self, name)))
            if value <= 0:
                raise ValueError(f"{name} must be > 0")
            object.__setattr__(self, name, value)
        Timeframe(self.timeframe)  # raises ValueError for an unknown timeframe

    @property
    def name(self) -> str:
        """The `analyst` field of every emitted analysis."""
        return f"technical-ema-{self.fast}-{self.slow}"

    def analyze(self, candles: Sequence[Candle]) -> list[Analysis]:
        """Return one analysis per EMA cross in `candles` (ascending, contiguous bars of `timeframe`).

        Bars before the slow EMA and the ATR are warmed up produce no signal. Ids are `ta-000001`, … in
        order, so the same candles always give the same analyses.
        """
        n = len(candles)
        warmup = max(self.slow, self.atr_period)
        if n <= warmup:
            return []
        bar = timedelta(minutes=_TIMEFRAME_MINUTES[Timeframe(self.timeframe)])
        _check_spacing(candles, bar)
        close = np.fromiter((float(c.close) for c in candles), dtype=np.float64, count=n)
        high = np.fromiter((float(c.high) for c in candles), dtype=np.float64, count=n)
        low = np.fromiter((float(c.low) for c in candles), dtype=np.float64, count=n)

        fast_ema = ema(close, self.fast)
        slow_ema = ema(close, self.slow)
        atr_values = atr(high, low, close, self.atr_period)

        diff = fast_ema - slow_ema
        prev, cur = diff[:-1], diff[1:]
        # NaN comparisons are False, so the warm-up bars drop out by themselves.
        with np.errstate(invalid="ignore"):
            up = (prev <= 0) & (cur > 0)
            down = (prev >= 0) & (cur < 0)
            usable = np.isfinite(atr_values[1:]) & (atr_values[1:] > 0)
        cross_idx = np.flatnonzero((up | down) & usable) + 1

        analyses: list[Analysis] = []
        last_signal = -self.min_gap_bars - 1
        for i in cross_idx.tolist():  # a few hundred crosses, not every bar
            if i - last_signal < self.min_gap_bars:
                continue
            analysis = self._build(
                seq=len(analyses) + 1,
                candle=candles[i],
                bullish=bool(diff[i] > 0),
                fast_value=float(fast_ema[i]),
                slow_value=float(slow_ema[i]),
                atr_value=float(atr_values[i]),
                signal_time=candles[i].ts + bar,
            )
            if analysis is not None:
                analyses.append(analysis)
                last_signal = i
        return analyses

    def _build(
        self,
        *,
        seq: int,
        candle: Candle,
        bullish: bool,
        fast_value: float,
        slow_value: float,
        atr_value: float,
        signal_time: datetime,
    ) -> Analysis | None:
        entry = candle.close.quantize(TICK, rounding=ROUND_HALF_EVEN)
        atr_dec = Decimal(f"{atr_value:.6f}")
        stop_dist = max((self.stop_atr * atr_dec).quantize(TICK), TICK)  # never a zero-width stop
        target_dist = (self.reward_risk * stop_dist).quantize(TICK)
        sign = 1 if bullish else -1
        stop = entry - sign * stop_dist
        target = entry + sign * target_dist
        if stop <= 0 or target <= 0:
            return None  # a long's stop or short's target below zero cannot be placed

        strength = abs(fast_value - slow_value) / atr_value
        confidence = Decimal(f"{_CONF_FLOOR + _CONF_SPAN * math.tanh(_CONF_GAIN * strength):.1f}")
        direction = "above" if bullish else "below"
        bar_close = signal_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        reasoning = (
            f"EMA{self.fast} ({fast_value:.3f}) crossed {direction} EMA{self.slow} ({slow_value:.3f}) "
            f"on the bar closing {bar_close} at {entry}; ATR{self.atr_period} {atr_value:.3f}, "
            f"gap {strength:.3f} ATR; stop {self.stop_atr} ATR, target {self.reward_risk}R."
        )
        return Analysis(
            id=f"ta-{seq:06d}",
            timestamp=signal_time,
            symbol=self.symbol,
            timeframe=Timeframe(self.timeframe),
            prediction=Prediction.BULLISH if bullish else Prediction.BEARISH,
            confidence=confidence,
            recommendation=Recommendation.BUY if bullish else Recommendation.SELL,
            entry_price=entry,
            stop_loss=stop,
            take_profit=target,
            size_usd=self.size_usd,
            leverage=self.leverage,
            max_hold_minutes=self.max_hold_minutes,
            analyst=self.name,
            reasoning=reasoning,
            raw={
                "signalBarOpen": candle.ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "fastEma": round(fast_value, 6),
                "slowEma": round(slow_value, 6),
                "atr": round(atr_value, 6),
                "strength": round(strength, 6),
            },
        )


def _check_spacing(candles: Sequence[Candle], bar: timedelta) -> None:
    """Refuse unsorted candles or candles coarser than `timeframe`.

    Signals are stamped at bar open + one `timeframe` bar; on coarser candles that would fall inside the
    signal bar (look-ahead). Gaps in the data are fine, so the typical (median) spacing is what is checked.
    """
    epoch = np.fromiter((c.ts.timestamp() for c in candles), dtype=np.float64, count=len(candles))
    steps = np.diff(epoch)
    if steps.size == 0:
        return
    if np.any(steps <= 0):
        raise ValueError("candles must be in strictly ascending time order")
    if float(np.median(steps)) > bar.total_seconds():
        raise ValueError(f"candles are coarser than the analyst's timeframe ({bar})")


def ema(values: FloatArray, period: int) -> FloatArray:
    """Exponential moving average (α = 2/(period+1)), seeded with the SMA of the first `period` values.

    NaN before index `period − 1`. The recursion is sequential, so it is one tight float loop per series.
    """
    out = np.full(len(values), np.nan)
    if len(values) < period:
        return out
    alpha = 2.0 / (period + 1)
    level = float(np.mean(values[:period]))
    out[period - 1] = level
    tail = values[period:].tolist()
    smoothed = [0.0] * len(tail)
    for j, x in enumerate(tail):
        level += alpha * (x - level)
        smoothed[j] = level
    out[period:] = smoothed
    return out


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    """Wilder's average true range; NaN until `period` true ranges are available (index `period`)."""
    n = len(close)
    out = np.full(n, np.nan)
    if n <= period:
        return out
    prev_close = close[:-1]
    # True range needs the previous close, so it starts at bar 1.
    true_range = np.maximum(
        high[1:] - low[1:], np.maximum(np.abs(high[1:] - prev_close), np.abs(low[1:] - prev_close))
    )
    level = float(np.mean(true_range[:period]))
    out[period] = level
    tail = true_range[period:].tolist()
    smoothed = [0.0] * len(tail)
    for j, tr in enumerate(tail):
        level += (tr - level) / period
        smoothed[j] = level
    out[period + 1 :] = smoothed
    return out
