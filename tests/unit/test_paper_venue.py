"""PaperVenue rules with numbers worked out by hand (Definitions → Paper fills 1–6).

Candles are 5-minute bars from T0; each test places a bracket while the price is 100 and the entry
fills at the open of the next candle fed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from driftloop.adapters.marketdata.candle import Candle
from driftloop.adapters.venues.paper.venue import PaperVenue
from driftloop.domain.model import ExitReason, Fill, OrderLeg, OrderSide, Side
from driftloop.domain.trade import AccountRef
from driftloop.services.ports import BracketRequest, Placement, VenueEvents

D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)
ALICE = AccountRef("alice")
SOL = 0


def at(i: int) -> datetime:
    return T0 + timedelta(minutes=5 * i)


def bar(i: int, open_: str, high: str | None = None, low: str | None = None) -> Candle:
    o = D(open_)
    h, lo = D(high) if high else o, D(low) if low else o
    return Candle(at(i), o, max(o, h), min(o, lo), o, D(1))


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def request(
    side: Side = Side.LONG,
    stop: str = "95",
    target: str = "110",
    leverage: str = "1",
    size: str = "2",
    account: AccountRef = ALICE,
    trade_id: str = "t1",
    symbol: str = "SOL-PERP",
    market: int = SOL,
) -> BracketRequest:
    ids = {OrderLeg.ENTRY: 1, OrderLeg.STOP_LOSS: 2, OrderLeg.TAKE_PROFIT: 3}
    return BracketRequest(
        trade_id, account, symbol, market, side, D(size), D(stop), D(target), D(leverage), ids
    )


async def trade(venue: PaperVenue, req: BracketRequest, *candles: Candle) -> list[Fill]:
    """Price 100 at bar 0, place the bracket, feed `candles` (from bar 1), return the account's fills."""
    await venue.on_candle(req.market_index, bar(0, "100"))
    placement = await venue.place_bracket(req)
    assert placement.accepted, placement.reason
    for candle in candles:
        await venue.on_candle(req.market_index, candle)
    return list((await venue.events_since(req.account, None)).fills)


# --- fees and slippage -----------------------------------------------------------------------------


def test_taker_fee_is_charged_on_each_fills_notional() -> None:
    entry, exit_ = run(trade(PaperVenue(), request(), bar(1, "100"), bar(2, "105", high="111")))
    assert (entry.price, entry.fee) == (D(100), D("0.2"))  # 100 × 2 × 10 bps
    assert (exit_.cause, exit_.price) == (ExitReason.TAKE_PROFIT, D(110))
    assert exit_.fee == D("0.22")  # 110 × 2 × 10 bps
    [entry25] = run(trade(PaperVenue(taker_fee_bps=25), request(), bar(1, "100")))
    assert entry25.fee == D("0.5")  # 100 × 2 × 25 bps


def test_slippage_moves_every_market_and_trigger_fill_against_the_trader() -> None:
    venue = PaperVenue(slippage_bps=50)  # s = 0.005
    entry, stop = run(trade(venue, request(), bar(1, "100"), bar(2, "99", low="94")))
    assert (entry.price, entry.reference_price, entry.fee) == (D("100.5"), D(100), D("0.201"))
    assert (stop.cause, stop.price, stop.reference_price) == (ExitReason.STOP_LOSS, D("94.525"), D(95))
    short = request(Side.SHORT, stop="105", target="90", account=AccountRef("bob"))
    entry, target = run(trade(PaperVenue(slippage_bps=50), short, bar(1, "100"), bar(2, "95", low="89")))
    assert (entry.side, entry.price) == (OrderSide.SELL, D("99.5"))  # 100 × (1 − s)
    assert (target.side, target.price, target.reference_price) == (OrderSide.BUY, D("90.45"), D(90))


