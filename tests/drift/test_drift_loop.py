"""The whole loop on the Drift venue against the fake chain: place → the oracle crosses the stop or the
target → the outcome is captured with the exact fills, fees and funding the program recorded; and a
monitor restarted (new process: new venue, new capture) from its stored cursor neither loses nor
repeats a fill, also after a crash before its commit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine

pytest.importorskip("driftpy", reason="driftpy is an optional extra (make test runs it in .venv-drift)")

from drift.world import DriftWorld
from driftloop.adapters.clock import FixedClock
from driftloop.adapters.db.uow import SqlUnitOfWork
from driftloop.bootstrap import Container
from driftloop.config import Settings
from driftloop.domain.model import (
    Analysis,
    ExitReason,
    OrderLeg,
    OrderSide,
    OutcomeClass,
    Prediction,
    Recommendation,
    Timeframe,
    TradeStatus,
)
from driftloop.domain.trade import Trade
from driftloop.loop import build_loop
from driftloop.services.monitoring import EVENTS_STREAM, OutcomeCapture
from driftloop.services.ports import Venue
from driftloop.services.retry import RetryPolicy
from driftloop.services.trading import TradingService

D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01, timeout=20)
SPREAD = 50_000  # 0.05 at PRICE precision: buys fill at oracle + 0.05, sells at oracle − 0.05


def analysis(
    aid: str, rec: Recommendation, stop: str, target: str, size: str = "1000", max_hold: int | None = None
) -> Analysis:
    return Analysis(
        id=aid, timestamp=T0, symbol="SOL-PERP", timeframe=Timeframe.M5,
        prediction=Prediction.BULLISH if rec is Recommendation.BUY else Prediction.BEARISH,
        confidence=D(70), recommendation=rec, stop_loss=D(stop), take_profit=D(target), size_usd=D(size),
        leverage=D(2), max_hold_minutes=max_hold, analyst="test",
    )  # fmt: skip


class CrashOnCommit:
    """A unit-of-work factory whose next commit dies (the process is killed before it lands)."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.armed = engine, False

    def __call__(self) -> Any:
        uow = SqlUnitOfWork(self.engine)

        def die() -> None:
            self.armed = False
            raise SimulatedCrash

        if self.armed:
            uow.commit = die  # type: ignore[method-assign]
        return uow


class SimulatedCrash(BaseException):
    pass


class Process:
    """One process of driftloop: its own DriftVenue (no memory of earlier processes) and services."""

    def __init__(
        self,
        world: DriftWorld,
        engine: Engine,
        uow: Callable[[], Any] | None = None,
        clock: FixedClock | None = None,
    ) -> None:
        self.venue = world.venue(clock)
        settings = Settings(database_url=engine.url.render_as_string(hide_password=False), venue="drift")
        self.container = Container(settings=settings, engine=engine, clock=FixedClock(T0))
        self.app = build_loop(self.container, venue=self.venue, retry=FAST)
        factory = uow or self.container.uow

        def venue_for(_: Any) -> Venue:
            return self.venue

        self.trading = TradingService(factory, venue_for, self.container.clock, retry=FAST)
        self.capture = OutcomeCapture(factory, venue_for, self.container.clock, retry=FAST)

    def trade(self, trade_id: str) -> Trade:
        with self.container.uow() as uow:
            found = uow.trades.get(trade_id)
        assert found is not None
        return found


@pytest.fixture
def world() -> Any:
    w = DriftWorld()
    w.drift.markets[0].spread = SPREAD
    yield w
    w.close()


def test_a_stop_loss_is_captured_with_the_exact_fills_fees_and_funding(
    world: DriftWorld, engine: Engine
) -> None:
    async def go() -> None:
        p = Process(world, engine)
        trade = await p.trading.place_trade(
            "alice", analysis("a1", Recommendation.BUY, "95", "110"), venue="drift"
        )
        assert trade.status is TradeStatus.OPEN, trade.reason
        assert trade.drift_tx_id in world.chain.signatures_of(world.user(0).pubkey)
        assert sorted(o.user_order_id for o in trade.orders) == [1, 2, 3]
        world.advance(60)
        world.fill_market_orders(0)  # entry: 10 SOL at 100.05
        world.advance(3600)
        world.funding(0, 1_000_000)  # longs pay 0.001 per SOL: −0.01
        world.advance(600)
        world.move(0, "94")  # the stop fires at 95: sells at 94.95
        result = await p.capture.check_trades("alice")
        assert (result.fills_ingested, result.funding_ingested, result.outcomes) == (2, 1, [trade.id])
        closed = p.trade(trade.id)
        entry, exit_ = closed.fills
        assert (entry.leg, entry.price, entry.size, entry.fee) == (
            OrderLeg.ENTRY,
            D("100.05"),
            D(10),
            D("1.0005"),
        )
        assert (exit_.leg, exit_.cause, exit_.price, exit_.size, exit_.fee) == (
            OrderLeg.STOP_LOSS, ExitReason.STOP_LOSS, D("94.95"), D(10), D("0.9495"))  # fmt: skip
        assert exit_.reference_price == D(95)
        assert [f.amount for f in closed.funding] == [D("-0.01")]
        outcome = closed.outcome
        assert outcome is not None
        assert outcome.exit_reason is ExitReason.STOP_LOSS
        assert outcome.fees_usd == D("1.95")
        assert outcome.funding_usd == D("-0.01")
        assert outcome.pnl_usd == D("-52.96")  # (94.95 − 100.05) × 10 − 1.95 − 0.01
        assert outcome.outcome is OutcomeClass.LOSS
        assert await p.venue.open_orders(closed.account) == []  # the target was cancelled once flat
        await p.venue.close()

    asyncio.run(go())


