"""Context statistics and excursion findings against hand-computed values."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from learning_sim import T0, Ctx, make_record, simulate

from driftloop.domain.model import ExitReason
from driftloop.learning.excursions import (
    excursion_findings,
    excursion_summary,
    suggested_adjustments,
    what_ifs,
)
from driftloop.learning.records import LearningRecord
from driftloop.learning.reliability import wilson_interval
from driftloop.learning.stats import StatsBook, mean_ci95, summarize, summarize_by

CTX = Ctx("SOL-PERP", 0.5)


def _rec(won: bool, r: float, pnl: float, *, mae: float = 1.0, mfe: float = 1.0) -> LearningRecord:
    rec = make_record(CTX, 0.7, won, T0, 2.0, 0.0, mae=mae, mfe=mfe, opened_at=T0)
    return replace(rec, r=r, pnl_usd=pnl, pnl_percent=pnl / 10)


def test_summary_matches_hand_computation() -> None:
    recs = [_rec(True, 2.0, 40.0), _rec(True, 1.5, 30.0), _rec(False, -1.0, -20.0), _rec(False, -1.0, -20.0)]
    s = summarize(recs, ("sim",))
    assert (s.count, s.wins, s.win_rate) == (4, 2, 0.5)
    assert s.win_rate_ci95 == wilson_interval(2, 4)
    assert s.expectancy_r == pytest.approx(0.375)
    assert s.expectancy_r_se == pytest.approx(np.std([2, 1.5, -1, -1], ddof=1) / 2)
    low, high = s.expectancy_r_ci95
    assert -1.0 <= low < 0.375 < high <= 2.0
    assert s.avg_pnl_usd == pytest.approx(7.5) and s.total_pnl_usd == pytest.approx(30.0)
    assert s.profit_factor == pytest.approx(70 / 40)
    data = s.as_dict()
    assert data["winRate"] == 50.0 and data["context"] == "sim" and data["profitFactor"] == 1.75


def test_expectancy_interval_is_normal_for_large_samples_and_bootstrap_for_small() -> None:
    rng = np.random.default_rng(0)
    big = rng.normal(0.2, 1.0, 2000)
    mean, se, low, high = mean_ci95(big)
    assert (low, high) == pytest.approx((mean - 1.96 * se, mean + 1.96 * se), abs=1e-3)
    small = rng.normal(0.2, 1.0, 200)
    mean, se, low, high = mean_ci95(small, seed=1)
    assert low == pytest.approx(mean - 1.96 * se, abs=0.3 * se)
    assert high == pytest.approx(mean + 1.96 * se, abs=0.3 * se)
    assert mean_ci95(small, seed=1) == mean_ci95(small, seed=1)
    assert all(math.isnan(x) for x in mean_ci95([]))


def test_summarize_by_level_and_the_running_book_agree() -> None:
    pairs = simulate(500, [CTX, Ctx("BTC-PERP", 0.6, leverage=5)], seed=1, fee_r=0.1)
    recs = [rec for _, rec in pairs]
    by_symbol = summarize_by(recs, 2)
    book = StatsBook()
    for rec in recs:
        book.update(rec)
    assert set(by_symbol) == {("sim", "BTC-PERP"), ("sim", "SOL-PERP")}
    for key, summary in by_symbol.items():
        running = book.get(key)
        assert running is not None
        assert running.n == summary.count and running.wins == summary.wins
        assert running.mean_r == pytest.approx(summary.expectancy_r)
        assert math.sqrt(running.var_r / running.n) == pytest.approx(summary.expectancy_r_se)
        assert running.mean_cost == pytest.approx(0.1)
    assert book.buckets(("sim", "BTC-PERP", "1h", "LONG")) == [("sim", "BTC-PERP", "1h", "LONG", "4-5x")]
    assert len(book.records(("sim", "SOL-PERP", "1h", "LONG"))) == by_symbol[("sim", "SOL-PERP")].count


def test_excursion_quantiles_split_winners_and_losers() -> None:
    recs = [_rec(True, 2.0, 40.0, mae=m, mfe=4.0) for m in (0.2, 0.4, 0.6, 0.8, 1.0)]
    recs += [_rec(False, -1.0, -20.0, mae=2.0, mfe=f) for f in (1.0, 2.0, 3.0)]
    out = excursion_summary(recs)
    assert out["winners"]["count"] == 5 and out["losers"]["count"] == 3
    assert out["winners"]["maePercent"]["p50"] == pytest.approx(0.6)
    assert out["winners"]["maeOfStop"]["p50"] == pytest.approx(0.3)
    assert out["losers"]["mfeOfTarget"]["p50"] == pytest.approx(0.5)


def test_findings_are_plain_counts() -> None:
    # 12 of 30 winners came within 20 % of a 2 % stop; 15 of 30 losers went half-way to a 4 % target
    winners = [_rec(True, 2.0, 40.0, mae=1.7 if i < 12 else 0.5, mfe=4.0) for i in range(30)]
    losers = [_rec(False, -1.0, -20.0, mae=2.0, mfe=2.5 if i < 15 else 0.5) for i in range(30)]
    findings = excursion_findings(winners + losers)
    assert any("12 of 30 winners (40%)" in f and "stops may be tight" in f for f in findings)
    assert any("15 of 30 losers (50%)" in f and "targets may be far" in f for f in findings)
    assert excursion_findings(winners[:5] + losers[:5]) == []  # too few trades to say anything


def test_what_ifs_rescore_trades_from_their_excursions() -> None:
    recs = [_rec(True, 2.0, 40.0, mae=1.8, mfe=4.0), _rec(False, -1.0, -20.0, mae=2.0, mfe=2.0)]
    by_key = {(w.kind, w.fraction): w for w in what_ifs(recs)}
    # target at half the distance: the winner makes 1 R, the loser (MFE = half the target) too
    assert by_key[("target", 0.5)].expectancy_r == pytest.approx(1.0)
    # target at 0.6: the winner makes 1.2 R, the loser never got there
    assert by_key[("target", 0.6)].expectancy_r == pytest.approx((1.2 - 1.0) / 2)
    # stop at 0.9 of its distance: the winner's MAE (1.8 of 2) hit it, the loser loses 0.9
    assert by_key[("stop", 0.9)].expectancy_r == pytest.approx(-0.9)
    assert all(w.actual_expectancy_r == pytest.approx(0.5) for w in by_key.values())
    assert suggested_adjustments(recs) == {}  # far too few trades


def test_costs_are_charged_in_what_ifs() -> None:
    rec = make_record(CTX, 0.7, True, T0, 2.0, 0.1, mae=0.5, mfe=4.0, opened_at=T0)
    assert rec.exit_reason is ExitReason.TAKE_PROFIT
    by_key = {(w.kind, w.fraction): w for w in what_ifs([rec, rec])}
    assert by_key[("target", 0.5)].expectancy_r == pytest.approx(1.0 - 0.1)
