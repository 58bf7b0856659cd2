"""What the excursions (MAE/MFE) of closed trades say about their stops and targets.

MAE/MFE are in % of the entry fill; dividing them by the trade's stop distance
(`stop_pct`) or target distance (`target_pct`) makes trades comparable. The
findings are plain counts; the what-ifs re-score the same trades with a closer
target or a tighter stop, which the excursions can decide without knowing the
order of prices inside a candle:

- a target at fraction f of its distance is reached by every trade whose MFE
  is ≥ f·target distance (the MFE was made while the position was open,
  before the stop), worth f·RR − cost in R;
- a stop at fraction g of its distance is hit by every trade whose MAE is
  ≥ g·stop distance, losing g + cost in R.

`cost` is the median fee/slippage drag in R of the trades that exited at their
target (planned RR − realised R). Wider stops or farther targets cannot be
judged from these data (the excursion stops at the exit), so none is suggested.
A what-if is suggested only with `MIN_SUGGEST_TRADES` trades and when the mean
paired gain is at least `Z_SUGGEST` standard errors above 0 (a strict bar
because several fractions are tried on the same trades).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from driftloop.domain.model import ExitReason
from driftloop.learning.records import LearningRecord

QUANTILES = (0.25, 0.5, 0.75, 0.9)
MIN_FINDING_TRADES = 20
FINDING_SHARE = 0.30
NEAR_STOP = 0.8  # a winner whose MAE reached 80 % of its stop distance "nearly stopped out"
HALF_WAY = 0.5
MIN_SUGGEST_TRADES = 50
Z_SUGGEST = 3.0
TARGET_FRACTIONS = (0.5, 0.6, 0.7, 0.8, 0.9)
STOP_FRACTIONS = (0.5, 0.6, 0.7, 0.8, 0.9)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ExcursionArrays:
    """Column arrays of the trades that have a stop and a target distance."""

    won: npt.NDArray[np.bool_]
    r: FloatArray
    mae: FloatArray
    mfe: FloatArray
    stop_pct: FloatArray
    target_pct: FloatArray
    at_target: npt.NDArray[np.bool_]
    stopped: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, records: Sequence[LearningRecord]) -> ExcursionArrays:
        rows = [
            rec
            for rec in records
            if rec.stop_pct and rec.target_pct and rec.stop_pct > 0 and rec.target_pct > 0
        ]
        return cls(
            won=np.array([rec.won for rec in rows], dtype=np.bool_),
            r=np.array([rec.r for rec in rows], dtype=np.float64),
            mae=np.array([rec.mae for rec in rows], dtype=np.float64),
            mfe=np.array([rec.mfe for rec in rows], dtype=np.float64),
            stop_pct=np.array([rec.stop_pct for rec in rows], dtype=np.float64),
            target_pct=np.array([rec.target_pct for rec in rows], dtype=np.float64),
            at_target=np.array([rec.exit_reason is ExitReason.TAKE_PROFIT for rec in rows], dtype=np.bool_),
            stopped=np.array([rec.exit_reason is ExitReason.STOP_LOSS for rec in rows], dtype=np.bool_),
        )

    @property
    def size(self) -> int:
        return int(self.r.size)


def _quantiles(values: FloatArray) -> dict[str, float] | None:
    if values.size == 0:
        return None
    qs = np.quantile(values, QUANTILES)
    return {f"p{round(q * 100)}": round(float(v), 6) for q, v in zip(QUANTILES, qs, strict=True)}


def excursion_summary(records: Sequence[LearningRecord]) -> dict[str, Any]:
    """MAE/MFE quantiles (% of entry, and as a fraction of stop/target distance) of winners and losers."""
    data = ExcursionArrays.of(records)
    out: dict[str, Any] = {"count": data.size}
    for name, mask in (("winners", data.won), ("losers", ~data.won)):
        out[name] = {
            "count": int(mask.sum()),
            "maePercent": _quantiles(data.mae[mask]),
            "mfePercent": _quantiles(data.mfe[mask]),
            "maeOfStop": _quantiles(data.mae[mask] / data.stop_pct[mask]),
            "mfeOfTarget": _quantiles(data.mfe[mask] / data.target_pct[mask]),
        }
    return out


def excursion_findings(records: Sequence[LearningRecord]) -> list[str]:
    """Plain statements about stops and targets, each backed by its counts."""
    data = ExcursionArrays.of(records)
    findings: list[str] = []
    winners, losers = data.won, ~data.won
    n_win, n_loss = int(winners.sum()), int(losers.sum())
    if n_win >= MIN_FINDING_TRADES:
        near = int((data.mae[winners] >= NEAR_STOP * data.stop_pct[winners]).sum())
        if near / n_win >= FINDING_SHARE:
            findings.append(
                f"stops may be tight: {near} of {n_win} winners ({100 * near / n_win:.0f}%) came within "
                f"{100 - 100 * NEAR_STOP:.0f}% of their stop before closing"
            )
    if n_loss >= MIN_FINDING_TRADES:
        half = int((data.mfe[losers] >= HALF_WAY * data.target_pct[losers]).sum())
        if half / n_loss >= FINDING_SHARE:
            findings.append(
                f"targets may be far: {half} of {n_loss} losers ({100 * half / n_loss:.0f}%) had first moved "
                "at least half-way to their target"
            )
        both = int((data.stopped & (data.mfe >= data.target_pct)).sum())
        if both:
            findings.append(
                f"{both} of {n_loss} losers reached their target and their stop in the same candle "
                "(the stop is assumed first)"
            )
    return findings


@dataclass(frozen=True, slots=True)
class WhatIf:
    """Re-scoring the trades with the stop or target at `fraction` of its distance."""

    kind: str  # "target" or "stop"
    fraction: float
    count: int
    expectancy_r: float
    actual_expectancy_r: float
    gain_r: float
    gain_se: float

    @property
    def z(self) -> float:
        return self.gain_r / self.gain_se if self.gain_se > 0 else 0.0


def _cost_r(data: ExcursionArrays) -> float:
    hit = data.at_target
    if not hit.any():
        return 0.0
    return max(0.0, float(np.median(data.target_pct[hit] / data.stop_pct[hit] - data.r[hit])))


def what_ifs(records: Sequence[LearningRecord]) -> list[WhatIf]:
    """Expectancy in R with each closer target and each tighter stop (see module doc)."""
    data = ExcursionArrays.of(records)
    if data.size < 2:
        return []
    cost = _cost_r(data)
    rr = data.target_pct / data.stop_pct
    actual = float(data.r.mean())
    results = []
    for kind, fractions in (("target", TARGET_FRACTIONS), ("stop", STOP_FRACTIONS)):
        for f in fractions:
            if kind == "target":
                new_r = np.where(data.mfe >= f * data.target_pct, f * rr - cost, data.r)
            else:
                new_r = np.where(data.mae >= f * data.stop_pct, -f - cost, data.r)
            gain = new_r - data.r
            se = float(gain.std(ddof=1) / np.sqrt(gain.size))
            results.append(WhatIf(kind, f, data.size, float(new_r.mean()), actual, float(gain.mean()), se))
    return results


def suggested_adjustments(records: Sequence[LearningRecord]) -> dict[str, WhatIf]:
    """The best significant closer target and tighter stop, if any ({"target": …, "stop": …})."""
    if len(records) < MIN_SUGGEST_TRADES:
        return {}
    best: dict[str, WhatIf] = {}
    for what in what_ifs(records):
        if what.count < MIN_SUGGEST_TRADES or what.z < Z_SUGGEST:
            continue
        current = best.get(what.kind)
        if current is None or what.gain_r > current.gain_r:
            best[what.kind] = what
    return best
