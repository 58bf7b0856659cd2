"""Walk-forward evaluation: `raw` (take every analysis as given) vs `learned`, on the same analyses.

Analyses are processed in time order (ties in the order given). Before each
decision the learned policy observes exactly the outcomes known by then: a
record is observed once its `outcome_known_at` (the close of its exit candle)
is ≤ the analysis timestamp, in the order the outcomes became known. The
outcome of the analysis itself, and of every trade still open, is therefore
never seen by its decision: no look-ahead.

Each analysis comes with the record of its simulated trade (the replay
simulates every analysis as an independent trade), or None when it could not
trade (HOLD, wrong side, no data) or never closed. By default the policy
learns from every known outcome, also of analyses it skipped: calibration is
about the analyst's forecasts, which are scored whether or not we traded
(`learn_from_skipped=False` learns only from trades it took, as a live
account without shadow trades would).

Learned PnL scales each trade's PnL by its size multiplier (skipped = 0).
The per-policy metrics (`M`) are over the trades the policy took:
tradesTaken, winRate (% of taken trades that won), totalPnl (USD),
expectancyR (Σ m·R / Σ m: R per unit of requested risk deployed),
maxDrawdown (USD, of cumulative PnL in the order outcomes became known),
sharpe (per-trade returns m·pnlPercent/100, not annualised), Brier and ECE of
the stated and of the calibrated probabilities (0–1). `pnlDifferenceCI95` is
a seeded percentile bootstrap (resampling analyses) of Σ (m − 1)·PnL,
learned − raw.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftloop.domain.model import Analysis
from driftloop.learning import metrics
from driftloop.learning.policy import LearnedPolicy, PolicyConfig
from driftloop.learning.records import LearningRecord
from driftloop.learning.reliability import brier_score, expected_calibration_error

BOOTSTRAP_SAMPLES = 2000
_BOOTSTRAP_CHUNK_CELLS = 4_000_000  # indices drawn per chunk (bounds memory)


@dataclass(frozen=True, slots=True)
class AnalysisDecision:
    """What the learned policy decided on one analysis, with the facts it had."""

    analysis_id: str
    taken: bool
    calibrated_win_prob: float | None
    size_multiplier: float
    expected_r: float | None
    reason: str | None
    known_outcomes: int
    learning_data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "analysisId": self.analysis_id,
            "decision": "TAKEN" if self.taken else "SKIPPED",
            "calibratedWinProb": self.calibrated_win_prob,
            "sizeMultiplier": self.size_multiplier,
            "expectedR": self.expected_r,
            "reason": self.reason,
            "knownOutcomes": self.known_outcomes,
        }


@dataclass(frozen=True, slots=True)
class WalkForwardResult:
    decisions: list[AnalysisDecision]
    evaluation: dict[str, Any]
    policy: LearnedPolicy


def _clean(x: float | None, digits: int = 6) -> float | None:
    return None if x is None or math.isnan(x) or math.isinf(x) else round(float(x), digits)


def _policy_metrics(
    sizes: np.ndarray[Any, np.dtype[np.float64]],
    taken: np.ndarray[Any, np.dtype[np.bool_]],
    rows: list[LearningRecord],
    calibrated: np.ndarray[Any, np.dtype[np.float64]],
) -> dict[str, Any]:
    pnl = np.array([rec.pnl_usd for rec in rows], dtype=np.float64)
    r = np.array([rec.r for rec in rows], dtype=np.float64)
    pct = np.array([rec.pnl_percent for rec in rows], dtype=np.float64)
    won = np.array([rec.won for rec in rows], dtype=np.bool_)
    stated = np.array([rec.confidence for rec in rows], dtype=np.float64)
    m = sizes[taken]
    n = int(taken.sum())
    exposure = float(m.sum())
    return {
        "tradesTaken": n,
        "winRate": _clean(100.0 * float(won[taken].mean())) if n else None,
        "totalPnl": _clean(float((m * pnl[taken]).sum())),
        "expectancyR": _clean(float((m * r[taken]).sum()) / exposure) if exposure > 0 else None,
        "maxDrawdown": _clean(metrics.max_drawdown(m * pnl[taken])),
        "sharpe": _clean(metrics.sharpe(m * pct[taken] / 100.0)),
        "brierStated": _clean(brier_score(stated[taken], won[taken])),
        "brierCalibrated": _clean(brier_score(calibrated[taken], won[taken])),
        "eceStated": _clean(expected_calibration_error(stated[taken], won[taken])),
        "eceCalibrated": _clean(expected_calibration_error(calibrated[taken], won[taken])),
    }


def bootstrap_sum_ci(
    values: np.ndarray[Any, np.dtype[np.float64]], *, samples: int, seed: int
) -> list[float]:
    """Percentile 95 % interval of the sum of `values`, resampled with replacement (seeded, chunked)."""
    n = values.size
    if n == 0:
        return [0.0, 0.0]
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOTSTRAP_CHUNK_CELLS // n)
    sums = np.empty(samples, dtype=np.float64)
    for start in range(0, samples, chunk):
        stop = min(samples, start + chunk)
        sums[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].sum(axis=1)
    low, high = np.quantile(sums, (0.025, 0.975))
    return [float(low), float(high)]


def walk_forward(
    items: Iterable[tuple[Analysis, LearningRecord | None]],
    *,
    config: PolicyConfig | None = None,
    user_id: str = "",
    bootstrap_samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
    learn_from_skipped: bool = True,
) -> WalkForwardResult:
    """Decide on every analysis in time order with only the outcomes known by then; compare with raw."""
    ordered = [pair for _, pair in sorted(enumerate(items), key=lambda item: (item[1][0].timestamp, item[0]))]
    policy = LearnedPolicy(config)
    pending: list[tuple[Any, int, LearningRecord]] = []
    observed = 0
    decisions: list[AnalysisDecision] = []
    for seq, (analysis, record) in enumerate(ordered):  # seq: rank in time order, breaks ties
        while pending and pending[0][0] <= analysis.timestamp:
            policy.observe(heapq.heappop(pending)[2])
            observed += 1
        decision = policy.decide(user_id, analysis)
        decisions.append(
            AnalysisDecision(
                analysis_id=analysis.id,
                taken=decision.take,
                calibrated_win_prob=decision.calibrated_win_prob,
                size_multiplier=float(decision.size_multiplier) if decision.take else 0.0,
                expected_r=decision.expected_r,
                reason=decision.reason,
                known_outcomes=observed,
                learning_data=decision.as_learning_data(),
            )
        )
        if record is not None and (decision.take or learn_from_skipped):
            heapq.heappush(pending, (record.outcome_known_at, seq, record))
    records = [rec for _, rec in ordered]
    return WalkForwardResult(
        decisions, evaluate(decisions, records, bootstrap_samples=bootstrap_samples, seed=seed), policy
    )


def evaluate(
    decisions: list[AnalysisDecision],
    records: list[LearningRecord | None],
    *,
    bootstrap_samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """`{"raw": M, "learned": M, "pnlDifferenceCI95": [lo, hi]}` over the analyses that have an outcome."""
    pairs = sorted(
        ((d, rec) for d, rec in zip(decisions, records, strict=True) if rec is not None),
        key=lambda pair: pair[1].outcome_known_at,
    )
    rows = [rec for _, rec in pairs]
    calibrated = np.array(
        [d.calibrated_win_prob if d.calibrated_win_prob is not None else rec.confidence for d, rec in pairs],
        dtype=np.float64,
    )
    learned_sizes = np.array([d.size_multiplier for d, _ in pairs], dtype=np.float64)
    learned_taken = np.array([d.taken for d, _ in pairs], dtype=np.bool_)
    everything = np.ones(len(rows), dtype=np.bool_)
    pnl = np.array([rec.pnl_usd for rec in rows], dtype=np.float64)
    difference = (learned_sizes - 1.0) * pnl
    low, high = bootstrap_sum_ci(difference, samples=bootstrap_samples, seed=seed)
    return {
        "raw": _policy_metrics(np.ones(len(rows)), everything, rows, calibrated),
        "learned": _policy_metrics(learned_sizes, learned_taken, rows, calibrated),
        "pnlDifferenceCI95": [_clean(low), _clean(high)],
    }