def test_a_take_profit_of_a_short_is_captured(world: DriftWorld, engine: Engine) -> None:
    async def go() -> None:
        p = Process(world, engine)
        trade = await p.trading.place_trade(
            "bob", analysis("b1", Recommendation.SELL, "105", "90"), venue="drift"
        )
        world.fill_market_orders(0)  # sells 10 SOL at 99.95
        world.move(0, "89")  # the target fires at 90: buys at 90.05
        await p.capture.check_trades("bob")
        outcome = p.trade(trade.id).outcome
        assert outcome is not None
        assert (outcome.exit_reason, outcome.entry_price, outcome.exit_price) == (
            ExitReason.TAKE_PROFIT, D("99.95"), D("90.05"))  # fmt: skip
        assert outcome.fees_usd == D("0.9995") + D("0.9005")
        assert outcome.pnl_usd == D("99.0") - D("1.9000")
        await p.venue.close()

    asyncio.run(go())


@pytest.mark.parametrize("order_records", [True, False], ids=["order-records", "no-order-records"])
def test_a_restarted_monitor_neither_loses_nor_repeats_a_fill(
    world: DriftWorld, engine: Engine, order_records: bool
) -> None:
    world.drift.order_records = order_records  # without them the venue knows its orders from the placement,
    # and a new process recognises the target from its trigger record and the position's entry price

    async def go() -> None:
        first = Process(world, engine)
        trade = await first.trading.place_trade(
            "carol", analysis("c1", Recommendation.BUY, "95", "110"), venue="drift"
        )
        world.fill_market_orders(0)
        assert (await first.capture.check_trades("carol")).fills_ingested == 1
        with first.container.uow() as uow:
            cursor = uow.cursors.get(trade.account, EVENTS_STREAM)
        assert cursor == world.chain.signatures_of(world.user(0).pubkey)[-1]
        await first.venue.close()  # the process ends

        world.move(0, "111")  # the target fills while nothing runs
        crashing = CrashOnCommit(engine)
        second = Process(world, engine, crashing)
        crashing.armed = True
        with pytest.raises(SimulatedCrash):
            await second.capture.check_trades("carol")  # read everything, died before the commit
        assert len(second.trade(trade.id).fills) == 1
        await second.venue.close()

        third = Process(world, engine)  # a fresh process: must find the target's order from history
        result = await third.capture.check_trades("carol")
        assert (result.fills_ingested, result.outcomes) == (1, [trade.id])
        closed = third.trade(trade.id)
        assert [f.leg for f in closed.fills] == [OrderLeg.ENTRY, OrderLeg.TAKE_PROFIT]
        assert len({f.fill_id for f in closed.fills}) == 2
        assert closed.outcome is not None
        assert closed.outcome.exit_reason is ExitReason.TAKE_PROFIT
        again = await third.capture.check_trades("carol")
        assert (again.fills_ingested, again.outcomes) == (0, [])
        assert len(third.trade(trade.id).fills) == 2
        await third.venue.close()

    asyncio.run(go())


@pytest.mark.parametrize("fill_record", [True, False], ids=["with-fill-record", "liquidation-record-only"])
def test_a_liquidation_and_a_manual_close_arrive_with_their_cause(
    world: DriftWorld, engine: Engine, fill_record: bool
) -> None:
    world.drift.liquidation_fills = fill_record  # without it, the fill is read from the LiquidationRecord

    async def go() -> None:
        p = Process(world, engine)
        liq = await p.trading.place_trade(
            "dave", analysis("d1", Recommendation.BUY, "80", "150"), venue="drift"
        )
        man = await p.trading.place_trade(
            "dave", analysis("d2", Recommendation.SELL, "150", "80"), venue="drift", sub_account=1
        )
        world.fill_market_orders(0)
        world.set_price(0, "85")
        world.liquidate(0, 0, fee_bps=100)  # 10 SOL taken over at 85 with a 1% liquidator fee
        world.close_by_hand(1, 0)  # the short is bought back at 85.05
        await p.capture.check_trades("dave")
        liquidated, manual = p.trade(liq.id), p.trade(man.id)
        assert liquidated.outcome is not None
        assert manual.outcome is not None
        assert liquidated.outcome.exit_reason is ExitReason.LIQUIDATION
        assert liquidated.fills[-1].fee == D("8.5")
        assert liquidated.fills[-1].price == D(85)
        assert manual.outcome.exit_reason is ExitReason.MANUAL
        assert manual.fills[-1].price == D("85.05")
        await p.venue.close()

    asyncio.run(go())