# --- triggers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "stop", "target", "candle", "cause", "price"),
    [
        (Side.LONG, "95", "110", bar(2, "90", high="91", low="89"), ExitReason.STOP_LOSS, D(90)),
        (Side.LONG, "95", "110", bar(2, "115", high="116", low="114"), ExitReason.TAKE_PROFIT, D(115)),
        (Side.SHORT, "105", "90", bar(2, "108", high="109", low="107"), ExitReason.STOP_LOSS, D(108)),
        (Side.SHORT, "105", "90", bar(2, "85", high="86", low="84"), ExitReason.TAKE_PROFIT, D(85)),
    ],
)
def test_a_gap_through_a_trigger_fills_at_the_open(
    side: Side, stop: str, target: str, candle: Candle, cause: ExitReason, price: Decimal
) -> None:
    _, exit_ = run(trade(PaperVenue(), request(side, stop, target), bar(1, "100"), candle))
    reference = D(stop if cause is ExitReason.STOP_LOSS else target)
    assert (exit_.cause, exit_.price, exit_.reference_price) == (cause, price, reference)


def test_stop_and_target_in_one_candle_assume_the_stop_unless_the_open_is_beyond_the_target() -> None:
    _, exit_ = run(trade(PaperVenue(), request(), bar(1, "100"), bar(2, "100", high="111", low="94")))
    assert (exit_.cause, exit_.price) == (ExitReason.STOP_LOSS, D(95))
    _, exit_ = run(trade(PaperVenue(), request(), bar(1, "100"), bar(2, "112", high="113", low="94")))
    assert (exit_.cause, exit_.price) == (ExitReason.TAKE_PROFIT, D(112))


def test_triggers_are_checked_on_the_entry_candle() -> None:
    entry, exit_ = run(trade(PaperVenue(), request(), bar(1, "100", low="94")))
    assert (entry.ts, exit_.ts, exit_.cause) == (at(1), at(1), ExitReason.STOP_LOSS)


# --- liquidation -----------------------------------------------------------------------------------


def test_a_long_is_liquidated_at_its_liquidation_price_without_slippage() -> None:
    venue = PaperVenue(slippage_bps=50)
    long5x = request(stop="80", leverage="5")  # entry 100.5: liq = 100.5 × (1 − 1/5) / (1 − 0.03)
    entry, liq = run(trade(venue, long5x, bar(1, "100"), bar(2, "99", low="75")))
    assert entry.price == D("100.5")
    assert liq.price == D("80.4") / D("0.97")
    assert round(liq.price, 6) == D("82.886598")
    assert (liq.cause, liq.leg, liq.reference_price, liq.order_id) == (
        ExitReason.LIQUIDATION, OrderLeg.EXTERNAL, None, None
    )  # fmt: skip
    assert liq.fee == liq.price * 2 * D("0.001")
    assert run(venue.open_orders(ALICE)) == []
    assert run(venue.positions(ALICE)) == []


def test_a_short_is_liquidated_and_a_gap_fills_at_the_open() -> None:
    short10x = request(Side.SHORT, stop="108", target="90", leverage="10")  # liq = 100 × 1.1 / 1.03
    _, liq = run(trade(PaperVenue(), short10x, bar(1, "100"), bar(2, "101", high="109")))
    assert (liq.cause, liq.price) == (ExitReason.LIQUIDATION, D(110) / D("1.03"))
    assert round(liq.price, 4) == D("106.7961")
    long5x = request(stop="80", leverage="5")  # liq = 80 / 0.97 ≈ 82.47; the open gaps below stop and liq
    _, liq = run(trade(PaperVenue(), long5x, bar(1, "100"), bar(2, "79", high="79", low="70")))
    assert (liq.cause, liq.price) == (ExitReason.LIQUIDATION, D(79))


def test_the_adverse_level_met_first_fires() -> None:
    long5x = request(stop="90", leverage="5")  # stop 90 sits above the liquidation price 82.47
    _, exit_ = run(trade(PaperVenue(), long5x, bar(1, "100"), bar(2, "99", low="75")))
    assert (exit_.cause, exit_.price) == (ExitReason.STOP_LOSS, D(90))
    long1x = request(stop="50")  # 1×: liquidation price 0, never reached
    _, exit_ = run(trade(PaperVenue(), long1x, bar(1, "100"), bar(2, "99", low="1")))
    assert exit_.cause is ExitReason.STOP_LOSS


# --- time limit and manual close --------------------------------------------------------------------


