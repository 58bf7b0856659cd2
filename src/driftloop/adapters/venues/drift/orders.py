"""The orders the Drift venue sends, as driftpy `OrderParams`: a bracket (market entry + reduce-only
trigger-market stop-loss and take-profit) and the reduce-only market close of a time limit."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

from driftpy.types import MarketType, OrderParams, OrderTriggerCondition, OrderType, PositionDirection

from driftloop.adapters.venues.drift import convert
from driftloop.adapters.venues.drift.program import MarketInfo
from driftloop.domain.model import OrderLeg, Side
from driftloop.services.ports import BracketRequest

LEGS = (OrderLeg.ENTRY, OrderLeg.STOP_LOSS, OrderLeg.TAKE_PROFIT)  # the order of a bracket's params


def bracket_orders(
    request: BracketRequest, market: MarketInfo | None, user: Any, symbols: Mapping[str, int]
) -> tuple[str | None, list[Any]]:
    """(None, the bracket's params in `LEGS` order), or (why it cannot be placed, [])."""
    if market is None or symbols.get(request.symbol, request.market_index) != request.market_index:
        return f"unknown market {request.symbol} (index {request.market_index}); markets: {dict(symbols)}", []
    open_orders = [o for o in user.orders if convert.variant(o.status) == "Open"]
    held = [
        p
        for p in user.perp_positions
        if int(p.market_index) == request.market_index and int(p.base_asset_amount) != 0
    ]
    pending = [o for o in open_orders if int(o.market_index) == request.market_index and not o.reduce_only]
    if held or pending:
        where = f"market {request.market_index} on sub-account {request.account.sub_account}"
        return f"positions net per market and sub-account: a position or entry is already open in {where}", []
    clash = ({int(o.user_order_id) for o in open_orders} - {0}) & set(request.user_order_ids.values())
    if clash:
        return f"user order ids {sorted(clash)} are in use by open orders", []
    if any(not 0 < request.user_order_ids.get(leg, 0) <= 255 for leg in LEGS):
        return "every leg needs a user order id in 1..255", []
    step = market.step_size
    base = int(request.size * convert.BASE_PRECISION) // step * step  # round down to the order step
    if base <= 0 or request.leverage <= 0:
        return f"size {request.size} rounds down to zero at the market's step {convert.base(step)}", []
    tick = Decimal(market.tick_size) / convert.PRICE_PRECISION
    stop, target = (on_tick(p, tick) for p in (request.stop_loss, request.take_profit))
    long = request.side is Side.LONG
    entry_dir, exit_dir = (PositionDirection.Long(), PositionDirection.Short())
    if not long:
        entry_dir, exit_dir = exit_dir, entry_dir
    above, below = OrderTriggerCondition.Above(), OrderTriggerCondition.Below()
    ids = request.user_order_ids

    def trigger(uid: int, level: int, condition: Any) -> Any:
        return OrderParams(
            OrderType.TriggerMarket(),
            base,
            request.market_index,
            exit_dir,
            MarketType.Perp(),
            user_order_id=uid,
            reduce_only=True,
            trigger_price=level,
            trigger_condition=condition,
        )

    entry = OrderParams(
        OrderType.Market(),
        base,
        request.market_index,
        entry_dir,
        MarketType.Perp(),
        user_order_id=ids[OrderLeg.ENTRY],
    )
    return None, [
        entry,
        trigger(ids[OrderLeg.STOP_LOSS], stop, below if long else above),  # a long's stop is below
        trigger(ids[OrderLeg.TAKE_PROFIT], target, above if long else below),
    ]


def close_order(market_index: int, position_base: int, user_order_id: int) -> Any:
    """A reduce-only market order closing the whole position (the CLOSE leg of a time limit)."""
    direction = PositionDirection.Short() if position_base > 0 else PositionDirection.Long()
    return OrderParams(
        OrderType.Market(),
        abs(position_base),
        market_index,
        direction,
        MarketType.Perp(),
        user_order_id=user_order_id,
        reduce_only=True,
    )


def on_tick(value: Decimal, tick: Decimal) -> int:
    """A trigger price on the market's tick grid, at Drift's price precision."""
    snapped = (value / tick).quantize(Decimal(1), ROUND_HALF_EVEN) * tick
    return int((snapped * convert.PRICE_PRECISION).to_integral_value(ROUND_DOWN))
