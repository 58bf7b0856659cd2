"""Workload 3: one monitoring cycle (`OutcomeCapture.check_trades` for every user) with many open
trades: (a) nothing changed, (b) 100 trades closed by their stop (one per user, in
markets that differ from user to user), on SQLite and
PostgreSQL, at 1,000 and 10,000 open trades across 100 users (4 sub-accounts each).

The venue is an in-memory stand-in that answers like the paper venue (fills after a cursor,
positions, open orders), so the figure is driftloop's own cost. The baseline of a size is the
same case at the smallest size: cost must grow with the changes, not with the open trades.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from sqlalchemy import text

from bench.common import Config, Row, databases, median
from driftloop.adapters.clock import SystemClock
from driftloop.adapters.db.engine import make_engine, migrate
from driftloop.adapters.db.uow import SqlUnitOfWork
from driftloop.domain.markets import PERP_MARKETS
from driftloop.domain.model import (
    Analysis,
    ExitReason,
    Fill,
    OrderLeg,
    OrderSide,
    Prediction,
    Recommendation,
    Side,
    Timeframe,
    TradeStatus,
)
from driftloop.domain.trade import AccountRef, OrderRecord, Trade
from driftloop.services.monitoring import OutcomeCapture
from driftloop.services.ports import (
    BracketRequest,
    Placement,
    VenueEvents,
    VenueOrder,
    VenuePosition,
)
from driftloop.services.trading import live_trade_id

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SUB_ACCOUNTS = 4
SIZE = D("10")


class _NoSubscription:
    def close(self) -> None:
        pass


@dataclass
class _Book:
    positions: dict[int, VenuePosition] = field(default_factory=dict)
    orders: dict[str, VenueOrder] = field(default_factory=dict)
    pending: list[Fill] = field(default_factory=list)
    cursor: int = 0


class BenchVenue:
    """Answers like a venue: fills after a cursor, positions and open orders per account."""

    name = "paper"

    def __init__(self) -> None:
        self.books: dict[AccountRef, _Book] = {}
        self.reads = 0

    def book(self, account: AccountRef) -> _Book:
        return self.books.setdefault(account, _Book())

    def open_trade(self, trade: Trade) -> None:
        book = self.book(trade.account)
        assert trade.side is not None and trade.size is not None and trade.entry_price is not None
        book.positions[trade.market_index] = VenuePosition(
            trade.market_index, trade.size * trade.side.sign, trade.entry_price
        )
        for order in trade.orders[1:]:
            book.orders[order.venue_order_id] = VenueOrder(
                order.venue_order_id,
                order.user_order_id,
                trade.market_index,
                trade.side.exit_order_side,
                "TRIGGER_MARKET",
                trade.size,
                order.trigger_price,
                True,
            )

    def stop_out(self, trade: Trade, ts: datetime) -> None:
        """The trade's stop fires: an exit fill is pending and the position is gone."""
        book = self.book(trade.account)
        assert trade.side is not None and trade.size is not None
        stop = trade.orders[1]
        book.pending.append(
            Fill(
                f"{trade.id}:SL",
                ts,
                trade.side.exit_order_side,
                trade.analysis.stop_loss,
                trade.size,
                trade.analysis.stop_loss * trade.size / 1000,
                OrderLeg.STOP_LOSS,
                ExitReason.STOP_LOSS,
                trade.analysis.stop_loss,
                market_index=trade.market_index,
                order_id=stop.venue_order_id,
            )
        )
        book.positions.pop(trade.market_index, None)
        book.orders.pop(stop.venue_order_id, None)
        book.cursor += 1

    async def events_since(self, account: AccountRef, cursor: str | None) -> VenueEvents:
        self.reads += 1
        book = self.book(account)
        if cursor is not None and int(cursor) >= book.cursor:
            return VenueEvents([], [], cursor)
        fills, book.pending = book.pending, []
        return VenueEvents(fills, [], str(book.cursor))

    async def positions(self, account: AccountRef) -> list[VenuePosition]:
        return list(self.book(account).positions.values())

    async def open_orders(self, account: AccountRef) -> list[VenueOrder]:
        return list(self.book(account).orders.values())

    async def cancel(self, account: AccountRef, order_id: str) -> None:
        self.book(account).orders.pop(order_id, None)

    async def mark_price(self, market_index: int) -> D | None:
        return D(100)

    async def place_bracket(self, request: BracketRequest) -> Placement:
        raise NotImplementedError

    def subscribe(self, account: AccountRef, handler: object) -> _NoSubscription:
        return _NoSubscription()


