"""LearnedPolicy: raw without data, Kelly sizing, skips only on evidence, leverage and stop/target hints."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from learning_sim import ENTRY, T0, Ctx, make_analysis, make_record, simulate

from driftloop.domain.model import Recommendation
from driftloop.learning.policy import LearnedPolicy, PolicyConfig, expected_r, kelly_multiplier, reward_risk
from driftloop.services.policy import Policy


def test_it_is_a_policy() -> None:
    policy: Policy = LearnedPolicy()
    assert policy.name == "learned"
    assert LearnedPolicy(PolicyConfig(name="learned-half")).name == "learned-half"


@pytest.mark.parametrize(
    ("p", "rr", "cost", "cap", "multiplier"),
    [
        (0.50, 1.0, 0.0, 1.0, 0.0),  # no edge: nothing
        (0.52, 1.0, 0.0, 1.0, 0.4),  # f* = 0.04 → ¼·0.04 / 0.025
        (0.55, 1.0, 0.0, 1.0, 1.0),  # f* = 0.10: the full requested size
        (0.60, 1.0, 0.0, 1.0, 1.0),  # f* = 0.20: capped at the requested size...
        (0.60, 1.0, 0.0, 2.0, 2.0),  # ...unless configured
        (0.40, 2.0, 0.0, 1.0, 1.0),  # f* = 0.4 − 0.6/2 = 0.10
        (0.35, 2.0, 0.0, 1.0, 0.25),  # f* = 0.025
        (0.30, 2.0, 0.0, 1.0, 0.0),  # negative edge
        (0.55, 1.0, 0.1, 1.0, 0.0),  # the edge is eaten by costs: 0.55/1.1 − 0.45/0.9 = 0
        (0.45, 1.5, 0.05, 1.0, 0.492611),  # 0.45/1.05 − 0.55/1.45 = 0.049261
        (0.90, 0.1, 0.1, 1.0, 0.0),  # the target does not even cover the costs
    ],
)
def test_kelly_sizing_table(p: float, rr: float, cost: float, cap: float, multiplier: float) -> None:
    assert kelly_multiplier(p, rr, cost=cost, cap=cap) == pytest.approx(multiplier, abs=1e-6)


@pytest.mark.parametrize(
    ("p", "rr", "cost", "value"),
    [
        (0.5, 1.0, 0.0, 0.0),
        (0.6, 1.0, 0.0, 0.2),
        (0.4, 2.0, 0.0, 0.2),
        (0.5, 1.0, 0.1, -0.1),
        (0.3, 2.0, 0.0, -0.1),
    ],
)
def test_expected_r_table(p: float, rr: float, cost: float, value: float) -> None:
    assert expected_r(p, rr, cost) == pytest.approx(value)


def test_reward_risk_uses_the_entry_price_or_the_midpoint() -> None:
    analysis = make_analysis(0, Ctx("SOL-PERP", 0.5), 0.7, T0, rr=2.0)
    assert reward_risk(analysis) == pytest.approx(2.0)
    assert reward_risk(replace(analysis, entry_price=None)) == pytest.approx(1.0)
    assert reward_risk(replace(analysis, stop_loss=ENTRY)) is None


def test_without_data_it_takes_everything_as_given() -> None:
    decision = LearnedPolicy().decide("u", make_analysis(0, Ctx("SOL-PERP", 0.5), 0.8, T0))
    assert decision.take
    assert decision.size_multiplier == Decimal(1)
    assert decision.policy == "learned"
    assert decision.calibrated_win_prob == 0.5
    assert decision.leverage is None and decision.stop_loss is None and decision.take_profit is None
    data = decision.as_learning_data()
    assert data["decision"] == "TAKE" and data["policy"] == "learned" and data["statedProb"] == 0.8


def test_hold_is_passed_on() -> None:
    analysis = replace(make_analysis(0, Ctx("SOL-PERP", 0.5), 0.8, T0), recommendation=Recommendation.HOLD)
    decision = LearnedPolicy().decide("u", analysis)
    assert decision.take and decision.calibrated_win_prob is None


LOSER, WINNER = Ctx("SOL-PERP", 0.35), Ctx("BTC-PERP", 0.65)


def test_it_skips_a_losing_context_only_once_the_evidence_is_enough() -> None:
    analysis = make_analysis(10**6, LOSER, 0.8, T0 + timedelta(days=400))
    few = LearnedPolicy.from_records(rec for _, rec in simulate(10, [LOSER], seed=1))
    early = few.decide("u", analysis)
    assert early.take  # 10 trades: not enough to refuse
    assert 0 < early.size_multiplier < 1
    many = LearnedPolicy.from_records(rec for _, rec in simulate(600, [LOSER, WINNER], seed=1))
    decision = many.decide("u", analysis)
    assert not decision.take
    assert decision.size_multiplier == 0
    assert decision.calibrated_win_prob == pytest.approx(0.35, abs=0.06)
    assert decision.expected_r is not None and decision.expected_r < 0
    assert decision.reason is not None and "below the break-even" in decision.reason
    assert decision.as_learning_data()["decision"] == "SKIP"
    good = many.decide("u", make_analysis(10**6 + 1, WINNER, 0.6, T0 + timedelta(days=400)))
    assert good.take and good.size_multiplier == Decimal(1)


def test_costs_are_learned_from_the_trades() -> None:
    policy = LearnedPolicy.from_records(rec for _, rec in simulate(400, [WINNER], seed=2, fee_r=0.1))
    decision = policy.decide("u", make_analysis(10**6, WINNER, 0.6, T0 + timedelta(days=400)))
    assert decision.details["costR"] == pytest.approx(0.1)
    p = decision.calibrated_win_prob
    assert p is not None and decision.expected_r == pytest.approx(p * 0.9 - (1 - p) * 1.1)


def test_it_suggests_a_better_leverage_bucket_only_on_significant_evidence() -> None:
    low, high = Ctx("SOL-PERP", 0.65, leverage=1), Ctx("SOL-PERP", 0.40, leverage=5)
    at_five = make_analysis(10**6, high, 0.7, T0 + timedelta(days=400))
    policy = LearnedPolicy.from_records(rec for _, rec in simulate(1000, [low, high], seed=3))
    decision = policy.decide("u", at_five)
    assert decision.leverage == Decimal("1.0")
    assert decision.details["leverageEvidence"]["bucket"] == "1x"
    assert decision.details["leverageEvidence"]["z"] >= 1.96
    assert policy.decide("u", make_analysis(10**6, low, 0.7, T0 + timedelta(days=400))).leverage is None
    sparse = LearnedPolicy.from_records(rec for _, rec in simulate(40, [low, high], seed=3))
    assert sparse.decide("u", at_five).leverage is None  # fewer than 30 trades per bucket


def test_it_suggests_a_closer_target_when_losers_went_most_of_the_way() -> None:
    ctx = Ctx("SOL-PERP", 0.4)
    pairs = simulate(300, [ctx], seed=4, rr=2.0)
    # every loser had first gone 60–100 % of the way to its target
    records = [
        rec if rec.won else replace(rec, mfe=4.0 * (0.6 + 0.4 * (i % 10) / 10))
        for i, (_, rec) in enumerate(pairs)
    ]
    policy = LearnedPolicy.from_records(records)
    analysis = make_analysis(10**6, ctx, 0.7, T0 + timedelta(days=400), rr=2.0)
    decision = policy.decide("u", analysis)
    adjustments = decision.details["excursionAdjustments"]
    assert adjustments["target"]["fractionOfDistance"] == 0.6
    assert adjustments["target"]["expectancyR"] > adjustments["target"]["actualExpectancyR"]
    assert decision.take_profit == ENTRY + (analysis.take_profit - ENTRY) * Decimal("0.6")
    assert decision.stop_loss is None
    market = policy.decide("u", replace(analysis, entry_price=None))
    assert market.take_profit is None and "excursionAdjustments" in market.details


def test_no_adjustment_without_enough_trades() -> None:
    ctx = Ctx("SOL-PERP", 0.4)
    rec = make_record(ctx, 0.7, False, T0, 2.0, 0.0, mae=2.0, mfe=3.9, opened_at=T0)
    policy = LearnedPolicy.from_records([rec] * 40)
    decision = policy.decide("u", make_analysis(1, ctx, 0.7, T0 + timedelta(days=1), rr=2.0))
    assert decision.take_profit is None and "excursionAdjustments" not in decision.details
