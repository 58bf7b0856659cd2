"""Calibration: (stated confidence, context) → calibrated win probability in 0–1.

Two parts, combined on the logit scale:

1. **Context rate** by hierarchical partial pooling over the context path
   (`records.LEVELS`). The model is the beta-binomial hierarchy
   p_child ~ (mean p_parent, variance τ_l²), wins ~ Binomial(n, p), evaluated
   with a normal approximation top-down along the path of the context asked
   about: starting from a uniform prior on the global rate, each level's
   "ring" of records (the level's node minus the next node on the path, i.e.
   the siblings' records) updates the estimate with variance
   m(1−m)/n_ring + τ_{l+1}²·Σn_j²/n_ring² (m the current estimate; the
   siblings are themselves draws around the parent), then τ_{l+1}² is added
   when stepping down a level, and the context's own records update last.
   Every record is used once, so the uncertainty is not double counted; a
   sparse context ends close to its parent while a context with thousands of
   trades tracks its own rate. In beta-binomial terms each level's prior
   strength is a_l = σ̄²/τ_l² − 1 pseudo-trades (`prior_strengths`).

   τ_l² is estimated by empirical Bayes (method of moments, as DerSimonian–
   Laird): B_l = Σ_i n_i (p̂_i − p̂_parent)² has expectation
   dof_l·σ² + τ_l²·(N − Σ_p Σ_{i∈p} n_i²/N_p), with σ² the pooled within-node
   Bernoulli variance and dof_l the number of nodes minus the number of
   parents. To refuse to learn from noise, only the part of B_l above the
   95th percentile of its no-heterogeneity value, (dof + 1.645·√(2·dof))·σ²,
   counts as heterogeneity. All sums are kept up to date in O(depth) per
   record. Below `EB_MIN_TRADES` (50) records τ_l = `TAU_DEFAULT` (5
   percentage points: a ≈ 99 pseudo-trades at 50 %); at a level without
   siblings anywhere (dof = 0) nothing can tell its contexts apart from their
   parents, so τ_l = `TAU_MIN` (full pooling); the estimate is clamped to
   [`TAU_MIN`, `TAU_MAX`] (0.5 to 50 points: a between ~0 and ~10,000).
   On coin flips the estimate falls to the floor and contexts pool to the
   base rate; a context with a real edge of a few points over thousands of
   trades keeps it.

2. **Confidence map** (`monotone`): a non-decreasing isotonic map of stated
   confidence fitted per analyst, used with weight w ∈ [0, 1] that is 0 until
   the analyst has 100 trades and a significant positive trend (z > 2), 1 at
   z ≥ 4. The calibrated probability is
   sigmoid(logit m_ctx + w·(logit h(c) − logit h̄_ctx)), h̄_ctx being the map
   averaged over the context's own confidence mix with the same pooling
   weights, so the map moves forecasts around the context rate without
   double counting it. The result is non-decreasing in stated confidence
   within a context.

Deterministic: the same records in the same order give the same state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from driftloop.learning.monotone import (
    CONFIDENCE_BINS,
    confidence_bin,
    confidence_map,
    map_weight,
    trend_z,
)
from driftloop.learning.records import DEPTH, LEVELS, Context, ContextKey, LearningRecord
from driftloop.learning.reliability import CalibrationReport, calibration_report

ROOT_MEAN = 0.5
ROOT_VAR = 1.0 / 12.0  # uniform prior on the global win rate
TAU_DEFAULT = 0.05
TAU_MIN = 0.005
TAU_MAX = 0.50
EB_MIN_TRADES = 50
NOISE_Z = 1.6448536269514722
_EPS = 1e-6
_MIN_BERNOULLI_VAR = 0.01  # floor of p(1 − p) (p ≈ 1 %): a rate is never treated as certain


class _Node:
    """Counts of one context node: trades, wins, per confidence bin, Σ children n²."""

    __slots__ = ("bk", "bn", "k", "n", "sc", "sc2", "scy", "sq")

    def __init__(self) -> None:
        self.n = 0
        self.k = 0
        self.sq = 0  # Σ over children of n_child²
        self.bn = [0] * CONFIDENCE_BINS
        self.bk = [0] * CONFIDENCE_BINS
        self.sc = 0.0  # confidence moments (kept at the global and analyst levels only)
        self.sc2 = 0.0
        self.scy = 0.0


@dataclass(frozen=True, slots=True)
class CalibratedEstimate:
    """A calibrated win probability with what it rests on.

    `std` is the posterior standard deviation of the probability; `evidence`
    the equivalent number of trades (p(1−p)/std²); `context_rate` the pooled
    context win rate before the confidence map; `map_weight` how much the map
    was used; `count` the context's own closed trades.
    """

    probability: float
    context_rate: float
    std: float
    evidence: float
    map_weight: float
    count: int


def _logit(p: float) -> float:
    p = min(1.0 - _EPS, max(_EPS, p))
    return math.log(p / (1.0 - p))


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class Calibrator:
    """Incrementally updated, rebuildable calibration model (see module doc)."""

    def __init__(self) -> None:
        self._nodes: dict[ContextKey, _Node] = {}
        self._sums = [0.0] * DEPTH  # S_l = Σ_i k_i²/n_i
        self._nodes_at = [0] * DEPTH  # C_l
        self._herf = [0.0] * DEPTH  # R_l = Σ_parents (Σ_children n²)/N_parent
        self._maps: dict[str, tuple[int, list[float], float]] = {}

    @classmethod
    def from_records(cls, records: Iterable[LearningRecord]) -> Calibrator:
        """Rebuild from stored records (in the order given)."""
        calibrator = cls()
        for record in records:
            calibrator.update(record)
        return calibrator

    @property
    def count(self) -> int:
        root = self._nodes.get(())
        return root.n if root is not None else 0

    def counts(self, key: ContextKey) -> tuple[int, int]:
        """(trades, wins) of a context key at any level."""
        node = self._nodes.get(key)
        return (node.n, node.k) if node is not None else (0, 0)

    def update(self, record: LearningRecord) -> None:
        """Add one closed trade: O(depth)."""
        y = 1 if record.won else 0
        c = min(1.0, max(0.0, record.confidence))
        b = confidence_bin(c)
        nodes, sums, herf = self._nodes, self._sums, self._herf
        parent: _Node | None = None
        for level, key in enumerate(record.path()):
            node = nodes.get(key)
            if node is None:
                node = nodes[key] = _Node()
                self._nodes_at[level] += 1
            n, k = node.n, node.k
            if n:
                sums[level] -= k * k / n
            n1, k1 = n + 1, k + y
            sums[level] += k1 * k1 / n1
            node.n, node.k = n1, k1
            node.bn[b] += 1
            node.bk[b] += y
            if parent is not None:
                pn, old_sq = parent.n, parent.sq  # parent.n already counts this record
                new_sq = old_sq + 2 * n + 1
                herf[level] += new_sq / pn - (old_sq / (pn - 1) if pn > 1 else 0.0)
                parent.sq = new_sq
            if level <= 1:
                node.sc += c
                node.sc2 += c * c
                node.scy += c * y
            parent = node

    def tau2(self, level: int) -> float:
        """Between-sibling variance of true win rates at `level` (1…DEPTH−1), by empirical Bayes."""
        root = self._nodes.get(())
        default = TAU_DEFAULT * TAU_DEFAULT
        if root is None or root.n < EB_MIN_TRADES or level < 1:
            return default
        dof = self._nodes_at[level] - self._nodes_at[level - 1]
        within_df = root.n - self._nodes_at[level]
        denom = root.n - self._herf[level]
        if dof < 1 or within_df <= 0 or denom <= 0:
            return TAU_MIN * TAU_MIN  # no siblings anywhere: nothing tells this level's contexts apart
        sigma2 = (root.k - self._sums[level]) / within_df
        between = self._sums[level] - self._sums[level - 1]
        noise = dof + NOISE_Z * math.sqrt(2.0 * dof)  # 95th percentile of χ²_dof under no heterogeneity
        tau2 = (between - noise * sigma2) / denom
        return min(TAU_MAX * TAU_MAX, max(TAU_MIN * TAU_MIN, tau2))

    def prior_strengths(self) -> dict[str, float]:
        """Per level, the beta prior strength a = σ̄²/τ² − 1 (pseudo-trades at the parent's rate)."""
        root = self._nodes.get(())
        rate = (root.k + 1) / (root.n + 2) if root is not None else 0.5
        return {LEVELS[lv]: max(0.0, rate * (1 - rate) / self.tau2(lv) - 1) for lv in range(1, DEPTH)}

    def _map(self, analyst: str) -> tuple[list[float], float]:
        node = self._nodes.get((analyst,))
        if node is None:
            return [], 0.0
        cached = self._maps.get(analyst)
        if cached is not None and cached[0] == node.n:
            return cached[1], cached[2]
        weight = map_weight(node.n, trend_z(node.n, node.k, node.sc, node.sc2, node.scy))
        fitted = confidence_map(node.bn, node.bk) if weight > 0 else []
        self._maps[analyst] = (node.n, fitted, weight)
        return fitted, weight

    def estimate(self, confidence: float, context: Context) -> CalibratedEstimate:
        """Calibrated win probability of a forecast with `confidence` (0–1) in `context`: O(depth)."""
        path = [self._nodes.get(key) for key in context.path()]
        taus = [0.0] + [self.tau2(level) for level in range(1, DEPTH)]
        mean, var = ROOT_MEAN, ROOT_VAR
        gains = [0.0] * DEPTH
        for level in range(DEPTH):
            node = path[level]
            child = path[level + 1] if level + 1 < DEPTH else None
            if node is not None:
                ring_n = node.n - (child.n if child is not None else 0)
                if ring_n > 0:
                    ring_k = node.k - (child.k if child is not None else 0)
                    # Bernoulli variance at the current (prior) mean: a handful of all-wins is not "precise"
                    meas_var = max(mean * (1 - mean), _MIN_BERNOULLI_VAR) / ring_n
                    if level + 1 < DEPTH:  # the ring is the siblings of the next node on the path
                        others_sq = node.sq - (child.n * child.n if child is not None else 0)
                        meas_var += taus[level + 1] * others_sq / (ring_n * ring_n)
                    gain = var / (var + meas_var)
                    mean += gain * (ring_k / ring_n - mean)
                    var *= 1.0 - gain
                    gains[level] = gain
            if level + 1 < DEPTH:
                var += taus[level + 1]
        mean = min(1.0, max(0.0, mean))
        leaf = path[-1]
        count = leaf.n if leaf is not None else 0
        fitted, weight = self._map(context.analyst)
        probability = mean
        if weight > 0:
            h_bar = self._map_average(path, gains, fitted)
            shift = weight * (_logit(fitted[confidence_bin(confidence)]) - _logit(h_bar))
            probability = _sigmoid(_logit(mean) + shift)
        std = math.sqrt(var)
        if weight > 0:
            std *= probability * (1 - probability) / max(_EPS, mean * (1 - mean))
        evidence = probability * (1 - probability) / max(var, 1e-12)
        return CalibratedEstimate(probability, mean, std, evidence, weight, count)

    def predict(self, confidence: float, context: Context) -> float:
        """The calibrated win probability (0–1)."""
        return self.estimate(confidence, context).probability

    @staticmethod
    def _map_average(path: list[_Node | None], gains: list[float], fitted: list[float]) -> float:
        """The confidence map averaged over the records behind the context rate, with their weights."""
        analyst = path[1]
        assert analyst is not None  # a map exists only for a known analyst
        overall = sum(n * h for n, h in zip(analyst.bn, fitted, strict=True)) / analyst.n
        total, remaining = 0.0, 1.0
        for level in range(DEPTH - 1, -1, -1):  # weight of ring l = gain_l · Π_{j>l}(1 − gain_j)
            gain = gains[level]
            if gain == 0.0:
                continue
            node, child = path[level], path[level + 1] if level + 1 < DEPTH else None
            if level == 0 or node is None:
                ring_mean = overall  # other analysts: the map does not apply, use the average
            else:
                bins = node.bn if child is None else [a - b for a, b in zip(node.bn, child.bn, strict=True)]
                ring_n = sum(bins)
                ring_mean = sum(n * h for n, h in zip(bins, fitted, strict=True)) / ring_n
            total += remaining * gain * ring_mean
            remaining *= 1.0 - gain
        return total + remaining * overall

    def report(self, records: Iterable[LearningRecord]) -> CalibrationReport:
        """Stated vs calibrated Brier, ECE and reliability bins over `records`.

        In-sample when the records were used to fit this calibrator: use the
        walk-forward evaluation for out-of-sample figures.
        """
        cache: dict[tuple[Context, int], float] = {}
        stated, calibrated, won = [], [], []
        for record in records:
            key = (record.context, confidence_bin(record.confidence))
            p = cache.get(key)
            if p is None:
                p = cache[key] = self.predict(record.confidence, record.context)
            stated.append(record.confidence)
            calibrated.append(p)
            won.append(record.won)
        return calibration_report(stated, calibrated, won)
