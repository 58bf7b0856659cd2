"""Drift records and accounts → driftloop values, exactly (integers at Drift precision → `Decimal`).

Pure functions over decoded IDL objects (read by attribute; an enum variant is recognised by its class
name, as anchorpy decodes it), so they are testable without a chain. No float anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any

from driftloop.domain.model import ExitReason, Fill, FundingPayment, OrderLeg, OrderSide
from driftloop.services.ports import VenueOrder, VenuePosition

BASE_PRECISION = 10**9
PRICE_PRECISION = 10**6
QUOTE_PRECISION = 10**6
FUNDING_RATE_PRECISION = 10**9


def variant(value: Any) -> str:
    """The name of a decoded enum variant (`OrderAction.Fill()` → "Fill"); "" for None."""
    return "" if value is None else type(value).__name__


def base(amount: int) -> Decimal:
    return Decimal(amount) / BASE_PRECISION


def price(amount: int) -> Decimal:
    return Decimal(amount) / PRICE_PRECISION


def quote(amount: int) -> Decimal:
    return Decimal(amount) / QUOTE_PRECISION


def fill_price(base_amount: int, quote_amount: int) -> Decimal:
    """Average price of a fill, quote / base: exact whenever the quotient terminates within 40 significant
    digits (e.g. a fill whose quote is exactly base × a price on Drift's 1e-6 grid), else rounded there."""
    with localcontext() as ctx:
        ctx.prec = 40
        return Decimal(quote_amount) * (BASE_PRECISION // QUOTE_PRECISION) / Decimal(base_amount)


def timestamp(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True, slots=True)
class OrderInfo:
    """What a fill needs to know about the order it filled (from the OrderRecord or the User account)."""

    order_id: int
    user_order_id: int
    order_type: str
    long: bool
    reduce_only: bool
    trigger_price: int
    trigger_above: bool

    @staticmethod
    def of(order: Any) -> OrderInfo:
        condition = variant(order.trigger_condition)
        return OrderInfo(
            order_id=int(order.order_id),
            user_order_id=int(order.user_order_id),
            order_type=variant(order.order_type),
            long=variant(order.direction) == "Long",
            reduce_only=bool(order.reduce_only),
            trigger_price=int(order.trigger_price),
            trigger_above=condition in ("Above", "TriggeredAbove"),
        )

    @staticmethod
    def of_params(order_id: int, params: Any) -> OrderInfo:
        """The order as we placed it (driftpy `OrderParams`)."""
        return OrderInfo(
            order_id=order_id,
            user_order_id=int(params.user_order_id),
            order_type=variant(params.order_type),
            long=variant(params.direction) == "Long",
            reduce_only=bool(params.reduce_only),
            trigger_price=int(params.trigger_price or 0),
            trigger_above=variant(params.trigger_condition) == "Above",
        )

    @staticmethod
    def guess_trigger(order_id: int, record: Any, trigger_price: int) -> OrderInfo | None:
        """An unknown order that was triggered at `trigger_price` and filled by `record` (our role taker),
        e.g. placed before a restart by a program that logs no OrderRecord: a reduce-only trigger order,
        a stop if its level is on the losing side of the position's entry price, else a target."""
        base_before = record.taker_existing_base_asset_amount
        entry_quote = record.taker_existing_quote_entry_amount
        if not base_before or entry_quote is None or trigger_price <= 0:
            return None
        entry = fill_price(int(base_before), abs(int(entry_quote)))
        long = variant(record.taker_order_direction) == "Long"  # buying back: the position was short
        level = price(trigger_price)
        losing = level > entry if long else level < entry
        return OrderInfo(
            order_id, -1, "TriggerMarket", long, True, trigger_price, trigger_above=long == losing
        )

    @property
    def leg(self) -> OrderLeg:
        """Which of our bracket's legs this order is; EXTERNAL if it was not placed by driftloop (our
        orders always carry a user order id: a market entry, two reduce-only trigger-market exits, and
        the reduce-only market close of a time limit)."""
        if self.user_order_id == 0:
            return OrderLeg.EXTERNAL
        if self.order_type == "Market":
            return OrderLeg.CLOSE if self.reduce_only else OrderLeg.ENTRY
        if self.order_type == "TriggerMarket" and self.reduce_only:
            # closing a long sells: its stop is below, its target above (mirrored for a short)
            protective_above = self.long
            return OrderLeg.STOP_LOSS if self.trigger_above == protective_above else OrderLeg.TAKE_PROFIT
        return OrderLeg.EXTERNAL


_CAUSE = {
    OrderLeg.STOP_LOSS: ExitReason.STOP_LOSS,
    OrderLeg.TAKE_PROFIT: ExitReason.TAKE_PROFIT,
    OrderLeg.CLOSE: ExitReason.TIME_LIMIT,
    OrderLeg.EXTERNAL: ExitReason.MANUAL,
}


def fill_from_record(
    record: Any, user: str, order: OrderInfo | None, liquidated: bool = False
) -> Fill | None:
    """The user's side of an OrderActionRecord fill (taker or maker), or None if it is not one.

    The fee is the one the program charged: `taker_fee` (≥ 0) as taker, `maker_fee` as maker (negative:
    a rebate). A fill of a liquidation (explanation `Liquidation`, or named by a LiquidationRecord of the
    same transaction) is an EXTERNAL fill with cause LIQUIDATION; a fill of an order we did not place is
    EXTERNAL with cause MANUAL.
    """
    if variant(record.action) != "Fill" or variant(record.market_type) != "Perp":
        return None
    if record.taker is not None and str(record.taker) == user:
        role, order_id, direction = "taker", record.taker_order_id, record.taker_order_direction
        fee = int(record.taker_fee or 0)
    elif record.maker is not None and str(record.maker) == user:
        role, order_id, direction = "maker", record.maker_order_id, record.maker_order_direction
        fee = int(record.maker_fee or 0)
    else:
        return None
    size, notional = int(record.base_asset_amount_filled), int(record.quote_asset_amount_filled)
    liquidation = liquidated or variant(record.action_explanation) == "Liquidation"
    leg = OrderLeg.EXTERNAL if liquidation or order is None else order.leg
    cause: ExitReason | None = ExitReason.LIQUIDATION if liquidation else _CAUSE.get(leg)
    if leg is OrderLeg.ENTRY:
        cause = None
    reference: Decimal | None = None
    if leg in (OrderLeg.STOP_LOSS, OrderLeg.TAKE_PROFIT) and order is not None:
        reference = price(order.trigger_price)
    elif leg in (OrderLeg.ENTRY, OrderLeg.CLOSE):
        reference = price(int(record.oracle_price))  # the oracle when the market order filled
    return Fill(
        fill_id=fill_id(int(record.market_index), int(record.fill_record_id), role),
        ts=timestamp(int(record.ts)),
        side=OrderSide.BUY if variant(direction) == "Long" else OrderSide.SELL,
        price=fill_price(size, notional),
        size=base(size),
        fee=quote(fee),
        leg=leg,
        cause=cause,
        reference_price=reference,
        role=role,
        market_index=int(record.market_index),
        order_id=None if order_id is None else str(order_id),
    )


def fill_from_liquidation(record: Any) -> Fill:
    """The liquidated side of a perp LiquidationRecord, for a program that logs no fill record with it:
    base and quote are the user's position change, the fee the liquidator's and the insurance fund's."""
    perp = record.liquidate_perp
    size, notional = int(perp.base_asset_amount), int(perp.quote_asset_amount)
    return Fill(
        fill_id=fill_id(int(perp.market_index), int(perp.fill_record_id), "taker"),
        ts=timestamp(int(record.ts)),
        side=OrderSide.BUY if size > 0 else OrderSide.SELL,
        price=fill_price(abs(size), abs(notional)),
        size=base(abs(size)),
        fee=quote(int(perp.liquidator_fee) + int(perp.if_fee)),
        leg=OrderLeg.EXTERNAL,
        cause=ExitReason.LIQUIDATION,
        role="taker",
        market_index=int(perp.market_index),
        order_id=str(int(perp.user_order_id)),
    )


def fill_id(market_index: int, fill_record_id: int, role: str) -> str:
    """Drift's own identity of a fill: market, fill record id and our role."""
    return f"drift:{market_index}:{fill_record_id}:{role}"


def funding_from_record(record: Any, tx_sig: str, index: int) -> tuple[int, FundingPayment]:
    """A FundingPaymentRecord as (market index, payment): `amount` > 0 received, < 0 paid; `rate` is the
    cumulative funding rate change settled, in quote per base unit."""
    side_rate = (
        record.amm_cumulative_funding_long
        if record.base_asset_amount > 0
        else (record.amm_cumulative_funding_short)
    )
    rate = Decimal(int(side_rate) - int(record.user_last_cumulative_funding)) / FUNDING_RATE_PRECISION
    payment = FundingPayment(
        ts=timestamp(int(record.ts)),
        rate=rate,
        amount=quote(int(record.funding_payment)),
        payment_id=f"drift:funding:{tx_sig}:{index}",
    )
    return int(record.market_index), payment


def position_from_account(pos: Any) -> VenuePosition | None:
    """A User account's perp position with a non-zero base; entry price = quote entry / base."""
    size = int(pos.base_asset_amount)
    if size == 0:
        return None
    entry = fill_price(abs(size), abs(int(pos.quote_entry_amount)))
    return VenuePosition(int(pos.market_index), base(size), entry)


_KINDS = {
    "Market": "MARKET",
    "TriggerMarket": "TRIGGER_MARKET",
    "Limit": "LIMIT",
    "TriggerLimit": "TRIGGER_LIMIT",
    "Oracle": "ORACLE",
}


def order_from_account(order: Any) -> VenueOrder | None:
    """An open perp order of the User account (None for empty slots and spot orders)."""
    if variant(order.status) != "Open" or variant(order.market_type) != "Perp":
        return None
    kind = variant(order.order_type)
    trigger = price(int(order.trigger_price)) if kind.startswith("Trigger") else None
    return VenueOrder(
        order_id=str(int(order.order_id)),
        user_order_id=int(order.user_order_id),
        market_index=int(order.market_index),
        side=OrderSide.BUY if variant(order.direction) == "Long" else OrderSide.SELL,
        kind=_KINDS.get(kind, kind.upper()),
        size=base(int(order.base_asset_amount) - int(order.base_asset_amount_filled)),
        trigger_price=trigger,
        reduce_only=bool(order.reduce_only),
    )
