"""The `Venue` contract: what every venue (paper, Drift) must do, written against the protocol only.

Each venue joins by adding a param to `venue_harness` that yields the venue and a driver that knows
how to move its market (the Drift venue runs against the fake chain of tests/drift when driftpy is
installed, and is skipped otherwise). The driver's market has zero slippage, so a market order fills at
the open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import pytest

from driftloop.adapters.marketdata.candle import Candle
from driftloop.adapters.venues.paper.venue import PaperVenue
from driftloop.domain.model import ExitReason, OrderLeg, OrderSide, Side
from driftloop.domain.trade import AccountRef
from driftloop.services.ports import BracketRequest, Venue, VenueEvents

SOL, ETH = 0, 2
BASE58 = set("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
D = Decimal


class Driver(Protocol):
    """Moves a venue's market and acts on it the way the outside world would."""

    def account(self, user_id: str, sub_account: int = 0) -> AccountRef: ...

    async def bar(self, market: int, open_: str, high: str, low: str, close: str | None = None) -> None:
        """The market trades through one bar."""

    async def close_by_hand(self, account: AccountRef, market: int) -> None:
        """Someone closes the position on the venue itself, and it executes."""


class PaperDriver:
    """Feeds 5-minute candles to a `PaperVenue`."""

    def __init__(self, venue: PaperVenue) -> None:
        self.venue = venue
        self.ts = datetime(2025, 1, 1, tzinfo=UTC)
        self.last_close: dict[int, str] = {}

    def account(self, user_id: str, sub_account: int = 0) -> AccountRef:
        return AccountRef(user_id, "paper", sub_account)

    async def bar(self, market: int, open_: str, high: str, low: str, close: str | None = None) -> None:
        self.ts += timedelta(minutes=5)
        close = close or open_
        self.last_close[market] = close
        await self.venue.on_candle(market, Candle(self.ts, D(open_), D(high), D(low), D(close), D(1)))

    async def close_by_hand(self, account: AccountRef, market: int) -> None:
        self.venue.close_position(account, market)
        price = self.last_close[market]
        await self.bar(market, price, price, price)


@pytest.fixture(params=["paper", "drift", "drift-websocket"])
def venue_harness(request: pytest.FixtureRequest) -> Iterator[tuple[Venue, Driver]]:
    if request.param == "paper":
        venue = PaperVenue(slippage_bps=0)
        yield venue, PaperDriver(venue)
        return
    # DriftVenue (driftpy) against the fake Solana JSON-RPC of tests/drift (polling, or its websocket pubsub)
    pytest.importorskip("driftpy", reason="driftpy is an optional extra (make test runs it in .venv-drift)")
    from drift.driver import DriftDriver
    from drift.world import DriftWorld

    world = DriftWorld()
    try:
        drift = world.venue(subscription="websocket" if request.param == "drift-websocket" else "polling")
        yield drift, DriftDriver(world, drift)
    finally:
        world.close()


Scenario = Callable[[Venue, Driver], Coroutine[Any, Any, None]]


def run(harness: tuple[Venue, Driver], scenario: Scenario) -> None:
    asyncio.run(scenario(*harness))


def bracket(
    account: AccountRef,
    trade_id: str = "t1",
    side: Side = Side.LONG,
    market: int = SOL,
    stop: str = "95",
    target: str = "110",
    ids: tuple[int, int, int] = (1, 2, 3),
) -> BracketRequest:
    symbol = {SOL: "SOL-PERP", ETH: "ETH-PERP"}[market]
    user_ids = dict(zip((OrderLeg.ENTRY, OrderLeg.STOP_LOSS, OrderLeg.TAKE_PROFIT), ids, strict=True))
    return BracketRequest(trade_id, account, symbol, market, side, D(2), D(stop), D(target), D(5), user_ids)


async def opened(venue: Venue, driver: Driver, request: BracketRequest) -> None:
    """Price 100 now, the bracket placed, its entry filled at the next open (100)."""
    await driver.bar(request.market_index, "100", "100", "100")
    placement = await venue.place_bracket(request)
    assert placement.accepted, placement.reason
    await driver.bar(request.market_index, "100", "101", "99")


