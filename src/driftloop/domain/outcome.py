"""A closed trade's outcome, computed from its fills (Definitions: Trade outcome fields)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from driftloop.domain import scoring
from driftloop.domain.model import Analysis, Bar, ExitReason, Fill, FundingPayment, OutcomeClass, Side
from driftloop.domain.pnl import summarize

DEFAULT_BREAKEVEN_PCT = Decimal("0.05")
BPS = Decimal(10_000)
HUNDRED = Decimal(100)
ZERO = Decimal(0)


class IncompleteTradeError(ValueError):
    """The fills do not describe a closed position."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """Every outcome and accuracy field of one closed trade."""

    side: Side
    entry_price: Decimal
    exit_price: Decimal
    size: Decimal
    leverage: Decimal
    entry_notional: Decimal
    price_pnl: Decimal
    fees_usd: Decimal
    funding_usd: Decimal
    pnl_usd: Decimal
    pnl_percent: Decimal
    roe_percent: Decimal
    actual_rr: Decimal | None
    outcome: OutcomeClass
    exit_reason: ExitReason
    entry_slippage_bps: Decimal
    exit_slippage_bps: Decimal
    mae: Decimal
    mfe: Decimal
    closed_at: datetime
    direction_correct: bool
    price_accuracy: Decimal
    accuracy_score: Decimal
    stated_probability: Decimal
    brier: Decimal

    @property
    def slippage_bps(self) -> Decimal:
        return self.entry_slippage_bps + self.exit_slippage_bps


def slippage_bps(side: Side, price: Decimal, reference: Decimal | None, *, is_entry: bool) -> Decimal:
    """Signed slippage in bps of the reference; positive = against the trader."""
    if reference is None or reference == 0:
        return ZERO
    against = (price - reference) if is_entry else (reference - price)
    return side.sign * against / reference * BPS


def clip_exit_bar(
    side: Side, reason: ExitReason, low: Decimal, high: Decimal, exit_price: Decimal
) -> tuple[Decimal, Decimal]:
    """The part of the exit candle the position lived through.

    The extreme on the side of the exit is clipped at the exit price: the low
    for a long's stop or liquidation (a short's high), the high for a long's
    target (a short's low). A time-limit exit happens at the candle's open, so
    both sides are clipped; a manual exit is clipped on the side it lies.
    """
    adverse_low = side is Side.LONG
    if reason in (ExitReason.STOP_LOSS, ExitReason.LIQUIDATION):
        clip_low = adverse_low
    elif reason is ExitReason.TAKE_PROFIT:
        clip_low = not adverse_low
    elif reason is ExitReason.TIME_LIMIT:
        return max(low, exit_price), min(high, exit_price)
    else:
        clip_low = exit_price <= (low + high) / 2
    if clip_low:
        return max(low, exit_price), high
    return low, min(high, exit_price)


def extremes_from_bars(
    side: Side, reason: ExitReason, bars: Sequence[Bar], entry: Decimal, exit_price: Decimal
) -> tuple[Decimal, Decimal]:
    """Lowest and highest price from the entry candle through the (clipped) exit candle.

    `bars` run from the entry candle to the exit candle inclusive. Without any
    bar (no price history), the entry and exit fills bound the range.
    """
    if not bars:
        return min(entry, exit_price), max(entry, exit_price)
    *lived, last = bars
    low, high = clip_exit_bar(side, reason, last.low, last.high, exit_price)
    for bar in lived:
        low, high = min(low, bar.low), max(high, bar.high)
    return low, high


def excursions(side: Side, entry: Decimal, lowest: Decimal, highest: Decimal) -> tuple[Decimal, Decimal]:
    """(MAE, MFE) in % of entry, both ≥ 0."""
    down = (entry - lowest) / entry * HUNDRED
    up = (highest - entry) / entry * HUNDRED
    adverse, favourable = (down, up) if side is Side.LONG else (up, down)
    return max(ZERO, adverse), max(ZERO, favourable)


def _exit_reason(closing: Sequence[Fill]) -> ExitReason:
    """The cause of the fill that closed the position (the last exit fill in time)."""
    last = max(enumerate(closing), key=lambda item: (item[1].ts, item[0]))[1]
    return last.cause or ExitReason.MANUAL


def exit_slippage_bps(side: Side, closing: Sequence[Fill]) -> Decimal:
    """Size-weighted slippage of the exit fills, each against its own reference.

    A liquidation has no reference (0 by definition), nor has a manual close.
    """
    size = sum((f.size for f in closing), ZERO)
    if size == 0:
        return ZERO
    weighted = sum(
        (
            f.size
            * slippage_bps(
                side,
                f.price,
                None if f.cause is ExitReason.LIQUIDATION else f.reference_price,
                is_entry=False,
            )
            for f in closing
        ),
        ZERO,
    )
    return weighted / size


def compute_outcome(
    analysis: Analysis,
    fills: Sequence[Fill],
    funding: Sequence[FundingPayment],
    *,
    closed_at: datetime,
    lowest: Decimal,
    highest: Decimal,
    breakeven_pct: Decimal = DEFAULT_BREAKEVEN_PCT,
) -> Outcome:
    """Compute every outcome field of a closed trade.

    `lowest`/`highest` are the price extremes from the entry candle to the exit
    candle, the exit candle already clipped (`clip_exit_bar`).
    """
    side = analysis.side
    if side is None:
        raise IncompleteTradeError("a HOLD analysis has no trade")
    position = summarize(side, fills, funding)
    if not position.is_closed or position.avg_entry is None or position.avg_exit is None:
        raise IncompleteTradeError("the position is not closed")
    entry, exit_price, size = position.avg_entry, position.avg_exit, position.entry_size
    notional = position.entry_notional
    pnl = position.net_pnl
    pnl_percent = pnl / notional * HUNDRED
    margin = notional / analysis.leverage
    risk = abs(entry - analysis.stop_loss) * size
    entries = [f for f in fills if f.side is side.entry_order_side]
    closing = [f for f in fills if f.side is side.exit_order_side]
    reason = _exit_reason(closing)
    entry_reference = analysis.entry_price if analysis.entry_price is not None else entries[0].reference_price
    mae, mfe = excursions(side, entry, lowest, highest)
    outcome = scoring.classify(pnl_percent, breakeven_pct)
    correct = scoring.direction_correct(side, entry, exit_price)
    accuracy = scoring.price_accuracy(entry, analysis.effective_target, exit_price)
    probability = analysis.confidence / HUNDRED
    return Outcome(
        side=side,
        entry_price=entry,
        exit_price=exit_price,
        size=size,
        leverage=analysis.leverage,
        entry_notional=notional,
        price_pnl=position.price_pnl,
        fees_usd=position.fees,
        funding_usd=position.funding,
        pnl_usd=pnl,
        pnl_percent=pnl_percent,
        roe_percent=pnl / margin * HUNDRED,
        actual_rr=pnl / risk if risk != 0 else None,
        outcome=outcome,
        exit_reason=reason,
        entry_slippage_bps=slippage_bps(side, entry, entry_reference, is_entry=True),
        exit_slippage_bps=exit_slippage_bps(side, closing),
        mae=mae,
        mfe=mfe,
        closed_at=closed_at,
        direction_correct=correct,
        price_accuracy=accuracy,
        accuracy_score=scoring.accuracy_score(correct, accuracy),
        stated_probability=probability,
        brier=scoring.brier(probability, outcome),
    )
