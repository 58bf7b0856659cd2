"""Wilson intervals, reliability bins, Brier and ECE against known values and plain loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftloop.learning.reliability import (
    brier_score,
    calibration_report,
    expected_calibration_error,
    reliability_bins,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("wins", "n", "low", "high"),
    [
        # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I (Wilson)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        # symmetric textbook cases
        (5, 10, 0.2366, 0.7634),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
    ],
)
def test_wilson_interval_known_values(wins: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(wins, n)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_without_data_is_everything() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


@given(st.integers(min_value=1, max_value=10_000), st.data())
def test_wilson_interval_contains_the_rate(n: int, data: st.DataObject) -> None:
    wins = data.draw(st.integers(min_value=0, max_value=n))
    low, high = wilson_interval(wins, n)
    assert 0.0 <= low <= wins / n <= high <= 1.0


def _reference_bins(p: list[float], y: list[bool], n_bins: int = 10) -> list[tuple[int, float, float]]:
    groups: dict[int, list[tuple[float, bool]]] = {}
    for pi, yi in zip(p, y, strict=True):
        b = min(n_bins - 1, int(pi * n_bins))
        groups.setdefault(b, []).append((pi, yi))
    return [
        (len(g), sum(pi for pi, _ in g) / len(g), sum(yi for _, yi in g) / len(g))
        for _, g in sorted(groups.items())
    ]


def test_reliability_bins_brier_and_ece_match_plain_loops() -> None:
    rng = np.random.default_rng(5)
    p = [float(x) for x in rng.uniform(0, 1, 997)] + [1.0, 0.0, 0.5]
    y = [bool(rng.random() < pi) for pi in p]
    bins = reliability_bins(p, y)
    reference = _reference_bins(p, y)
    assert [b.count for b in bins] == [n for n, _, _ in reference]
    assert [b.mean_predicted for b in bins] == pytest.approx([mean for _, mean, _ in reference])
    assert [b.observed_rate for b in bins] == pytest.approx([obs for _, _, obs in reference])
    for b in bins:
        assert b.wilson_low <= b.observed_rate <= b.wilson_high
    assert brier_score(p, y) == pytest.approx(
        sum((pi - yi) ** 2 for pi, yi in zip(p, y, strict=True)) / len(p)
    )
    ece = sum(n / len(p) * abs(obs - mean) for n, mean, obs in _reference_bins(p, y))
    assert expected_calibration_error(p, y) == pytest.approx(ece)


def test_perfect_forecasts_have_no_calibration_error() -> None:
    p = [0.05] * 20 + [0.95] * 20
    y = [False] * 19 + [True] + [True] * 19 + [False]
    assert expected_calibration_error(p, y) == pytest.approx(0.0)


def test_calibration_report_of_no_trades_is_empty() -> None:
    report = calibration_report([], [], [])
    assert report.count == 0
    assert math.isnan(report.brier_stated)
    assert report.as_dict()["brierStated"] is None
