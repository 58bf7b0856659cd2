"""Paper-fill rules for one candle (Definitions: Paper fills 1–4), exact in Decimal.

The replay engine finds candidate candles with vectorised float searches and
then decides here, exactly, what fires and at which price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from driftloop.domain.model import ExitReason, Side


@dataclass(frozen=True, slots=True)
class Bracket:
    """An open position's protective orders and its liquidation price."""

    side: Side
    stop_loss: Decimal
    take_profit: Decimal
    liquidation: Decimal | None
    slippage: Decimal

    @property
    def adverse_level(self) -> Decimal:
        """The adverse price reached first coming from above (long) or below (short)."""
        if self.liquidation is None:
            return self.stop_loss
        if self.side is Side.LONG:
            return max(self.stop_loss, self.liquidation)
        return min(self.stop_loss, self.liquidation)


@dataclass(frozen=True, slots=True)
class Exit:
    reason: ExitReason
    price: Decimal
    reference: Decimal | None  # trigger price or open; None for a liquidation


def market_fill(side_sign: int, open_price: Decimal, slippage: Decimal) -> Decimal:
    """A market order at the open, moved against the trader (+1 buys, −1 sells)."""
    return open_price * (1 + side_sign * slippage)


def entry_fill(side: Side, open_price: Decimal, slippage: Decimal) -> Decimal:
    return market_fill(side.sign, open_price, slippage)


def time_limit_exit(side: Side, open_price: Decimal, slippage: Decimal) -> Exit:
    """Close at market at the open of the time-limit candle."""
    return Exit(ExitReason.TIME_LIMIT, market_fill(-side.sign, open_price, slippage), open_price)


def liquidation_level(side: Side, liquidation: Decimal | None) -> Decimal | None:
    """Liquidation prices at or below zero can never be reached (a 1× long)."""
    if liquidation is None or liquidation <= 0:
        return None
    return liquidation


def resolve_bar(b: Bracket, open_: Decimal, high: Decimal, low: Decimal) -> Exit | None:
    """What closes the position in this candle, if anything.

    Adverse triggers (stop, liquidation) fire before the target unless the open
    is already beyond the target; between stop and liquidation the one the price
    meets first coming from the open fires (the stop on a tie).
    """
    if b.side is Side.LONG:
        target_hit = high >= b.take_profit
        if target_hit and open_ >= b.take_profit:
            return Exit(ExitReason.TAKE_PROFIT, open_ * (1 - b.slippage), b.take_profit)
        stop_hit = low <= b.stop_loss
        liq = b.liquidation
        if liq is not None and low <= liq and (not stop_hit or liq > b.stop_loss):
            return Exit(ExitReason.LIQUIDATION, min(open_, liq), None)
        if stop_hit:
            return Exit(ExitReason.STOP_LOSS, min(open_, b.stop_loss) * (1 - b.slippage), b.stop_loss)
        if target_hit:
            return Exit(ExitReason.TAKE_PROFIT, b.take_profit * (1 - b.slippage), b.take_profit)
        return None
    target_hit = low <= b.take_profit
    if target_hit and open_ <= b.take_profit:
        return Exit(ExitReason.TAKE_PROFIT, open_ * (1 + b.slippage), b.take_profit)
    stop_hit = high >= b.stop_loss
    liq = b.liquidation
    if liq is not None and high >= liq and (not stop_hit or liq < b.stop_loss):
        return Exit(ExitReason.LIQUIDATION, max(open_, liq), None)
    if stop_hit:
        return Exit(ExitReason.STOP_LOSS, max(open_, b.stop_loss) * (1 + b.slippage), b.stop_loss)
    if target_hit:
        return Exit(ExitReason.TAKE_PROFIT, b.take_profit * (1 + b.slippage), b.take_profit)
    return None
