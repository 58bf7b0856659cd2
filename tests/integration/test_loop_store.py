"""The store of the live loop: growing trades, live-trade queries, cursors, events, accounts."""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from driftloop.adapters.db import tables
from driftloop.adapters.db.engine import downgrade, migrate
from driftloop.adapters.db.types import stored_decimal
from driftloop.adapters.db.uow import SqlUnitOfWork
from driftloop.domain import model as m
from driftloop.domain.events import EventKind, LoopEvent
from driftloop.domain.model import Fill, FundingPayment, OrderLeg, TradeStatus
from driftloop.domain.outcome import compute_outcome
from driftloop.domain.trade import AccountRef, OrderRecord, Trade
from driftloop.services.ports import MonitoringState

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
AT = datetime(2024, 3, 5, 9, 30, tzinfo=UTC)
ACCOUNT, OTHER_SUB = AccountRef("user-1", "paper", 0), AccountRef("user-1", "paper", 1)
SIZE, ENTRY, EXIT = Decimal("6.5"), Decimal("150.123456789012345678"), Decimal("160.5")
OPEN, CLOSED = TradeStatus.OPEN, TradeStatus.CLOSED


def open_trade(aid: str = "a-1", account: AccountRef = ACCOUNT, run_id: str = "", minutes: int = 0) -> Trade:
    """A live long trade whose entry has filled (one ENTRY fill, SL/TP orders resting); its analysis
    is `minutes` after T0 and its prices grow with `minutes`, so every trade has its own values."""
    ts, price = T0 + timedelta(minutes=minutes), ENTRY + Decimal(minutes) / 1000
    stop, target = price - 10, price + (EXIT - ENTRY)
    analysis = m.Analysis(
        aid, ts, "SOL-PERP", m.Timeframe.H1, m.Prediction.BULLISH, Decimal("72.5"), m.Recommendation.BUY,
        stop, target, Decimal(1000), leverage=Decimal(3), raw={"k": Decimal(1)},
    )  # fmt: skip
    tid = f"tr-{account.user_id}-{account.sub_account}-{run_id}-{aid}"
    trade = Trade(tid, account, analysis, run_id, OPEN, 0, m.Side.LONG, None, SIZE, price, ts)
    trade.fills = [Fill(f"{tid}:E", ts, m.OrderSide.BUY, price, SIZE, Decimal("0.97"), OrderLeg.ENTRY)]
    trade.orders = [
        OrderRecord(OrderLeg.ENTRY, "1", 1, None, "sig", "FILLED"),
        OrderRecord(OrderLeg.STOP_LOSS, "2", 2, stop, "sig"),
        OrderRecord(OrderLeg.TAKE_PROFIT, "3", 3, target, "sig"),
    ]
    trade.learning_data = {"decision": "TAKE"}
    return trade


def with_funding(trade: Trade) -> Trade:
    """The trade after a funding settlement."""
    payment = FundingPayment(T0 + timedelta(hours=1), Decimal("0.0000125"), Decimal("-0.0127"), "F1")
    return dataclasses.replace(trade, funding=[*trade.funding, payment])


def closed(trade: Trade) -> Trade:
    """The trade after its take-profit filled: exit fill, a second funding payment, the outcome."""
    at = T0 + timedelta(hours=3)
    exit_fill = Fill(
        f"{trade.id}:X", at, m.OrderSide.SELL, EXIT, SIZE, Decimal("1.04"), OrderLeg.TAKE_PROFIT,
        cause=m.ExitReason.TAKE_PROFIT, reference_price=EXIT,
    )  # fmt: skip
    funding = [*with_funding(trade).funding, FundingPayment(at, Decimal("0.00002"), Decimal("0.02"))]
    fills = [*trade.fills, exit_fill]
    orders = [*trade.orders[:2], dataclasses.replace(trade.orders[2], status="FILLED")]
    outcome = compute_outcome(trade.analysis, fills, funding, closed_at=at, lowest=ENTRY, highest=EXIT)
    closing = {"fills": fills, "funding": funding, "orders": orders, "outcome": outcome}
    return dataclasses.replace(trade, status=CLOSED, **closing)


