"""The SQL store: trades round-trip exactly, saves are idempotent, the unit of work is atomic."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, exc, func, select, text

from driftloop.adapters.db import tables
from driftloop.adapters.db.mapping import InconsistentTradeError
from driftloop.adapters.db.types import stored_decimal
from driftloop.adapters.db.uow import SqlUnitOfWork
from driftloop.domain.model import (
    Analysis,
    ExitReason,
    Fill,
    FundingPayment,
    OrderLeg,
    OrderSide,
    Prediction,
    Recommendation,
    Side,
    Timeframe,
    TradeStatus,
)
from driftloop.domain.outcome import compute_outcome
from driftloop.domain.trade import AccountRef, OrderRecord, Trade
from driftloop.services.ports import ReplayRun

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
RECORDED = datetime(2024, 3, 5, 9, 30, 15, 123456, tzinfo=UTC)
SIZE = Decimal("6.792094002581131561")
ENTRY = Decimal("150.123456789012345678")
EXIT = Decimal("160.5")
FEE_RATE = Decimal("0.001")
ACCOUNT = AccountRef("user-1", "paper", 0)


def make_analysis(aid: str = "a-1", ts: datetime = T0) -> Analysis:
    return Analysis(
        id=aid,
        timestamp=ts,
        symbol="SOL-PERP",
        timeframe=Timeframe.H1,
        prediction=Prediction.BULLISH,
        confidence=Decimal("72.5"),
        recommendation=Recommendation.BUY,
        stop_loss=Decimal("140.987654321098765432"),
        take_profit=EXIT,
        size_usd=Decimal(1020),
        entry_price=Decimal("150.1"),
        target_price=Decimal("158.25"),
        leverage=Decimal(3),
        max_hold_minutes=240,
        analyst="gpt-test",
        reasoning="EMA cross, rising volume",
        raw={"score": Decimal("0.812345678901234567890123"), "ema": 1.25, "tags": ["x", 2], "n": {"k": None}},
    )


def make_trade(
    aid: str = "a-1", status: TradeStatus = TradeStatus.CLOSED, run_id: str = "run-1", ts: datetime = T0
) -> Trade:
    """An OPEN, CLOSED (outcome from fills) or SKIPPED trade of one long analysis."""
    analysis = make_analysis(aid, ts)
    trade = Trade(
        id=f"tr-{run_id}-{aid}",
        account=ACCOUNT,
        analysis=analysis,
        run_id=run_id,
        status=status,
        market_index=0,
        side=Side.LONG,
    )
    if status is TradeStatus.SKIPPED:
        trade.reason = "stop loss is not below the long entry fill"
        trade.learning_data = {"policy": "raw", "decision": "SKIP"}
        return trade
    trade.size, trade.entry_price, trade.opened_at = SIZE, ENTRY, ts
    trade.drift_tx_id = f"sig-{aid}"
    trade.learning_data = {"policy": "raw", "decision": "TAKE", "calibratedWinProb": Decimal("0.61")}
    trade.fills = [
        Fill(
            f"{trade.id}:ENTRY",
            ts,
            OrderSide.BUY,
            ENTRY,
            SIZE,
            ENTRY * SIZE * FEE_RATE,
            OrderLeg.ENTRY,
            reference_price=Decimal("150.0"),
            order_id=f"{trade.id}:1",
        )
    ]
    trade.orders = [
        OrderRecord(OrderLeg.ENTRY, f"{trade.id}:1", 1, None, "sig", "FILLED"),
        OrderRecord(OrderLeg.STOP_LOSS, f"{trade.id}:2", 2, analysis.stop_loss, "sig", "OPEN"),
        OrderRecord(OrderLeg.TAKE_PROFIT, f"{trade.id}:3", 3, EXIT, "sig", "OPEN"),
    ]
    if status is TradeStatus.CLOSED:
        close_at = ts + timedelta(hours=3)
        trade.fills.append(
            Fill(
                f"{trade.id}:TAKE_PROFIT",
                close_at,
                OrderSide.SELL,
                EXIT,
                SIZE,
                EXIT * SIZE * FEE_RATE,
                OrderLeg.TAKE_PROFIT,
                cause=ExitReason.TAKE_PROFIT,
                reference_price=EXIT,
            )
        )
        trade.funding = [
            FundingPayment(
                ts + timedelta(hours=1), Decimal("0.0000125"), Decimal("-0.0127456"), payment_id="F1"
            ),
            FundingPayment(ts + timedelta(hours=2), Decimal("-0.00002"), Decimal("0.0203")),
        ]
        trade.orders[2] = dataclasses.replace(trade.orders[2], status="FILLED")
        trade.outcome = compute_outcome(
            analysis, trade.fills, trade.funding, closed_at=close_at, lowest=Decimal("149.5"), highest=EXIT
        )
    return trade


def as_stored(value: Any) -> Any:
    """`value` with every Decimal field as the store keeps it (18 places); JSON dicts are exact."""
    if isinstance(value, Decimal):
        return stored_decimal(value)
    if isinstance(value, list):
        return [as_stored(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: as_stored(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not isinstance(getattr(value, f.name), dict)
        }
        return dataclasses.replace(value, **changes)
    return value


def save(engine: Engine, *trades: Trade, at: datetime = RECORDED) -> None:
    with SqlUnitOfWork(engine) as uow:
        uow.trades.save_many(trades, at)
        uow.commit()


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            table.name: sorted(map(tuple, conn.execute(select(table))), key=repr)
            for table in tables.metadata.sorted_tables
        }


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_round_trip_open_closed_skipped(engine: Engine) -> None:
    trades = [
        make_trade("a-1", TradeStatus.OPEN),
        make_trade("a-2", TradeStatus.CLOSED, ts=T0 + timedelta(1)),
        make_trade("a-3", TradeStatus.SKIPPED, ts=T0 + timedelta(2)),
    ]
    save(engine, *trades)
    with SqlUnitOfWork(engine) as uow:
        for trade in trades:
            assert uow.trades.get(trade.id) == as_stored(trade)
        assert uow.trades.list_for_run("run-1") == [as_stored(t) for t in trades]
        assert uow.trades.list_for_run("other") == []
        assert uow.trades.get("missing") is None


def test_closed_trade_keeps_exact_values(engine: Engine) -> None:
    trade = make_trade()
    save(engine, trade)
    with SqlUnitOfWork(engine) as uow:
        got = uow.trades.get(trade.id)
    assert got is not None
    assert got.outcome is not None
    assert trade.outcome is not None
    assert got.fills[0].size == SIZE
    assert str(got.fills[0].size) == "6.792094002581131561"
    assert got.fills[0].price == ENTRY
    assert got.analysis.stop_loss == Decimal("140.987654321098765432")
    assert got.analysis.raw == trade.analysis.raw  # JSON keeps Decimal (all 24 digits) and float apart
    assert isinstance(got.analysis.raw["score"], Decimal)
    assert isinstance(got.analysis.raw["ema"], float)
    assert got.outcome.pnl_usd == trade.outcome.pnl_usd.quantize(Decimal("1e-18"))
    assert abs(got.outcome.pnl_percent - trade.outcome.pnl_percent) < Decimal("1e-18")
    assert got.funding[1].payment_id == ""  # keyed by its time in the table, '' again when read
    assert str(got.analysis.size_usd) == "1020"
    assert str(got.leverage) == "3"


def test_aware_utc_datetimes(engine: Engine) -> None:
    plus_two = timezone(timedelta(hours=2))
    trade = make_trade(ts=datetime(2024, 3, 1, 14, 0, 0, 654321, tzinfo=plus_two))
    save(engine, trade)
    with SqlUnitOfWork(engine) as uow:
        got = uow.trades.get(trade.id)
    assert got is not None
    assert got.opened_at is not None
    assert got.outcome is not None
    for value in (got.analysis.timestamp, got.opened_at, got.fills[1].ts, got.outcome.closed_at):
        assert value.tzinfo is UTC
    assert got.analysis.timestamp == datetime(2024, 3, 1, 12, 0, 0, 654321, tzinfo=UTC)
    naive = make_trade("naive", ts=datetime(2024, 3, 1, 12, 0))
    with pytest.raises(exc.StatementError, match="naive datetime"):
        save(engine, naive)


def test_saving_twice_changes_nothing(engine: Engine) -> None:
    trades = [make_trade(f"a-{i}", status) for i, status in enumerate(TradeStatus)]
    save(engine, *trades)
    before = snapshot(engine)
    save(engine, *trades, at=RECORDED + timedelta(days=1))
    save(
        engine,
        *(make_trade(f"a-{i}", status) for i, status in enumerate(TradeStatus)),
        at=RECORDED + timedelta(days=2),
    )
    assert snapshot(engine) == before  # row counts, content, even recorded_at/updated_at
    assert len(before["trades"]) == 4
    assert len(before["ai_learning_data"]) == 2


def test_closing_an_open_trade_updates_it(engine: Engine) -> None:
    save(engine, make_trade(status=TradeStatus.OPEN))
    closed = make_trade(status=TradeStatus.CLOSED)
    later = RECORDED + timedelta(hours=5)
    save(engine, closed, at=later)
    with SqlUnitOfWork(engine) as uow:
        assert uow.trades.get(closed.id) == as_stored(closed)
        row = uow.connection.execute(select(tables.trades)).one()
        learning = uow.connection.execute(select(tables.ai_learning_data)).one()
    assert (row.recorded_at, row.updated_at) == (RECORDED, later)
    assert (learning.status, learning.recorded_at, learning.updated_at) == ("COMPLETE", RECORDED, later)
    assert count(engine, tables.fills) == 2
    assert count(engine, tables.trade_orders) == 3


def test_learning_rows(engine: Engine) -> None:
    trades = [make_trade("o", TradeStatus.OPEN), make_trade("c"), make_trade("s", TradeStatus.SKIPPED)]
    save(engine, *trades)
    with engine.connect() as conn:
        rows = {r.trade_id: r for r in conn.execute(select(tables.ai_learning_data))}
    assert set(rows) == {trades[0].id, trades[1].id}
    pending, complete = rows[trades[0].id], rows[trades[1].id]
    assert (pending.status, pending.outcome, pending.brier) == ("PENDING", None, None)
    assert pending.stated_probability == Decimal("0.725")
    outcome = trades[1].outcome
    assert outcome is not None
    assert (complete.status, complete.outcome, complete.direction_correct) == ("COMPLETE", "WIN", True)
    assert complete.actual_price == EXIT
    assert complete.brier == stored_decimal(outcome.brier)
    assert complete.accuracy_score == stored_decimal(outcome.accuracy_score)
    assert complete.calibrated_probability == Decimal("0.61")
    assert complete.calibrated_brier == Decimal("0.1521")
    assert complete.feedback_data["exitReason"] == "TAKE_PROFIT"
    assert Decimal(complete.feedback_data["actualRR"]) == stored_decimal(outcome.actual_rr or Decimal(0))


def test_duplicate_fills_are_ignored(engine: Engine) -> None:
    trade = make_trade()
    trade.fills.append(trade.fills[0])  # the venue reported the entry twice
    other = make_trade("a-2", TradeStatus.OPEN)
    # the same venue identity reported under another trade
    other.fills = [dataclasses.replace(trade.fills[1], price=Decimal(1))]
    save(engine, trade, other)
    assert count(engine, tables.fills) == 2
    with SqlUnitOfWork(engine) as uow:
        got, got_other = uow.trades.get(trade.id), uow.trades.get(other.id)
    assert got is not None
    assert got_other is not None
    assert got.fills == as_stored(trade.fills[:2])
    assert got_other.fills == []


def test_rollback_leaves_nothing(engine: Engine) -> None:
    with SqlUnitOfWork(engine) as uow:
        uow.trades.save(make_trade(), RECORDED)
        uow.runs.save(ReplayRun("run-1", RECORDED, {"fee": Decimal(10)}))
    with pytest.raises(exc.IntegrityError), SqlUnitOfWork(engine) as uow:  # noqa: PT012
        uow.trades.save(make_trade("a-2"), RECORDED)
        uow.connection.execute(tables.fills.insert(), {"id": "orphan"})  # fails: the whole unit is undone
    with SqlUnitOfWork(engine) as uow:
        uow.trades.save(make_trade("a-3"), RECORDED)
        uow.rollback()
        uow.commit()
    assert all(rows == [] for rows in snapshot(engine).values())


def test_runs_round_trip_and_update(engine: Engine) -> None:
    run = ReplayRun("run-1", RECORDED, {"slippageBps": Decimal("2.5"), "from": T0, "fast": 9}, {"trades": 0})
    with SqlUnitOfWork(engine) as uow:
        uow.runs.save(run)
        later = dataclasses.replace(run, created_at=RECORDED + timedelta(1), summary={"pnl": Decimal("-1.5")})
        uow.runs.save(later)
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        assert uow.runs.get("run-1") == dataclasses.replace(run, summary={"pnl": Decimal("-1.5")})
        assert uow.runs.get("nope") is None


def test_inconsistent_trade_is_refused(engine: Engine) -> None:
    trade = make_trade()
    trade.entry_price = Decimal(151)
    with pytest.raises(InconsistentTradeError, match="entry_price"):
        save(engine, trade)


def test_decimals_are_text_on_sqlite(engine: Engine, db_backend: str) -> None:
    if db_backend != "sqlite":
        pytest.skip("SQLite storage detail")
    save(engine, make_trade())
    with engine.connect() as conn:
        kind, value = conn.execute(text("SELECT typeof(size), size FROM fills LIMIT 1")).one()
    assert (kind, value) == ("text", "6.792094002581131561")


def test_save_many_thousand_trades(engine: Engine) -> None:
    trades = [make_trade(f"a-{i:04d}", ts=T0 + timedelta(minutes=i)) for i in range(1_000)]
    save(engine, *trades)
    with SqlUnitOfWork(engine) as uow:
        loaded = uow.trades.list_for_run("run-1")
    assert loaded == [as_stored(t) for t in trades]
    assert count(engine, tables.fills) == 2_000
    assert count(engine, tables.ai_learning_data) == 1_000
