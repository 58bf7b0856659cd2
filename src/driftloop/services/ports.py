"""The small protocols services depend on: clock, venue, unit of work.

Real adapters (SQLAlchemy, driftpy) and in-memory/paper ones implement them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Protocol, Self

from driftloop.domain.model import Fill, FundingPayment, OrderLeg, OrderSide, Side
from driftloop.domain.trade import AccountRef, Trade


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC now."""
        ...


# --- venue -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BracketRequest:
    """An entry at market with its reduce-only stop-loss and take-profit, as one action."""

    trade_id: str
    account: AccountRef
    symbol: str
    market_index: int
    side: Side
    size: Decimal
    stop_loss: Decimal
    take_profit: Decimal
    leverage: Decimal
    user_order_ids: dict[OrderLeg, int]


@dataclass(frozen=True, slots=True)
class Placement:
    accepted: bool
    tx_id: str | None = None
    order_ids: dict[OrderLeg, str] = field(default_factory=dict)
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class VenueOrder:
    order_id: str
    user_order_id: int
    market_index: int
    side: OrderSide
    kind: str  # MARKET | TRIGGER_MARKET
    size: Decimal
    trigger_price: Decimal | None
    reduce_only: bool


@dataclass(frozen=True, slots=True)
class VenuePosition:
    market_index: int
    size: Decimal  # signed base: > 0 long, < 0 short
    entry_price: Decimal


@dataclass(frozen=True, slots=True)
class VenueEvents:
    """Fills and funding after a cursor, and the cursor to store with them."""

    fills: Sequence[Fill]
    funding: Sequence[tuple[int, FundingPayment]]  # (market index, payment)
    cursor: str


class Subscription(Protocol):
    def close(self) -> None: ...


class Venue(Protocol):
    """What the loop needs from an exchange (paper or Drift)."""

    name: str

    async def place_bracket(self, request: BracketRequest) -> Placement: ...

    async def cancel(self, account: AccountRef, order_id: str) -> None: ...

    async def open_orders(self, account: AccountRef) -> list[VenueOrder]: ...

    async def positions(self, account: AccountRef) -> list[VenuePosition]: ...

    async def events_since(self, account: AccountRef, cursor: str | None) -> VenueEvents: ...

    def subscribe(
        self, account: AccountRef, on_events: Callable[[VenueEvents], Awaitable[None]]
    ) -> Subscription: ...


# --- storage ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayRun:
    id: str
    created_at: datetime
    parameters: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)


class TradeRepository(Protocol):
    def save(self, trade: Trade, recorded_at: datetime) -> None:
        """Insert or update the trade with its analysis, orders, fills, funding and
        learning record. Fills and funding are keyed by their venue identity, so
        saving the same trade twice changes nothing."""
        ...

    def save_many(self, trades: Sequence[Trade], recorded_at: datetime) -> None:
        """`save` for a batch, in bulk statements."""
        ...

    def get(self, trade_id: str) -> Trade | None: ...

    def list_for_run(self, run_id: str) -> list[Trade]: ...


class RunRepository(Protocol):
    def save(self, run: ReplayRun) -> None: ...

    def get(self, run_id: str) -> ReplayRun | None: ...


class UnitOfWork(Protocol):
    """One transaction per use case; repositories never commit."""

    trades: TradeRepository
    runs: RunRepository

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...
