"""Scoring probability forecasts: Wilson intervals, reliability bins, Brier score, ECE.

Probabilities are in 0–1 throughout. Everything here is vectorised with numpy
and deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

Z95 = 1.959963984540054
"""Two-sided 95 % normal quantile."""

RELIABILITY_BINS = 10
"""Equal-width bins of the forecast probability used for reliability tables and ECE."""


def wilson_interval(wins: float, count: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (0–1); (0, 1) without data."""
    if count <= 0:
        return 0.0, 1.0
    p = wins / count
    z2 = z * z
    denom = 1.0 + z2 / count
    centre = (p + z2 / (2.0 * count)) / denom
    half = z * math.sqrt(max(0.0, p * (1.0 - p) / count + z2 / (4.0 * count * count))) / denom
    low = 0.0 if wins <= 0 else max(0.0, min(p, centre - half))
    high = 1.0 if wins >= count else min(1.0, max(p, centre + half))
    return low, high


def as_float_array(values: Sequence[float] | FloatArray) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def brier_score(probabilities: Sequence[float] | FloatArray, won: Sequence[bool] | npt.NDArray[Any]) -> float:
    """Mean of (p − y)², y = 1 for a win; NaN without forecasts."""
    p = as_float_array(probabilities)
    if p.size == 0:
        return math.nan
    y = np.asarray(won, dtype=np.float64)
    return float(np.mean((p - y) ** 2))


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    """Forecasts whose probability fell in [lower, upper): mean forecast vs observed win rate."""

    lower: float
    upper: float
    count: int
    mean_predicted: float
    observed_rate: float
    wilson_low: float
    wilson_high: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "lower": self.lower,
            "upper": self.upper,
            "count": self.count,
            "meanPredicted": round(self.mean_predicted, 6),
            "observedRate": round(self.observed_rate, 6),
            "wilson95": [round(self.wilson_low, 6), round(self.wilson_high, 6)],
        }


def _bin_index(p: FloatArray, n_bins: int) -> npt.NDArray[np.intp]:
    return np.clip((p * n_bins).astype(np.intp), 0, n_bins - 1)


def reliability_bins(
    probabilities: Sequence[float] | FloatArray,
    won: Sequence[bool] | npt.NDArray[Any],
    n_bins: int = RELIABILITY_BINS,
) -> list[ReliabilityBin]:
    """Non-empty equal-width bins (the last one includes 1.0), with Wilson 95 % intervals."""
    p = as_float_array(probabilities)
    y = np.asarray(won, dtype=np.float64)
    idx = _bin_index(p, n_bins)
    counts = np.bincount(idx, minlength=n_bins)
    sums = np.bincount(idx, weights=p, minlength=n_bins)
    wins = np.bincount(idx, weights=y, minlength=n_bins)
    bins = []
    for b in np.flatnonzero(counts):
        n = int(counts[b])
        low, high = wilson_interval(float(wins[b]), n)
        bins.append(
            ReliabilityBin(
                lower=b / n_bins,
                upper=(b + 1) / n_bins,
                count=n,
                mean_predicted=float(sums[b] / n),
                observed_rate=float(wins[b] / n),
                wilson_low=low,
                wilson_high=high,
            )
        )
    return bins


def expected_calibration_error(
    probabilities: Sequence[float] | FloatArray,
    won: Sequence[bool] | npt.NDArray[Any],
    n_bins: int = RELIABILITY_BINS,
) -> float:
    """ECE = Σ_b (n_b / N) · |observed rate_b − mean forecast_b| over equal-width bins; NaN if empty."""
    p = as_float_array(probabilities)
    if p.size == 0:
        return math.nan
    y = np.asarray(won, dtype=np.float64)
    idx = _bin_index(p, n_bins)
    gap = np.bincount(idx, weights=y, minlength=n_bins) - np.bincount(idx, weights=p, minlength=n_bins)
    return float(np.sum(np.abs(gap)) / p.size)


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    """Stated vs calibrated forecasts over the same trades."""

    count: int
    base_rate: float
    brier_stated: float
    brier_calibrated: float
    brier_base_rate: float
    ece_stated: float
    ece_calibrated: float
    stated_bins: list[ReliabilityBin]
    calibrated_bins: list[ReliabilityBin]

    def as_dict(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return None if math.isnan(x) else round(x, 6)

        return {
            "count": self.count,
            "baseRate": num(self.base_rate),
            "brierStated": num(self.brier_stated),
            "brierCalibrated": num(self.brier_calibrated),
            "brierBaseRate": num(self.brier_base_rate),
            "eceStated": num(self.ece_stated),
            "eceCalibrated": num(self.ece_calibrated),
            "statedBins": [b.as_dict() for b in self.stated_bins],
            "calibratedBins": [b.as_dict() for b in self.calibrated_bins],
        }


def calibration_report(
    stated: Sequence[float] | FloatArray,
    calibrated: Sequence[float] | FloatArray,
    won: Sequence[bool] | npt.NDArray[Any],
) -> CalibrationReport:
    """Brier, ECE and reliability bins of the stated and the calibrated forecasts.

    `brier_base_rate` is the Brier score of always forecasting the observed base
    rate of these trades (an in-sample reference a useful forecast should beat).
    """
    s, c = as_float_array(stated), as_float_array(calibrated)
    y = np.asarray(won, dtype=np.float64)
    base = float(np.mean(y)) if y.size else math.nan
    return CalibrationReport(
        count=int(y.size),
        base_rate=base,
        brier_stated=brier_score(s, y),
        brier_calibrated=brier_score(c, y),
        brier_base_rate=float(np.mean((base - y) ** 2)) if y.size else math.nan,
        ece_stated=expected_calibration_error(s, y),
        ece_calibrated=expected_calibration_error(c, y),
        stated_bins=reliability_bins(s, y),
        calibrated_bins=reliability_bins(c, y),
    )
