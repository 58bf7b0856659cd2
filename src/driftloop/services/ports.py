"""The small protocols services depend on: clock, venue, unit of work.

Real adapters (SQLAlchemy, driftpy) and in-memory/paper ones implement them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from driftloop.domain.events import LoopEvent
from driftloop.domain.model import Bar, Fill, FundingPayment, OrderLeg, OrderSide, Side, TradeStatus
from driftloop.domain.trade import AccountRef, Trade
from driftloop.learning.aggregates import BucketKey, Equity, Sums


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
    max_hold_minutes: int | None = None  # the venue closes at market this long after the entry fill


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

    async def mark_price(self, market_index: int) -> Decimal | None:
        """The venue's current reference price (oracle / last trade); None before any data."""
        ...

    def subscribe(
        self, account: AccountRef, on_events: Callable[[VenueEvents], Awaitable[None]]
    ) -> Subscription: ...


@runtime_checkable
class TimeLimitedVenue(Protocol):
    """A venue that enforces `maxHoldMinutes` itself and keeps the limits in its process (the Drift venue):
    a restarted process arms the limits of the open trades again."""

    def set_time_limit(
        self, account: AccountRef, trade_id: str, market_index: int, deadline: datetime | None
    ) -> None: ...


class MarketData(Protocol):
    """Price history for excursions (MAE/MFE) of live trades."""

    def bars(self, market_index: int, start: datetime, end: datetime) -> Sequence[Bar]:
        """Bars whose open time lies in [start, end], in time order."""
        ...


# --- storage ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MonitoringState:
    user_id: str
    active: bool
    interval_seconds: float


class AccountRepository(Protocol):
    def ensure(self, account: AccountRef, at: datetime) -> None:
        """Create the account on first use (users are created on first use)."""
        ...

    def user_exists(self, user_id: str) -> bool: ...

    def accounts_of(self, user_id: str) -> list[AccountRef]: ...

    def set_monitoring(self, user_id: str, active: bool, interval_seconds: float, at: datetime) -> None:
        """Store whether the user is monitored, so a restart resumes it."""
        ...

    def monitoring(self, user_id: str | None = None) -> list[MonitoringState]:
        """Every user with stored monitoring state (or just the given user)."""
        ...

    def keep_monitored(self, user_ids: Sequence[str], default_interval: float) -> None:
        """Every account of these users monitored, at the interval each already has, else the default."""
        ...


class CursorRepository(Protocol):
    def get(self, account: AccountRef, stream: str) -> str | None: ...

    def of_users(self, user_ids: Sequence[str], stream: str) -> dict[str, dict[AccountRef, str | None]]:
        """Every account of each user with its cursor (None before the first `set`), in one round trip."""
        ...

    def set(self, account: AccountRef, stream: str, cursor: str, at: datetime) -> None:
        """Written in the same transaction as the data read up to it."""
        ...

    def set_many(self, cursors: Mapping[AccountRef, str], stream: str, at: datetime) -> None:
        """`set` for many accounts at once (one statement)."""
        ...


class EventRepository(Protocol):
    def record(self, event: LoopEvent) -> bool:
        """Store the event once per (account, kind, key); True when it is new."""
        ...

    def record_many(self, events: Sequence[LoopEvent]) -> list[bool]:
        """`record` for many events at once; each one's "new?" in order."""
        ...

    def for_user(self, user_id: str, kind: str | None = None) -> list[LoopEvent]: ...

    def for_users(self, user_ids: Sequence[str], kinds: Sequence[str] | None = None) -> list[LoopEvent]:
        """The events of many users (of these kinds if given) in one round trip, in recorded order."""
        ...


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

    def find_live(self, user_id: str, analysis_id: str) -> Trade | None:
        """The live trade (run "") made from this analysis of this user, if any."""
        ...

    def find_live_many(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Trade]:
        """`find_live` for many (user, analysis id) pairs at once: those found, by pair."""
        ...

    def open_trades(self, user_id: str, account: AccountRef | None = None) -> list[Trade]:
        """The user's live trades with status OPEN (entry pending or filled), of one account if given,
        oldest first."""
        ...

    def open_trades_of(self, scope: Mapping[AccountRef, Collection[int] | None]) -> list[Trade]:
        """The live OPEN trades of several accounts at once, each in its markets (None: all), in a
        number of round trips independent of theirs."""
        ...

    def order_owners(
        self, orders: Mapping[AccountRef, Sequence[str]]
    ) -> dict[AccountRef, dict[str, TradeStatus]]:
        """For each account, those of its venue order ids that belong to our trades: the trade's status
        (many accounts in one round trip)."""
        ...

    def placement_state(
        self, user_id: str, analysis_id: str, account: AccountRef, market_index: int
    ) -> tuple[bool, str | None]:
        """Whether a live trade of this analysis exists, and the live OPEN trade holding the market on
        the account if any: what placing checks first, in one round trip."""
        ...

    def closed_since(self, user_id: str, since: datetime | None) -> tuple[list[Trade], datetime | None]:
        """CLOSED live trades of the user written at or after `since` (all if None), and the latest write."""
        ...

    def live_trades(self, user_id: str, status: TradeStatus | None = None) -> list[Trade]:
        """All the user's live trades (any status unless given), oldest first."""
        ...


class InsightRepository(Protocol):
    """The insight aggregates the trade repository keeps in step with each user's live trades."""

    def read(self, user_id: str) -> tuple[dict[BucketKey, Sums], Equity | None]:
        """The user's buckets and equity state (independent of the number of trades)."""
        ...

    def closed_count(self, user_id: str) -> int:
        """How many live trades of the user are CLOSED (one row read)."""
        ...

    def rebuild(self, user_id: str | None = None) -> int:
        """Recompute them from the stored trades (one user or all); returns the trades read."""
        ...


class RunRepository(Protocol):
    def save(self, run: ReplayRun) -> None: ...

    def get(self, run_id: str) -> ReplayRun | None: ...


class UnitOfWork(Protocol):
    """One transaction per use case; repositories never commit."""

    @property
    def trades(self) -> TradeRepository: ...

    @property
    def runs(self) -> RunRepository: ...

    @property
    def accounts(self) -> AccountRepository: ...

    @property
    def cursors(self) -> CursorRepository: ...

    @property
    def events(self) -> EventRepository: ...

    @property
    def insights(self) -> InsightRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def commit(self) -> None: ...

    def try_lock_user(self, user_id: str) -> bool:
        """Hold the user for this transaction so that concurrent workers never process it twice
        (PostgreSQL: an advisory transaction lock; SQLite: a single worker, always True)."""
        ...

    def try_lock_users(self, user_ids: Sequence[str]) -> list[str]:
        """`try_lock_user` for many users at once; returns those now held."""
        ...

    def rollback(self) -> None: ...
