"""Synthetic market generator: determinism, OHLC shape, ticks, stylised facts, CSV output."""

from __future__ import annotations

import csv
import itertools
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from driftloop.adapters.marketdata.candle import Candle
from driftloop.adapters.marketdata.synthetic import generate_candles, write_candles_csv

TICK = Decimal("0.001")


@pytest.fixture(scope="module")
def candles() -> list[Candle]:
    return generate_candles()


def _log_returns(candles: list[Candle]) -> np.ndarray:
    closes = np.array([float(c.close) for c in candles])
    return np.diff(np.log(closes))


def _autocorr(x: np.ndarray, lag: int) -> float:
    x = x - x.mean()
    return float((x[:-lag] * x[lag:]).mean() / x.var())


def test_defaults_shape_and_start(candles: list[Candle]) -> None:
    assert len(candles) == 20_000
    assert candles[0].ts == datetime(2025, 1, 1, tzinfo=UTC)
    assert candles[0].open == Decimal("150.000")
    steps = {b.ts - a.ts for a, b in itertools.pairwise(candles)}
    assert steps == {timedelta(minutes=5)}
    assert all(c.ts.utcoffset() == timedelta(0) for c in candles[:50])


def test_deterministic_per_seed() -> None:
    assert generate_candles(seed=11, bars=2_000) == generate_candles(seed=11, bars=2_000)


def test_different_seeds_differ() -> None:
    a = generate_candles(seed=1, bars=500)
    b = generate_candles(seed=2, bars=500)
    assert [c.close for c in a] != [c.close for c in b]


def test_ohlc_consistency_and_positive_volume(candles: list[Candle]) -> None:
    for c in candles:
        assert c.high >= max(c.open, c.close)
        assert c.low <= min(c.open, c.close)
        assert c.low > 0
        assert c.volume > 0


def test_open_is_previous_close_apart_from_rare_small_gaps(candles: list[Candle]) -> None:
    gaps = [(b.open / a.close) - 1 for a, b in itertools.pairwise(candles) if b.open != a.close]
    assert len(gaps) < 0.01 * len(candles)
    assert all(abs(g) < Decimal("0.05") for g in gaps)


def test_prices_on_tick_and_built_exactly(candles: list[Candle]) -> None:
    for c in candles[:2_000]:
        for price in (c.open, c.high, c.low, c.close):
            assert price == price.quantize(TICK)
            assert price.as_tuple().exponent == -3  # built from ticks, not from a float


def test_volatility_clustering(candles: list[Candle]) -> None:
    r2 = _log_returns(candles) ** 2
    shuffled = np.random.default_rng(0).permutation(r2)
    clustered = np.mean([_autocorr(r2, lag) for lag in range(1, 11)])
    iid = np.mean([_autocorr(shuffled, lag) for lag in range(1, 11)])
    assert clustered > 0.03
    assert clustered > iid + 0.03


def test_fat_tails(candles: list[Candle]) -> None:
    r = _log_returns(candles)
    excess_kurtosis = float(((r - r.mean()) ** 4).mean() / r.var() ** 2 - 3.0)
    assert excess_kurtosis > 1.0


def test_default_size_is_deterministic() -> None:
    assert generate_candles(seed=3) == generate_candles(seed=3)  # speed is measured by make bench


def test_start_is_converted_to_utc_and_naive_start_rejected() -> None:
    plus2 = timezone(timedelta(hours=2))
    out = generate_candles(bars=3, start=datetime(2025, 6, 1, 2, 0, tzinfo=plus2), bar_minutes=15)
    assert [c.ts for c in out] == [datetime(2025, 6, 1, 0, m, tzinfo=UTC) for m in (0, 15, 30)]
    assert all(c.ts.tzinfo is UTC for c in out)
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_candles(bars=3, start=datetime(2025, 1, 1))


def test_zero_bars() -> None:
    assert generate_candles(bars=0) == []


def test_write_candles_csv(tmp_path: Path) -> None:
    out = generate_candles(seed=5, bars=3)
    path = tmp_path / "candles.csv"
    write_candles_csv(out, path)
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["timestamp", "open", "high", "low", "close", "volume"]
    assert rows[1][0] == "2025-01-01T00:00:00Z"
    assert rows[2][0] == "2025-01-01T00:05:00Z"
    for row, c in zip(rows[1:], out, strict=True):
        assert [Decimal(v) for v in row[1:]] == [c.open, c.high, c.low, c.close, c.volume]
