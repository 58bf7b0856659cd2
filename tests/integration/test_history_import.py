"""History import against a local stub of the Drift Data API, stored in SQLite and PostgreSQL.

Pagination, retries of temporary faults, bad records (nothing written), idempotent re-imports,
an interrupted import resumed later, an incremental import as the history grows.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from driftloop.adapters.clock import FixedClock
from driftloop.adapters.db import tables
from driftloop.adapters.db.uow import SqlUnitOfWork
from driftloop.adapters.drift_data.client import DriftDataClient
from driftloop.domain.errors import ConfigError, InputError, TemporaryError
from driftloop.domain.model import (
    Analysis,
    ExitReason,
    Fill,
    OrderLeg,
    OrderSide,
    OutcomeClass,
    Prediction,
    Recommendation,
    Side,
    Timeframe,
    TradeStatus,
)
from driftloop.domain.trade import Trade
from driftloop.services.history_import import ImportRequest, ImportSummary, import_history
from driftloop.services.insights import get_insights
from driftloop.services.retry import RetryPolicy
from history_stub import (
    ACCOUNT,
    T0,
    DataApiStub,
    Fault,
    fill_record,
    funding_record,
    serve,
    settle_record,
)
from loop_harness import snapshot, snapshot_diff

NOW = datetime.fromtimestamp(T0, UTC) + timedelta(days=2)
FAST = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.01, timeout=0.5)
REQUEST = ImportRequest(user_id="alice", account_key=ACCOUNT, sub_account=0, batch_size=7)


def history() -> DataApiStub:
    """Two markets over 50 fills: round trips, flips, partial closes, maker rebates, funding, settles."""
    stub = DataApiStub()
    fid, ts = 100, T0
    for market, symbol, price in ((0, "SOL-PERP", 100), (1, "BTC-PERP", 60000)):
        for i in range(6):
            ts += 60
            step = Decimal(price) / 100
            entry, exit_ = Decimal(price) + i * step, Decimal(price) + (i + (1 if i % 2 else -1)) * step
            side, other = ("long", "short") if i % 2 == 0 else ("short", "long")
            role = "maker" if i % 3 == 0 else "taker"
            fee = "-0.000500" if role == "maker" else "0.035000"
            fid += 1
            stub.add("trades", fill_record(fid, ts, side=side, base="1.000000000", quote=f"{entry:.6f}",
                                           fee=fee, role=role, market=market, symbol=symbol))  # fmt: skip
            stub.add("fundingPayments", funding_record(ts + 5, "-0.001000" if i % 2 == 0 else "0.002000",
                                                       "1.000000000" if side == "long" else "-1.000000000",
                                                       market=market))  # fmt: skip
            ts += 60
            fid += 1
            # close half, then the rest plus one more (a flip on odd rounds) or exactly
            stub.add("trades", fill_record(fid, ts, side=other, base="0.500000000", quote=f"{exit_ / 2:.6f}",
                                           fee="0.010000", market=market, symbol=symbol,
                                           reduced_entry="1"))  # fmt: skip
            fid += 1
            rest = "0.500000000"
            stub.add("trades", fill_record(fid, ts + 1, side=other, base=rest, quote=f"{exit_ / 2:.6f}",
                                           fee="0.010000", market=market, symbol=symbol,
                                           reduced_entry="1"))  # fmt: skip
            sign = 1 if side == "long" else -1
            funding = Decimal("-0.001") if i % 2 == 0 else Decimal("0.002")
            pnl = sign * (exit_ - entry) - Decimal(fee) - Decimal("0.02") + funding
            stub.add("settlePnl", settle_record(ts + 2, f"{pnl:.6f}", market=market))
    # a position left open
    fid += 1
    stub.add(
        "trades", fill_record(fid, ts + 100, side="long", base="2.000000000", quote="200.000000", fee="0.07")
    )
    return stub


def run(engine: Engine, stub: DataApiStub, request: ImportRequest = REQUEST) -> ImportSummary:
    async def go() -> ImportSummary:
        async with DriftDataClient(ACCOUNT, stub.url, timeout=0.3) as client:
            return await import_history(
                client, lambda: SqlUnitOfWork(engine), FixedClock(NOW), request, retry=FAST
            )

    return asyncio.run(go())


def raw(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, timestamps included."""
    with engine.connect() as conn:
        return {
            t.name: sorted(map(tuple, conn.execute(select(t))), key=repr)
            for t in tables.metadata.sorted_tables
        }


def wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(tables.metadata.sorted_tables):
            conn.execute(table.delete())


