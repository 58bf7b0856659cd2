"""`LearnedPolicy`: decides on an analysis from what was learned (implements the `Policy` port).

It learns only from the records passed to `observe`, so the caller controls
what is known when (the walk-forward feeds outcomes as they become known).

Per analysis (stated confidence c = confidence/100):

- p, its standard deviation and its evidence (equivalent trades) come from
  the `Calibrator` for the analysis' context;
- RR = |takeProfit − entry| / |entry − stopLoss| with entry = `entryPrice`,
  or, for a market entry without one, the midpoint of stop and take-profit
  (RR = 1: the policy does not guess the fill);
- cost c: the average drag in R (fees, slippage, funding) of the stop and
  target exits already observed, from the most specific level of the
  context's path with `min_cost_trades` such exits (0 before), clipped to
  [0, 1]: costs are learned, never assumed to help;
- expected R = p·(RR − c) − (1 − p)·(1 + c), i.e. p·RR − (1 − p) without
  costs (a bracket trade: a non-win is counted as a full −1 R loss, which is
  conservative for breakeven and time-limit exits);
- **skip** only when the expected R is negative *and* the evidence is
  enough: the one-sided 95 % upper bound p + 1.645·sd is still below the
  break-even probability (1 + c)/(1 + RR), with at least `min_trades_to_skip`
  equivalent trades behind the estimate;
- **size multiplier**: fractional Kelly, f* = p/(1 + c) − (1 − p)/(RR − c)
  (= p − (1 − p)/RR without costs), scaled so the
  requested size is the stake of a trade whose `kelly_fraction`·f* equals
  `baseline_fraction` (¼ Kelly, 2.5 %: full size from f* = 0.1, e.g. p = 0.55
  at RR 1), clipped to [0, `max_multiplier`] (1: never above the requested
  size unless configured). It is blended with the raw size 1 by the evidence
  weight λ = e/(e + `evidence_half`), so with no data the policy behaves as
  `raw` (take everything as given) and the learned size takes over as trades
  accumulate;
- **suggested leverage**: the average leverage of the best leverage bucket
  (by expectancy in R) of the same analyst, symbol, timeframe and side, only
  when it beats the analysis' own bucket by ≥ 1.96 standard errors with at
  least `leverage_min_trades` trades in each;
- **suggested stop/target**: a tighter stop or closer target from the
  excursion what-ifs (`excursions.suggested_adjustments`: ≥ 50 trades,
  z ≥ 3), as prices when the analysis has an `entryPrice`.

Suggestions are attached to skips too (a losing leverage bucket may be worth
taking at the suggested leverage); the decision itself is always about the
analysis as given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from driftloop.domain.decision import Decision
from driftloop.domain.model import Analysis
from driftloop.learning.calibration import CalibratedEstimate, Calibrator
from driftloop.learning.excursions import WhatIf, suggested_adjustments
from driftloop.learning.records import Context, ContextKey, LearningRecord
from driftloop.learning.stats import EXCURSION_LEVEL, StatsBook

Z_ONE_SIDED_95 = 1.6448536269514722
Z_TWO_SIDED_95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Knobs of the learned policy (defaults as documented in the module)."""

    name: str = "learned"
    kelly_fraction: float = 0.25
    baseline_fraction: float = 0.025
    max_multiplier: float = 1.0
    evidence_half: float = 100.0
    skip_z: float = Z_ONE_SIDED_95
    min_trades_to_skip: int = 30
    min_cost_trades: int = 10
    leverage_min_trades: int = 30
    leverage_z: float = Z_TWO_SIDED_95


def reward_risk(analysis: Analysis) -> float | None:
    """Planned RR of an analysis (see module doc); None when the stop is at the entry."""
    tp, sl = analysis.take_profit, analysis.stop_loss
    entry = analysis.entry_price if analysis.entry_price is not None else (tp + sl) / 2
    risk = abs(entry - sl)
    if risk == 0:
        return None
    return float(abs(tp - entry) / risk)


