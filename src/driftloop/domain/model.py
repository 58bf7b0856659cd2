"""Core value objects of the loop: analyses, fills, funding payments.

Pure stdlib. Money and prices are `Decimal`; sizes are base-asset units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Side(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"

    @property
    def sign(self) -> int:
        return 1 if self is Side.LONG else -1

    @property
    def entry_order_side(self) -> OrderSide:
        return OrderSide.BUY if self is Side.LONG else OrderSide.SELL

    @property
    def exit_order_side(self) -> OrderSide:
        return OrderSide.SELL if self is Side.LONG else OrderSide.BUY


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class Recommendation(StrEnum):
    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


class Prediction(StrEnum):
    BULLISH = "BULLISH"
    BEARISH = "BEARISH"
    NEUTRAL = "NEUTRAL"


class Timeframe(StrEnum):
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"


class ExitReason(StrEnum):
    TAKE_PROFIT = "TAKE_PROFIT"
    STOP_LOSS = "STOP_LOSS"
    LIQUIDATION = "LIQUIDATION"
    TIME_LIMIT = "TIME_LIMIT"
    MANUAL = "MANUAL"


class OutcomeClass(StrEnum):
    WIN = "WIN"
    LOSS = "LOSS"
    BREAKEVEN = "BREAKEVEN"


class TradeStatus(StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"


class OrderLeg(StrEnum):
    """Which of a trade's orders a fill or order belongs to."""

    ENTRY = "ENTRY"
    STOP_LOSS = "STOP_LOSS"
    TAKE_PROFIT = "TAKE_PROFIT"
    CLOSE = "CLOSE"  # a market close we sent (time limit)
    EXTERNAL = "EXTERNAL"  # liquidation or anything not sent by us


@dataclass(frozen=True, slots=True)
class Analysis:
    """The AI's view of a market, as received (see ARCHITECTURE.md, Definitions)."""

    id: str
    timestamp: datetime
    symbol: str
    timeframe: Timeframe
    prediction: Prediction
    confidence: Decimal
    recommendation: Recommendation
    stop_loss: Decimal
    take_profit: Decimal
    size_usd: Decimal
    entry_price: Decimal | None = None
    target_price: Decimal | None = None
    leverage: Decimal = Decimal(1)
    max_hold_minutes: int | None = None
    analyst: str = ""
    reasoning: str = ""
    raw: Any = field(default_factory=dict)  # the analyst's payload, any JSON value

    @property
    def side(self) -> Side | None:
        """LONG for BUY, SHORT for SELL, None for HOLD (never traded)."""
        if self.recommendation is Recommendation.BUY:
            return Side.LONG
        if self.recommendation is Recommendation.SELL:
            return Side.SHORT
        return None

    @property
    def effective_target(self) -> Decimal:
        """`targetPrice`, defaulting to `takeProfit`."""
        return self.target_price if self.target_price is not None else self.take_profit

    @property
    def base_asset(self) -> str:
        return self.symbol.split("-")[0].upper()


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution against the venue, in the venue's own identity.

    `fee` is what the trader paid (a maker rebate is negative). `reference_price`
    is the price the order aimed at (trigger price of a stop or target, the open
    for a market order); None when there is none (liquidation, manual close).
    """

    fill_id: str
    ts: datetime
    side: OrderSide
    price: Decimal
    size: Decimal
    fee: Decimal
    leg: OrderLeg
    cause: ExitReason | None = None
    reference_price: Decimal | None = None
    role: str = "taker"
    market_index: int = 0
    order_id: str | None = None

    @property
    def notional(self) -> Decimal:
        return self.price * self.size


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """Funding settled on a position; `amount` > 0 is received, < 0 paid."""

    ts: datetime
    rate: Decimal
    amount: Decimal
    payment_id: str = ""


@dataclass(frozen=True, slots=True)
class Bar:
    """One candle's prices as the domain needs them (open time, aware UTC)."""

    ts: datetime
    open: Decimal
    high: Decimal
    low: Decimal
