"""Insight aggregates: exact sums, order independence, and agreement with the vectorised metrics."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from driftloop.learning import metrics
from driftloop.learning.aggregates import (
    IDX,
    TradeFacts,
    aggregate,
    confidence_bucket,
    delta,
    equity_of,
    present,
    scaled,
    unscaled,
)

T0 = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday


def closed(
    tid: str,
    pnl: str,
    *,
    pct: str = "1",
    rr: str | None = "1",
    at: datetime = T0,
    outcome: str | None = None,
    exit_reason: str = "TAKE_PROFIT",
    symbol: str = "SOL-PERP",
    timeframe: str = "1h",
    side: str = "LONG",
    leverage: str = "1",
    confidence: str = "70",
    stated: str = "0.7",
    calibrated: str | None = None,
) -> TradeFacts:
    won = outcome or ("WIN" if Decimal(pnl) > 0 else "LOSS")
    y = 1 if won == "WIN" else 0
    return TradeFacts(
        trade_id=tid,
        user_id="u",
        status="CLOSED",
        symbol=symbol,
        timeframe=timeframe,
        side=side,
        leverage=Decimal(leverage),
        confidence=Decimal(confidence),
        hour=at.hour,
        outcome=won,
        exit_reason=exit_reason,
        closed_at=at,
        pnl=scaled(Decimal(pnl)),
        pnl_pct=scaled(Decimal(pct)),
        rr=None if rr is None else scaled(Decimal(rr)),
        fees=scaled(Decimal("0.5")),
        funding=scaled(Decimal("-0.1")),
        notional=scaled(Decimal(1000)),
        slippage=scaled(Decimal(2)),
        stated=scaled(Decimal(stated)),
        brier=scaled((Decimal(stated) - y) ** 2),
        calibrated=None if calibrated is None else scaled(Decimal(calibrated)),
        calibrated_brier=None if calibrated is None else scaled((Decimal(calibrated) - y) ** 2),
        direction_correct=bool(y),
        accuracy=scaled(Decimal("0.5")),
    )


def test_scaling_is_exact_and_rounds_half_even_at_18_places() -> None:
    x = Decimal("123456789012.123456789012345678")
    assert unscaled(scaled(x)) == x
    assert scaled(Decimal("0.0000000000000000005")) == 0
    assert scaled(Decimal("0.0000000000000000015")) == 2


def test_hand_computed_figures() -> None:
    # PnL +30, −10, −25, +20 in closing order: equity 30, 20, −5, 15; drawdown 35 (30 → −5).
    facts = [
        closed("a", "30", pct="3", rr="2", at=T0),
        closed("b", "-10", pct="-1", rr="-1", at=T0 + timedelta(hours=1), exit_reason="STOP_LOSS"),
        closed("c", "-25", pct="-2.5", rr="-1", at=T0 + timedelta(hours=2), exit_reason="LIQUIDATION"),
        closed("d", "20", pct="2", rr="1.5", at=T0 + timedelta(days=7), calibrated="0.6"),
    ]
    buckets = aggregate(facts)["u"]
    closes = [(f.equity_key, f.pnl) for f in facts]
    out = present(buckets, equity_of([(k, p) for k, p in closes if k is not None]))
    perf = out["performance"]
    assert out["totalDriftTrades"] == 4
    assert out["winRate"] == 50.0
    assert out["totalPnL"] == 15.0 and out["totalPnLExact"] == "15"
    assert perf["profitFactor"] == pytest.approx(50 / 35)
    assert perf["expectancyUsd"] == pytest.approx(3.75)
    assert perf["expectancyR"] == pytest.approx(1.5 / 4)
    assert perf["maxDrawdownUsd"] == pytest.approx(35.0)
    returns = np.array([3, -1, -2.5, 2])
    assert perf["sharpe"] == pytest.approx(returns.mean() / returns.std(ddof=1))
    assert perf["sortino"] == pytest.approx(returns.mean() / np.sqrt(np.mean(np.minimum(returns, 0) ** 2)))
    assert perf["fees"]["totalUsd"] == 2.0 and perf["fees"]["bpsOfNotional"] == pytest.approx(5.0)
    assert perf["funding"] == {
        "paidUsd": pytest.approx(0.4),
        "receivedUsd": 0.0,
        "netUsd": pytest.approx(-0.4),
    }
    drift = out["driftSpecificInsights"]
    assert drift["stopLossEffectiveness"] == 50.0  # one of the two losses hit its stop
    assert drift["liquidations"] == 1
    assert out["exitReasons"] == {"LIQUIDATION": 1, "STOP_LOSS": 1, "TAKE_PROFIT": 2}
    weeks = out["progression"]
    assert [w["week"] for w in weeks] == ["2025-W10", "2025-W11"]
    assert [w["trades"] for w in weeks] == [3, 1] and weeks[1]["cumulativeTrades"] == 4
    assert weeks[1]["brierCalibrated"] == pytest.approx(0.16) and weeks[0]["brierCalibrated"] is None
    cal = out["calibration"]
    assert cal["calibratedTrades"] == 1
    assert cal["brierStated"] == pytest.approx((0.09 + 0.49 + 0.49 + 0.09) / 4)
    assert [b["lower"] for b in cal["bins"]] == [0.7]
    assert cal["eceStated"] == pytest.approx(abs(0.5 - 0.7))


def test_confidence_buckets() -> None:
    assert confidence_bucket(Decimal(0)) == "0.0-0.1"
    assert confidence_bucket(Decimal("69.99")) == "0.6-0.7"
    assert confidence_bucket(Decimal(100)) == "0.9-1.0"


def _random_facts(rng: random.Random, n: int) -> list[TradeFacts]:
    out = []
    for i in range(n):
        pnl = Decimal(rng.randint(-50_000, 60_000)) / 1000
        out.append(
            closed(
                f"t{i:04d}",
                str(pnl),
                pct=str(pnl / 10),
                rr=str(pnl / 20) if rng.random() < 0.9 else None,
                at=T0 + timedelta(minutes=rng.randint(0, 60 * 24 * 60)),
                symbol=rng.choice(["SOL-PERP", "BTC-PERP", "ETH-PERP"]),
                timeframe=rng.choice(["5m", "1h", "4h"]),
                side=rng.choice(["LONG", "SHORT"]),
                leverage=rng.choice(["1", "3", "5", "20"]),
                confidence=str(rng.randint(50, 95)),
                calibrated="0.55" if rng.random() < 0.5 else None,
            )
        )
    return out


def test_order_independent_and_deltas_cancel() -> None:
    rng = random.Random(7)
    facts = _random_facts(rng, 400)
    whole = aggregate(facts)
    shuffled = facts[:]
    rng.shuffle(shuffled)
    assert aggregate(shuffled) == whole
    assert delta(facts, facts) == {}
    # removing a trade is adding its negative
    partial = aggregate(facts[1:])["u"]
    minus = delta(facts[:1], [])["u"]
    rebuilt = {
        k: [a + b for a, b in zip(whole["u"][k], minus.get(k, [0] * len(v)), strict=True)]
        for k, v in whole["u"].items()
    }
    assert {k: v for k, v in rebuilt.items() if any(v)} == partial


def test_agrees_with_the_vectorised_metrics() -> None:
    facts = sorted(_random_facts(random.Random(11), 2_000), key=lambda f: f.equity_key or (T0, ""))
    out = present(aggregate(facts)["u"], equity_of([(f.equity_key, f.pnl) for f in facts if f.equity_key]))
    pnl = np.array([f.pnl / 1e18 for f in facts])
    pct = np.array([f.pnl_pct / 1e18 for f in facts])
    perf = out["performance"]
    assert perf["profitFactor"] == pytest.approx(metrics.profit_factor(pnl), rel=1e-12)
    assert perf["maxDrawdownUsd"] == pytest.approx(metrics.max_drawdown(pnl), rel=1e-12)
    assert perf["sharpe"] == pytest.approx(metrics.sharpe(pct), rel=1e-9)
    assert perf["sortino"] == pytest.approx(metrics.sortino(pct), rel=1e-9)
    won = np.array([f.outcome == "WIN" for f in facts])
    r = np.array([0.0 if f.rr is None else f.rr / 1e18 for f in facts])
    expected = metrics.breakdown(np.array([f.symbol for f in facts]), pnl, r, won)
    for symbol, row in out["breakdowns"]["bySymbol"].items():
        assert row["count"] == expected[symbol]["count"]
        assert row["winRate"] == pytest.approx(expected[symbol]["winRate"])
        assert row["totalPnl"] == pytest.approx(expected[symbol]["totalPnl"])
        assert row["profitFactor"] == pytest.approx(expected[symbol]["profitFactor"])
    assert sum(row["count"] for row in out["breakdowns"]["byHourOfDay"].values()) == 2_000
    assert out["aiAccuracy"]["directionAccuracy"] == pytest.approx(100 * won.mean(), abs=1e-4)
    assert IDX["n"] == 0


def test_no_trades() -> None:
    out = present({}, None)
    assert out["totalDriftTrades"] == 0 and out["winRate"] is None
    assert out["performance"]["sharpe"] is None and out["performance"]["maxDrawdownUsd"] == 0.0
    assert out["progression"] == [] and out["calibration"]["bins"] == []


def test_imported_history_counts_in_the_track_record_not_as_forecasts() -> None:
    import dataclasses

    ai = closed("a", "10", calibrated="0.6")
    imported = dataclasses.replace(
        closed("b", "-4", exit_reason="MANUAL"), forecast=False, stated=None, brier=None
    )
    out = present(aggregate([ai, imported])["u"], None)
    assert out["totalDriftTrades"] == 2 and out["totalPnL"] == 6.0
    assert out["aiAccuracy"]["trades"] == 1 and out["aiAccuracy"]["brier"] == pytest.approx(0.09)
    assert out["calibration"]["trades"] == 1 and [b["count"] for b in out["calibration"]["bins"]] == [1]
    assert out["breakdowns"]["bySymbol"]["SOL-PERP"]["count"] == 2
    assert out["breakdowns"]["byTimeframe"]["1h"]["count"] == 1  # a stand-in timeframe is no timeframe
    assert out["progression"][0]["trades"] == 2 and out["progression"][0]["brierStated"] == pytest.approx(
        0.09
    )
