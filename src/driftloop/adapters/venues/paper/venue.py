"""`PaperVenue`: the candle-driven Drift simulator behind the `Venue` protocol (live paper mode).

Fills follow Definitions → Paper fills, reusing `domain.triggers` for every price decision. Like Drift,
positions net per market and sub-account: one bracket (pending or open) per market and account.
All happens when a candle is fed (`await venue.on_candle(market, candle)`, async so subscribers are
awaited): per account, funding the candle passes is settled, a queued entry fills at the open, then a
time-limit close, else a manual close, else stop / target / liquidation. State lives in memory;
ids, prices and events are deterministic.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from driftloop.adapters.venues.paper.clock import CandleLike, FundingDue, MarketClock
from driftloop.domain import triggers
from driftloop.domain.ids import signature_like, stable_id
from driftloop.domain.model import ExitReason, Fill, FundingPayment, OrderLeg, Side
from driftloop.domain.pnl import funding_received, liquidation_price
from driftloop.domain.trade import AccountRef
from driftloop.services.ports import BracketRequest, Placement, VenueEvents, VenueOrder, VenuePosition

log = logging.getLogger(__name__)

DEFAULT_SYMBOLS: Mapping[str, int] = {"SOL-PERP": 0, "BTC-PERP": 1, "ETH-PERP": 2}
EventHandler = Callable[[VenueEvents], Awaitable[None]]
_BPS = Decimal(10_000)
_NEVER_UP, _NEVER_DOWN = Decimal("Infinity"), Decimal("-Infinity")  # levels a cancelled trigger moves to
_LEGS = (OrderLeg.ENTRY, OrderLeg.STOP_LOSS, OrderLeg.TAKE_PROFIT)
_EXIT_LEG = {ExitReason.STOP_LOSS: OrderLeg.STOP_LOSS, ExitReason.TAKE_PROFIT: OrderLeg.TAKE_PROFIT}
_EXIT_LEG[ExitReason.TIME_LIMIT] = OrderLeg.CLOSE  # liquidations and closes by hand: EXTERNAL
_Event = Fill | tuple[int, FundingPayment]


@dataclass(slots=True)
class _Bracket:
    """One account's trade in a market: pending until its entry fills at a candle open, then open."""

    request: BracketRequest
    order_ids: dict[OrderLeg, str]
    deadline: datetime | None = None
    entry_price: Decimal | None = None
    liquidation: Decimal | None = None
    close_requested: bool = False


@dataclass(slots=True)
class _Book:
    """What one (user, venue, sub-account) holds; `log` is append-only and a cursor is its length."""

    orders: dict[str, tuple[VenueOrder, OrderLeg]] = field(default_factory=dict)
    brackets: dict[int, _Bracket] = field(default_factory=dict)  # by market index: positions net
    placements: dict[str, Placement] = field(default_factory=dict)  # by trade id
    log: list[_Event] = field(default_factory=list)
    handlers: list[EventHandler] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PaperSubscription:
    """A `Subscription`: `close()` stops the pushes."""

    handlers: list[EventHandler]
    handler: EventHandler

    def close(self) -> None:
        """Stop pushing events to the handler (idempotent)."""
        if self.handler in self.handlers:
            self.handlers.remove(self.handler)


