"""Seeded synthetic perp market for the demo — SYNTHETIC data, not real market history.

The generator mimics the stylised facts of a liquid crypto perp at 5-minute bars closely enough for the
demo loop (analyst → policy → paper venue → learning) to behave realistically:

- volatility clustering: per-bar variance follows a GARCH(1,1) recursion;
- fat tails: innovations are Student-t (df=4) scaled to unit variance;
- slow drifting regimes: a small, smoothed random drift so trend-following signals sometimes pay;
- an intrabar path: wicks beyond open/close, so ``high ≥ max(open, close)`` and ``low ≤ min(open, close)``;
- continuity: each bar opens at the previous close, apart from rare small gaps;
- prices on a 0.001 tick and positive volume that rises with volatility and has a daily cycle.

Everything is drawn from ``numpy.random.default_rng(seed)``, so a seed always yields the same candles.
Prices are computed in floats (analytics), rounded to integer ticks, then turned into exact ``Decimal``s
from those integers — never ``Decimal(float)``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt

from driftloop.adapters.marketdata.candle import Candle

DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)

PRICE_DECIMALS = 3  # 0.001 tick
VOLUME_DECIMALS = 2

# Per-bar volatility of ~0.25 % at 5 minutes ≈ 80 % annualised, typical for SOL.
_BAR_VOL_5M = 0.0025
# GARCH(1,1): alpha + beta close to 1 gives the long-lived volatility regimes seen in crypto.
_GARCH_ALPHA = 0.07
_GARCH_BETA = 0.91
_T_DF = 4.0
_GAP_PROBABILITY = 0.002  # rare small gaps (venue outages, funding-time jumps)
_DRIFT_SHARE = 0.025  # drift std as a share of bar volatility: trends exist but are weak
_DRIFT_HALF_LIFE_BARS = 288  # ~1 day at 5 minutes
_BASE_VOLUME = 2_000.0

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def generate_candles(
    seed: int = 7,
    bars: int = 20_000,
    start: datetime = DEFAULT_START,
    bar_minutes: int = 5,
    start_price: Decimal = Decimal("150"),
) -> list[Candle]:
    """Generate `bars` synthetic OHLCV candles (deterministic for a given `seed`).

    `start` is the first bar's open time and must be timezone-aware; it is converted to UTC.
    Volatility is scaled with `bar_minutes` (square-root of time) so other bar sizes stay plausible.
    """
    if bars < 0:
        raise ValueError("bars must be >= 0")
    if bar_minutes <= 0:
        raise ValueError("bar_minutes must be > 0")
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be a timezone-aware datetime")
    if start_price <= 0:
        raise ValueError("start_price must be > 0")
    if bars == 0:
        return []

    rng = np.random.default_rng(seed)
    bar_vol = _BAR_VOL_5M * float(np.sqrt(bar_minutes / 5.0))

    # Student-t scaled to unit variance: Var(t_df) = df / (df - 2).
    z = rng.standard_t(_T_DF, size=bars) / np.sqrt(_T_DF / (_T_DF - 2.0))
    sigma = _garch_sigma(z, bar_vol)
    drift = _smooth_drift(rng, bars, bar_vol * _DRIFT_SHARE)
    # -sigma²/2 keeps the price a martingale-ish process instead of drifting down from volatility drag.
    returns = drift + sigma * z - 0.5 * sigma**2

    gap_mask = rng.random(bars) < _GAP_PROBABILITY
    gaps = np.where(gap_mask, rng.normal(0.0, 1.0, bars) * sigma * 2.0, 0.0)
    gaps[0] = 0.0

    log_p0 = float(np.log(float(start_price)))
    log_close = log_p0 + np.cumsum(gaps + returns)
    log_open = np.empty(bars)
    log_open[0] = log_p0
    log_open[1:] = log_close[:-1] + gaps[1:]

    # Intrabar excursion beyond the body: half-normal wicks proportional to the bar's volatility.
    up_wick = np.abs(rng.normal(0.0, 1.0, bars)) * sigma * 0.6
    down_wick = np.abs(rng.normal(0.0, 1.0, bars)) * sigma * 0.6
    log_high = np.maximum(log_open, log_close) + up_wick
    log_low = np.minimum(log_open, log_close) - down_wick

    scale = 10**PRICE_DECIMALS
    close_t = _to_ticks(log_close, scale)
    open_t = _to_ticks(log_open, scale)
    # Continuity must hold exactly after rounding, so un-gapped opens reuse the previous rounded close.
    open_t[1:] = np.where(gap_mask[1:], open_t[1:], close_t[:-1])
    open_t[0] = int((start_price * scale).to_integral_value())  # exact: the first open is the given price
    high_t = np.maximum(_to_ticks(log_high, scale), np.maximum(open_t, close_t))
    low_t = np.minimum(_to_ticks(log_low, scale), np.minimum(open_t, close_t))
    low_t = np.maximum(low_t, 1)

    volume_t = _volume_ticks(rng, sigma, bar_vol, returns, bars, bar_minutes)

    step = timedelta(minutes=bar_minutes)
    t0 = start.astimezone(UTC)
    opens = _decimals(open_t, PRICE_DECIMALS)
    highs = _decimals(high_t, PRICE_DECIMALS)
    lows = _decimals(low_t, PRICE_DECIMALS)
    closes = _decimals(close_t, PRICE_DECIMALS)
    volumes = _decimals(volume_t, VOLUME_DECIMALS)
    return [
        Candle(
            ts=t0 + i * step, open=opens[i], high=highs[i], low=lows[i], close=closes[i], volume=volumes[i]
        )
        for i in range(bars)
    ]


def write_candles_csv(candles: Iterable[Candle], path: str | Path) -> None:
    """Write candles as CSV with header ``timestamp,open,high,low,close,volume`` and ISO-8601 UTC times."""
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["timestamp", "open", "high", "low", "close", "volume"])
        for c in candles:
            ts = c.ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            writer.writerow([ts, c.open, c.high, c.low, c.close, c.volume])


def _garch_sigma(z: FloatArray, bar_vol: float) -> FloatArray:
    """Per-bar conditional volatility of a GARCH(1,1) driven by the unit-variance shocks `z`.

    σ²ₜ = ω + α·ε²ₜ₋₁ + β·σ²ₜ₋₁ with εₜ = σₜ·zₜ, i.e. σ²ₜ = ω + (α·z²ₜ₋₁ + β)·σ²ₜ₋₁. The recursion is
    inherently sequential, so it runs as a tight loop over plain floats (~5 ms for 20k bars).
    """
    long_run_var = bar_vol**2
    omega = long_run_var * (1.0 - _GARCH_ALPHA - _GARCH_BETA)
    var = [0.0] * len(z)
    v = long_run_var
    for i, z_i in enumerate(z.tolist()):
        var[i] = v
        v = omega + (_GARCH_ALPHA * z_i * z_i + _GARCH_BETA) * v
    return np.sqrt(np.asarray(var, dtype=np.float64))


def _smooth_drift(rng: np.random.Generator, bars: int, scale: float) -> FloatArray:
    """A slowly varying drift: white noise through a truncated exponential (AR(1)-like) filter, normalised
    so its standard deviation is `scale`. Vectorised as one convolution instead of a recursion."""
    decay = 0.5 ** (1.0 / _DRIFT_HALF_LIFE_BARS)
    kernel_len = min(bars, _DRIFT_HALF_LIFE_BARS * 8)
    kernel = decay ** np.arange(kernel_len)
    noise = rng.normal(0.0, 1.0, bars + kernel_len - 1)
    drift = np.convolve(noise, kernel, mode="valid")
    std = float(np.sqrt(np.sum(kernel**2)))
    return drift * (scale / std)


def _volume_ticks(
    rng: np.random.Generator,
    sigma: FloatArray,
    bar_vol: float,
    returns: FloatArray,
    bars: int,
    bar_minutes: int,
) -> IntArray:
    """Volume rises with conditional volatility and the bar's own move, with a daily (UTC) cycle."""
    minute_of_day = (np.arange(bars) * bar_minutes) % 1440
    daily = 1.0 + 0.35 * np.sin(2.0 * np.pi * (minute_of_day - 780) / 1440.0 + np.pi / 2)  # peak ~13:00 UTC
    activity = (sigma / bar_vol) * (1.0 + np.abs(returns) / sigma)
    noise = rng.lognormal(0.0, 0.35, bars)
    volume = _BASE_VOLUME * (bar_minutes / 5.0) * daily * activity * noise
    ticks: IntArray = np.maximum(np.rint(volume * 10**VOLUME_DECIMALS).astype(np.int64), 1)
    return ticks


def _to_ticks(log_price: FloatArray, scale: int) -> IntArray:
    ticks: IntArray = np.rint(np.exp(log_price) * scale).astype(np.int64)
    return ticks


def _decimals(ticks: IntArray, decimals: int) -> list[Decimal]:
    """Exact Decimals from integer ticks (e.g. 150123 → Decimal('150.123')), keeping the trailing zeros."""
    return [Decimal(t).scaleb(-decimals) for t in ticks.tolist()]
