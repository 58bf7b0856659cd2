"""Drift records → driftloop values, exactly: the pure conversion rules (no driftpy needed: records are
stand-ins with the IDL's field names, enum variants recognised by class name as anchorpy decodes them)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from driftloop.adapters.venues.drift import convert
from driftloop.adapters.venues.drift.convert import OrderInfo
from driftloop.domain.model import ExitReason, OrderLeg, OrderSide

D = Decimal
USER, OTHER = "User1111", "Other222"


def v(name: str) -> Any:
    """An enum variant named `name` (as anchorpy's decoded sumtype instances)."""
    return type(name, (), {})()


def order(
    kind: str, long: bool, reduce_only: bool, uid: int, trigger: int = 0, above: bool = True
) -> OrderInfo:
    return OrderInfo(7, uid, kind, long, reduce_only, trigger, above)


@pytest.mark.parametrize(
    ("info", "leg"),
    [
        (order("Market", True, False, 1), OrderLeg.ENTRY),
        (order("TriggerMarket", False, True, 2, 95_000_000, above=False), OrderLeg.STOP_LOSS),  # long's stop
        (order("TriggerMarket", False, True, 3, 110_000_000, above=True), OrderLeg.TAKE_PROFIT),
        (order("TriggerMarket", True, True, 2, 105_000_000, above=True), OrderLeg.STOP_LOSS),  # short's stop
        (order("TriggerMarket", True, True, 3, 90_000_000, above=False), OrderLeg.TAKE_PROFIT),
        (order("Market", False, True, 4), OrderLeg.CLOSE),  # our time-limit close
        (order("Market", False, True, 0), OrderLeg.EXTERNAL),  # closed in another client
        (order("Limit", True, False, 5), OrderLeg.EXTERNAL),
    ],
)
def test_the_leg_of_an_order(info: OrderInfo, leg: OrderLeg) -> None:
    assert info.leg is leg


def record(**fields: Any) -> SimpleNamespace:
    base = {
        "ts": 1_735_689_600,
        "action": v("Fill"),
        "action_explanation": v("OrderFilledWithAMM"),
        "market_index": 0,
        "market_type": v("Perp"),
        "fill_record_id": 12,
        "base_asset_amount_filled": 2_000_000_000,
        "quote_asset_amount_filled": 189_900_000,
        "taker_fee": 189_900,
        "maker_fee": None,
        "taker": USER,
        "taker_order_id": 7,
        "taker_order_direction": v("Short"),
        "maker": None,
        "maker_order_id": None,
        "maker_order_direction": None,
        "oracle_price": 95_000_000,
        "trigger_price": None,
    }
    base.update(fields)
    return SimpleNamespace(**base)


def test_a_stop_fill_as_taker() -> None:
    stop = order("TriggerMarket", False, True, 2, 95_000_000, above=False)
    fill = convert.fill_from_record(record(), USER, stop)
    assert fill is not None
    assert (fill.side, fill.size, fill.price, fill.fee) == (OrderSide.SELL, D(2), D("94.95"), D("0.1899"))
    assert (fill.leg, fill.cause, fill.reference_price) == (OrderLeg.STOP_LOSS, ExitReason.STOP_LOSS, D(95))
    assert (fill.fill_id, fill.order_id, fill.role) == ("drift:0:12:taker", "7", "taker")
    assert fill.ts == datetime(2025, 1, 1, tzinfo=UTC)


def test_liquidations_manual_closes_and_other_records() -> None:
    liquidation = record(action_explanation=v("Liquidation"))
    fill = convert.fill_from_record(liquidation, USER, None)
    assert fill is not None
    assert (fill.leg, fill.cause, fill.reference_price) == (OrderLeg.EXTERNAL, ExitReason.LIQUIDATION, None)
    manual = convert.fill_from_record(record(), USER, None)  # an order we know nothing of
    assert manual is not None
    assert (manual.leg, manual.cause) == (OrderLeg.EXTERNAL, ExitReason.MANUAL)
    assert convert.fill_from_record(record(action=v("Trigger")), USER, None) is None
    assert convert.fill_from_record(record(market_type=v("Spot")), USER, None) is None
    assert convert.fill_from_record(record(), OTHER, None) is None


def test_a_non_terminating_price_keeps_forty_digits() -> None:
    fill = convert.fill_from_record(
        record(base_asset_amount_filled=3, quote_asset_amount_filled=1), USER, None
    )
    assert fill is not None
    assert fill.price == D("333.3333333333333333333333333333333333333")
    assert fill.size == D("3E-9")


def test_funding_payments() -> None:
    paid = SimpleNamespace(
        ts=1_735_693_200,
        market_index=2,
        funding_payment=-10_000,
        base_asset_amount=10**10,
        user_last_cumulative_funding=5_000_000,
        amm_cumulative_funding_long=6_000_000,
        amm_cumulative_funding_short=5_500_000,
    )
    market, payment = convert.funding_from_record(paid, "sig", 3)
    assert (market, payment.amount, payment.rate, payment.payment_id) == (
        2,
        D("-0.01"),
        D("0.001"),
        "drift:funding:sig:3",
    )
    short = SimpleNamespace(**{**vars(paid), "base_asset_amount": -(10**10), "funding_payment": 5_000})
    assert convert.funding_from_record(short, "sig", 4)[1].rate == D("0.0005")  # the short side's rate


def test_positions_and_orders_from_the_user_account() -> None:
    pos = SimpleNamespace(market_index=0, base_asset_amount=-1_500_000_000, quote_entry_amount=150_075_000)
    position = convert.position_from_account(pos)
    assert position is not None
    assert (position.size, position.entry_price) == (D("-1.5"), D("100.05"))
    assert convert.position_from_account(SimpleNamespace(market_index=1, base_asset_amount=0)) is None
    trigger = SimpleNamespace(
        status=v("Open"),
        market_type=v("Perp"),
        order_type=v("TriggerMarket"),
        trigger_price=105_000_000,
        order_id=9,
        user_order_id=2,
        market_index=0,
        direction=v("Long"),
        base_asset_amount=1_500_000_000,
        base_asset_amount_filled=0,
        reduce_only=True,
    )
    view = convert.order_from_account(trigger)
    assert view is not None
    assert (view.order_id, view.kind, view.side, view.size, view.trigger_price, view.reduce_only) == (
        "9",
        "TRIGGER_MARKET",
        OrderSide.BUY,
        D("1.5"),
        D(105),
        True,
    )
    assert convert.order_from_account(SimpleNamespace(**{**vars(trigger), "status": v("Init")})) is None
