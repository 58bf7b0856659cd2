"""Pool-adjacent-violators and the confidence map are monotone and faithful."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftloop.learning.monotone import (
    CONFIDENCE_BINS,
    confidence_bin,
    confidence_map,
    map_weight,
    pool_adjacent_violators,
    trend_z,
)


def test_pav_known_example() -> None:
    assert pool_adjacent_violators([1, 3, 2, 4, 3, 5], [1] * 6) == pytest.approx([1, 2.5, 2.5, 3.5, 3.5, 5])
    assert pool_adjacent_violators([3, 2, 1], [1, 1, 1]) == pytest.approx([2, 2, 2])
    assert pool_adjacent_violators([3, 1], [3, 1]) == pytest.approx([2.5, 2.5])


def _sse(fit: list[float], values: list[float], weights: list[float]) -> float:
    return sum(w * (f - v) ** 2 for f, v, w in zip(fit, values, weights, strict=True))


values_strategy = st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=8)


@given(values_strategy, st.data())
def test_pav_is_monotone_preserves_the_weighted_mean_and_is_least_squares(
    values: list[float], data: st.DataObject
) -> None:
    weights = data.draw(
        st.lists(st.floats(min_value=0.1, max_value=10), min_size=len(values), max_size=len(values))
    )
    fit = pool_adjacent_violators(values, weights)
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(fit))
    total = sum(weights)
    assert sum(f * w for f, w in zip(fit, weights, strict=True)) / total == pytest.approx(
        sum(v * w for v, w in zip(values, weights, strict=True)) / total
    )
    # no non-decreasing step function through the pooled levels does better: perturb each block
    best = _sse(fit, values, weights)
    for i in range(len(fit)):
        for delta in (-1e-3, 1e-3):
            moved = [f + delta if abs(f - fit[i]) < 1e-12 else f for f in fit]
            if all(a <= b + 1e-12 for a, b in itertools.pairwise(moved)):
                assert _sse(moved, values, weights) >= best - 1e-12


def test_pav_rejects_bad_weights() -> None:
    with pytest.raises(ValueError):
        pool_adjacent_violators([1.0, 2.0], [1.0, 0.0])


@given(
    st.lists(st.integers(min_value=0, max_value=50), min_size=CONFIDENCE_BINS, max_size=CONFIDENCE_BINS),
    st.data(),
)
def test_confidence_map_is_monotone_and_in_unit_interval(counts: list[int], data: st.DataObject) -> None:
    wins = [data.draw(st.integers(min_value=0, max_value=n)) for n in counts]
    fitted = confidence_map(counts, wins)
    assert len(fitted) == CONFIDENCE_BINS
    assert all(0.0 <= h <= 1.0 for h in fitted)
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(fitted))


def test_confidence_bins_cover_the_unit_interval() -> None:
    assert confidence_bin(0.0) == 0
    assert confidence_bin(0.049) == 0
    assert confidence_bin(0.05) == 1
    assert confidence_bin(1.0) == CONFIDENCE_BINS - 1
    assert confidence_bin(-0.2) == 0
    assert confidence_bin(1.7) == CONFIDENCE_BINS - 1


def test_trend_z_sign_and_map_weight_gate() -> None:
    # wins at high confidence only: a clear positive trend
    conf = [0.5] * 100 + [0.9] * 100
    won = [False] * 70 + [True] * 30 + [True] * 70 + [False] * 30
    n, k = len(conf), sum(won)
    sc, sc2 = sum(conf), sum(c * c for c in conf)
    scy = sum(c for c, y in zip(conf, won, strict=True) if y)
    z = trend_z(n, k, sc, sc2, scy)
    assert z > 5
    assert map_weight(n, z) == 1.0
    assert map_weight(99, z) == 0.0  # too few trades
    assert map_weight(n, 1.9) == 0.0  # not significant
    assert map_weight(n, 3.0) == pytest.approx(0.5)
    assert trend_z(n, k, sc, sc2, sum(c for c, y in zip(conf, won, strict=True) if not y)) < -5
