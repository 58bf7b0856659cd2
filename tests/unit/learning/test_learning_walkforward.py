"""Walk-forward honesty: no invented edge on coin flips, a real edge is found, no look-ahead."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from learning_sim import T0, Ctx, Pair, make_analysis, make_record, simulate, with_outcome

from driftloop.domain.model import Side
from driftloop.learning.walkforward import WalkForwardResult, bootstrap_sum_ci, walk_forward

M_KEYS = {
    "tradesTaken",
    "winRate",
    "totalPnl",
    "expectancyR",
    "maxDrawdown",
    "sharpe",
    "brierStated",
    "brierCalibrated",
    "eceStated",
    "eceCalibrated",
}
COINS = [Ctx("SOL-PERP", 0.5), Ctx("BTC-PERP", 0.5, side=Side.SHORT), Ctx("ETH-PERP", 0.5, leverage=5)]
EDGE, NONE = Ctx("SOL-PERP", 0.62), Ctx("BTC-PERP", 0.50)


@pytest.fixture(scope="module")
def coin_flips() -> tuple[list[Pair], WalkForwardResult]:
    # overconfident analyst (states 50–95 %) whose trades are fair coin flips at RR 1, no costs
    pairs = simulate(4000, COINS, seed=22, confidence=lambda g: float(g.uniform(0.5, 0.95)))
    return pairs, walk_forward(pairs, seed=0)


@pytest.fixture(scope="module")
def planted() -> tuple[list[Pair], WalkForwardResult]:
    # an edge on SOL (62 % at RR 1) and none on BTC (50 %), both paying 0.1 R of costs per trade
    pairs = simulate(4000, [EDGE, NONE], seed=22, fee_r=0.1)
    return pairs, walk_forward(pairs, seed=0)


def test_output_shape(coin_flips: tuple[list[Pair], WalkForwardResult]) -> None:
    pairs, result = coin_flips
    evaluation = result.evaluation
    assert set(evaluation) == {"raw", "learned", "pnlDifferenceCI95"}
    assert set(evaluation["raw"]) == M_KEYS and set(evaluation["learned"]) == M_KEYS
    low, high = evaluation["pnlDifferenceCI95"]
    assert isinstance(low, float) and isinstance(high, float) and low <= high
    assert evaluation["raw"]["tradesTaken"] == len(pairs)
    assert evaluation["raw"]["totalPnl"] == pytest.approx(sum(rec.pnl_usd for _, rec in pairs))
    assert len(result.decisions) == len(pairs)
    first = result.decisions[0].as_dict()
    assert first["decision"] in {"TAKEN", "SKIPPED"}
    assert {"calibratedWinProb", "sizeMultiplier"} <= set(first)
    for d in result.decisions:
        assert d.calibrated_win_prob is not None and 0.0 <= d.calibrated_win_prob <= 1.0
        assert 0.0 <= d.size_multiplier <= 1.0


def test_coin_flips_claim_no_improvement_and_do_not_overfit(
    coin_flips: tuple[list[Pair], WalkForwardResult],
) -> None:
    pairs, result = coin_flips
    low, high = result.evaluation["pnlDifferenceCI95"]
    assert low < 0 < high  # no edge is invented
    # calibration converges to the base rate, whatever the stated confidence
    late = [d.calibrated_win_prob for d in result.decisions[2000:]]
    assert all(p is not None and abs(p - 0.5) < 0.05 for p in late)
    # out of sample, the calibrated forecasts are not worse than the running base rate
    won = np.array([rec.won for _, rec in pairs], dtype=float)
    calibrated = np.array([d.calibrated_win_prob for d in result.decisions], dtype=float)
    known = np.array([d.known_outcomes for d in result.decisions])
    order = np.argsort([rec.outcome_known_at for _, rec in pairs], kind="stable")
    cumulative_wins = np.concatenate([[0.0], np.cumsum(won[order])])
    running_base = (cumulative_wins[known] + 1) / (known + 2)
    brier_calibrated = float(np.mean((calibrated - won) ** 2))
    brier_base = float(np.mean((running_base - won) ** 2))
    assert brier_calibrated <= brier_base + 0.001
    learned = result.evaluation["learned"]
    assert learned["brierCalibrated"] < learned["brierStated"]
    assert learned["eceCalibrated"] < learned["eceStated"]


def test_planted_edge_is_found_and_beats_raw(planted: tuple[list[Pair], WalkForwardResult]) -> None:
    pairs, result = planted
    evaluation = result.evaluation
    low, _ = evaluation["pnlDifferenceCI95"]
    assert low > 0  # out of sample, learned − raw is positive with 95 % confidence
    assert evaluation["learned"]["totalPnl"] > evaluation["raw"]["totalPnl"]
    assert evaluation["learned"]["expectancyR"] > evaluation["raw"]["expectancyR"]
    assert evaluation["learned"]["maxDrawdown"] < evaluation["raw"]["maxDrawdown"]
    # risk moves to the context with the edge once there is evidence
    late = [(a.symbol, d) for (a, _), d in zip(pairs, result.decisions, strict=True)][1000:]
    edge_size = np.mean([d.size_multiplier for s, d in late if s == EDGE.symbol])
    none_size = np.mean([d.size_multiplier for s, d in late if s == NONE.symbol])
    assert edge_size > 0.9 and none_size < 0.1
    # and the calibration recovers each context's true win rate
    for ctx in (EDGE, NONE):
        n = sum(1 for a, _ in pairs if a.symbol == ctx.symbol)
        final = [
            d.calibrated_win_prob
            for (a, _), d in zip(pairs, result.decisions, strict=True)
            if a.symbol == ctx.symbol
        ][-1]
        assert final is not None and abs(final - ctx.p(0.7)) < 3 * math.sqrt(
            ctx.p(0.7) * (1 - ctx.p(0.7)) / n
        )


def test_no_look_ahead_shuffling_later_outcomes_changes_nothing_before() -> None:
    pairs = simulate(1500, [EDGE, NONE, Ctx("ETH-PERP", 0.4)], seed=23, fee_r=0.05)
    base = walk_forward(pairs, bootstrap_samples=10)
    rng = np.random.default_rng(1)
    for k in (200, 700, 1400):
        t = pairs[k][0].timestamp
        later = [i for i, (_, rec) in enumerate(pairs) if rec.outcome_known_at > t]
        assert later
        outcomes = [pairs[i][1].won for i in later]
        rng.shuffle(outcomes)
        flipped = list(pairs)
        for i, won in zip(later, outcomes, strict=True):
            flipped[i] = (pairs[i][0], with_outcome(pairs[i][1], not won, fee_r=0.05))
        other = walk_forward(flipped, bootstrap_samples=10)
        assert [d.as_dict() for d in other.decisions[: k + 1]] == [
            d.as_dict() for d in base.decisions[: k + 1]
        ]


def test_an_outcome_is_used_only_once_its_exit_candle_has_closed() -> None:
    ctx = Ctx("SOL-PERP", 0.5)
    t1, t2 = T0, T0 + timedelta(hours=5)
    closed = t2 - timedelta(minutes=30)  # the exit candle opened before t2 but closes after it
    first = make_record(ctx, 0.7, True, closed, 1.0, 0.0, mae=0.5, mfe=2.0, opened_at=t1)
    second = make_analysis(1, ctx, 0.7, t2)
    result = walk_forward([(make_analysis(0, ctx, 0.7, t1), first), (second, None)], bootstrap_samples=10)
    assert [d.known_outcomes for d in result.decisions] == [0, 0]
    known_now = replace(first, known_at=t2)
    result = walk_forward([(make_analysis(0, ctx, 0.7, t1), known_now), (second, None)], bootstrap_samples=10)
    assert [d.known_outcomes for d in result.decisions] == [0, 1]


def test_analyses_are_processed_in_time_order_whatever_the_input_order() -> None:
    pairs = simulate(300, [EDGE, NONE], seed=24)
    forward = walk_forward(pairs, bootstrap_samples=50)
    backward = walk_forward(list(reversed(pairs)), bootstrap_samples=50)
    assert [d.as_dict() for d in forward.decisions] == [d.as_dict() for d in backward.decisions]
    assert forward.evaluation == backward.evaluation


def test_learning_only_from_taken_trades_sees_fewer_outcomes(
    planted: tuple[list[Pair], WalkForwardResult],
) -> None:
    pairs, shadow = planted
    live = walk_forward(pairs, bootstrap_samples=10, learn_from_skipped=False)
    assert live.decisions[-1].known_outcomes < shadow.decisions[-1].known_outcomes


def test_bootstrap_is_seeded_and_centred() -> None:
    values = np.random.default_rng(3).normal(1.0, 5.0, 5000)
    a = bootstrap_sum_ci(values, samples=2000, seed=7)
    assert a == bootstrap_sum_ci(values, samples=2000, seed=7)
    se = values.std() * math.sqrt(values.size)
    assert a[0] == pytest.approx(values.sum() - 1.96 * se, abs=0.1 * se)
    assert a[1] == pytest.approx(values.sum() + 1.96 * se, abs=0.1 * se)
    assert bootstrap_sum_ci(np.array([]), samples=10, seed=0) == [0.0, 0.0]