def test_the_time_limit_closes_at_the_open_before_triggers() -> None:
    async def scenario() -> list[Fill]:
        venue = PaperVenue(slippage_bps=50)
        await trade(venue, request(), bar(1, "100"))
        venue.set_time_limit(ALICE, "t1", at(1) + timedelta(minutes=15))  # maxHoldMinutes = 15
        for candle in (bar(2, "100"), bar(3, "101")):
            await venue.on_candle(SOL, candle)
        assert len((await venue.events_since(ALICE, None)).fills) == 1
        await venue.on_candle(SOL, bar(4, "101", low="90"))  # the stop would trigger too
        assert await venue.open_orders(ALICE) == []
        return list((await venue.events_since(ALICE, None)).fills)

    _, close = run(scenario())
    assert (close.cause, close.leg, close.ts) == (ExitReason.TIME_LIMIT, OrderLeg.CLOSE, at(4))
    assert (close.price, close.reference_price) == (D("100.495"), D(101))  # 101 × (1 − 0.005)
    with pytest.raises(KeyError):
        PaperVenue().set_time_limit(ALICE, "nope", T0)


def test_a_manual_close_fills_at_the_next_open_with_slippage() -> None:
    async def scenario() -> list[Fill]:
        venue = PaperVenue(slippage_bps=50)
        await trade(venue, request(Side.SHORT, stop="105", target="90"), bar(1, "100"))
        venue.close_position(ALICE, SOL)
        await venue.on_candle(SOL, bar(2, "102"))
        with pytest.raises(ValueError, match="no open position"):
            venue.close_position(ALICE, SOL)
        return list((await venue.events_since(ALICE, None)).fills)

    _, close = run(scenario())
    assert (close.cause, close.leg, close.side, close.reference_price) == (
        ExitReason.MANUAL, OrderLeg.EXTERNAL, OrderSide.BUY, None
    )  # fmt: skip
    assert (close.price, close.fee) == (D("102.51"), D("0.20502"))  # 102 × 1.005; × 2 × 10 bps


# --- funding ---------------------------------------------------------------------------------------


def test_funding_sign_for_long_and_short_over_entry_to_exit() -> None:
    series = {
        SOL: [
            (at(1), D("0.5")),  # at the entry time: not owed (entry < t)
            (at(2), D("0.0001")),  # price(t) = open of bar 2 = 102
            (at(2) + timedelta(minutes=2), D("-0.0002")),  # between bars: price = open of bar 2
            (at(3), D("0.0003")),  # at the exit candle: owed (t ≤ exit), price = 104
            (at(4), D("0.5")),  # after the exit: not owed
        ]
    }
    long_acct, short_acct = AccountRef("alice", sub_account=0), AccountRef("alice", sub_account=1)

    async def scenario() -> tuple[VenueEvents, VenueEvents]:
        venue = PaperVenue(funding=series)
        await venue.on_candle(SOL, bar(0, "100"))
        for req in (request(account=long_acct), request(Side.SHORT, "110", "90", account=short_acct)):
            assert (await venue.place_bracket(req)).accepted
        for candle in (bar(1, "100"), bar(2, "102"), bar(3, "104", high="111"), bar(4, "104")):
            await venue.on_candle(SOL, candle)
        return await venue.events_since(long_acct, None), await venue.events_since(short_acct, None)

    long_events, short_events = run(scenario())
    assert [f.cause for f in long_events.fills] == [None, ExitReason.TAKE_PROFIT]
    assert [f.cause for f in short_events.fills] == [None, ExitReason.STOP_LOSS]
    # long receives −rate × size × price; a short +rate × size × price
    assert [(m, p.ts, p.amount) for m, p in long_events.funding] == [
        (SOL, at(2), D("-0.0204")),  # −0.0001 × 2 × 102
        (SOL, at(2) + timedelta(minutes=2), D("0.0408")),  # +0.0002 × 2 × 102
        (SOL, at(3), D("-0.0624")),  # −0.0003 × 2 × 104
    ]
    assert [p.amount for _, p in short_events.funding] == [D("0.0204"), D("-0.0408"), D("0.0624")]
    ids = [p.payment_id for _, p in [*long_events.funding, *short_events.funding]]
    assert len(set(ids)) == 6


