"""Use case: one monitoring cycle for a user — ingest fills and funding, capture outcomes, reconcile.

Everything a cycle learns about an account (fills, funding, trade updates,
outcomes, learning records, events, and the cursor up to which the venue was
read) is committed in one transaction: a crash anywhere before the commit
leaves the database as it was, and the next cycle reads the same events again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from driftloop.domain.events import EventKind, LoopEvent
from driftloop.domain.model import ExitReason, Fill, FundingPayment, OrderLeg, TradeStatus
from driftloop.domain.outcome import DEFAULT_BREAKEVEN_PCT, compute_outcome, extremes_from_bars
from driftloop.domain.pnl import summarize
from driftloop.domain.trade import AccountRef, Trade
from driftloop.services.ports import Clock, MarketData, UnitOfWork, Venue, VenueEvents
from driftloop.services.reconcile import Reconciler
from driftloop.services.retry import RetryPolicy, with_retry

log = logging.getLogger(__name__)
EVENTS_STREAM = "venue-events"


@dataclass(slots=True)
class CheckResult:
    """What one `check_trades` cycle did."""

    user_id: str
    trades_checked: int = 0
    fills_ingested: int = 0
    funding_ingested: int = 0
    outcomes: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    skipped_accounts: int = 0  # held by another worker this cycle


class OutcomeCapture:
    """`check_trades(user)`: the outcome-capture path, exactly once."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        venue_for: Callable[[AccountRef], Venue],
        clock: Clock,
        market_data: MarketData | None = None,
        *,
        breakeven_pct: Decimal = DEFAULT_BREAKEVEN_PCT,
        retry: RetryPolicy | None = None,
        reconciler: Reconciler | None = None,
    ):
        self._uow = uow_factory
        self._venue_for = venue_for
        self._clock = clock
        self._market_data = market_data
        self._band = breakeven_pct
        self._retry = retry or RetryPolicy()
        self.reconciler = reconciler or Reconciler()

    async def check_trades(self, user_id: str) -> CheckResult:
        result = CheckResult(user_id)
        with self._uow() as uow:
            accounts = uow.accounts.accounts_of(user_id)
        for account in accounts:
            await self._check_account(account, result)
        return result

    async def _check_account(self, account: AccountRef, result: CheckResult) -> None:
        venue = self._venue_for(account)
        with self._uow() as uow:
            cursor = uow.cursors.get(account, EVENTS_STREAM)
        # Read the venue first, outside the transaction; nothing is recorded from a failed read.
        events = await with_retry(lambda: venue.events_since(account, cursor), self._retry)
        positions = await with_retry(lambda: venue.positions(account), self._retry)
        marks = await self._marks(venue)
        closed: list[Trade] = []
        with self._uow() as uow:
            if not uow.try_lock_user(account.user_id) or uow.cursors.get(account, EVENTS_STREAM) != cursor:
                result.skipped_accounts += 1  # another worker holds the user or moved on: next cycle
                return
            now = self._clock.now()
            trades = [t for t in uow.trades.open_trades(account.user_id) if t.account == account]
            result.trades_checked += len(trades)
            changed = self._ingest(trades, events, result, uow, account)
            for trade in trades:
                if trade.status is TradeStatus.OPEN and self._close_if_flat(trade):
                    changed.add(trade.id)
            findings = self.reconciler.reconcile(account, trades, positions, now, marks)
            for trade_id in findings.closed_trades:
                trade = next(t for t in trades if t.id == trade_id)
                if self._close_if_flat(trade):
                    changed.add(trade.id)
            for event in findings.events:
                if uow.events.record(event):
                    result.events.append(event.kind.value)
            for trade in trades:
                if trade.id in changed and trade.status is TradeStatus.CLOSED:
                    closed.append(trade)
                    result.outcomes.append(trade.id)
                    uow.events.record(
                        LoopEvent(
                            EventKind.OUTCOME_CAPTURED,
                            account,
                            trade.id,
                            now,
                            trade.id,
                            trade.outcome.closed_at if trade.outcome else None,
                        )
                    )
            uow.trades.save_many([t for t in trades if t.id in changed], now)
            uow.cursors.set(account, EVENTS_STREAM, events.cursor, now)
            uow.commit()
        await self._cancel_orphans(venue, account, closed)

    def _ingest(
        self,
        trades: list[Trade],
        events: VenueEvents,
        result: CheckResult,
        uow: UnitOfWork,
        account: AccountRef,
    ) -> set[str]:
        """Attach new fills and funding to their trades, in venue time (duplicates are dropped)."""
        by_order = {o.venue_order_id: t for t in trades for o in t.orders}
        changed: set[str] = set()
        seen = {f.fill_id for t in trades for f in t.fills}
        for fill in sorted(_unique_fills(events.fills), key=lambda f: f.ts):
            if fill.fill_id in seen:
                continue
            trade = by_order.get(fill.order_id or "") or _holder(trades, fill.market_index)
            if trade is None:
                uow.events.record(
                    LoopEvent(
                        EventKind.FILL_UNMATCHED,
                        account,
                        fill.fill_id,
                        self._clock.now(),
                        venue_ts=fill.ts,
                        detail={"marketIndex": fill.market_index},
                    )
                )
                continue
            trade.fills.append(fill)
            seen.add(fill.fill_id)
            changed.add(trade.id)
            result.fills_ingested += 1
            if fill.leg is OrderLeg.ENTRY and trade.opened_at is None:
                trade.opened_at = fill.ts
        for market, payment in sorted(events.funding, key=lambda item: item[1].ts):
            trade = _holder(trades, market, at=payment)
            if trade is None or any(p.payment_id == payment.payment_id for p in trade.funding):
                continue
            trade.funding.append(payment)
            changed.add(trade.id)
            result.funding_ingested += 1
        for trade in trades:
            if trade.id in changed:
                trade.fills.sort(key=lambda f: f.ts)
                position = summarize(trade.side, trade.fills) if trade.side else None
                if position and position.avg_entry is not None:
                    trade.entry_price, trade.size = position.avg_entry, position.entry_size
        return changed

    def _close_if_flat(self, trade: Trade) -> bool:
        """Compute the outcome of a trade whose fills bring it flat."""
        if trade.side is None or not trade.fills:
            return False
        position = summarize(trade.side, trade.fills, trade.funding)
        if not position.is_closed or position.avg_exit is None or position.avg_entry is None:
            return False
        exits = [f for f in trade.fills if f.side is trade.side.exit_order_side]
        closed_at = max(f.ts for f in exits)
        opened_at = trade.opened_at or min(f.ts for f in trade.fills)
        bars = self._market_data.bars(trade.market_index, opened_at, closed_at) if self._market_data else []
        reason = max(exits, key=lambda f: f.ts).cause or ExitReason.MANUAL
        low, high = extremes_from_bars(trade.side, reason, bars, position.avg_entry, position.avg_exit)
        trade.outcome = compute_outcome(
            trade.analysis,
            trade.fills,
            trade.funding,
            closed_at=closed_at,
            lowest=low,
            highest=high,
            breakeven_pct=self._band,
        )
        trade.status = TradeStatus.CLOSED
        for i, order in enumerate(trade.orders):
            filled = any(f.order_id == order.venue_order_id for f in trade.fills)
            trade.orders[i] = replace(order, status="FILLED" if filled else "CANCELED")
        return True

    async def _marks(self, venue: Venue) -> dict[int, Decimal]:
        """Mark prices the reconciler asked for (a vanished position closes at the mark)."""
        marks: dict[int, Decimal] = {}
        for market in sorted(self.reconciler.marks_needed):
            price = await with_retry(lambda m=market: venue.mark_price(m), self._retry)  # type: ignore[misc]
            if price is not None:
                marks[market] = price
        self.reconciler.marks_needed.clear()
        return marks

    async def _cancel_orphans(self, venue: Venue, account: AccountRef, closed: Sequence[Trade]) -> None:
        """Cancel any order of a closed trade the venue still holds (reduce-only siblings)."""
        if not closed:
            return
        ours = {o.venue_order_id for t in closed for o in t.orders}
        try:
            open_orders = await with_retry(lambda: venue.open_orders(account), self._retry)
            for order in open_orders:
                if order.order_id in ours:
                    await with_retry(lambda oid=order.order_id: venue.cancel(account, oid), self._retry)  # type: ignore[misc]
        except Exception:  # the next cycle's sweep retries; the outcome is already safe
            log.warning("could not cancel orphaned orders for %s", account, exc_info=True)


def _unique_fills(fills: Sequence[Fill]) -> list[Fill]:
    return list({f.fill_id: f for f in fills}.values())


def _holder(trades: Sequence[Trade], market: int, at: FundingPayment | None = None) -> Trade | None:
    """The account's open trade with a filled entry in that market (positions net per market)."""
    for trade in trades:
        if trade.market_index != market or trade.status is not TradeStatus.OPEN or trade.side is None:
            continue
        entries = [f for f in trade.fills if f.leg is OrderLeg.ENTRY]
        if not entries:
            continue
        if at is None:
            return trade
        # funding is owed for entry time < t ≤ exit time
        exits = [f for f in trade.fills if f.side is trade.side.exit_order_side]
        flat = summarize(trade.side, trade.fills).is_closed
        if min(f.ts for f in entries) < at.ts and (not flat or at.ts <= max(f.ts for f in exits)):
            return trade
    return None
