"""Import a Drift account's history (fills, funding, settle PnL) as trades with exact outcomes.

1. Read every page of the three streams, newest first, down to what an earlier import
   stored (the cursor) or to `since`; every record is validated before anything is
   written, so a bad record stops the import with nothing changed.
2. Merge them into one time-ordered stream and advance a `HistoryBook` over it in
   batches; each batch's trades (closed ones with their outcome, open ones as they
   stand) are stored with the cursor in one transaction.
3. The next import (or one resumed after an interruption) starts from the stored open
   trades and the cursor: importing twice changes nothing, and an interrupted import
   resumed later ends with the same database as one uninterrupted run.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from driftloop.domain.history import (
    EventKey,
    HistoryBook,
    HistoryEvent,
    HistoryFill,
    HistoryFunding,
    Issue,
    SettleCheck,
    SettleTally,
    exact18,
    is_imported,
)
from driftloop.domain.model import TradeStatus
from driftloop.domain.outcome import DEFAULT_BREAKEVEN_PCT
from driftloop.domain.trade import AccountRef, Trade
from driftloop.services.ports import Clock, UnitOfWork
from driftloop.services.retry import RetryPolicy, with_retry

TRADES_STREAM, FUNDING_STREAM, SETTLE_STREAM = "trades", "fundingPayments", "settlePnl"
STREAMS = (TRADES_STREAM, FUNDING_STREAM, SETTLE_STREAM)
VENUE = "drift"
API_WINDOW = timedelta(days=31)  # the rolling endpoints keep this much history
CURSOR_VERSION = 1
MAX_PAGES = 1_000_000  # a runaway guard against an API that never stops paging


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a stream: its parsed events, the next page's cursor, how many records it held."""

    events: Sequence[HistoryEvent]
    next_page: str | None
    records: int = 0


class HistorySource(Protocol):
    async def page(self, stream: str, cursor: str | None) -> Page:
        """A page of `stream` (`trades`, `fundingPayments`, `settlePnl`), newest records first."""
        ...


@dataclass(frozen=True, slots=True)
class ImportRequest:
    user_id: str
    account_key: str  # the Drift user (sub-account) account public key
    sub_account: int = 0
    since: datetime | None = None
    batch_size: int = 1000  # events per transaction
    breakeven_pct: Decimal = DEFAULT_BREAKEVEN_PCT

    @property
    def account(self) -> AccountRef:
        return AccountRef(self.user_id, VENUE, self.sub_account)

    @property
    def stream(self) -> str:
        """The `ingest_cursors` stream of this import."""
        return f"drift-data-history:{self.account_key}"


@dataclass(slots=True)
class ImportSummary:
    user_id: str
    account_key: str
    sub_account: int
    pages: dict[str, int] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)
    new_fills: int = 0
    new_funding: int = 0
    new_settlements: int = 0
    batches: int = 0
    trades_saved: int = 0
    trades_closed: int = 0
    trades_open: int = 0
    realized_pnl: Decimal = Decimal(0)
    settle: SettleTally = field(default_factory=SettleTally)
    issues: list[Issue] = field(default_factory=list)
    resumed_from: str | None = None

    @property
    def new_events(self) -> int:
        return self.new_fills + self.new_funding + self.new_settlements

    def to_json(self) -> dict[str, Any]:
        return {
            "userId": self.user_id,
            "account": self.account_key,
            "subAccount": self.sub_account,
            "pages": self.pages,
            "records": self.records,
            "newFills": self.new_fills,
            "newFundingPayments": self.new_funding,
            "newSettlements": self.new_settlements,
            "batches": self.batches,
            "tradesSaved": self.trades_saved,
            "tradesClosed": self.trades_closed,
            "tradesOpen": self.trades_open,
            "realizedPnlUsd": str(exact18(self.realized_pnl)),
            "settlePnlCheck": {
                "matched": self.settle.matched,
                "mismatched": self.settle.mismatched,
                "notComparable": self.settle.not_comparable,
            },
            "issues": [
                {"kind": i.kind, "marketIndex": i.market_index, "ts": i.ts.isoformat(), "detail": i.detail}
                for i in self.issues
            ],
            "resumedFrom": self.resumed_from,
        }


@dataclass(frozen=True, slots=True)
class ImportCursor:
    """What the store holds of an import: the last event stored and the settle-PnL check state."""

    after: EventKey | None = None
    settle: dict[int, SettleCheck] = field(default_factory=dict)

    def encode(self) -> str:
        return json.dumps(
            {
                "v": CURSOR_VERSION,
                "after": None if self.after is None else self.after.encode(),
                "settle": {str(m): c.to_json() for m, c in sorted(self.settle.items())},
            },
            sort_keys=True,
        )

    @classmethod
    def decode(cls, text: str | None) -> ImportCursor:
        if not text:
            return cls()
        data = json.loads(text)
        after = data.get("after")
        settle = {int(m): SettleCheck.from_json(c) for m, c in data.get("settle", {}).items()}
        return cls(None if after is None else EventKey.decode(after), settle)


Progress = Callable[[str, int], None]