def live(engine: Engine) -> list[Any]:
    with SqlUnitOfWork(engine) as uow:
        return uow.trades.live_trades("alice")


def test_import_rebuilds_exact_trades_and_a_second_import_changes_nothing(engine: Engine) -> None:
    with serve(history()) as stub:
        first = run(engine, stub)
        assert first.pages == {"trades": 2, "fundingPayments": 1, "settlePnl": 1}  # 37 fills: 20 a page
        assert (first.new_fills, first.new_funding, first.new_settlements) == (37, 12, 12)
        assert first.trades_open == 1 and first.issues == []
        assert any("page=p20" in r for r in stub.requests)
        trades = live(engine)
        closed = [t for t in trades if t.status is TradeStatus.CLOSED]
        assert len(closed) == 12 and sum(1 for t in trades if t.status is TradeStatus.OPEN) == 1
        # each market's first settlement starts the check; the other 5 match the rebuilt PnL exactly
        assert (first.settle.matched, first.settle.mismatched, first.settle.not_comparable) == (10, 0, 2)
        # SOL round 0: long 1 @ 100 as maker (rebate 0.0005), closed 0.5 + 0.5 @ 99: −1 − 0.0195 − 0.001
        sol0 = min((t for t in closed if t.market_index == 0), key=lambda t: t.opened_at)
        assert sol0.outcome is not None and sol0.side is Side.LONG
        assert sol0.outcome.pnl_usd == Decimal("-1.0205") and sol0.outcome.outcome is OutcomeClass.LOSS
        assert sol0.outcome.exit_reason is ExitReason.MANUAL and sol0.outcome.actual_rr is None
        assert [f.role for f in sol0.fills] == ["maker", "taker", "taker"]
        # insights: the history counts in the track record, never as AI forecasts
        insights = get_insights(SqlUnitOfWork(engine), sol0.account.user_id)
        assert insights["totalDriftTrades"] == 12 and insights["openTrades"] == 1
        assert insights["totalPnLExact"] == format(
            sum((t.outcome.pnl_usd for t in closed), Decimal(0)).normalize(), "f"
        )  # type: ignore[union-attr]
        assert insights["aiAccuracy"]["trades"] == 0 and insights["aiAccuracy"]["brier"] is None
        assert insights["calibration"]["bins"] == [] and insights["bestPerformingTimeframe"] is None
        assert insights["breakdowns"]["byTimeframe"] == {} and insights["breakdowns"]["byLeverage"] == {}
        assert sum(b["count"] for b in insights["breakdowns"]["bySymbol"].values()) == 12
        before = raw(engine)
        second = run(engine, stub)
        assert second.new_events == 0 and second.trades_saved == 0
        assert second.pages == {"trades": 1, "fundingPayments": 1, "settlePnl": 1}  # stops at the cursor
        assert raw(engine) == before


def test_the_settle_check_reports_a_settlement_that_disagrees(engine: Engine) -> None:
    stub = DataApiStub()
    stub.add("settlePnl", settle_record(T0, "0"), settle_record(T0 + 100, "5.000000"))
    stub.add("trades", fill_record(1, T0 + 10, side="long", base="1", quote="100.000000", fee="0"))
    stub.add(
        "trades",
        fill_record(2, T0 + 20, side="short", base="1", quote="104.000000", fee="0", reduced_entry="1"),
    )
    with serve(stub):
        summary = run(engine, stub)
    assert (summary.settle.matched, summary.settle.mismatched) == (0, 1)
    assert [i.kind for i in summary.issues] == ["settle-pnl-mismatch"]
    assert "settled 5.000000, imported trades realized 4" in summary.issues[0].detail


