"""A monotone map of stated confidence to win rate: isotonic regression on binned confidence.

Stated confidence (0–1) is cut into `CONFIDENCE_BINS` equal-width bins. Each
bin's win rate is first shrunk toward the analyst's overall rate with
`BIN_PRIOR` pseudo-trades (a sparse bin cannot swing the map), then made
non-decreasing with pool-adjacent-violators weighted by the bins' counts plus
the prior. Empty bins take the value of the nearest non-empty bin below (or
above, for the lowest ones), so the map is a non-decreasing step function.

Whether the map is used at all is decided by a one-sided Cochran–Armitage
trend test of wins on stated confidence (`trend_z`): below `MIN_MAP_TRADES`
trades or `MAP_Z_START` the weight is 0; it rises linearly to 1 at
`MAP_Z_FULL`. On coin flips z stays around 0, so noise never bends the map in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

CONFIDENCE_BINS = 20
"""Bins of width 0.05 of stated confidence."""
BIN_PRIOR = 20.0
"""Pseudo-trades at the analyst's overall rate added to every confidence bin."""
MIN_MAP_TRADES = 100
"""An analyst needs this many closed trades before confidence may shape the calibration."""
MAP_Z_START = 2.0
MAP_Z_FULL = 4.0


def confidence_bin(confidence: float) -> int:
    """The map bin of a stated confidence (clipped into 0–1)."""
    b = int(confidence * CONFIDENCE_BINS)
    return 0 if b < 0 else (CONFIDENCE_BINS - 1 if b >= CONFIDENCE_BINS else b)


def pool_adjacent_violators(values: Sequence[float], weights: Sequence[float]) -> list[float]:
    """Weighted isotonic (non-decreasing) least-squares fit of `values`.

    Weights must be positive. O(n) amortised.
    """
    if len(values) != len(weights):
        raise ValueError("values and weights differ in length")
    blocks: list[list[float]] = []  # [mean, weight, length]
    for value, weight in zip(values, weights, strict=True):
        if weight <= 0:
            raise ValueError("weights must be positive")
        blocks.append([float(value), float(weight), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean2, w2, n2 = blocks.pop()
            mean1, w1, n1 = blocks[-1]
            total = w1 + w2
            blocks[-1] = [(mean1 * w1 + mean2 * w2) / total, total, n1 + n2]
    fitted: list[float] = []
    for mean, _, length in blocks:
        fitted.extend([mean] * int(length))
    return fitted


def confidence_map(bin_counts: Sequence[int], bin_wins: Sequence[int]) -> list[float]:
    """Non-decreasing win rate per confidence bin (see module doc); flat 0.5 without data."""
    total = sum(bin_counts)
    if total == 0:
        return [0.5] * len(bin_counts)
    overall = sum(bin_wins) / total
    used = [b for b, n in enumerate(bin_counts) if n > 0]
    shrunk = [(bin_wins[b] + BIN_PRIOR * overall) / (bin_counts[b] + BIN_PRIOR) for b in used]
    fitted = pool_adjacent_violators(shrunk, [bin_counts[b] + BIN_PRIOR for b in used])
    result = [math.nan] * len(bin_counts)
    for b, value in zip(used, fitted, strict=True):
        result[b] = value
    last = fitted[0]
    for b in range(len(result)):
        if math.isnan(result[b]):
            result[b] = last
        last = result[b]
    return result


def trend_z(count: int, wins: int, sum_c: float, sum_c2: float, sum_cy: float) -> float:
    """Cochran–Armitage z of wins on stated confidence (positive: higher confidence wins more)."""
    if count < 2 or wins in (0, count):
        return 0.0
    rate = wins / count
    var_c = sum_c2 - sum_c * sum_c / count
    if var_c <= 1e-12:
        return 0.0
    cov = sum_cy - sum_c * rate
    return cov / math.sqrt(rate * (1.0 - rate) * var_c)


def map_weight(count: int, z: float) -> float:
    """How much the confidence map shapes the calibration (0–1), from the trend evidence."""
    if count < MIN_MAP_TRADES or z <= MAP_Z_START:
        return 0.0
    return min(1.0, (z - MAP_Z_START) / (MAP_Z_FULL - MAP_Z_START))