def test_placement_returns_a_signature_shaped_tx_id_and_order_ids(
    venue_harness: tuple[Venue, Driver],
) -> None:
    async def scenario(venue: Venue, driver: Driver) -> None:
        await driver.bar(SOL, "100", "100", "100")
        placement = await venue.place_bracket(bracket(driver.account("alice")))
        assert placement.accepted
        assert placement.reason is None
        assert placement.tx_id is not None
        assert 80 <= len(placement.tx_id) <= 88
        assert set(placement.tx_id) <= BASE58
        assert {OrderLeg.STOP_LOSS, OrderLeg.TAKE_PROFIT} <= set(placement.order_ids)
        assert len(set(placement.order_ids.values())) == len(placement.order_ids)

    run(venue_harness, scenario)


def test_entry_fills_at_the_next_open(venue_harness: tuple[Venue, Driver]) -> None:
    async def scenario(venue: Venue, driver: Driver) -> None:
        alice = driver.account("alice")
        await driver.bar(SOL, "100", "100", "100")
        placement = await venue.place_bracket(bracket(alice))
        assert list((await venue.events_since(alice, None)).fills) == []
        await driver.bar(SOL, "101", "102", "100")
        [fill] = (await venue.events_since(alice, None)).fills
        assert (fill.leg, fill.side, fill.price, fill.size, fill.cause) == (
            OrderLeg.ENTRY, OrderSide.BUY, D(101), D(2), None
        )  # fmt: skip
        assert fill.market_index == SOL
        assert fill.order_id == placement.order_ids[OrderLeg.ENTRY]
        [position] = await venue.positions(alice)
        assert (position.market_index, position.size, position.entry_price) == (SOL, D(2), D(101))

    run(venue_harness, scenario)


def test_open_orders_are_two_reduce_only_triggers(venue_harness: tuple[Venue, Driver]) -> None:
    async def scenario(venue: Venue, driver: Driver) -> None:
        alice = driver.account("alice")
        await opened(venue, driver, bracket(alice, side=Side.SHORT, stop="105", target="90"))
        orders = sorted(await venue.open_orders(alice), key=lambda o: o.user_order_id)
        assert [
            (o.kind, o.reduce_only, o.side, o.trigger_price, o.size, o.user_order_id) for o in orders
        ] == [
            ("TRIGGER_MARKET", True, OrderSide.BUY, D(105), D(2), 2),
            ("TRIGGER_MARKET", True, OrderSide.BUY, D(90), D(2), 3),
        ]

    run(venue_harness, scenario)


@pytest.mark.parametrize(
    ("bar", "leg", "price"),
    [
        (("99", "99", "94"), OrderLeg.STOP_LOSS, D(95)),
        (("101", "111", "100"), OrderLeg.TAKE_PROFIT, D(110)),
    ],
)
def test_a_trigger_closes_the_position_and_cancels_its_sibling(
    venue_harness: tuple[Venue, Driver], bar: tuple[str, str, str], leg: OrderLeg, price: Decimal
) -> None:
    async def scenario(venue: Venue, driver: Driver) -> None:
        alice = driver.account("alice")
        request = bracket(alice)
        await opened(venue, driver, request)
        await driver.bar(SOL, *bar)
        [_, fill] = (await venue.events_since(alice, None)).fills
        assert (fill.leg, fill.cause, fill.side, fill.price, fill.size) == (
            leg, ExitReason(leg.value), OrderSide.SELL, price, D(2)
        )  # fmt: skip
        assert fill.reference_price == price
        assert await venue.positions(alice) == []
        assert await venue.open_orders(alice) == []  # the sibling was cancelled once flat
        await driver.bar(SOL, "100", "120", "80")  # the orphan can no longer fire
        assert len((await venue.events_since(alice, None)).fills) == 2

    run(venue_harness, scenario)


def test_events_since_a_cursor_never_repeats_and_replays_identically(
    venue_harness: tuple[Venue, Driver],
) -> None:
    async def scenario(venue: Venue, driver: Driver) -> None:
        alice = driver.account("alice")
        await opened(venue, driver, bracket(alice))
        first = await venue.events_since(alice, None)
        assert [f.leg for f in first.fills] == [OrderLeg.ENTRY]
        nothing_new = await venue.events_since(alice, first.cursor)
        assert (list(nothing_new.fills), list(nothing_new.funding)) == ([], [])
        await driver.bar(SOL, "99", "99", "94")
        second = await venue.events_since(alice, first.cursor)
        assert [f.leg for f in second.fills] == [OrderLeg.STOP_LOSS]
        assert await venue.events_since(alice, first.cursor) == second  # replay: identical
        assert await venue.events_since(alice, None) == await venue.events_since(alice, None)
        everything = await venue.events_since(alice, None)
        assert list(everything.fills) == [*first.fills, *second.fills]
        assert everything.cursor == second.cursor

    run(venue_harness, scenario)