def kelly_multiplier(
    p: float,
    rr: float,
    *,
    cost: float = 0.0,
    kelly_fraction: float = 0.25,
    baseline_fraction: float = 0.025,
    cap: float = 1.0,
) -> float:
    """Size multiplier from fractional Kelly: clip(kelly_fraction·f* / baseline, 0, cap).

    f* = p/(1 + cost) − (1 − p)/(RR − cost): the Kelly fraction of a bet that
    wins RR − cost and loses 1 + cost (in R); p − (1 − p)/RR without costs.
    """
    win, loss = rr - cost, 1.0 + cost
    if win <= 0:
        return 0.0
    f = p / loss - (1.0 - p) / win
    return min(cap, max(0.0, kelly_fraction * f / baseline_fraction))


def expected_r(p: float, rr: float, cost: float = 0.0) -> float:
    """p·(RR − cost) − (1 − p)·(1 + cost)."""
    return p * (rr - cost) - (1.0 - p) * (1.0 + cost)


def _decimal(x: float, places: int = 4) -> Decimal:
    return Decimal(str(round(x, places)))


class LearnedPolicy:
    """Take/skip, size, leverage and stop/target from the calibrated win probability (see module doc)."""

    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = config or PolicyConfig()
        self.name = self.config.name
        self.calibrator = Calibrator()
        self.book = StatsBook()
        self._adjustments: dict[ContextKey, tuple[int, dict[str, WhatIf]]] = {}

    @classmethod
    def from_records(
        cls, records: Iterable[LearningRecord], config: PolicyConfig | None = None
    ) -> LearnedPolicy:
        policy = cls(config)
        for record in records:
            policy.observe(record)
        return policy

    def observe(self, record: LearningRecord) -> None:
        """Learn from one closed trade whose outcome is known now: O(depth)."""
        self.calibrator.update(record)
        self.book.update(record)

    def decide(self, user_id: str, analysis: Analysis) -> Decision:
        """The decision on `analysis` from what has been observed so far."""
        cfg = self.config
        context = Context.of_analysis(analysis)
        if context is None:
            return Decision(take=True, policy=self.name, reason="HOLD has no side: passed on as given")
        stated = min(1.0, max(0.0, float(analysis.confidence) / 100.0))
        est = self.calibrator.estimate(stated, context)
        p = est.probability
        rr = reward_risk(analysis)
        details: dict[str, Any] = self._details(stated, est, rr)
        if rr is None:
            return Decision(
                take=True,
                policy=self.name,
                reason="stop at the entry: no reward/risk, taken as given",
                calibrated_win_prob=p,
                details=details,
            )
        cost = self._cost(context)
        exp_r = expected_r(p, rr, cost)
        break_even = (1.0 + cost) / (1.0 + rr)
        upper = p + cfg.skip_z * est.std
        details["costR"] = round(cost, 6)
        details["breakEvenProb"] = round(break_even, 6)
        details["winProbUpper95"] = round(min(1.0, upper), 6)
        if self.calibrator.count == 0:
            return Decision(
                take=True,
                policy=self.name,
                reason="no closed trades yet: taken as given",
                calibrated_win_prob=p,
                expected_r=exp_r,
                details=details,
            )
        leverage = self._leverage(context, details)
        stop, target = self._stop_target(analysis, context, details)
        if exp_r < 0 and upper < break_even and est.evidence >= cfg.min_trades_to_skip:
            reason = (
                f"calibrated win probability {p:.3f} (95% upper bound {upper:.3f}, "
                f"~{est.evidence:.0f} trades of evidence) is below the break-even {break_even:.3f} "
                f"at RR {rr:.2f}: expected {exp_r:+.3f} R"
            )
            multiplier = 0.0
            take = False
        else:
            kelly = kelly_multiplier(
                p,
                rr,
                cost=cost,
                kelly_fraction=cfg.kelly_fraction,
                baseline_fraction=cfg.baseline_fraction,
                cap=cfg.max_multiplier,
            )
            weight = est.evidence / (est.evidence + cfg.evidence_half)
            multiplier = min(cfg.max_multiplier, (1.0 - weight) + weight * kelly)
            details.update(kellyMultiplier=round(kelly, 6), evidenceWeight=round(weight, 6))
            reason = (
                f"expected {exp_r:+.3f} R at calibrated win probability {p:.3f} and RR {rr:.2f}; "
                f"size {multiplier:.2f}× (¼-Kelly {kelly:.2f}×, evidence weight {weight:.2f})"
            )
            take = True
        return Decision(
            take=take,
            policy=self.name,
            reason=reason,
            size_multiplier=_decimal(multiplier),
            calibrated_win_prob=p,
            expected_r=exp_r,
            leverage=leverage,
            stop_loss=stop,
            take_profit=target,
            details=details,
        )

    def _cost(self, context: Context) -> float:
        for key in reversed(context.path()):
            stats = self.book.get(key)
            if stats is not None and stats.cost_n >= self.config.min_cost_trades:
                return min(1.0, max(0.0, stats.mean_cost))
        return 0.0

    @staticmethod
    def _details(stated: float, est: CalibratedEstimate, rr: float | None) -> dict[str, Any]:
        return {
            "statedProb": round(stated, 6),
            "contextWinRate": round(est.context_rate, 6),
            "calibrationStd": round(est.std, 6),
            "evidenceTrades": round(est.evidence, 2),
            "contextTrades": est.count,
            "confidenceMapWeight": round(est.map_weight, 6),
            "rewardRisk": round(rr, 6) if rr is not None else None,
        }

    def _leverage(self, context: Context, details: dict[str, Any]) -> Decimal | None:
        cfg = self.config
        current = self.book.get(context.key(5))
        if current is None or current.n < cfg.leverage_min_trades:
            return None
        best_key, best = None, None
        for key in self.book.buckets(context.key(4)):
            stats = self.book.get(key)
            if stats is None or stats.n < cfg.leverage_min_trades:
                continue
            if best is None or stats.mean_r > best.mean_r:
                best_key, best = key, stats
        if best is None or best_key is None or best_key == context.key(5):
            return None
        se = math.sqrt(best.var_r / best.n + current.var_r / current.n)
        z = (best.mean_r - current.mean_r) / se if se > 0 else 0.0
        if not z >= cfg.leverage_z:
            return None
        details["leverageEvidence"] = {
            "bucket": best_key[-1],
            "expectancyR": round(best.mean_r, 6),
            "trades": best.n,
            "currentExpectancyR": round(current.mean_r, 6),
            "currentTrades": current.n,
            "z": round(z, 3),
        }
        return _decimal(best.mean_leverage, 1)

    def _stop_target(
        self, analysis: Analysis, context: Context, details: dict[str, Any]
    ) -> tuple[Decimal | None, Decimal | None]:
        key = context.key(EXCURSION_LEVEL)
        records = self.book.records(key)
        cached = self._adjustments.get(key)
        # re-run the what-ifs when the context has grown by 10 % (or 10 trades): O(n) amortised
        if cached is None or len(records) >= cached[0] + max(10, cached[0] // 10):
            cached = (len(records), suggested_adjustments(records))
            self._adjustments[key] = cached
        found = cached[1]
        if not found:
            return None, None
        details["excursionAdjustments"] = {
            kind: {
                "fractionOfDistance": w.fraction,
                "expectancyR": round(w.expectancy_r, 6),
                "actualExpectancyR": round(w.actual_expectancy_r, 6),
                "gainStdErr": round(w.gain_se, 6),
                "trades": w.count,
            }
            for kind, w in found.items()
        }
        entry = analysis.entry_price
        if entry is None:
            return None, None
        stop = target = None
        if "stop" in found:
            stop = entry + (analysis.stop_loss - entry) * Decimal(str(found["stop"].fraction))
        if "target" in found:
            target = entry + (analysis.take_profit - entry) * Decimal(str(found["target"].fraction))
        return stop, target
