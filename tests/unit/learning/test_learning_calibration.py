"""Calibration: converges to the base rate on noise, recovers planted rates, pools sparse contexts."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from learning_sim import Ctx, simulate

from driftloop.domain.model import Side
from driftloop.learning.calibration import Calibrator
from driftloop.learning.records import Context, LearningRecord

GRID = [i / 20 for i in range(21)]


def ctx_of(c: Ctx) -> Context:
    return Context(c.analyst, c.symbol, c.timeframe.value, c.side.value, "1x" if c.leverage == 1 else "4-5x")


def records_of(pairs: list[tuple[object, LearningRecord]]) -> list[LearningRecord]:
    return [rec for _, rec in pairs]


COIN_CONTEXTS = [
    Ctx(symbol, 0.5, side=side, leverage=lev)
    for symbol in ("SOL-PERP", "BTC-PERP", "ETH-PERP")
    for side in Side
    for lev in (1, 5)
]


def test_coin_flips_converge_to_the_base_rate_whatever_the_confidence() -> None:
    recs = records_of(
        simulate(6000, COIN_CONTEXTS, seed=11, confidence=lambda g: float(g.uniform(0.5, 0.95)))
    )
    cal = Calibrator.from_records(recs)
    base = sum(r.won for r in recs) / len(recs)
    for c in COIN_CONTEXTS:
        estimates = [cal.estimate(conf, ctx_of(c)) for conf in (0.5, 0.7, 0.95)]
        assert {e.map_weight for e in estimates} == {0.0}  # confidence carries no information here
        assert len({e.probability for e in estimates}) == 1
        # every context (~500 trades) pools to the base rate of all 6000, not to its own noise
        assert abs(estimates[0].probability - base) < 0.01
        assert abs(estimates[0].probability - 0.5) < 3 * math.sqrt(0.25 / len(recs)) + 0.01
    # empirical Bayes found no heterogeneity: strong pooling at every level with siblings
    strengths = cal.prior_strengths()
    assert strengths["symbol"] > 1000 and strengths["side"] > 1000 and strengths["leverage"] > 1000


EDGE, NONE = Ctx("SOL-PERP", 0.62), Ctx("BTC-PERP", 0.50)


def test_planted_edge_recovers_each_context_rate() -> None:
    recs = records_of(simulate(4000, [EDGE, NONE], seed=2))
    cal = Calibrator.from_records(recs)
    for c in (EDGE, NONE):
        n = sum(1 for r in recs if r.symbol == c.symbol)
        est = cal.estimate(0.7, ctx_of(c))
        assert est.count == n
        # tolerance: 3 binomial standard errors of the context's own sample (~2000 trades: ±0.033)
        tolerance = 3 * math.sqrt(c.p(0.7) * (1 - c.p(0.7)) / n)
        assert abs(est.probability - c.p(0.7)) < tolerance
        # and the reported uncertainty is the right size (about one binomial standard error)
        assert est.std == pytest.approx(math.sqrt(c.p(0.7) * (1 - c.p(0.7)) / n), rel=0.3)


def test_many_levels_recover_planted_rates_across_analysts_and_timeframes() -> None:
    from driftloop.domain.model import Timeframe

    truth = {
        ("alpha", "SOL-PERP", Timeframe.H1): 0.60,
        ("alpha", "SOL-PERP", Timeframe.H4): 0.45,
        ("alpha", "BTC-PERP", Timeframe.H1): 0.50,
        ("beta", "SOL-PERP", Timeframe.H1): 0.40,
        ("beta", "BTC-PERP", Timeframe.H4): 0.55,
    }
    contexts = [Ctx(sym, p, analyst=who, timeframe=tf) for (who, sym, tf), p in truth.items()]
    recs = records_of(simulate(10_000, contexts, seed=4))
    cal = Calibrator.from_records(recs)
    for c in contexts:
        n = sum(
            1 for r in recs if (r.analyst, r.symbol, r.timeframe) == (c.analyst, c.symbol, c.timeframe.value)
        )
        p = cal.predict(0.7, ctx_of(c))
        assert abs(p - c.p(0.7)) < 3 * math.sqrt(c.p(0.7) * (1 - c.p(0.7)) / n)


def test_a_sparse_context_stays_near_its_parent() -> None:
    recs = records_of(simulate(3000, COIN_CONTEXTS[:6], seed=3))
    sparse = Ctx("JUP-PERP", 0.5)
    recs += [rec for _, rec in simulate(10, [Ctx("JUP-PERP", 1.0)], seed=9)]  # 10 wins out of 10
    cal = Calibrator.from_records(recs)
    parent = cal.predict(0.7, Context("sim", "BTC-PERP", "1h", "LONG", "1x"))
    est = cal.estimate(0.7, ctx_of(sparse))
    assert est.count == 10
    assert est.probability > parent  # it does learn a little from its own trades...
    assert est.probability - parent < 0.15  # ...but 10 trades do not make it a sure thing
    assert est.std > 0.04  # and it stays uncertain


def test_with_ten_trades_everything_stays_near_the_base_rate() -> None:
    recs = records_of(simulate(10, COIN_CONTEXTS, seed=1))
    cal = Calibrator.from_records(recs)
    root = (sum(r.won for r in recs) + 1) / (len(recs) + 2)
    for c in COIN_CONTEXTS:
        assert abs(cal.predict(0.9, ctx_of(c)) - root) < 0.1


def test_confidence_map_recovers_an_informative_analyst() -> None:
    def truth(c: float) -> float:
        return 0.5 + 0.6 * (c - 0.6)

    recs = records_of(
        simulate(8000, [Ctx("SOL-PERP", truth)], seed=8, confidence=lambda g: float(g.uniform(0.3, 0.95)))
    )
    cal = Calibrator.from_records(recs)
    context = Context("sim", "SOL-PERP", "1h", "LONG", "1x")
    assert cal.estimate(0.7, context).map_weight == 1.0
    for conf in (0.35, 0.5, 0.65, 0.8, 0.925):
        in_bin = [r for r in recs if abs(r.confidence - conf) < 0.025]
        se = math.sqrt(truth(conf) * (1 - truth(conf)) / len(in_bin))
        assert abs(cal.predict(conf, context) - truth(conf)) < 3 * se + 0.02  # + half a bin of slope
    report = cal.report(recs)
    assert report.brier_calibrated < report.brier_stated
    assert report.ece_calibrated < report.ece_stated


def test_rebuilding_in_another_order_gives_the_same_model() -> None:
    recs = records_of(simulate(2000, [*COIN_CONTEXTS[:4], EDGE], seed=6))
    shuffled = recs[:]
    random.Random(0).shuffle(shuffled)
    a, b = Calibrator.from_records(recs), Calibrator.from_records(shuffled)
    for c in [*COIN_CONTEXTS[:4], EDGE]:
        assert a.predict(0.7, ctx_of(c)) == pytest.approx(b.predict(0.7, ctx_of(c)), abs=1e-9)


def test_an_empty_calibrator_answers_one_half_with_wide_uncertainty() -> None:
    est = Calibrator().estimate(0.9, ctx_of(EDGE))
    assert est.probability == 0.5
    assert est.std > 0.3
    assert est.count == 0


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=600),
    slope=st.floats(min_value=-1.0, max_value=1.0),
    base=st.floats(min_value=0.05, max_value=0.95),
    seed=st.integers(min_value=0, max_value=2**31),
)
def test_probabilities_stay_in_unit_interval_and_rise_with_confidence(
    n: int, slope: float, base: float, seed: int
) -> None:
    def truth(c: float) -> float:
        return min(1.0, max(0.0, base + slope * (c - 0.5)))

    contexts = [Ctx("SOL-PERP", truth), Ctx("BTC-PERP", truth, side=Side.SHORT, leverage=5)]
    recs = records_of(simulate(n, contexts, seed=seed, confidence=lambda g: float(g.uniform(0, 1))))
    cal = Calibrator.from_records(recs)
    for c in [*contexts, Ctx("NEW-PERP", 0.5)]:
        predictions = [cal.predict(conf, ctx_of(c)) for conf in GRID]
        assert all(0.0 <= p <= 1.0 for p in predictions)
        assert all(a <= b + 1e-12 for a, b in itertools.pairwise(predictions))


def test_one_hundred_thousand_updates_are_counted() -> None:
    rng = np.random.default_rng(0)
    template = records_of(simulate(1000, COIN_CONTEXTS, seed=0))
    recs = [template[i] for i in rng.integers(0, len(template), 100_000)]
    cal = Calibrator()
    for rec in recs:
        cal.update(rec)
    assert cal.count == 100_000  # the time is measured by make bench, never asserted
