"""Vectorised metrics against straightforward reference implementations, and their speed."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftloop.learning import metrics


def ref_max_drawdown(pnl: list[float]) -> float:
    equity, peak, worst = 0.0, 0.0, 0.0
    for x in pnl:
        equity += x
        peak = max(peak, equity)
        worst = max(worst, peak - equity)
    return worst


def ref_profit_factor(pnl: list[float]) -> float | None:
    gains = sum(x for x in pnl if x > 0)
    losses = -sum(x for x in pnl if x < 0)
    return gains / losses if losses > 0 else None


pnl_lists = st.lists(st.floats(min_value=-1e4, max_value=1e4, allow_nan=False), min_size=0, max_size=60)


@settings(max_examples=60)
@given(pnl_lists)
def test_drawdown_and_profit_factor_match_loops(pnl: list[float]) -> None:
    assert metrics.max_drawdown(pnl) == pytest.approx(ref_max_drawdown(pnl), abs=1e-6)
    expected = ref_profit_factor(pnl)
    got = metrics.profit_factor(pnl)
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_ratios_match_their_definitions() -> None:
    rng = np.random.default_rng(0)
    returns = [float(x) for x in rng.normal(0.001, 0.02, 500)]
    assert metrics.sharpe(returns) == pytest.approx(statistics.mean(returns) / statistics.stdev(returns))
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    assert metrics.sortino(returns) == pytest.approx(statistics.mean(returns) / downside)
    assert metrics.sharpe([0.01]) is None and metrics.sharpe([0.01, 0.01]) is None
    assert metrics.sortino([0.01, 0.02]) is None
    assert metrics.expectancy([]) is None and metrics.expectancy([1.0, 2.0]) == 1.5


def test_breakdown_matches_grouping_by_hand() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    keys = rng.choice(["SOL-PERP", "BTC-PERP", "ETH-PERP"], n)
    codes = rng.integers(0, 24, n)
    pnl = rng.normal(0, 10, n)
    r = pnl / 20
    won = pnl > 0.5
    for key_array in (keys, codes):
        groups: dict[str, list[int]] = defaultdict(list)
        for i, k in enumerate(key_array.tolist()):
            groups[str(k)].append(i)
        got = metrics.breakdown(key_array, pnl, r, won)
        assert set(got) == set(groups)
        for k, idx in groups.items():
            row = got[k]
            assert row["count"] == len(idx)
            assert row["winRate"] == pytest.approx(100 * sum(won[i] for i in idx) / len(idx))
            assert row["totalPnl"] == pytest.approx(sum(pnl[i] for i in idx))
            assert row["expectancyR"] == pytest.approx(sum(r[i] for i in idx) / len(idx))
            assert row["profitFactor"] == pytest.approx(ref_profit_factor([pnl[i] for i in idx]))


def test_weekly_progression_follows_iso_weeks() -> None:
    start = datetime(2024, 12, 28, tzinfo=UTC)  # a Saturday: ISO week 2024-W52
    times = [start + timedelta(hours=13 * i) for i in range(40)]
    won = [i % 3 == 0 for i in range(40)]
    stated = [0.7] * 40
    calibrated = [0.4] * 40
    rows = metrics.weekly_progression(metrics.to_datetime64(times), won, stated, calibrated)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(times):
        year, week, _ = t.isocalendar()
        groups[f"{year}-W{week:02d}"].append(i)
    assert [row["week"] for row in rows] == sorted(groups)
    assert rows[1]["week"] == "2025-W01" and rows[1]["weekStart"] == "2024-12-30"
    for row in rows:
        idx = groups[row["week"]]
        assert row["trades"] == len(idx)
        assert row["winRate"] == pytest.approx(100 * sum(won[i] for i in idx) / len(idx))
        assert row["brierStated"] == pytest.approx(sum((0.7 - won[i]) ** 2 for i in idx) / len(idx))
        assert row["brierCalibrated"] == pytest.approx(sum((0.4 - won[i]) ** 2 for i in idx) / len(idx))
    assert rows[-1]["cumulativeTrades"] == 40
    assert metrics.weekly_progression(metrics.to_datetime64([]), [], [], []) == []


def test_summary_of_a_million_trades() -> None:
    rng = np.random.default_rng(2)
    n = 1_000_000
    pnl = rng.normal(0.5, 10, n)
    r = pnl / 20
    won = pnl > 0.05
    returns = pnl / 1000
    times = np.datetime64("2023-01-01T00:00:00", "s") + np.sort(rng.integers(0, 3 * 365 * 86400, n)).astype(
        "timedelta64[s]"
    )
    hour = rng.integers(0, 24, n)
    symbol_code = rng.integers(0, 8, n)
    stated, calibrated = rng.uniform(0.4, 0.9, n), rng.uniform(0.4, 0.6, n)
    summary = metrics.summary(pnl, r, returns, won)
    by_hour = metrics.breakdown(hour, pnl, r, won)
    by_symbol = metrics.breakdown(symbol_code, pnl, r, won)
    weeks = metrics.weekly_progression(times, won, stated, calibrated)
    assert summary["trades"] == n and len(by_hour) == 24 and len(by_symbol) == 8 and len(weeks) > 150
