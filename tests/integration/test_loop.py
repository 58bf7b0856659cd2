"""The live loop end to end on the paper venue (SQLite and PostgreSQL): trade, monitor, capture.

A scripted session (tests/loop_harness.py) closes trades by stop-loss, take-profit, time limit,
liquidation and by hand; every closed trade must have exactly one outcome with the right exit
reason and exact PnL, one complete learning record, one OutcomeCaptured event, and no trigger
order left on the venue.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from driftloop.adapters.db import tables
from driftloop.adapters.db.types import stored_decimal
from driftloop.adapters.venues.faulty import Fault, FaultyVenue
from driftloop.domain.errors import NotFoundError, RejectedError
from driftloop.domain.model import TradeStatus
from driftloop.domain.trade import AccountRef
from driftloop.services.ports import VenuePosition
from driftloop.services.retry import RetryPolicy
from driftloop.services.trading import live_trade_id
from loop_harness import (
    BACKENDS,
    BAR,
    BUY,
    HOLD,
    SELL,
    T0,
    W1,
    ExtraPosition,
    HideExitFills,
    LoopHarness,
    Order,
    RejectingVenue,
    RestingTriggers,
    accounts_of_snapshot,
    analysis,
    closed_trades,
    events_of,
    expected,
    fresh_database,
    reference_snapshot,
    run_session,
    snapshot,
    snapshot_diff,
    wave1,
)

D = Decimal
FAILURES = (Fault.ERROR, Fault.TIMEOUT)
COPIES = 2  # twelve users


def s(value: str | Decimal) -> Decimal:
    """A value as the store gives it back."""
    return stored_decimal(D(value))


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# --- the scripted session (run once per backend, read by several tests) ----------------------------


@dataclass
class SessionRun:
    snap: dict[str, Any]
    paper_orders: list[Any]
    paper_positions: list[Any]
    resting_orders: list[Any]  # what a venue that keeps reduce-only triggers still holds


@pytest.fixture(scope="module", params=BACKENDS)
def session_run(request: pytest.FixtureRequest) -> SessionRun:
    """The scripted session with twelve users, on a venue that (like Drift) keeps a trade's
    reduce-only triggers after its position closes, so the monitor must cancel the orphans."""
    with fresh_database(request.param) as engine:

        async def go() -> SessionRun:
            h = LoopHarness(engine, wrap=RestingTriggers)
            await run_session(h, copies=COPIES)
            snap = snapshot(engine)
            run = SessionRun(snap, [], [], [])
            for account in accounts_of_snapshot(snap):
                run.paper_orders += await h.paper.open_orders(account)
                run.paper_positions += await h.paper.positions(account)
                run.resting_orders += await h.venue.open_orders(account)
            return run

        return asyncio.run(go())


def test_session_captures_every_outcome_exactly_once(session_run: SessionRun) -> None:
    snap = session_run.snap
    want = expected(COPIES)
    got = {tid: (row["status"], row["exit_reason"]) for tid, row in snap["trades"].items()}
    assert got == want
    assert set(Counter(r for _, r in want.values() if r)) == {
        "TAKE_PROFIT", "STOP_LOSS", "LIQUIDATION", "TIME_LIMIT", "MANUAL",
    }  # fmt: skip

    captured = Counter(row["trade_id"] for row in events_of(snap, "OutcomeCaptured").values())
    for tid, row in closed_trades(snap).items():
        learning = snap["learning"][tid]
        assert learning["status"] == "COMPLETE", tid
        assert learning["outcome"] == row["outcome"]
        assert learning["actual_price"] == row["exit_price"]
        for field in ("direction_correct", "price_accuracy", "accuracy_score", "brier"):
            assert learning[field] is not None, (tid, field)
        assert captured[tid] == 1, tid
        assert len(row["fill_ids"]) == 2  # the entry and the one exit
        assert all(row[f] is not None for f in ("pnl_usd", "pnl_percent", "roe_percent", "mae", "mfe"))
        assert {o["status"] for o in row["orders"].values()} <= {"FILLED", "CANCELED"}
    assert sum(captured.values()) == len(closed_trades(snap))
    for tid, row in snap["trades"].items():
        if row["status"] == "SKIPPED":
            assert row["reason"], tid
            assert tid not in snap["learning"]  # nothing to learn from a trade that never was
            assert not row["orders"] and not row["fill_ids"]
    assert not events_of(snap, "UnknownPositionSeen") and not events_of(snap, "PositionVanished")


def test_no_orphaned_trigger_order_remains(session_run: SessionRun) -> None:
    assert session_run.resting_orders == []  # the monitor cancelled every orphaned sibling
    assert session_run.paper_orders == [] and session_run.paper_positions == []


def test_the_session_matches_the_reference_run(session_run: SessionRun) -> None:
    """The same session on the plain paper venue (SQLite) stores the same rows: the cancels of the
    orphaned triggers change nothing in the database, and both backends store the same."""
    copies = expected(COPIES)
    assert len(copies) == 2 * len(expected(1))
    reference = reference_snapshot(COPIES)
    assert snapshot_diff(session_run.snap, reference) == []


def test_skip_reasons(session_run: SessionRun) -> None:
    """HOLD, a stop on the wrong side of the price, and netting on one market and sub-account."""
    trades = session_run.snap["trades"]
    reason = {row["analysis"][2]: row["reason"] for row in trades.values()}
    assert reason["c0-sls-hold"] == "HOLD recommendation: nothing to trade"
    assert "must lie on either side of the current price 100.5 for a long" in reason["c0-sls-wrong"]
    netting = reason["c0-time-2"]
    assert live_trade_id("c0-time", "c0-time-1") in netting
    assert "Drift nets positions per market and sub-account" in netting
    # the same user on another sub-account is not netted
    assert trades[live_trade_id("c0-time", "c0-time-sub1")]["status"] == "CLOSED"
    assert trades[live_trade_id("c0-time", "c0-time-sub1")]["account"] == ("c0-time", "paper", 1)


def test_exact_pnl_against_hand_numbers(session_run: SessionRun) -> None:
    snap = session_run.snap
    trades, learning = snap["trades"], snap["learning"]

    # Long 2x, 1000 USD at 100 (size 10), target 102.5 hit in bar 2 (opens at the funding time,
    # rate 0.0001 at price(t) = that bar's open 100.5): price PnL 25, fees 1 + 1.025,
    # funding -0.0001 * 10 * 100.5 = -0.1005.
    tp = trades[live_trade_id("c0-tp", "c0-tp-1")]
    assert {k: tp[k] for k in HAND_FIELDS} == {
        "side": "LONG", "size": s("10"), "entry_price": s("100"), "exit_price": s("102.5"),
        "entry_notional": s("1000"), "price_pnl": s("25"), "fees_usd": s("2.025"),
        "funding_usd": s("-0.1005"), "pnl_usd": s("22.8745"), "pnl_percent": s("2.28745"),
        "roe_percent": s("4.5749"), "actual_rr": s(D("22.8745") / 30), "outcome": "WIN",
        "exit_reason": "TAKE_PROFIT", "slippage_bps": s("0"), "mae": s("0.2"), "mfe": s("2.5"),
        "opened_at": T0 + BAR, "closed_at": T0 + 2 * BAR,
    }  # fmt: skip
    lt = learning[live_trade_id("c0-tp", "c0-tp-1")]
    assert (lt["direction_correct"], lt["price_accuracy"], lt["accuracy_score"], lt["brier"]) == (
        True, s("1"), s("1"), s("0.09"),
    )  # fmt: skip
    assert (lt["status"], lt["outcome"], lt["stated_probability"]) == ("COMPLETE", "WIN", s("0.7"))

    # Short 1x at 100, stop 102.8 hit in bar 2: price PnL -28, fees 1 + 1.028, funding +0.1005.
    sl_id = live_trade_id("c0-sls", "c0-sls-1")
    sl = trades[sl_id]
    assert {k: sl[k] for k in HAND_FIELDS} == {
        "side": "SHORT", "size": s("10"), "entry_price": s("100"), "exit_price": s("102.8"),
        "entry_notional": s("1000"), "price_pnl": s("-28"), "fees_usd": s("2.028"),
        "funding_usd": s("0.1005"), "pnl_usd": s("-29.9275"), "pnl_percent": s("-2.99275"),
        "roe_percent": s("-2.99275"), "actual_rr": s(D("-29.9275") / 28), "outcome": "LOSS",
        "exit_reason": "STOP_LOSS", "slippage_bps": s("0"), "mae": s("2.8"), "mfe": s("0.2"),
        "opened_at": T0 + BAR, "closed_at": T0 + 2 * BAR,
    }  # fmt: skip
    ls = learning[sl_id]
    assert (ls["direction_correct"], ls["price_accuracy"], ls["accuracy_score"], ls["brier"]) == (
        False, s("0"), s("0"), s("0.49"),
    )  # fmt: skip

    # Short 10x at 100: liquidated at 100 * (1 + 1/10) / (1 + 0.03) in bar 5 (no slippage, taker fee),
    # funding +0.1005 at bar 2 only (the -0.0002 at bar 6 comes after the exit).
    liq = D(100) * (1 + D(1) / 10) / (1 + D("0.03"))
    price_pnl = (D(1000) - liq * 10) * 1
    fees = D(1) + liq * 10 * D("0.001")
    pnl = price_pnl - fees + D("0.1005")
    lq = trades[live_trade_id("c0-liq", "c0-liq-1")]
    assert (lq["exit_reason"], lq["exit_price"], lq["fees_usd"], lq["funding_usd"]) == (
        "LIQUIDATION", s(liq), s(fees), s("0.1005"),
    )  # fmt: skip
    assert (lq["pnl_usd"], lq["pnl_percent"], lq["roe_percent"]) == (s(pnl), s(pnl / 10), s(pnl / 10 * 10))
    assert lq["exit_slippage_bps"] == s("0")

    # Long 1x held 30 minutes: closed at bar 7's open (106); funding at bars 2 and 6:
    # -0.0001 * 10 * 100.5 and +0.0002 * 10 * 107.
    tl = trades[live_trade_id("c0-time", "c0-time-1")]
    funding = D("-0.1005") + D("0.214")
    assert (tl["exit_reason"], tl["exit_price"], tl["funding_usd"], tl["closed_at"]) == (
        "TIME_LIMIT", s("106"), s(funding), T0 + 7 * BAR,
    )  # fmt: skip
    assert tl["pnl_usd"] == s(D(60) - D("1") - D("1.06") + funding)

    # Closed by hand after bar 3: MANUAL at bar 4's open (97.5).
    mn = trades[live_trade_id("c0-man", "c0-man-1")]
    assert (mn["exit_reason"], mn["exit_price"], mn["pnl_usd"]) == (
        "MANUAL", s("97.5"), s(D(-25) - D(1) - D("0.975") - D("0.1005")),
    )  # fmt: skip
    assert len(snap["funding"]) == 7 * COPIES  # tp, sls, sll, man, liq: one payment each; time: two


HAND_FIELDS = (
    "side", "size", "entry_price", "exit_price", "entry_notional", "price_pnl", "fees_usd", "funding_usd",
    "pnl_usd", "pnl_percent", "roe_percent", "actual_rr", "outcome", "exit_reason", "slippage_bps",
    "mae", "mfe", "opened_at", "closed_at",
)  # fmt: skip


# --- place_trade ------------------------------------------------------------------------------------


def test_place_trade_is_idempotent_on_the_analysis_id(engine: Engine) -> None:
    order = wave1(0)[0]

    async def go() -> None:
        h = LoopHarness(engine)
        await h.feed(0)
        first = await h.place(order)
        again = await h.place(order)
        assert first.id == again.id == order.trade_id and again.status is TradeStatus.OPEN
        assert again.drift_tx_id == first.drift_tx_id
        assert len(await h.paper.open_orders(order.account)) == 3  # one bracket on the venue
        await h.feed(1)
        await h.feed(2)
        await h.cycle()
        closed = await h.place(order)  # a retry after the close returns the closed trade
        assert closed.id == first.id and closed.status is TradeStatus.CLOSED
        assert await h.paper.open_orders(order.account) == []

    asyncio.run(go())
    assert count(engine, tables.trades) == 1
    assert count(engine, tables.analyses) == 1
    assert count(engine, tables.ai_learning_data) == 1


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda v, tid: RejectingVenue(v, {tid: "insufficient collateral"}), "insufficient collateral"),
        (
            lambda v, tid: RejectingVenue(v, {tid: ""}, RejectedError("order would breach margin")),
            "order would breach margin",
        ),
        (
            lambda v, tid: FaultyVenue(v, rate=1.0, seed=1, calls={"place_bracket"}, hang_seconds=0.2),
            "venue unavailable",
        ),
    ],
    ids=["refused", "rejected-error", "unavailable"],
)
def test_venue_rejection_is_a_failed_trade_with_its_reason(
    engine: Engine, make: Callable[[Any, str], Any], reason: str
) -> None:
    order = wave1(0)[0]
    retry = RetryPolicy(attempts=2, base_delay=0.001, max_delay=0.001, timeout=0.05)

    async def go() -> None:
        h = LoopHarness(engine, wrap=lambda p: make(p, order.trade_id), retry=retry)
        await h.feed(0)
        trade = await h.place(order)
        assert trade.status is TradeStatus.FAILED
        assert trade.reason is not None and reason in trade.reason
        again = await h.place(order)
        assert (again.id, again.status) == (trade.id, TradeStatus.FAILED)

    asyncio.run(go())
    snap = snapshot(engine)
    (row,) = snap["trades"].values()
    assert row["status"] == "FAILED" and reason in row["reason"]
    assert not row["orders"] and snap["learning"] == {}


# --- the monitor ------------------------------------------------------------------------------------


async def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> float:
    """Seconds until `condition()` holds (yielding to the event loop meanwhile); fails after `timeout`
    (a deadline far above any normal wait, so a loaded machine never fails a test by being slow)."""
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.005)
    return time.perf_counter() - start


def status_of(engine: Engine, trade_id: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(select(tables.trades.c.status).where(tables.trades.c.id == trade_id)).scalar()
        )


def test_pushed_fills_are_captured_without_waiting_for_the_poll(engine: Engine) -> None:
    order = wave1(0)[0]

    async def go() -> None:
        h = LoopHarness(engine)
        monitor = h.app.monitor
        await h.feed(0)
        status = await monitor.start_monitoring(order.user, interval=3600)
        assert (status.running, status.interval_seconds) == (True, 3600)
        await h.app.trading.place_trade(order.user, order.analysis)
        await wait_for(lambda: monitor.status(order.user)[0].cycles >= 1)
        await h.feed(1)  # the entry fills: pushed
        await wait_for(lambda: monitor.status(order.user)[0].fills_ingested == 1)
        await h.feed(2)  # the take-profit fills: pushed
        # the poll would take an hour: closing within wait_for's deadline means the push was used
        await wait_for(lambda: status_of(engine, order.trade_id) == "CLOSED")
        await wait_for(lambda: monitor.status(order.user)[0].outcomes_captured == 1)
        st = monitor.status(order.user)[0]
        assert st.as_json() == {
            "userId": order.user,
            "running": True,
            "intervalSeconds": st.interval_seconds,  # see test_a_trade_keeps_the_monitoring_interval
            "lastCheck": "2025-01-01T00:15:00Z",  # market time: bar 2 closes at 00:15
            "lastError": None,
            "openTrades": 0,
            "fillsIngested": 2,
            "outcomesCaptured": 1,
            "cycles": st.cycles,
        }
        assert st.cycles >= 3
        await monitor.stop_monitoring(order.user)
        assert monitor.status(order.user)[0].running is False
        await monitor.shutdown()

    asyncio.run(go())


def test_a_trade_keeps_the_monitoring_interval(engine: Engine) -> None:
    order = wave1(0)[0]

    async def go() -> None:
        h = LoopHarness(engine)
        await h.feed(0)
        await h.app.monitor.start_monitoring(order.user, interval=3600)
        await h.app.trading.place_trade(order.user, order.analysis)
        try:
            assert h.app.monitor.status(order.user)[0].interval_seconds == 3600
        finally:
            await h.app.monitor.shutdown()
        h.restart()
        await h.app.monitor.resume()
        try:
            assert h.app.monitor.status(order.user)[0].interval_seconds == 3600
        finally:
            await h.app.monitor.shutdown()

    asyncio.run(go())


def test_pushed_fills_of_a_new_sub_account_are_captured_at_once(engine: Engine) -> None:
    order = Order("p-sub", analysis("p-sub-1", BUY, "97", "102.5", at=W1), sub_account=1)

    async def go() -> None:
        h = LoopHarness(engine)
        await h.feed(0)
        await h.app.monitor.start_monitoring(order.user, interval=3600)  # sub-account 0 only
        await h.app.trading.place_trade(order.user, order.analysis, sub_account=1)
        await asyncio.sleep(0.05)
        await h.feed(1)
        await h.feed(2)
        try:
            await wait_for(lambda: status_of(engine, order.trade_id) == "CLOSED", timeout=0.5)
        finally:
            await h.app.monitor.shutdown()

    asyncio.run(go())


def test_status_reports_the_last_error_and_clears_it(engine: Engine) -> None:
    order = wave1(0)[0]
    retry = RetryPolicy(attempts=2, base_delay=0.001, max_delay=0.001, timeout=0.05)

    async def go() -> None:
        faulty: list[FaultyVenue] = []

        def wrap(paper: Any) -> FaultyVenue:
            faulty.append(FaultyVenue(paper, rate=0.0, seed=3, calls={"events_since"}, faults=FAILURES))
            return faulty[0]

        h = LoopHarness(engine, wrap=wrap, retry=retry)
        await h.feed(0)
        await h.place(order)
        faulty[0].rate = 1.0
        with pytest.raises(Exception) as failed:
            await h.app.monitor.check_trades(order.user)
        st = h.app.monitor.status(order.user)[0]
        assert st.last_error is not None and type(failed.value).__name__ in st.last_error
        assert (st.cycles, st.last_check) == (0, None)
        faulty[0].rate = 0.0
        await h.app.monitor.check_trades(order.user)
        st = h.app.monitor.status(order.user)[0]
        assert (st.last_error, st.cycles, st.last_check, st.open_trades) == (None, 1, T0 + BAR, 1)
        with pytest.raises(NotFoundError):
            h.app.monitor.status("nobody")
        with pytest.raises(NotFoundError):
            await h.app.monitor.check_trades("nobody")

    asyncio.run(go())


def test_monitoring_state_survives_a_restart(engine: Engine) -> None:
    async def go() -> None:
        h = LoopHarness(engine)
        await h.feed(0)
        await h.app.monitor.start_monitoring("m-watch", interval=0.5)
        await h.app.monitor.start_monitoring("m-stopped", interval=7)
        await h.app.monitor.stop_monitoring("m-stopped")
        order = wave1(0)[0]
        await h.app.trading.place_trade("m-trader", order.analysis)  # a trade starts monitoring
        await h.app.monitor.shutdown()  # the process ends

        h.restart()  # a new process: new Monitor, same database
        assert [s.running for s in h.app.monitor.status()] == [False, False, False]
        resumed = await h.app.monitor.resume()
        assert sorted(resumed) == ["m-trader", "m-watch"]
        by_user = {s.user_id: s for s in h.app.monitor.status()}
        assert by_user["m-watch"].running and by_user["m-watch"].interval_seconds == 0.5
        assert by_user["m-trader"].running and by_user["m-trader"].interval_seconds == 30.0
        assert not by_user["m-stopped"].running and by_user["m-stopped"].interval_seconds == 7
        assert by_user["m-trader"].open_trades == 1
        await h.app.monitor.shutdown()

    asyncio.run(go())


# --- reconciliation -----------------------------------------------------------------------------------


def test_a_position_that_vanishes_without_a_fill_is_closed_as_manual(engine: Engine) -> None:
    order = Order("v-1", analysis("v-1-a", BUY, "98", "104", at=W1))

    async def go() -> None:
        h = LoopHarness(engine, wrap=lambda p: HideExitFills(p, [order.account]))
        await h.feed(0)
        await h.place(order)
        await h.feed(1)
        await h.feed(2)
        await h.cycle()  # the entry is ingested; the position is there
        await h.feed(3)  # the stop fills at 98 and the position goes flat, but we never see the fill
        for _ in range(h.app.capture.reconciler.confirmations - 1):
            await h.cycle()
            assert status_of(engine, order.trade_id) == "OPEN"  # one absence is not proof
        await h.cycle()
        assert status_of(engine, order.trade_id) == "CLOSED"
        await h.cycle()

    asyncio.run(go())
    snap = snapshot(engine)
    trade = snap["trades"][order.trade_id]
    assert (trade["exit_reason"], trade["exit_price"], trade["closed_at"]) == (
        "MANUAL",
        s("97.5"),
        T0 + 4 * BAR,
    )
    assert f"reconcile:{order.trade_id}" in trade["fill_ids"]
    vanished = events_of(snap, "PositionVanished")
    assert list(vanished) == [(("v-1", "paper", 0), "PositionVanished", order.trade_id)]
    detail = next(iter(vanished.values()))["detail"]
    assert (D(detail["expectedSize"]), detail["closedAtMark"], detail["confirmations"]) == (D(10), "97.5", 3)
    assert [k[2] for k in events_of(snap, "OutcomeCaptured")] == [order.trade_id]
    assert snap["learning"][order.trade_id]["status"] == "COMPLETE"


def test_an_unknown_position_is_reported_never_adopted(engine: Engine) -> None:
    account = AccountRef("x-1")
    extra = VenuePosition(market_index=2, size=D("-5"), entry_price=D("3000"))
    order = Order("x-1", analysis("x-1-a", SELL, "102.8", "95", at=W1))

    async def go() -> None:
        h = LoopHarness(engine, wrap=lambda p: ExtraPosition(p, account, extra))
        await h.feed(0)
        await h.place(order)  # an open trade on SOL; the unknown position is on ETH
        for bar in (1, 2, 3):
            await h.feed(bar)
            await h.cycle()
        await h.place(Order("x-1", analysis("x-1-hold", HOLD, "95", "110", at=W1)))

    asyncio.run(go())
    snap = snapshot(engine)
    unknown = events_of(snap, "UnknownPositionSeen")
    assert list(unknown) == [(("x-1", "paper", 0), "UnknownPositionSeen", "2:-5")]
    row = next(iter(unknown.values()))
    assert row["trade_id"] is None
    assert row["detail"] == {"marketIndex": 2, "size": "-5", "note": "reported, not adopted"}
    assert {r["market_index"] for r in snap["trades"].values()} == {0}  # nothing adopted on ETH
    assert snap["trades"][order.trade_id]["exit_reason"] == "STOP_LOSS"


def test_a_restart_rearms_the_time_limits_a_venue_keeps_in_its_process(engine: Engine) -> None:
    """The Drift venue enforces maxHoldMinutes itself, in memory: a restarted monitor arms the limits of
    the open trades again (deadline = entry fill + hold); trades without a hold are left alone."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from driftloop.adapters.db.uow import SqlUnitOfWork
    from driftloop.adapters.venues.paper.venue import PaperVenue

    class TimeKeepingPaper(PaperVenue):
        def __init__(self) -> None:
            super().__init__(funding={0: [(datetime(2025, 1, 1, tzinfo=UTC), Decimal(0))]})
            self.limits: list[tuple[AccountRef, str, int, datetime | None]] = []

        def set_time_limit(
            self, account: AccountRef, trade_id: str, market_index: int, deadline: datetime | None
        ) -> None:
            self.limits.append((account, trade_id, market_index, deadline))

    timed = next(o for o in wave1(0) if o.user.endswith("-time"))  # maxHoldMinutes 30
    plain = wave1(0)[0]

    async def go() -> None:
        paper = TimeKeepingPaper()
        h = LoopHarness(engine, paper=paper)
        await h.feed(0)
        await h.place(timed)
        await h.place(plain)
        await h.feed(1)  # the entries fill
        await h.cycle()
        h.restart()  # a new process: the venue's limits are gone, the stored trades are not
        resumed = await h.app.monitor.resume()
        try:
            assert {timed.user, plain.user} <= set(resumed)
            with SqlUnitOfWork(engine) as uow:
                trade = uow.trades.get(timed.trade_id)
            assert trade is not None and trade.opened_at is not None
            assert paper.limits == [
                (timed.account, timed.trade_id, trade.market_index, trade.opened_at + timedelta(minutes=30))
            ]
        finally:
            await h.app.monitor.shutdown()

    asyncio.run(go())
