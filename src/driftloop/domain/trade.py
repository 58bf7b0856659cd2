"""A trade: what became of one analysis, and the learning record it feeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from driftloop.domain.model import Analysis, Fill, FundingPayment, OrderLeg, Side, TradeStatus
from driftloop.domain.outcome import Outcome

CALIBRATED_KEYS = ("calibratedWinProb", "calibratedProbability", "calibrated_probability")
"""Where a decision's calibrated win probability may sit in `learningData` (ours first)."""


@dataclass(frozen=True, slots=True)
class AccountRef:
    """Who trades where: a user's sub-account on a venue."""

    user_id: str
    venue: str = "paper"
    sub_account: int = 0


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One of a trade's orders on the venue, keyed by (trade, leg)."""

    leg: OrderLeg
    venue_order_id: str
    user_order_id: int
    trigger_price: Decimal | None
    tx_id: str
    status: str = "OPEN"


@dataclass(slots=True)
class Trade:
    """The life of one analysis on a venue.

    `run_id` scopes replay runs ("" for live trading). A SKIPPED or FAILED
    trade has no fills and carries its `reason`.
    """

    id: str
    account: AccountRef
    analysis: Analysis
    run_id: str
    status: TradeStatus
    market_index: int
    side: Side | None
    reason: str | None = None
    size: Decimal | None = None
    entry_price: Decimal | None = None
    opened_at: datetime | None = None
    drift_tx_id: str | None = None
    outcome: Outcome | None = None
    fills: list[Fill] = field(default_factory=list)
    funding: list[FundingPayment] = field(default_factory=list)
    orders: list[OrderRecord] = field(default_factory=list)
    learning_data: dict[str, Any] = field(default_factory=dict)

    @property
    def calibrated_probability(self) -> Decimal | None:
        """The policy's calibrated win probability (0–1), if it recorded one in `learning_data`."""
        for key in CALIBRATED_KEYS:
            value = self.learning_data.get(key)
            if value is None or isinstance(value, bool):
                continue
            try:
                return value if isinstance(value, Decimal) else Decimal(str(value))
            except (InvalidOperation, ValueError):
                return None
        return None

    @property
    def stop_loss(self) -> Decimal:
        return self.analysis.stop_loss

    @property
    def take_profit(self) -> Decimal:
        return self.analysis.take_profit

    @property
    def leverage(self) -> Decimal:
        return self.analysis.leverage