# --- placement rules and bookkeeping ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("req", "reason"),
    [
        (request(size="0"), "size"),
        (request(stop="101"), "stop-loss 101 is on the wrong side"),
        (request(target="99"), "take-profit 99 is on the wrong side"),
        (request(Side.SHORT, stop="95", target="90"), "stop-loss 95 is on the wrong side"),
        (request(symbol="BTC-PERP"), "unknown market"),
        (request(market=7, symbol="DOGE-PERP"), "unknown market"),
    ],
)
def test_invalid_brackets_are_rejected_with_a_reason(req: BracketRequest, reason: str) -> None:
    async def scenario() -> Placement:
        venue = PaperVenue()
        await venue.on_candle(SOL, bar(0, "100"))
        return await venue.place_bracket(req)

    placement = run(scenario())
    assert not placement.accepted
    assert placement.reason is not None
    assert reason in placement.reason


def test_no_price_yet_and_clashing_user_order_ids_are_rejected() -> None:
    async def scenario() -> tuple[Placement, Placement]:
        venue = PaperVenue()
        no_price = await venue.place_bracket(request())
        await venue.on_candle(SOL, bar(0, "100"))
        await venue.on_candle(2, bar(0, "100"))
        assert (await venue.place_bracket(request())).accepted
        return no_price, await venue.place_bracket(request(trade_id="t2", symbol="ETH-PERP", market=2))

    no_price, clash = run(scenario())
    assert no_price.reason == "no market data for market 0 yet"
    assert clash.reason == "user order ids [1, 2, 3] are in use by open orders"


def test_placement_is_idempotent_and_everything_is_deterministic() -> None:
    async def scenario() -> tuple[Placement, Placement, VenueEvents]:
        venue = PaperVenue(funding={SOL: [(at(2), D("0.001"))]})
        fills = await trade(venue, request(), bar(1, "100"))
        assert len(fills) == 1
        again = await venue.place_bracket(request())
        await venue.on_candle(SOL, bar(2, "99", low="90"))
        return again, (await venue.place_bracket(request())), await venue.events_since(ALICE, None)

    a, b = run(scenario()), run(scenario())
    assert a == b  # two venues fed the same inputs agree on every id, price and cursor
    assert a[0] == a[1]
    assert a[0].accepted
    fill_ids = [f.fill_id for f in a[2].fills]
    assert len(set(fill_ids)) == 2


def test_cancelling_a_pending_entry_cancels_the_bracket_and_frees_the_market() -> None:
    async def scenario() -> None:
        venue = PaperVenue()
        await venue.on_candle(SOL, bar(0, "100"))
        placement = await venue.place_bracket(request())
        assert len(await venue.open_orders(ALICE)) == 3
        await venue.cancel(ALICE, placement.order_ids[OrderLeg.ENTRY])
        await venue.cancel(ALICE, "unknown")  # no-op
        assert await venue.open_orders(ALICE) == []
        await venue.on_candle(SOL, bar(1, "100"))
        assert await venue.positions(ALICE) == []
        assert (await venue.place_bracket(request(trade_id="t2"))).accepted

    run(scenario())


def test_stale_candles_are_ignored_and_naive_ones_refused() -> None:
    async def scenario() -> None:
        venue = PaperVenue()
        fills = await trade(venue, request(), bar(1, "100"))
        await venue.on_candle(SOL, bar(1, "50", low="1"))  # re-delivered bar 1: ignored
        assert await venue.events_since(ALICE, None) == await venue.events_since(ALICE, "0")
        assert len(fills) == 1
        assert len((await venue.events_since(ALICE, None)).fills) == 1
        with pytest.raises(ValueError, match="naive"):
            await venue.on_candle(SOL, Candle(datetime(2025, 2, 1), D(1), D(1), D(1), D(1), D(1)))
        # a cursor from a previous process (beyond this venue's log): everything logged here is new
        assert await venue.events_since(ALICE, "99") == await venue.events_since(ALICE, None)
        with pytest.raises(ValueError, match="cursor"):
            await venue.events_since(ALICE, "not-a-cursor")

    run(scenario())


def test_a_failing_subscriber_does_not_stop_the_market_or_other_subscribers() -> None:
    received: list[VenueEvents] = []

    async def broken(events: VenueEvents) -> None:
        raise RuntimeError("boom")

    async def working(events: VenueEvents) -> None:
        received.append(events)

    async def scenario() -> None:
        venue = PaperVenue()
        venue.subscribe(ALICE, broken)
        subscription = venue.subscribe(ALICE, working)
        await trade(venue, request(), bar(1, "100"))
        subscription.close()
        subscription.close()  # idempotent

    run(scenario())
    assert [len(e.fills) for e in received] == [1]