class PaperVenue:
    """The paper venue: Drift's bracket orders, fills, funding and netting, simulated from candles."""

    name = "paper"

    def __init__(
        self,
        *,
        taker_fee_bps: Decimal | int = 10,
        slippage_bps: Decimal | int = 0,
        maintenance_margin_ratio: Decimal | str = "0.03",
        funding: Mapping[int, Sequence[tuple[datetime, Decimal]]] | None = None,
        symbols: Mapping[str, int] | None = None,
    ) -> None:
        self._fee = Decimal(taker_fee_bps) / _BPS
        self._slippage = Decimal(slippage_bps) / _BPS
        self._maintenance = Decimal(maintenance_margin_ratio)
        self.symbols: dict[str, int] = dict(DEFAULT_SYMBOLS if symbols is None else symbols)
        self.clock = MarketClock(funding)
        self._books: dict[AccountRef, _Book] = {}

    async def place_bracket(self, request: BracketRequest) -> Placement:
        """Queue a market entry for the next candle's open, with reduce-only stop and target triggers.

        Placing an accepted trade id again returns its first placement unchanged (idempotent retry).
        """
        book = self._book(request.account)
        if request.trade_id in book.placements:
            return book.placements[request.trade_id]
        reason = self._rejection(book, request)
        if reason is not None:
            return Placement(accepted=False, reason=reason)
        order_ids = {leg: _order_id(request.account, request.trade_id, leg) for leg in _LEGS}
        levels = {OrderLeg.STOP_LOSS: request.stop_loss, OrderLeg.TAKE_PROFIT: request.take_profit}
        for leg in _LEGS:
            trigger = levels.get(leg)
            side = request.side.entry_order_side if trigger is None else request.side.exit_order_side
            kind = "MARKET" if trigger is None else "TRIGGER_MARKET"
            user_order_id = request.user_order_ids.get(leg, 0)  # 0: Drift's "none"
            view = VenueOrder(
                order_ids[leg], user_order_id, request.market_index, side, kind, request.size, trigger,
                reduce_only=trigger is not None,
            )  # fmt: skip
            book.orders[view.order_id] = (view, leg)
        book.brackets[request.market_index] = _Bracket(request, order_ids)
        placement = Placement(True, signature_like("paper", "bracket", request.trade_id), order_ids)
        book.placements[request.trade_id] = placement
        return placement

    async def cancel(self, account: AccountRef, order_id: str) -> None:
        """Cancel an open order; an unknown, filled or cancelled order is a no-op.

        Cancelling a pending entry cancels its whole bracket (the triggers would have nothing to reduce).
        """
        book = self._book(account)
        order = book.orders.pop(order_id, None)
        if order is not None and order[1] is OrderLeg.ENTRY:
            for other in book.brackets.pop(order[0].market_index).order_ids.values():
                book.orders.pop(other, None)

    async def open_orders(self, account: AccountRef) -> list[VenueOrder]:
        """Open orders: a pending MARKET entry and the reduce-only TRIGGER_MARKET stop and target."""
        return [view for view, _ in self._book(account).orders.values()]

    async def positions(self, account: AccountRef) -> list[VenuePosition]:
        """Open positions, one per market, with signed base size and entry fill price."""
        return [
            VenuePosition(market, b.request.side.sign * b.request.size, b.entry_price)
            for market, b in sorted(self._book(account).brackets.items())
            if b.entry_price is not None
        ]

    async def events_since(self, account: AccountRef, cursor: str | None) -> VenueEvents:
        """Fills and funding strictly after `cursor` (None: from the start); a replay gives the same.

        A cursor beyond this venue's log was issued by a previous process (the paper venue's state is in
        memory): everything this venue has logged is new to it. A malformed cursor raises ValueError.
        """
        book = self._book(account)
        start = 0 if cursor is None else int(cursor) if cursor.isdigit() else -1
        if start < 0:
            raise ValueError(f"unknown paper venue cursor {cursor!r}")
        if start > len(book.log):
            start = 0
        return _events(book.log[start:], len(book.log))

    async def mark_price(self, market_index: int) -> Decimal | None:
        """The close of the market's last candle (None before the first)."""
        return self.clock.last_price(market_index)

    def subscribe(self, account: AccountRef, on_events: EventHandler) -> PaperSubscription:
        """Push the account's new fills and funding to `on_events` after each candle that makes some."""
        handlers = self._book(account).handlers
        handlers.append(on_events)
        return PaperSubscription(handlers, on_events)

    def set_time_limit(self, account: AccountRef, trade_id: str, deadline: datetime | None) -> None:
        """Close the trade at market at the open of the first candle at or after `deadline` (rule 3).

        None clears it. Raises KeyError if the account has no pending or open trade `trade_id`.
        """
        for bracket in self._book(account).brackets.values():
            if bracket.request.trade_id == trade_id:
                bracket.deadline = deadline
                return
        raise KeyError(f"no pending or open trade {trade_id!r} for {account}")

    def close_position(self, account: AccountRef, market_index: int) -> None:
        """Simulate a close by hand on the venue: a MANUAL fill at the next candle's open.

        Raises ValueError if the account has no open position in the market.
        """
        bracket = self._book(account).brackets.get(market_index)
        if bracket is None or bracket.entry_price is None:
            raise ValueError(f"no open position in market {market_index} for {account}")
        bracket.close_requested = True

    async def on_candle(self, market_index: int, candle: CandleLike) -> None:
        """Move the market by one bar: settle, fill and close every account there, then push events.

        A candle not newer than the market's last one is ignored, so re-delivery is harmless.
        """
        if not self.clock.is_new(market_index, candle):
            return
        funding = self.clock.funding_due(market_index, candle)
        marks = {account: len(book.log) for account, book in self._books.items()}
        for book in self._books.values():
            if market_index in book.brackets:
                self._step(book, book.brackets[market_index], candle, funding)
        self.clock.advance(market_index, candle)
        for account, start in marks.items():
            book = self._books[account]
            events = _events(book.log[start:], len(book.log))
            for handler in list(book.handlers) if len(book.log) > start else []:
                try:
                    await handler(events)
                except Exception:  # polling events_since is the safety net; keep the market moving
                    log.exception("paper venue subscriber failed for %s", account)

    def _step(self, book: _Book, bracket: _Bracket, candle: CandleLike, funding: list[FundingDue]) -> None:
        """One candle for one account's bracket in the candle's market, rules in the module's order."""
        request, side = bracket.request, bracket.request.side
        if bracket.entry_price is not None:  # open before this candle: owed the funding it passes
            for due in funding:
                amount = funding_received(side, due.rate, request.size, due.price)
                payment_id = stable_id("fund", *_key(request.account), request.trade_id, due.ts.isoformat())
                book.log.append((request.market_index, FundingPayment(due.ts, due.rate, amount, payment_id)))
        else:
            bracket.entry_price = price = triggers.entry_fill(side, candle.open, self._slippage)
            self._fill(book, bracket, OrderLeg.ENTRY, price, candle, None, candle.open)
            book.orders.pop(bracket.order_ids[OrderLeg.ENTRY], None)
            liquidation = liquidation_price(side, price, request.leverage, self._maintenance)
            bracket.liquidation = triggers.liquidation_level(side, liquidation)
            if request.max_hold_minutes is not None and bracket.deadline is None:
                bracket.deadline = candle.ts + timedelta(minutes=request.max_hold_minutes)
        if bracket.deadline is not None and candle.ts >= bracket.deadline:
            done: triggers.Exit | None = triggers.time_limit_exit(side, candle.open, self._slippage)
        elif bracket.close_requested:
            price = triggers.market_fill(-side.sign, candle.open, self._slippage)
            done = triggers.Exit(ExitReason.MANUAL, price, None)
        else:
            done = triggers.resolve_bar(self._levels(book, bracket), candle.open, candle.high, candle.low)
        if done is not None:  # the whole position closes; once flat, its reduce-only orders are cancelled
            leg = _EXIT_LEG.get(done.reason, OrderLeg.EXTERNAL)
            self._fill(book, bracket, leg, done.price, candle, done.reason, done.reference)
            for order_id in bracket.order_ids.values():
                book.orders.pop(order_id, None)
            del book.brackets[request.market_index]

    def _levels(self, book: _Book, bracket: _Bracket) -> triggers.Bracket:
        """The bracket as `resolve_bar` sees it; a cancelled trigger moves out of reach."""
        request, long = bracket.request, bracket.request.side is Side.LONG
        stop_live = bracket.order_ids[OrderLeg.STOP_LOSS] in book.orders
        target_live = bracket.order_ids[OrderLeg.TAKE_PROFIT] in book.orders
        return triggers.Bracket(
            side=request.side,
            stop_loss=request.stop_loss if stop_live else (_NEVER_DOWN if long else _NEVER_UP),
            take_profit=request.take_profit if target_live else (_NEVER_UP if long else _NEVER_DOWN),
            liquidation=bracket.liquidation,
            slippage=self._slippage,
        )

    def _fill(self, book: _Book, bracket: _Bracket, leg: OrderLeg, price: Decimal, candle: CandleLike,
              cause: ExitReason | None, reference: Decimal | None) -> None:  # fmt: skip
        """Log a taker fill of the whole size; its id is derived from account, trade and leg."""
        request = bracket.request
        side = request.side.entry_order_side if leg is OrderLeg.ENTRY else request.side.exit_order_side
        order_id = None if leg is OrderLeg.EXTERNAL else _order_id(request.account, request.trade_id, leg)
        fill_id = stable_id("fill", *_key(request.account), request.trade_id, leg.value)
        fee = price * request.size * self._fee
        book.log.append(
            Fill(fill_id, candle.ts, side, price, request.size, fee, leg, cause, reference,
                 market_index=request.market_index, order_id=order_id)
        )  # fmt: skip

    def _book(self, account: AccountRef) -> _Book:
        return self._books.setdefault(account, _Book())

    def _rejection(self, book: _Book, request: BracketRequest) -> str | None:
        """Why the bracket cannot be placed, or None."""
        market, side = request.market_index, request.side
        if market not in self.symbols.values() or self.symbols.get(request.symbol, market) != market:
            return f"unknown market {request.symbol} (index {market}); markets: {self.symbols}"
        if request.size <= 0 or request.leverage <= 0:
            return f"size and leverage must be positive (size {request.size}, leverage {request.leverage})"
        if market in book.brackets:
            where = f"market {market} on sub-account {request.account.sub_account}"
            return f"positions net per market and sub-account: a trade is already open or pending in {where}"
        price = self.clock.last_price(market)
        if price is None:
            return f"no market data for market {market} yet"
        if (price - request.stop_loss) * side.sign <= 0:
            return f"stop-loss {request.stop_loss} is on the wrong side of the price {price} for a {side}"
        if (request.take_profit - price) * side.sign <= 0:
            return f"take-profit {request.take_profit} is on the wrong side of the price {price} for a {side}"
        clash = {view.user_order_id for view, _ in book.orders.values()} - {0}
        clash &= set(request.user_order_ids.values())
        return f"user order ids {sorted(clash)} are in use by open orders" if clash else None


def _key(account: AccountRef) -> tuple[str, str, str]:
    return account.user_id, account.venue, str(account.sub_account)


def _order_id(account: AccountRef, trade_id: str, leg: OrderLeg) -> str:
    return stable_id("ord", *_key(account), trade_id, leg.value)


def _events(events: Sequence[_Event], cursor: int) -> VenueEvents:
    fills = [e for e in events if isinstance(e, Fill)]
    funding = [e for e in events if not isinstance(e, Fill)]
    return VenueEvents(fills=fills, funding=funding, cursor=str(cursor))
