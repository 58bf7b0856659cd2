"""LearningRecord.from_trade and the context hierarchy."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from learning_sim import T0, Ctx, make_analysis

from driftloop.domain.model import ExitReason, OutcomeClass, Side, TradeStatus
from driftloop.domain.outcome import Outcome
from driftloop.domain.trade import AccountRef, Trade
from driftloop.learning.records import (
    DEPTH,
    LEVELS,
    Context,
    LearningRecord,
    describe,
    leverage_bucket,
    parent,
)


def _outcome(**overrides: object) -> Outcome:
    fields: dict[str, object] = {
        "side": Side.LONG,
        "entry_price": Decimal(100),
        "exit_price": Decimal(104),
        "size": Decimal(10),
        "leverage": Decimal(3),
        "entry_notional": Decimal(1000),
        "price_pnl": Decimal(40),
        "fees_usd": Decimal(2),
        "funding_usd": Decimal("-0.5"),
        "pnl_usd": Decimal("37.5"),
        "pnl_percent": Decimal("3.75"),
        "roe_percent": Decimal("11.25"),
        "actual_rr": Decimal("1.875"),
        "outcome": OutcomeClass.WIN,
        "exit_reason": ExitReason.TAKE_PROFIT,
        "entry_slippage_bps": Decimal(0),
        "exit_slippage_bps": Decimal(0),
        "mae": Decimal("0.8"),
        "mfe": Decimal(4),
        "closed_at": T0 + timedelta(hours=6),
        "direction_correct": True,
        "price_accuracy": Decimal(1),
        "accuracy_score": Decimal(1),
        "stated_probability": Decimal("0.72"),
        "brier": Decimal("0.0784"),
    }
    fields.update(overrides)
    return Outcome(**fields)  # type: ignore[arg-type]


def _trade(outcome: Outcome | None, status: TradeStatus = TradeStatus.CLOSED) -> Trade:
    analysis = make_analysis(0, Ctx("SOL-PERP", 0.5, leverage=3), 0.72, T0, rr=2.0)
    return Trade(
        id="t1",
        account=AccountRef("u"),
        analysis=analysis,
        run_id="",
        status=status,
        market_index=0,
        side=Side.LONG,
        opened_at=T0,
        outcome=outcome,
    )


def test_from_trade_keeps_what_learning_needs() -> None:
    rec = LearningRecord.from_trade(_trade(_outcome()))
    assert rec.context == Context("sim", "SOL-PERP", "1h", "LONG", "2-3x")
    assert rec.confidence == pytest.approx(0.72)
    assert rec.won and rec.r == pytest.approx(1.875)
    assert rec.pnl_usd == pytest.approx(37.5) and rec.pnl_percent == pytest.approx(3.75)
    assert (rec.mae, rec.mfe) == (pytest.approx(0.8), pytest.approx(4.0))
    assert rec.exit_reason is ExitReason.TAKE_PROFIT
    assert rec.stop_pct == pytest.approx(2.0) and rec.target_pct == pytest.approx(4.0)
    assert rec.planned_rr == pytest.approx(2.0)
    assert rec.leverage == 3.0 and rec.opened_at == T0
    # known at the close of the exit candle: one bar of the analysis' timeframe after it opened
    assert rec.outcome_known_at == T0 + timedelta(hours=7)
    exact = LearningRecord.from_trade(_trade(_outcome()), known_at=T0 + timedelta(hours=6, minutes=5))
    assert exact.outcome_known_at == T0 + timedelta(hours=6, minutes=5)


def test_breakeven_is_not_a_win_and_missing_risk_is_zero_r() -> None:
    rec = LearningRecord.from_trade(_trade(_outcome(outcome=OutcomeClass.BREAKEVEN, actual_rr=None)))
    assert not rec.won and rec.r == 0.0


def test_only_closed_trades_become_records() -> None:
    with pytest.raises(ValueError):
        LearningRecord.from_trade(_trade(None, TradeStatus.OPEN))


@pytest.mark.parametrize(
    ("leverage", "bucket"),
    [(1, "1x"), (Decimal("1.5"), "2-3x"), (3, "2-3x"), (4, "4-5x"), (5, "4-5x"), (10, "6-10x"), (20, ">10x")],
)
def test_leverage_buckets(leverage: float | Decimal, bucket: str) -> None:
    assert leverage_bucket(leverage) == bucket


def test_context_path_runs_from_global_to_full() -> None:
    ctx = Context("gpt", "SOL-PERP", "1h", "LONG", "1x")
    path = ctx.path()
    assert len(path) == DEPTH == len(LEVELS)
    assert path[0] == () and path[1] == ("gpt",) and path[-1] == ctx.fields
    assert all(parent(path[i + 1]) == path[i] for i in range(DEPTH - 1))
    assert parent(()) is None
    assert describe(()) == "all" and describe(path[2]) == "gpt SOL-PERP"
    analysis = make_analysis(0, Ctx("SOL-PERP", 0.5), 0.7, T0)
    assert Context.of_analysis(analysis) == Context("sim", "SOL-PERP", "1h", "LONG", "1x")
