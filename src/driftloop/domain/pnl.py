"""Position accounting from fills: weighted entry/exit, price PnL, fees, funding.

A trade's fills on its own side open it (entries), fills on the opposite side
reduce it (exits). Partial fills are averaged by size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from driftloop.domain.model import Fill, FundingPayment, Side

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PositionSummary:
    """What a trade's fills add up to."""

    side: Side
    entry_size: Decimal
    exit_size: Decimal
    entry_notional: Decimal
    avg_entry: Decimal | None
    avg_exit: Decimal | None
    price_pnl: Decimal
    fees: Decimal
    funding: Decimal

    @property
    def open_size(self) -> Decimal:
        return self.entry_size - self.exit_size

    @property
    def is_closed(self) -> bool:
        return self.entry_size > 0 and self.open_size <= 0

    @property
    def net_pnl(self) -> Decimal:
        """Price PnL − all fees + funding received (funding paid is negative)."""
        return self.price_pnl - self.fees + self.funding


def weighted_average(fills: Sequence[Fill]) -> Decimal | None:
    """Size-weighted average price; None when there is nothing filled."""
    size = sum((f.size for f in fills), ZERO)
    if size == 0:
        return None
    return sum((f.price * f.size for f in fills), ZERO) / size


def summarize(side: Side, fills: Iterable[Fill], funding: Iterable[FundingPayment] = ()) -> PositionSummary:
    """Sum a trade's fills and funding into its position summary."""
    all_fills = list(fills)
    entries = [f for f in all_fills if f.side is side.entry_order_side]
    exits = [f for f in all_fills if f.side is side.exit_order_side]
    avg_entry = weighted_average(entries)
    avg_exit = weighted_average(exits)
    entry_size = sum((f.size for f in entries), ZERO)
    exit_size = sum((f.size for f in exits), ZERO)
    entry_notional = sum((f.notional for f in entries), ZERO)
    price_pnl = ZERO
    if exit_size == entry_size:
        # Fully closed: difference of notionals, exact (no rounded average in between).
        price_pnl = (sum((f.notional for f in exits), ZERO) - entry_notional) * side.sign
    elif avg_entry is not None:
        price_pnl = sum(((f.price - avg_entry) * f.size for f in exits), ZERO) * side.sign
    return PositionSummary(
        side=side,
        entry_size=entry_size,
        entry_notional=entry_notional,
        exit_size=exit_size,
        avg_entry=avg_entry,
        avg_exit=avg_exit,
        price_pnl=price_pnl,
        fees=sum((f.fee for f in all_fills), ZERO),
        funding=sum((p.amount for p in funding), ZERO),
    )


def funding_received(side: Side, rate: Decimal, size: Decimal, price: Decimal) -> Decimal:
    """Funding for one period: a long receives −rate·size·price, a short +rate·size·price."""
    return -side.sign * rate * size * price


def liquidation_price(side: Side, entry: Decimal, leverage: Decimal, maintenance_ratio: Decimal) -> Decimal:
    """Price at which an isolated position at `leverage` hits maintenance margin.

    long: entry·(1 − 1/L)/(1 − m); short: entry·(1 + 1/L)/(1 + m).
    """
    inverse = 1 / leverage
    if side is Side.LONG:
        return entry * (1 - inverse) / (1 - maintenance_ratio)
    return entry * (1 + inverse) / (1 + maintenance_ratio)