def test_subscribers_get_events_pushed_until_they_close(venue_harness: tuple[Venue, Driver]) -> None:
    async def scenario(venue: Venue, driver: Driver) -> None:
        alice = driver.account("alice")
        pushed: list[VenueEvents] = []

        async def on_events(events: VenueEvents) -> None:
            pushed.append(events)

        subscription = venue.subscribe(alice, on_events)
        await opened(venue, driver, bracket(alice))
        assert [[f.leg for f in e.fills] for e in pushed] == [[OrderLeg.ENTRY]]
        assert pushed[-1] == await venue.events_since(alice, None)
        subscription.close()
        await driver.bar(SOL, "99", "99", "94")
        assert len(pushed) == 1
        assert len((await venue.events_since(alice, pushed[-1].cursor)).fills) == 1

    run(venue_harness, scenario)


def test_a_second_bracket_in_the_same_market_and_sub_account_is_rejected(
    venue_harness: tuple[Venue, Driver],
) -> None:
    async def scenario(venue: Venue, driver: Driver) -> None:
        alice = driver.account("alice")
        await opened(venue, driver, bracket(alice))
        second = await venue.place_bracket(bracket(alice, "t2", ids=(4, 5, 6)))
        assert not second.accepted
        assert second.reason
        assert "sub-account" in second.reason
        assert second.tx_id is None
        assert second.order_ids == {}
        assert len(await venue.open_orders(alice)) == 2

    run(venue_harness, scenario)


def test_sub_accounts_and_markets_are_independent(venue_harness: tuple[Venue, Driver]) -> None:
    async def scenario(venue: Venue, driver: Driver) -> None:
        main, other = driver.account("alice", 0), driver.account("alice", 1)
        await opened(venue, driver, bracket(main))
        await driver.bar(ETH, "100", "100", "100")
        eth = await venue.place_bracket(bracket(main, "t-eth", market=ETH, ids=(4, 5, 6)))
        short = await venue.place_bracket(bracket(other, "t2", side=Side.SHORT, stop="105", target="90"))
        assert eth.accepted
        assert short.accepted
        await driver.bar(SOL, "100", "100", "100")
        assert [(p.market_index, p.size) for p in await venue.positions(main)] == [(SOL, D(2))]
        assert [(p.market_index, p.size) for p in await venue.positions(other)] == [(SOL, D(-2))]
        await driver.bar(SOL, "99", "99", "94")  # the long's stop; the short is untouched
        assert await venue.positions(main) == []
        assert [(p.market_index, p.size) for p in await venue.positions(other)] == [(SOL, D(-2))]
        assert len(await venue.open_orders(other)) == 2
        assert len(await venue.open_orders(main)) == 3  # the ETH entry still waits for a bar

    run(venue_harness, scenario)


def test_a_manual_close_arrives_as_a_manual_fill(venue_harness: tuple[Venue, Driver]) -> None:
    async def scenario(venue: Venue, driver: Driver) -> None:
        alice = driver.account("alice")
        await opened(venue, driver, bracket(alice))
        await driver.close_by_hand(alice, SOL)
        [_, fill] = (await venue.events_since(alice, None)).fills
        assert (fill.cause, fill.leg, fill.side, fill.size) == (
            ExitReason.MANUAL,
            OrderLeg.EXTERNAL,
            OrderSide.SELL,
            D(2),
        )
        assert await venue.positions(alice) == []
        assert await venue.open_orders(alice) == []

    run(venue_harness, scenario)


def test_cancel_removes_an_order(venue_harness: tuple[Venue, Driver]) -> None:
    async def scenario(venue: Venue, driver: Driver) -> None:
        alice = driver.account("alice")
        request = bracket(alice)
        await driver.bar(SOL, "100", "100", "100")
        placement = await venue.place_bracket(request)
        await driver.bar(SOL, "100", "100", "100")
        await venue.cancel(alice, placement.order_ids[OrderLeg.TAKE_PROFIT])
        [stop] = await venue.open_orders(alice)
        assert stop.order_id == placement.order_ids[OrderLeg.STOP_LOSS]
        await driver.bar(SOL, "100", "120", "100")  # beyond the cancelled target: nothing fires
        assert [p.size for p in await venue.positions(alice)] == [D(2)]
        assert len((await venue.events_since(alice, None)).fills) == 1

    run(venue_harness, scenario)