def _noop(_stage: str, _n: int) -> None:
    return None


async def fetch_events(
    source: HistorySource,
    after: EventKey | None,
    since: datetime | None,
    summary: ImportSummary,
    retry: RetryPolicy,
    progress: Progress = _noop,
) -> list[HistoryEvent]:
    """Every event newer than `after` (and not before `since`) of the three streams, in time order.

    Pages come newest first: a stream is read until its page reaches back to `after` or
    `since`, or it has no next page.
    """
    events: list[HistoryEvent] = []
    for stream in STREAMS:
        cursor: str | None = None
        pages = records = 0
        while pages < MAX_PAGES:
            page = await with_retry(_page_call(source, stream, cursor), retry)
            pages += 1
            records += page.records
            progress("page", 1)
            events.extend(e for e in page.events if _wanted(e.key, after, since))
            if page.next_page is None or page.next_page == cursor:
                break
            # Stop once a page reaches back before the stored cursor's second (records of one second
            # may come in any order) or before `since`; what is newer is kept by `_wanted`.
            oldest = min((e.key for e in page.events), default=None)
            if oldest is not None and (
                (after is not None and oldest.ts < after.ts) or (since is not None and oldest.ts < since)
            ):
                break
            cursor = page.next_page
        summary.pages[stream] = pages
        summary.records[stream] = records
    events.sort(key=lambda e: e.key)
    return events


def _page_call(source: HistorySource, stream: str, cursor: str | None) -> Callable[[], Awaitable[Page]]:
    return lambda: source.page(stream, cursor)


def _wanted(key: EventKey, after: EventKey | None, since: datetime | None) -> bool:
    return (after is None or key > after) and (since is None or key.ts >= since)


def _live_conflicts(open_trades: Sequence[Trade], account_key: str, now: datetime) -> list[Issue]:
    return [
        Issue(
            "live-trade-open",
            t.market_index,
            t.opened_at or now,
            f"trade {t.id} (not imported) holds this market on the sub-account: fills may be counted twice",
        )
        for t in open_trades
        if t.status is TradeStatus.OPEN and not is_imported(t, account_key)
    ]


def _live_fills(
    uow_factory: Callable[[], UnitOfWork], request: ImportRequest
) -> frozenset[tuple[int, str, str]]:
    """(market, fill id, role) of the fills the live loop's own trades on this account hold."""
    with uow_factory() as uow:
        trades = uow.trades.live_trades(request.user_id)
    return frozenset(
        (f.market_index, f.fill_id, f.role)
        for t in trades
        if t.account == request.account and not is_imported(t)
        for f in t.fills
    )


async def import_history(
    source: HistorySource,
    uow_factory: Callable[[], UnitOfWork],
    clock: Clock,
    request: ImportRequest,
    *,
    retry: RetryPolicy | None = None,
    progress: Progress = _noop,
) -> ImportSummary:
    """Import the account's history into the user's live trades (see the module docstring)."""
    account = request.account
    summary = ImportSummary(request.user_id, request.account_key, request.sub_account)
    with uow_factory() as uow:
        stored = ImportCursor.decode(uow.cursors.get(account, request.stream))
        open_trades = uow.trades.open_trades(request.user_id, account)
    if stored.after is not None:
        summary.resumed_from = stored.after.ts.isoformat()
        if clock.now() - stored.after.ts > API_WINDOW:
            summary.issues.append(
                Issue(
                    "history-gap",
                    -1,
                    stored.after.ts,
                    "the last import is older than the API's 31-day window: records in between may be lost",
                )
            )
    summary.issues.extend(_live_conflicts(open_trades, request.account_key, clock.now()))
    events = await fetch_events(
        source, stored.after, request.since, summary, retry or RetryPolicy(), progress
    )
    book = HistoryBook.resume(account, request.account_key, open_trades, stored.settle, request.breakeven_pct)
    if events:
        book.foreign = _live_fills(uow_factory, request)
    size = max(1, request.batch_size)
    for start in range(0, len(events), size):
        batch = events[start : start + size]
        for event in batch:
            book.apply(event)
        trades = book.touched()
        cursor = ImportCursor(batch[-1].key, dict(book.settle))
        with uow_factory() as uow:
            now = clock.now()
            uow.trades.save_many(trades, now)
            uow.cursors.set(account, request.stream, cursor.encode(), now)
            uow.commit()
        summary.batches += 1
        summary.trades_saved += len(trades)
        summary.trades_closed += sum(1 for t in trades if t.status is TradeStatus.CLOSED)
        summary.realized_pnl += sum((t.outcome.pnl_usd for t in trades if t.outcome is not None), Decimal(0))
        progress("events", len(batch))
    summary.new_fills = sum(1 for e in events if isinstance(e, HistoryFill))
    summary.new_funding = sum(1 for e in events if isinstance(e, HistoryFunding))
    summary.new_settlements = len(events) - summary.new_fills - summary.new_funding
    summary.trades_open = book.open_trade_count()
    summary.settle = book.tally
    summary.issues.extend(book.issues)
    return summary
