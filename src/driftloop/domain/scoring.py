"""How right the AI was on one closed trade (Definitions: Accuracy of the AI)."""

from __future__ import annotations

from decimal import Decimal

from driftloop.domain.model import OutcomeClass, Side


def direction_correct(side: Side, entry: Decimal, exit_price: Decimal) -> bool:
    """Exit strictly above entry for a long, strictly below for a short."""
    return exit_price > entry if side is Side.LONG else exit_price < entry


def price_accuracy(entry: Decimal, target: Decimal, actual: Decimal) -> Decimal:
    """max(0, 1 − |actual − target| / |target − entry|).

    A target equal to the entry has no distance to normalise by: it scores 1
    when hit exactly, else 0.
    """
    span = abs(target - entry)
    if span == 0:
        return Decimal(1) if actual == target else Decimal(0)
    return max(Decimal(0), 1 - abs(actual - target) / span)


def accuracy_score(correct: bool, accuracy: Decimal) -> Decimal:
    return accuracy if correct else Decimal(0)


def brier(probability: Decimal, outcome: OutcomeClass) -> Decimal:
    """(p − y)² with y = 1 for a WIN, else 0."""
    y = Decimal(1) if outcome is OutcomeClass.WIN else Decimal(0)
    return (probability - y) ** 2


def classify(pnl_percent: Decimal, band_pct: Decimal) -> OutcomeClass:
    """WIN above +band, LOSS below −band, BREAKEVEN within (band in percent)."""
    if pnl_percent > band_pct:
        return OutcomeClass.WIN
    if pnl_percent < -band_pct:
        return OutcomeClass.LOSS
    return OutcomeClass.BREAKEVEN