def make_trades(users: int, per_user: int, start: int) -> list[Trade]:
    """`per_user` open longs for each user, numbered from `start` (market k // 4, sub-account k % 4)."""
    markets = sorted(PERP_MARKETS.items(), key=lambda item: item[1])
    out = []
    for u in range(users):
        user = f"user-{u:03d}"
        for k in range(start, start + per_user):
            symbol, market = markets[k // SUB_ACCOUNTS]
            account = AccountRef(user, "paper", k % SUB_ACCOUNTS)
            analysis = Analysis(
                id=f"a{k}",
                timestamp=T0,
                symbol=symbol,
                timeframe=Timeframe.M5,
                prediction=Prediction.BULLISH,
                confidence=D(60),
                recommendation=Recommendation.BUY,
                stop_loss=D(95),
                take_profit=D(110),
                size_usd=D(1000),
            )
            trade_id = live_trade_id(user, analysis.id)
            slot = 3 * (k // SUB_ACCOUNTS)
            orders = [
                OrderRecord(
                    leg, f"{trade_id}:{leg.value}", slot + i + 1, price, "tx", "FILLED" if i == 0 else "OPEN"
                )
                for i, (leg, price) in enumerate(
                    ((OrderLeg.ENTRY, None), (OrderLeg.STOP_LOSS, D(95)), (OrderLeg.TAKE_PROFIT, D(110)))
                )
            ]
            entry = Fill(
                f"{trade_id}:E",
                T0,
                OrderSide.BUY,
                D(100),
                SIZE,
                D("1"),
                OrderLeg.ENTRY,
                reference_price=D(100),
                market_index=market,
                order_id=orders[0].venue_order_id,
            )
            out.append(
                Trade(
                    trade_id,
                    account,
                    analysis,
                    "",
                    TradeStatus.OPEN,
                    market,
                    Side.LONG,
                    size=SIZE,
                    entry_price=D(100),
                    opened_at=T0,
                    drift_tx_id="tx",
                    fills=[entry],
                    orders=orders,
                    learning_data={"policy": "raw", "decision": "TAKE"},
                )
            )
    return out


async def _cycle(capture: OutcomeCapture, users: Sequence[str]) -> tuple[float, int]:
    """One cycle over every user: `check_users` (one batch) where driftloop has it, else per user."""
    started = time.perf_counter()
    outcomes = 0
    if hasattr(capture, "check_users"):
        for result in (await capture.check_users(users)).values():
            if isinstance(result, Exception):
                raise result
            outcomes += len(result.outcomes)
    else:
        for user in users:
            outcomes += len((await capture.check_trades(user)).outcomes)
    return time.perf_counter() - started, outcomes


async def _measure(url: str, config: Config) -> dict[int, dict[str, float]]:
    engine = make_engine(url)
    migrate(engine)
    clock = SystemClock()
    venue = BenchVenue()
    capture = OutcomeCapture(lambda: SqlUnitOfWork(engine), lambda _: venue, clock)
    users = [f"user-{u:03d}" for u in range(config.monitor_users)]
    seeded = closes = 0
    open_trades: list[Trade] = []
    figures: dict[int, dict[str, float]] = {}
    try:
        for size in config.monitor_sizes:
            add = size // config.monitor_users - len(open_trades) // config.monitor_users
            fresh = make_trades(config.monitor_users, add, seeded)
            seeded += add
            with SqlUnitOfWork(engine) as uow:
                uow.trades.save_many(fresh, clock.now())
                for user in users:
                    uow.accounts.set_monitoring(user, True, 30.0, clock.now())
                uow.commit()
            if engine.dialect.name == "postgresql":
                # fresh planner statistics after the bulk seed, as autovacuum gives a live database (left
                # to itself it runs a minute later, and meanwhile plans as if the tables were empty)
                with engine.begin() as connection:
                    connection.execute(text("ANALYZE"))
            for trade in fresh:
                venue.open_trade(trade)
            open_trades += fresh
            for _ in range(2):  # the first full cycle learns what every account holds
                await _cycle(capture, users)
            quiet = [(await _cycle(capture, users))[0] for _ in range(5)]
            cycle_times = []
            for round_ in range(3):
                by_user: dict[str, list[Trade]] = {}
                for trade in open_trades:
                    by_user.setdefault(trade.account.user_id, []).append(trade)
                # one trade per user, in markets and sub-accounts that differ from user to user
                chosen = [mine[(7 * u + round_) % len(mine)] for u, mine in enumerate(by_user.values())]
                chosen = chosen[: config.monitor_closes]
                closes += 1  # venue time moves on from size to size: closes arrive in time order
                for trade in chosen:
                    venue.stop_out(trade, T0 + timedelta(minutes=5 * closes))
                seconds, outcomes = await _cycle(capture, users)
                assert outcomes == len(chosen), (outcomes, len(chosen))
                cycle_times.append(seconds)
                gone = {t.id for t in chosen}
                open_trades = [t for t in open_trades if t.id not in gone]
                await _cycle(capture, users)  # orphan cancels settle
            figures[size] = {"quiet": median(quiet), "closes": median(cycle_times), "open": len(open_trades)}
    finally:
        engine.dispose()
    return figures


def run(config: Config) -> list[Row]:
    rows: list[Row] = []
    with databases(config, "monitor") as targets:
        for label, url in targets:
            figures = asyncio.run(_measure(url, config))
            smallest = min(figures)
            for size, f in figures.items():
                what = f"{size:,} open / {config.monitor_users} users"
                top = size == max(figures)
                base = f"same at {smallest:,}" if size != smallest else ""
                rows.append(
                    Row(
                        "3 monitor cycle",
                        f"(a) nothing changed, {label}",
                        what,
                        1000 * f["quiet"],
                        "ms",
                        base,
                        1000 * figures[smallest]["quiet"] if base else None,
                        "< 20 ms at 10,000",
                        (1000 * f["quiet"] < 20) if top else None,
                    )
                )
                rows.append(
                    Row(
                        "3 monitor cycle",
                        f"(b) {config.monitor_closes} closes, {label}",
                        what,
                        1000 * f["closes"],
                        "ms",
                        base,
                        1000 * figures[smallest]["closes"] if base else None,
                        "< 200 ms at 10,000",
                        (1000 * f["closes"] < 200) if top else None,
                    )
                )
    return rows


async def _hold(url: str, size: int, users: int) -> None:
    """Seed `size` open trades and run quiet cycles and one round of closes (for the memory workload)."""
    config = Config(monitor_sizes=(size,), monitor_users=users, monitor_closes=min(users, 100))
    await _measure(url, config)


def rss_main() -> None:
    """`python -c 'from bench.monitor import rss_main; rss_main()' URL SIZE USERS` (memory workload)."""
    import sys

    url, size, users = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if size:
        asyncio.run(_hold(url, size, users))