def as_stored(value: Any) -> Any:
    """`value` with every Decimal as the store keeps it (18 places); dicts are stored exactly."""
    if isinstance(value, Decimal):
        return stored_decimal(value)
    if isinstance(value, list):
        return [as_stored(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [f.name for f in dataclasses.fields(value) if not isinstance(getattr(value, f.name), dict)]
        return dataclasses.replace(value, **{name: as_stored(getattr(value, name)) for name in fields})
    return value


def save(engine: Engine, *trades: Trade, at: datetime = AT) -> None:
    with SqlUnitOfWork(engine) as uow:
        uow.trades.save_many(trades, at)
        uow.commit()


def get(engine: Engine, trade_id: str) -> Trade | None:
    with SqlUnitOfWork(engine) as uow:
        return uow.trades.get(trade_id)


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def learning_status(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(tables.ai_learning_data.c.status)).scalar_one())


def test_an_open_trade_grows_then_closes(engine: Engine) -> None:
    first = open_trade()
    save(engine, first)
    assert get(engine, first.id) == as_stored(first)
    assert learning_status(engine) == "PENDING"
    funded = with_funding(first)
    save(engine, funded, at=AT + timedelta(hours=1))
    assert get(engine, first.id) == as_stored(funded)
    done = closed(first)
    save(engine, done, at=AT + timedelta(hours=3))
    got = get(engine, first.id)
    assert got == as_stored(done)
    assert got is not None and got.status is CLOSED and got.outcome is not None
    assert learning_status(engine) == "COMPLETE"
    assert (count(engine, tables.fills), count(engine, tables.funding_payments)) == (2, 2)
    with engine.connect() as conn:
        row = conn.execute(select(tables.trades.c.recorded_at, tables.trades.c.updated_at)).one()
    assert tuple(row) == (AT, AT + timedelta(hours=3))


def test_an_older_copy_never_deletes_fills_nor_reopens(engine: Engine) -> None:
    first = open_trade()
    funded = with_funding(first)
    save(engine, funded)
    save(engine, first)  # fewer funding payments
    assert get(engine, first.id) == as_stored(funded)
    done = closed(first)
    save(engine, done)
    save(engine, funded, at=AT + timedelta(days=1))  # a stale copy: fewer fills, still OPEN
    assert get(engine, first.id) == as_stored(done)
    assert learning_status(engine) == "COMPLETE"
    assert (count(engine, tables.fills), count(engine, tables.funding_payments)) == (2, 2)
    late_fill = dataclasses.replace(funded.fills[0], fill_id="late")
    save(engine, dataclasses.replace(funded, fills=[*funded.fills, late_fill]))
    assert count(engine, tables.fills) == 3  # a stale copy still adds the fills the store lacks
    got = get(engine, first.id)
    assert got is not None and got.status is CLOSED and got.outcome == as_stored(done.outcome)


def test_live_trade_queries(engine: Engine) -> None:
    a1, a4 = open_trade("a-1", minutes=1), open_trade("a-4", OTHER_SUB, minutes=0)
    a2, a3 = closed(open_trade("a-2", minutes=2)), open_trade("a-3", minutes=3)
    a3 = dataclasses.replace(a3, status=TradeStatus.SKIPPED, fills=[], orders=[], reason="no")
    replayed, other = open_trade("a-1", run_id="run-1"), open_trade("a-1", AccountRef("user-2"))
    save(engine, a1, a2, a3, a4, replayed, other)
    with SqlUnitOfWork(engine) as uow:
        repo = uow.trades
        assert repo.open_trades("user-1") == as_stored([a4, a1])  # oldest analysis first
        assert repo.live_trades("user-1") == as_stored([a4, a1, a2, a3])
        assert repo.live_trades("user-1", CLOSED) == as_stored([a2])
        assert repo.open_trades("user-2") == as_stored([other])
        assert repo.open_trades("nobody") == repo.live_trades("nobody") == []
        assert repo.find_live("user-1", "a-1") == as_stored(a1)
        assert repo.find_live("user-2", "a-1") == as_stored(other)
        assert repo.find_live("user-1", "a-9") is None
        assert repo.list_for_run("run-1") == as_stored([replayed])


def test_what_placing_checks_first(engine: Engine) -> None:
    held = open_trade("a-1")
    gone = closed(open_trade("a-2", OTHER_SUB))
    save(engine, held, gone, open_trade("a-3", run_id="run-1"))
    with SqlUnitOfWork(engine) as uow:
        repo = uow.trades
        assert repo.placement_state("user-1", "a-1", ACCOUNT, 0) == (True, held.id)
        assert repo.placement_state("user-1", "a-9", ACCOUNT, 0) == (False, held.id)  # market 0 is held
        assert repo.placement_state("user-1", "a-9", ACCOUNT, 1) == (False, None)
        assert repo.placement_state("user-1", "a-2", OTHER_SUB, 0) == (True, None)  # closed: not held
        assert repo.placement_state("user-1", "a-3", ACCOUNT, 5) == (False, None)  # a replay's analysis
        assert repo.placement_state("user-2", "a-1", AccountRef("user-2"), 0) == (False, None)
        assert repo.find_live_many([("user-1", "a-1"), ("user-1", "a-2"), ("user-1", "a-3")]) == {
            ("user-1", "a-1"): as_stored(held),
            ("user-1", "a-2"): as_stored(gone),
        }
        assert repo.find_live_many([]) == {}
        # which venue orders are ours (the orders of `held` are "1", "2", "3"; of `gone` the same ids)
        owners = repo.order_owners({ACCOUNT: ["2", "9"], OTHER_SUB: ["1"], AccountRef("user-3"): []})
        assert owners == {ACCOUNT: {"2": OPEN}, OTHER_SUB: {"1": CLOSED}, AccountRef("user-3"): {}}


def test_keeping_users_monitored(engine: Engine) -> None:
    new_sub = AccountRef("user-1", "paper", 2)
    with SqlUnitOfWork(engine) as uow:
        uow.accounts.set_monitoring("user-1", False, 5.0, AT)  # stopped by the user, interval kept
        uow.accounts.ensure(new_sub, AT)
        uow.accounts.ensure(AccountRef("user-2"), AT)  # never monitored
        uow.accounts.keep_monitored(["user-1", "user-2", "user-2"], 30.0)
        uow.accounts.keep_monitored([], 30.0)
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        states = [MonitoringState("user-1", True, 5.0), MonitoringState("user-2", True, 30.0)]
        assert uow.accounts.monitoring() == states
        active = select(func.count()).where(tables.accounts.c.monitoring_active.is_(True))
        assert uow.connection.execute(active.select_from(tables.accounts)).scalar_one() == 3


def test_cursor_commits_and_rolls_back_with_the_data(engine: Engine) -> None:
    trade = open_trade()
    with SqlUnitOfWork(engine) as uow:
        uow.trades.save(trade, AT)
        uow.cursors.set(ACCOUNT, "fills", "c-1", AT)
        assert uow.cursors.get(ACCOUNT, "fills") == "c-1"
        uow.rollback()
        assert uow.cursors.get(ACCOUNT, "fills") is None
        assert uow.trades.get(trade.id) is None
    with pytest.raises(RuntimeError), SqlUnitOfWork(engine) as uow:  # noqa: PT012
        uow.trades.save(trade, AT)
        uow.cursors.set(ACCOUNT, "fills", "c-1", AT)
        raise RuntimeError("crash before commit")
    assert count(engine, tables.trades) == count(engine, tables.ingest_cursors) == 0
    with SqlUnitOfWork(engine) as uow:
        uow.trades.save(trade, AT)
        uow.cursors.set(ACCOUNT, "fills", "c-1", AT)
        uow.commit()
        uow.cursors.set(ACCOUNT, "fills", "c-2", AT + timedelta(1))
        uow.cursors.set(AccountRef("new-user"), "fills", "n-1", AT)  # creates the account
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        assert uow.cursors.get(ACCOUNT, "fills") == "c-2"
        assert uow.cursors.get(ACCOUNT, "funding") is None
        assert uow.cursors.get(AccountRef("new-user"), "fills") == "n-1"
        assert uow.trades.get(trade.id) == as_stored(trade)
        assert uow.accounts.user_exists("new-user")


def test_events_are_recorded_once(engine: Engine) -> None:
    detail = {"size": Decimal("6.500000000000000001"), "seen": [1, "x"], "at": T0}
    vanished = LoopEvent(EventKind.POSITION_VANISHED, ACCOUNT, "tr-1", AT, "tr-1", T0, detail)
    unknown = LoopEvent(EventKind.UNKNOWN_POSITION, ACCOUNT, "tr-1", AT + timedelta(1))
    elsewhere = dataclasses.replace(vanished, account=OTHER_SUB, recorded_at=AT + timedelta(hours=1))
    with SqlUnitOfWork(engine) as uow:
        assert uow.events.record(vanished) is True
        assert uow.events.record(dataclasses.replace(vanished, detail={"other": 1})) is False
        assert uow.events.record(unknown) is True  # same key, another kind
        assert uow.events.record(elsewhere) is True  # same key, another account
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        assert uow.events.record(vanished) is False
        assert uow.events.for_user("user-1") == [vanished, elsewhere, unknown]
        assert uow.events.for_user("user-1", EventKind.UNKNOWN_POSITION) == [unknown]
        assert uow.events.for_user("user-2") == []
        with pytest.raises(ValueError, match="key"):
            uow.events.record(dataclasses.replace(vanished, key="k" * 501))
    assert count(engine, tables.loop_events) == 3


def test_a_batch_of_events_is_recorded_once_each(engine: Engine) -> None:
    first = LoopEvent(EventKind.OUTCOME_CAPTURED, ACCOUNT, "tr-1", AT, "tr-1", T0)
    second = LoopEvent(EventKind.OUTCOME_CAPTURED, OTHER_SUB, "tr-2", AT, "tr-2", T0)
    fresh = LoopEvent(EventKind.OUTCOME_CAPTURED, AccountRef("user-3"), "tr-3", AT)  # a new account
    with SqlUnitOfWork(engine) as uow:
        assert uow.events.record(first)
        assert uow.events.record_many([]) == []
        # stored already, new, the same one again in the batch, new on an account created by the batch
        assert uow.events.record_many([first, second, second, fresh]) == [False, True, False, True]
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        assert uow.events.record_many([second, fresh]) == [False, False]
        assert uow.events.for_user("user-1") == [first, second]
        kinds = [EventKind.OUTCOME_CAPTURED.value]
        assert uow.events.for_users(["user-3", "user-1", "user-3"], kinds) == [first, second, fresh]
        assert uow.events.for_users(["user-1"], [EventKind.FILL_MATCHED.value]) == []
        assert uow.accounts.user_exists("user-3")
        with pytest.raises(ValueError, match="key"):
            uow.events.record_many([first, dataclasses.replace(second, key="k" * 501)])
    assert count(engine, tables.loop_events) == 3


def test_cursors_of_many_accounts_are_set_at_once(engine: Engine) -> None:
    new = AccountRef("user-2", "paper", 3)
    with SqlUnitOfWork(engine) as uow:
        uow.cursors.set(ACCOUNT, "fills", "c-1", AT)
        uow.cursors.set_many({ACCOUNT: "c-2", OTHER_SUB: "o-1", new: "n-1"}, "fills", AT + timedelta(1))
        uow.cursors.set_many({}, "fills", AT)
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        got = uow.cursors.of_users(["user-1", "user-2"], "fills")
        assert got == {"user-1": {ACCOUNT: "c-2", OTHER_SUB: "o-1"}, "user-2": {new: "n-1"}}
        assert uow.cursors.get(ACCOUNT, "funding") is None


def test_open_trades_of_loads_only_the_markets_asked_for(engine: Engine) -> None:
    def in_market(aid: str, account: AccountRef, market: int) -> Trade:
        return dataclasses.replace(open_trade(aid, account, minutes=int(aid[2:])), market_index=market)

    a0, a1, b0, b2 = (
        in_market("a-1", ACCOUNT, 0),
        in_market("a-2", ACCOUNT, 1),
        in_market("a-3", OTHER_SUB, 0),
        in_market("a-4", OTHER_SUB, 2),
    )
    early = in_market("a-0", ACCOUNT, 1)
    save(engine, a0, a1, b0, b2, early, closed(in_market("a-5", ACCOUNT, 1)))
    with SqlUnitOfWork(engine) as uow:
        repo = uow.trades
        # ACCOUNT in market 1 only (not its market-0 trade, though OTHER_SUB asks for market 0)
        got = repo.open_trades_of({ACCOUNT: {1}, OTHER_SUB: {0, 7}})
        assert sorted(t.id for t in got) == sorted(t.id for t in (early, a1, b0))
        assert [t.id for t in got if t.account == ACCOUNT] == [early.id, a1.id]  # oldest analysis first
        assert {t.id for t in repo.open_trades_of({OTHER_SUB: None, ACCOUNT: set()})} == {b0.id, b2.id}
        assert repo.open_trades_of({}) == []


def test_accounts_and_monitoring_state(engine: Engine) -> None:
    with SqlUnitOfWork(engine) as uow:
        accounts = uow.accounts
        assert not accounts.user_exists("user-1")
        accounts.ensure(OTHER_SUB, AT)
        accounts.ensure(OTHER_SUB, AT)  # get-or-create
        accounts.ensure(ACCOUNT, AT)
        assert accounts.user_exists("user-1") and not accounts.user_exists("user-2")
        assert accounts.accounts_of("user-1") == [ACCOUNT, OTHER_SUB]
        assert accounts.monitoring() == []  # never set
        accounts.set_monitoring("user-1", True, 0.25, AT)
        accounts.set_monitoring("user-2", False, 30, AT)  # a new user gets the default account
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        assert uow.accounts.accounts_of("user-2") == [AccountRef("user-2")]
        states = [MonitoringState("user-1", True, 0.25), MonitoringState("user-2", False, 30.0)]
        assert uow.accounts.monitoring() == states
        uow.accounts.ensure(AccountRef("user-1", "drift", 0), AT)  # no state of its own yet
        uow.accounts.set_monitoring("user-2", True, 5.5, AT)
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        states[1] = MonitoringState("user-2", True, 5.5)
        assert uow.accounts.monitoring() == states
    assert count(engine, tables.accounts) == 4


def test_concurrent_units(engine: Engine, db_backend: str) -> None:
    """`ensure` waits for a concurrent creation and then does nothing; user locks exclude each other."""

    def ensure_too() -> None:
        with SqlUnitOfWork(engine) as uow:
            uow.accounts.ensure(ACCOUNT, AT)
            uow.commit()

    with ThreadPoolExecutor(1) as pool, SqlUnitOfWork(engine) as first, SqlUnitOfWork(engine) as second:
        first.accounts.ensure(ACCOUNT, AT)
        waiting = pool.submit(ensure_too)
        time.sleep(0.2)  # it now waits on our uncommitted row (SQLite: on the write lock)
        assert first.try_lock_user("user-1")
        assert second.try_lock_user("user-1") is (db_backend == "sqlite")
        assert second.try_lock_user("user-2")
        held = ["user-1", "user-2", "user-3"] if db_backend == "sqlite" else ["user-2", "user-3"]
        assert second.try_lock_users(["user-1", "user-2", "user-3", "user-3"]) == held
        assert second.try_lock_users([]) == []
        first.commit()  # ends the lock and lets the other unit finish
        waiting.result(timeout=10)  # no error
        assert second.try_lock_user("user-1")
    assert count(engine, tables.accounts) == 1


def test_ten_thousand_open_trades_load_in_four_queries(
    engine: Engine, db_backend: str, statements: list[str]
) -> None:
    trades = [open_trade(f"a-{i:05d}", minutes=i) for i in range(10_000)]  # distinct prices, times
    trades += [closed(open_trade(f"c-{i:05d}")) for i in range(100)]
    save(engine, *trades)
    with SqlUnitOfWork(engine) as uow:
        statements.clear()
        started = time.perf_counter()
        loaded = uow.trades.open_trades("user-1")
        elapsed = time.perf_counter() - started
        assert len(statements) == 4  # trades (joined), fills, funding, orders
    print(f"open_trades: {len(loaded)} trades in {elapsed:.3f} s")
    assert [t.id for t in loaded] == [t.id for t in trades[:10_000]]
    assert loaded[-1] == as_stored(trades[9_999])


def test_migration_0002_round_trip_keeps_data(engine: Engine, db_backend: str) -> None:
    save(engine, closed(open_trade()))
    with SqlUnitOfWork(engine) as uow:
        uow.accounts.set_monitoring("user-1", True, 2.25, AT)
        uow.events.record(LoopEvent(EventKind.FILL_UNMATCHED, ACCOUNT, "f-1", AT))
        uow.commit()
    downgrade(engine, revision="0001")
    with engine.connect() as conn:
        interval = conn.execute(select(tables.accounts.c.monitoring_interval_s)).scalar_one()
    assert interval == (2.25 if db_backend == "sqlite" else 2)  # whole seconds again on PostgreSQL
    migrate(engine)
    with SqlUnitOfWork(engine) as uow:
        assert uow.events.for_user("user-1") == []
        assert len(uow.trades.live_trades("user-1", CLOSED)) == 1
        uow.accounts.set_monitoring("user-1", True, 0.1, AT)
        assert uow.accounts.monitoring() == [MonitoringState("user-1", True, 0.1)]