def test_an_interrupted_import_resumed_later_equals_one_run(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(history()) as stub:
        run(engine, stub)
        whole = snapshot(engine)
        for crash_after in (1, 3, 6):
            wipe(engine)
            commits = {"n": 0}
            original = SqlUnitOfWork.commit

            def crashing(self: SqlUnitOfWork, original: Any = original, commits: dict[str, int] = commits,
                         limit: int = crash_after) -> None:  # fmt: skip
                if commits["n"] == limit:
                    raise RuntimeError("killed")
                commits["n"] += 1
                original(self)

            monkeypatch.setattr(SqlUnitOfWork, "commit", crashing)
            with pytest.raises(RuntimeError, match="killed"):
                run(engine, stub)
            monkeypatch.setattr(SqlUnitOfWork, "commit", original)
            partial = [t for t in live(engine)]
            assert 0 < len(partial) < 13
            resumed = run(engine, stub)
            assert resumed.resumed_from is not None
            assert snapshot_diff(snapshot(engine), whole) == [], crash_after


def test_an_import_continues_where_the_last_one_ended_as_history_grows(engine: Engine) -> None:
    full = history()
    with serve(full) as stub:
        run(engine, stub)
        whole = snapshot(engine)
    wipe(engine)
    older = DataApiStub()
    cut = T0 + 800  # SOL rounds 0-2 and part of round 3 (an open position) first
    for key, records in full.records.items():
        older.records[key] = [r for r in records if r["ts"] < cut]
    with serve(older) as stub:
        early = run(engine, stub)
        assert early.trades_open == 1
    with serve(full) as stub:
        later = run(engine, stub)
    assert later.new_fills == 37 - early.new_fills and later.resumed_from is not None
    assert snapshot_diff(snapshot(engine), whole) == []


def test_temporary_faults_are_retried_with_backoff(engine: Engine) -> None:
    stub = history()
    stub.faults = [Fault(500), Fault(429, stream="fundingPayments"), Fault(delay=1.0, stream="settlePnl"),
                   Fault(503, stream="trades")]  # fmt: skip
    with serve(stub):
        summary = run(engine, stub)
    assert summary.new_fills == 37 and stub.faults == []
    assert len(stub.requests) == 4 + 4  # 4 pages, 4 faults answered first


def test_a_lasting_fault_stops_the_import_with_nothing_written(engine: Engine) -> None:
    stub = history()
    stub.faults = [Fault(502, stream="settlePnl") for _ in range(FAST.attempts)]
    with serve(stub), pytest.raises(TemporaryError, match="502"):
        run(engine, stub)
    assert live(engine) == []
    stub.faults = [Fault(404)]
    with serve(stub), pytest.raises(ConfigError, match="404"):
        run(engine, stub)


def test_a_bad_record_stops_the_import_naming_it_and_changes_nothing(engine: Engine) -> None:
    stub = history()
    with serve(stub):
        run(engine, stub)
        before = raw(engine)
        # a new fill whose size is empty, on the second page of a longer history
        stub.add("trades", fill_record(999, T0 + 5000, side="long", base="", quote="100.000000"))
        with pytest.raises(InputError) as caught:
            run(engine, stub)
    assert caught.value.field == "baseAssetAmountFilled" and "/trades" in str(caught.value)
    assert "record 0" in str(caught.value)
    assert raw(engine) == before


def test_since_leaves_out_older_records(engine: Engine) -> None:
    stub = history()
    since = datetime.fromtimestamp(T0 + 1500, UTC)
    with serve(stub):
        summary = run(engine, stub, ImportRequest("alice", ACCOUNT, since=since, batch_size=50))
    assert summary.new_fills < 37
    assert all(t.opened_at is not None and t.opened_at >= since for t in live(engine))


def test_fills_a_live_trade_holds_are_not_imported_again(engine: Engine) -> None:
    opened = datetime.fromtimestamp(T0 + 60, UTC)
    analysis = Analysis(
        id="ai-1", timestamp=opened, symbol="SOL-PERP", timeframe=Timeframe.H1, prediction=Prediction.BULLISH,
        confidence=Decimal(70), recommendation=Recommendation.BUY, stop_loss=Decimal(95),
        take_profit=Decimal(110), size_usd=Decimal(100), analyst="gpt",
    )  # fmt: skip
    entry = Fill("drift:0:101:maker", opened, OrderSide.BUY, Decimal(100), Decimal(1), Decimal("-0.0005"),
                 OrderLeg.ENTRY, role="maker", market_index=0)  # fmt: skip
    live_trade = Trade(
        id="live-1", account=REQUEST.account, analysis=analysis, run_id="", status=TradeStatus.OPEN,
        market_index=0, side=Side.LONG, size=Decimal(1), entry_price=Decimal(100), opened_at=opened,
        fills=[entry],
    )  # fmt: skip
    with SqlUnitOfWork(engine) as uow:
        uow.trades.save(live_trade, NOW)
        uow.commit()
    with serve(history()) as stub:
        summary = run(engine, stub)
    kinds = [i.kind for i in summary.issues]
    assert kinds.count("fill-of-live-trade") == 1 and kinds.count("live-trade-open") == 1
    assert kinds.count("opened-before-history") == 2  # its closing fills: the position is the live trade's
    trades = live(engine)
    assert sum(1 for t in trades if t.status is TradeStatus.CLOSED) == 11
    with engine.connect() as conn:
        owners = conn.execute(select(tables.fills.c.trade_id).where(tables.fills.c.fill_id == entry.fill_id))
        assert owners.scalars().all() == ["live-1"]
