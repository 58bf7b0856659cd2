"""Context statistics: win rate, expectancy in R, PnL and profit factor, with uncertainty.

`summarize` / `summarize_by` compute them (vectorised) from records;
`StatsBook` keeps the running sums per context key, updated in O(depth) per
record, for the policy.

Uncertainty: the win rate has a Wilson 95 % interval; expectancy in R has its
standard error and a 95 % interval, by a seeded percentile bootstrap
(`BOOTSTRAP_SAMPLES` resamples) below `BOOTSTRAP_MAX_TRADES` trades and by the
normal approximation (mean ± 1.96·SE) above, where the two agree.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftloop.domain.model import ExitReason
from driftloop.learning.excursions import excursion_findings, excursion_summary
from driftloop.learning.records import DEPTH, ContextKey, LearningRecord, describe
from driftloop.learning.reliability import Z95, FloatArray, wilson_interval

BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_MAX_TRADES = 500
EXCURSION_LEVEL = 4  # (analyst, symbol, timeframe, side): where stops and targets are compared


def profit_factor(gross_win: float, gross_loss: float) -> float | None:
    """Gross profit / gross loss (both ≥ 0); None when there is no loss to divide by."""
    return gross_win / gross_loss if gross_loss > 0 else None


def mean_ci95(values: Sequence[float] | FloatArray, *, seed: int = 0) -> tuple[float, float, float, float]:
    """(mean, standard error, low, high) of a sample; the interval as described in the module doc."""
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    mean = float(x.mean())
    if n == 1:
        return mean, math.nan, math.nan, math.nan
    se = float(x.std(ddof=1) / math.sqrt(n))
    if n > BOOTSTRAP_MAX_TRADES:
        return mean, se, mean - Z95 * se, mean + Z95 * se
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, n, size=(BOOTSTRAP_SAMPLES, n))].mean(axis=1)
    low, high = np.quantile(means, (0.025, 0.975))
    return mean, se, float(low), float(high)


@dataclass(frozen=True, slots=True)
class ContextSummary:
    """Track record of one context (win rate in 0–1 here; `as_dict` gives percent)."""

    key: ContextKey
    count: int
    wins: int
    win_rate: float
    win_rate_ci95: tuple[float, float]
    expectancy_r: float
    expectancy_r_se: float
    expectancy_r_ci95: tuple[float, float]
    avg_pnl_usd: float
    avg_pnl_percent: float
    total_pnl_usd: float
    profit_factor: float | None
    excursions: dict[str, Any] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def num(x: float | None, digits: int = 6) -> float | None:
            return None if x is None or math.isnan(x) else round(x, digits)

        return {
            "context": describe(self.key),
            "count": self.count,
            "wins": self.wins,
            "winRate": num(100 * self.win_rate, 4),
            "winRateCI95": [num(100 * v, 4) for v in self.win_rate_ci95],
            "expectancyR": num(self.expectancy_r),
            "expectancyRStdErr": num(self.expectancy_r_se),
            "expectancyRCI95": [num(v) for v in self.expectancy_r_ci95],
            "avgPnlUsd": num(self.avg_pnl_usd),
            "avgPnlPercent": num(self.avg_pnl_percent),
            "totalPnlUsd": num(self.total_pnl_usd),
            "profitFactor": num(self.profit_factor),
            "excursions": self.excursions,
            "findings": self.findings,
        }


def summarize(records: Sequence[LearningRecord], key: ContextKey = (), *, seed: int = 0) -> ContextSummary:
    """The statistics of `records` (taken as one context named by `key`)."""
    n = len(records)
    won = np.fromiter((rec.won for rec in records), dtype=np.bool_, count=n)
    pnl = np.fromiter((rec.pnl_usd for rec in records), dtype=np.float64, count=n)
    pct = np.fromiter((rec.pnl_percent for rec in records), dtype=np.float64, count=n)
    r = np.fromiter((rec.r for rec in records), dtype=np.float64, count=n)
    wins = int(won.sum())
    mean_r, se_r, low_r, high_r = mean_ci95(r, seed=seed)
    return ContextSummary(
        key=key,
        count=n,
        wins=wins,
        win_rate=wins / n if n else math.nan,
        win_rate_ci95=wilson_interval(wins, n),
        expectancy_r=mean_r,
        expectancy_r_se=se_r,
        expectancy_r_ci95=(low_r, high_r),
        avg_pnl_usd=float(pnl.mean()) if n else math.nan,
        avg_pnl_percent=float(pct.mean()) if n else math.nan,
        total_pnl_usd=float(pnl.sum()),
        profit_factor=profit_factor(float(pnl[pnl > 0].sum()), float(-pnl[pnl < 0].sum())),
        excursions=excursion_summary(records),
        findings=excursion_findings(records),
    )


def summarize_by(
    records: Sequence[LearningRecord], level: int, *, seed: int = 0
) -> dict[ContextKey, ContextSummary]:
    """Statistics per context key at `level` (0 = all, … 5 = full context), keys sorted."""
    groups: dict[ContextKey, list[LearningRecord]] = defaultdict(list)
    for rec in records:
        groups[rec.path()[level]].append(rec)
    return {key: summarize(groups[key], key, seed=seed) for key in sorted(groups)}


def bracket_r(rec: LearningRecord) -> float | None:
    """The R a stop (−1) or target (+planned RR) exit would make without costs; None for other exits."""
    if rec.exit_reason is ExitReason.STOP_LOSS:
        return -1.0
    if rec.exit_reason is ExitReason.TAKE_PROFIT:
        return rec.planned_rr
    return None


class RunningStats:
    """Running sums of one context: counts, R moments, PnL, gross win/loss, leverage."""

    __slots__ = (
        "cost_n",
        "gross_loss",
        "gross_win",
        "n",
        "sum_cost",
        "sum_leverage",
        "sum_pnl",
        "sum_r",
        "sum_r2",
        "wins",
    )

    def __init__(self) -> None:
        self.n = 0
        self.wins = 0
        self.sum_r = 0.0
        self.sum_r2 = 0.0
        self.sum_pnl = 0.0
        self.gross_win = 0.0
        self.gross_loss = 0.0
        self.sum_leverage = 0.0
        self.sum_cost = 0.0  # Σ (bracket R − realised R) over stop and target exits
        self.cost_n = 0

    def add(self, rec: LearningRecord) -> None:
        self.n += 1
        self.wins += rec.won
        self.sum_r += rec.r
        self.sum_r2 += rec.r * rec.r
        self.sum_pnl += rec.pnl_usd
        if rec.pnl_usd > 0:
            self.gross_win += rec.pnl_usd
        else:
            self.gross_loss -= rec.pnl_usd
        self.sum_leverage += rec.leverage
        bracket = bracket_r(rec)
        if bracket is not None:
            self.sum_cost += bracket - rec.r
            self.cost_n += 1

    @property
    def mean_r(self) -> float:
        return self.sum_r / self.n if self.n else math.nan

    @property
    def var_r(self) -> float:
        """Sample variance of R (NaN below 2 trades)."""
        if self.n < 2:
            return math.nan
        return max(0.0, (self.sum_r2 - self.sum_r * self.sum_r / self.n) / (self.n - 1))

    @property
    def mean_leverage(self) -> float:
        return self.sum_leverage / self.n if self.n else math.nan

    @property
    def mean_cost(self) -> float:
        """Average cost drag in R of the stop and target exits (fees, slippage, funding)."""
        return self.sum_cost / self.cost_n if self.cost_n else math.nan


class StatsBook:
    """Running statistics per context key (all levels), the records per excursion context,
    and the leverage buckets seen under each (analyst, symbol, timeframe, side)."""

    def __init__(self) -> None:
        self._stats: dict[ContextKey, RunningStats] = {}
        self._records: dict[ContextKey, list[LearningRecord]] = defaultdict(list)
        self._buckets: dict[ContextKey, list[ContextKey]] = defaultdict(list)

    def update(self, rec: LearningRecord) -> None:
        path = rec.path()
        for key in path:
            stats = self._stats.get(key)
            if stats is None:
                stats = self._stats[key] = RunningStats()
                if len(key) == DEPTH - 1:
                    self._buckets[key[:-1]].append(key)
            stats.add(rec)
        self._records[path[EXCURSION_LEVEL]].append(rec)

    def get(self, key: ContextKey) -> RunningStats | None:
        return self._stats.get(key)

    def records(self, key: ContextKey) -> list[LearningRecord]:
        """The records of an (analyst, symbol, timeframe, side) key, in the order observed."""
        return self._records.get(key, [])

    def buckets(self, key: ContextKey) -> list[ContextKey]:
        """Full context keys (with a leverage bucket) seen under an (analyst, symbol, timeframe, side) key."""
        return self._buckets.get(key, [])