def test_a_time_limit_closes_the_position_at_market(world: DriftWorld, engine: Engine) -> None:
    market_time = FixedClock(datetime.fromtimestamp(world.drift.now, UTC))  # the venue's clock, moved by hand

    async def go() -> None:
        p = Process(world, engine, clock=market_time)
        a = analysis("e1", Recommendation.BUY, "90", "120", max_hold=30)
        trade = await p.trading.place_trade("erin", a, venue="drift")
        world.advance(60)
        world.fill_market_orders(0)  # the entry fills one minute after placing
        assert (await p.capture.check_trades("erin")).fills_ingested == 1
        market_time.at += timedelta(minutes=30)  # 30 minutes after placing, 29 after the entry fill
        await p.capture.check_trades("erin")
        assert [o.kind for o in await p.venue.open_orders(trade.account)] == ["TRIGGER_MARKET"] * 2
        market_time.at += timedelta(minutes=1)
        await p.capture.check_trades("erin")  # the limit has passed: the venue sends the close
        closes = [o for o in await p.venue.open_orders(trade.account) if o.kind == "MARKET"]
        assert [(o.reduce_only, o.side, o.size) for o in closes] == [(True, OrderSide.SELL, D(10))]
        world.advance(1800)
        world.set_price(0, "101")
        world.fill_market_orders(0)  # sells at 100.95
        await p.capture.check_trades("erin")
        closed = p.trade(trade.id)
        assert closed.outcome is not None
        assert closed.outcome.exit_reason is ExitReason.TIME_LIMIT
        assert (closed.fills[-1].leg, closed.fills[-1].price) == (OrderLeg.CLOSE, D("100.95"))
        assert await p.venue.open_orders(trade.account) == []
        await p.venue.close()

    asyncio.run(go())


def test_an_entry_placed_by_an_earlier_process_is_recognised_without_order_records(
    world: DriftWorld, engine: Engine
) -> None:
    world.drift.order_records = False  # nothing in the history says which order is which

    async def go() -> None:
        first = Process(world, engine)
        trade = await first.trading.place_trade(
            "fay", analysis("f1", Recommendation.BUY, "95", "110"), venue="drift"
        )
        await first.venue.close()  # restarted before the entry filled
        second = Process(world, engine)
        assert (await second.capture.check_trades("fay")).fills_ingested == 0  # sees the open orders
        world.fill_market_orders(0)
        world.move(0, "94")
        await second.capture.check_trades("fay")
        closed = second.trade(trade.id)
        assert [(f.leg, f.cause) for f in closed.fills] == [
            (OrderLeg.ENTRY, None),
            (OrderLeg.STOP_LOSS, ExitReason.STOP_LOSS),
        ]
        assert closed.outcome is not None
        assert closed.outcome.exit_reason is ExitReason.STOP_LOSS
        await second.venue.close()

    asyncio.run(go())


@pytest.mark.parametrize("order_records", [True, False], ids=["order-records", "no-order-records"])
def test_a_placement_that_landed_behind_an_error_is_not_sent_twice(
    world: DriftWorld, engine: Engine, order_records: bool
) -> None:
    world.drift.order_records = order_records
    world.chain.lose_send_replies = 1  # the transaction lands, the client hears "node is behind"

    async def go() -> None:
        p = Process(world, engine)
        trade = await p.trading.place_trade(
            "gus", analysis("g1", Recommendation.BUY, "95", "110"), venue="drift"
        )
        assert trade.status is TradeStatus.OPEN, trade.reason
        assert world.chain.calls["sendTransaction"] == 1  # retried: found on chain, not sent again
        [placing] = world.chain.signatures_of(world.user(0).pubkey)
        assert trade.drift_tx_id == (placing if order_records else None)
        assert len(await p.venue.open_orders(trade.account)) == 3
        world.fill_market_orders(0)
        world.move(0, "111")
        await p.capture.check_trades("gus")
        closed = p.trade(trade.id)
        assert closed.outcome is not None
        assert closed.outcome.exit_reason is ExitReason.TAKE_PROFIT
        await p.venue.close()

    asyncio.run(go())
