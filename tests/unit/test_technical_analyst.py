"""Built-in EMA-crossover analyst: sides, timing without look-ahead, confidence, counts."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from driftloop.adapters.analysts.technical import TechnicalAnalyst, atr, ema
from driftloop.adapters.marketdata.candle import Candle
from driftloop.adapters.marketdata.synthetic import generate_candles
from driftloop.domain.model import Analysis, Prediction, Recommendation, Timeframe

TICK = Decimal("0.001")
BAR = timedelta(minutes=5)


@pytest.fixture(scope="module")
def candles() -> list[Candle]:
    return generate_candles(seed=7)


@pytest.fixture(scope="module")
def analyses(candles: list[Candle]) -> list[Analysis]:
    return TechnicalAnalyst().analyze(candles)


def _index_by_ts(candles: list[Candle]) -> dict[object, int]:
    return {c.ts: i for i, c in enumerate(candles)}


def test_count_plausible_and_ids_sequential(analyses: list[Analysis]) -> None:
    assert 100 <= len(analyses) <= 1_000
    assert [a.id for a in analyses] == [f"ta-{i:06d}" for i in range(1, len(analyses) + 1)]
    buys = sum(a.recommendation is Recommendation.BUY for a in analyses)
    assert 0.3 < buys / len(analyses) < 0.7


def test_emits_on_almost_every_cross(candles: list[Candle], analyses: list[Analysis]) -> None:
    close = np.array([float(c.close) for c in candles])
    diff = ema(close, 20) - ema(close, 50)
    with np.errstate(invalid="ignore"):
        crosses = int(np.sum((np.sign(diff[1:]) != np.sign(diff[:-1])) & np.isfinite(diff[:-1])))
    # Only whipsaws inside min_gap_bars are dropped.
    assert len(analyses) >= 0.5 * crosses


def test_stops_and_targets_on_the_correct_side(analyses: list[Analysis]) -> None:
    for a in analyses:
        assert a.entry_price is not None
        risk = abs(a.entry_price - a.stop_loss)
        reward = abs(a.take_profit - a.entry_price)
        if a.recommendation is Recommendation.BUY:
            assert a.prediction is Prediction.BULLISH
            assert a.stop_loss < a.entry_price < a.take_profit
        else:
            assert a.recommendation is Recommendation.SELL
            assert a.prediction is Prediction.BEARISH
            assert a.take_profit < a.entry_price < a.stop_loss
        assert abs(reward - 2 * risk) <= TICK
        for price in (a.entry_price, a.stop_loss, a.take_profit):
            assert price == price.quantize(TICK)


def test_timestamp_is_signal_bar_close_and_entry_its_close(
    candles: list[Candle], analyses: list[Analysis]
) -> None:
    index = _index_by_ts(candles)
    for a in analyses:
        signal_bar = candles[index[a.timestamp - BAR]]
        assert a.timestamp > signal_bar.ts
        assert a.entry_price == signal_bar.close
        assert a.timestamp.utcoffset() == timedelta(0)


def test_signals_are_spaced_by_min_gap(analyses: list[Analysis]) -> None:
    times = [a.timestamp for a in analyses]
    assert all(b - a >= 12 * BAR for a, b in itertools.pairwise(times))


def test_no_look_ahead_truncated_history_gives_same_signal(
    candles: list[Candle], analyses: list[Analysis]
) -> None:
    index = _index_by_ts(candles)
    analyst = TechnicalAnalyst()
    for a in analyses[:: max(1, len(analyses) // 5)][:5]:
        upto = index[a.timestamp - BAR] + 1  # history ends with the signal bar
        assert analyst.analyze(candles[:upto])[-1] == a


def test_confidence_and_metadata(analyses: list[Analysis]) -> None:
    confidences = [a.confidence for a in analyses]
    assert all(Decimal(50) <= c <= Decimal(90) for c in confidences)
    assert all(c.as_tuple().exponent == -1 for c in confidences)
    assert max(confidences) - min(confidences) > 20  # spread, not a constant
    a = analyses[0]
    assert a.analyst == "technical-ema-20-50"
    assert a.symbol == "SOL-PERP"
    assert a.timeframe is Timeframe.M5
    assert a.size_usd == Decimal(1000)
    assert a.leverage == Decimal(3)
    assert a.max_hold_minutes == 720
    assert "EMA20" in a.reasoning
    assert str(a.entry_price) in a.reasoning


def test_deterministic(candles: list[Candle], analyses: list[Analysis]) -> None:
    assert TechnicalAnalyst().analyze(candles) == analyses


def test_short_history_gives_nothing(candles: list[Candle]) -> None:
    assert TechnicalAnalyst().analyze(candles[:50]) == []
    assert TechnicalAnalyst().analyze([]) == []


def test_invalid_configuration_and_input(candles: list[Candle]) -> None:
    with pytest.raises(ValueError, match="fast < slow"):
        TechnicalAnalyst(fast=50, slow=20)
    with pytest.raises(ValueError, match="7m"):
        TechnicalAnalyst(timeframe="7m")
    with pytest.raises(ValueError, match="stop_atr"):
        TechnicalAnalyst(stop_atr=Decimal(0))
    hourly = [replace(c, ts=candles[0].ts + i * timedelta(hours=1)) for i, c in enumerate(candles[:200])]
    with pytest.raises(ValueError, match="coarser"):
        TechnicalAnalyst().analyze(hourly)
    with pytest.raises(ValueError, match="ascending"):
        TechnicalAnalyst().analyze(list(reversed(candles[:200])))


def test_ema_matches_reference() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 4.0])
    out = ema(x, 3)
    assert np.isnan(out[:2]).all()
    expected = [2.0]
    for v in x[3:]:
        expected.append(expected[-1] + 0.5 * (v - expected[-1]))
    np.testing.assert_allclose(out[2:], expected)


def test_atr_matches_reference() -> None:
    high = np.array([10.0, 11.0, 12.0, 11.5, 13.0])
    low = np.array([9.0, 10.0, 10.5, 10.0, 12.0])
    close = np.array([9.5, 10.5, 11.0, 11.0, 12.5])
    out = atr(high, low, close, 2)
    true_range = [1.5, 1.5, 1.5, 2.0]  # bars 1..4, using the previous close
    assert np.isnan(out[:2]).all()
    assert out[2] == pytest.approx(1.5)
    assert out[3] == pytest.approx(1.5 + (1.5 - 1.5) / 2)
    assert out[4] == pytest.approx(out[3] + (true_range[3] - out[3]) / 2)
