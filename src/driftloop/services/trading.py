"""Use case: place a trade from an analysis (the auto-integration step of the loop)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import ROUND_DOWN, Decimal

from driftloop.domain.decision import Decision
from driftloop.domain.errors import DriftloopError, InputError, TemporaryError
from driftloop.domain.events import EventKind, LoopEvent
from driftloop.domain.ids import stable_id
from driftloop.domain.markets import UnknownMarketError, market_index
from driftloop.domain.model import Analysis, OrderLeg, Side, TradeStatus
from driftloop.domain.trade import AccountRef, OrderRecord, Trade
from driftloop.services.learning import PolicyBook
from driftloop.services.policy import Policy, RawPolicy
from driftloop.services.ports import BracketRequest, Clock, Placement, UnitOfWork, Venue
from driftloop.services.retry import RetryPolicy, with_retry

log = logging.getLogger(__name__)

BASE_STEP = Decimal("0.000000001")  # Drift BASE_PRECISION 1e9; live sizes round down to it
_LEGS = (OrderLeg.ENTRY, OrderLeg.STOP_LOSS, OrderLeg.TAKE_PROFIT)
MAX_USER_ORDER_ID = 255  # Drift's user_order_id is a u8; 0 means none


def live_trade_id(user_id: str, analysis_id: str) -> str:
    return stable_id("trd", "live", user_id, analysis_id)


def allocate_user_order_ids(used: set[int], count: int) -> list[int]:
    """The lowest ids free among the account's open orders (a hash would collide)."""
    free = [i for i in range(1, MAX_USER_ORDER_ID + 1) if i not in used][:count]
    if len(free) < count:
        raise DriftloopError("no free user_order_id on this sub-account (255 open orders)")
    return free


def wrong_side(side: Side, price: Decimal, analysis: Analysis) -> str | None:
    above, below = (
        (analysis.take_profit, analysis.stop_loss)
        if side is Side.LONG
        else (analysis.stop_loss, analysis.take_profit)
    )
    if not below < price < above:
        return (
            f"stop loss {analysis.stop_loss} and take profit {analysis.take_profit} must lie on either side "
            f"of the current price {price} for a {side.value.lower()}"
        )
    return None


class TradingService:
    """place_trade: validate, decide, execute, store, and make sure the user is monitored."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        venue_for: Callable[[AccountRef], Venue],
        clock: Clock,
        policy: Policy | None = None,
        on_trade: Callable[[AccountRef], None] | None = None,
        retry: RetryPolicy | None = None,
        monitor_interval: float = 30.0,
    ):
        self._uow = uow_factory
        self._venue_for = venue_for
        self._clock = clock
        self.policy: Policy = policy or RawPolicy()
        self._on_trade = on_trade
        self._retry = retry or RetryPolicy()
        self._interval = monitor_interval
        self._policies = PolicyBook(uow_factory)
        self._to_store: list[tuple[Trade, asyncio.Future[Trade]]] = []
        self._storer: asyncio.Task[None] | None = None

    async def place_trade(
        self,
        user_id: str,
        analysis: Analysis,
        *,
        venue: str = "paper",
        sub_account: int = 0,
        policy: Policy | str | None = None,
    ) -> Trade:
        """Idempotent on (user, analysis id): a retried request returns the same trade."""
        trade, _ = await self.place_or_find(
            user_id, analysis, venue=venue, sub_account=sub_account, policy=policy
        )
        return trade

    async def place_or_find(
        self,
        user_id: str,
        analysis: Analysis,
        *,
        venue: str = "paper",
        sub_account: int = 0,
        policy: Policy | str | None = None,
        check: Callable[[Analysis], Awaitable[None]] | None = None,
    ) -> tuple[Trade, bool]:
        """`place_trade`, telling whether the trade is new (False: the one stored for this analysis id
        before, returned as it is). `check` runs only for a new analysis, before anything is decided or
        sent: whatever it raises reaches the caller and nothing is stored."""
        if not user_id.strip():
            raise InputError("must not be empty", field="userId")
        try:
            market = market_index(analysis.symbol)
        except UnknownMarketError as exc:
            raise InputError(str(exc), field="symbol") from None
        account = AccountRef(user_id, venue, sub_account)
        # database work runs in a worker thread: the event loop (monitor loops, requests) keeps going
        existing, holder = await asyncio.to_thread(self._lookup, user_id, analysis.id, account, market)
        if existing is not None:
            return existing, False
        if check is not None:
            await check(analysis)
        trade = Trade(
            id=live_trade_id(user_id, analysis.id),
            account=account,
            analysis=analysis,
            run_id="",
            status=TradeStatus.SKIPPED,
            market_index=market,
            side=analysis.side,
        )
        if policy == "learned":  # read from the user's record: database work, in a worker thread
            chosen = await asyncio.to_thread(self._policy, user_id, policy)
        else:
            chosen = self._policy(user_id, policy)
        decision = chosen.decide(user_id, analysis)
        trade.learning_data = decision.as_learning_data()
        reason = self._skip_reason(analysis, decision, holder)
        if reason is None:
            await self._execute(trade, account, market, decision)
        else:
            trade.reason = reason
        stored = await self._stored(trade)
        if stored is trade and trade.status is TradeStatus.OPEN and self._on_trade:
            self._on_trade(trade.account)
        return stored, stored is trade

    def _lookup(
        self, user_id: str, analysis_id: str, account: AccountRef, market: int
    ) -> tuple[Trade | None, str | None]:
        """The trade stored for this analysis if any, and the open trade holding the market if any
        (one narrow query; the trade is loaded only when it exists)."""
        with self._uow() as uow:
            mine, holder = uow.trades.placement_state(user_id, analysis_id, account, market)
            return (uow.trades.find_live(user_id, analysis_id) if mine else None), holder

    def _policy(self, user_id: str, choice: Policy | str | None) -> Policy:
        """The configured policy, another one, or by name: `raw` or `learned` (from the user's record)."""
        if choice is None:
            return self.policy
        if not isinstance(choice, str):
            return choice
        if choice == "raw":
            return RawPolicy()
        if choice == "learned":
            return self._policies.learned(user_id)  # refreshed incrementally from the closed trades
        raise InputError(f"must be raw or learned, got {choice!r}", field="policy")

    @staticmethod
    def _skip_reason(analysis: Analysis, decision: Decision, holder: str | None) -> str | None:
        if analysis.side is None:
            return "HOLD recommendation: nothing to trade"
        if not decision.take:
            return decision.reason or f"skipped by the {decision.policy} policy"
        if holder:
            return (
                f"an open trade ({holder}) already holds {analysis.symbol} on this sub-account; "
                "Drift nets positions per market and sub-account"
            )
        return None

    async def _execute(self, trade: Trade, account: AccountRef, market: int, decision: Decision) -> None:
        analysis, side = trade.analysis, trade.side
        assert side is not None
        venue = self._venue_for(account)
        try:
            price = await with_retry(lambda: venue.mark_price(market), self._retry)
            if price is None:
                trade.reason = f"no market data for {analysis.symbol}"
                return
            stop = decision.stop_loss or analysis.stop_loss
            target = decision.take_profit or analysis.take_profit
            problem = wrong_side(side, price, replace(analysis, stop_loss=stop, take_profit=target))
            if problem:
                trade.reason = problem
                return
            size = (analysis.size_usd * decision.size_multiplier / price).quantize(BASE_STEP, ROUND_DOWN)
            if size <= 0:
                trade.reason = "size rounds down to zero at Drift's base precision"
                return
            open_orders = await with_retry(lambda: venue.open_orders(account), self._retry)
            ids = allocate_user_order_ids({o.user_order_id for o in open_orders}, len(_LEGS))
            request = BracketRequest(
                trade_id=trade.id,
                account=account,
                symbol=analysis.symbol,
                market_index=market,
                side=side,
                size=size,
                stop_loss=stop,
                take_profit=target,
                leverage=decision.leverage or analysis.leverage,
                user_order_ids=dict(zip(_LEGS, ids, strict=True)),
                max_hold_minutes=analysis.max_hold_minutes,
            )
            placement = await with_retry(lambda: venue.place_bracket(request), self._retry)
        except (TemporaryError, TimeoutError) as exc:
            placement = Placement(accepted=False, reason=f"venue unavailable: {exc or type(exc).__name__}")
        except DriftloopError as exc:
            placement = Placement(accepted=False, reason=str(exc))
        self._apply(trade, placement, request if placement.accepted else None)

    @staticmethod
    def _apply(trade: Trade, placement: Placement, request: BracketRequest | None) -> None:
        if not placement.accepted or request is None:
            trade.status, trade.reason = TradeStatus.FAILED, placement.reason or "order rejected by the venue"
            return
        trade.status, trade.drift_tx_id, trade.size = TradeStatus.OPEN, placement.tx_id, request.size
        triggers = {OrderLeg.STOP_LOSS: request.stop_loss, OrderLeg.TAKE_PROFIT: request.take_profit}
        trade.orders = [
            OrderRecord(
                leg,
                placement.order_ids[leg],
                request.user_order_ids[leg],
                triggers.get(leg),
                placement.tx_id or "",
                "OPEN",
            )
            for leg in _LEGS
            if leg in placement.order_ids
        ]

    async def _stored(self, trade: Trade) -> Trade:
        """Store the trade (or find the one a concurrent identical request stored first). Trades placed
        meanwhile are stored together, one transaction per batch (a group commit): under load the cost
        per trade falls instead of requests queueing behind one another's commits."""
        future = asyncio.get_running_loop().create_future()
        self._to_store.append((trade, future))
        if self._storer is None or self._storer.done():
            self._storer = asyncio.create_task(self._store_pending(), name="trading:store")
        # shielded: a caller that goes away (a dropped connection) must not stop its trade being stored
        return await asyncio.shield(future)

    async def _store_pending(self) -> None:
        while self._to_store:  # one batch at a time: the race check of each batch stays exact
            batch, self._to_store = self._to_store, []
            trades = [trade for trade, _ in batch]
            try:
                results: list[Trade | BaseException] = list(await asyncio.to_thread(self._store, trades))
            except Exception:
                log.warning("storing %d trades together failed; each alone", len(trades), exc_info=True)
                results = []
                for trade in trades:  # so that one bad trade fails alone
                    try:
                        results += await asyncio.to_thread(self._store, [trade])
                    except Exception as exc:
                        results.append(exc)
            for (_, future), result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _store(self, trades: list[Trade]) -> list[Trade]:
        """One transaction: each trade stored, or the trade stored first for its analysis (a concurrent
        identical request's); the users with a new OPEN trade monitored from now on."""
        now = self._clock.now()
        out: list[Trade] = []
        with self._uow() as uow:
            first = uow.trades.find_live_many([(t.account.user_id, t.analysis.id) for t in trades])
            new: list[Trade] = []
            for trade in trades:
                key = (trade.account.user_id, trade.analysis.id)
                if key not in first:
                    first[key] = trade
                    new.append(trade)
                out.append(first[key])
            uow.trades.save_many(new, now)
            failed = [
                LoopEvent(EventKind.EXECUTION_FAILED, t.account, t.id, now, t.id, detail={"reason": t.reason})
                for t in new
                if t.status is TradeStatus.FAILED
            ]
            uow.events.record_many(failed)
            # monitored from now on (a new sub-account too), at the interval the user chose if any
            uow.accounts.keep_monitored(
                [t.account.user_id for t in new if t.status is TradeStatus.OPEN], self._interval
            )
            uow.commit()
        for trade in new:
            log.info("trade %s %s %s", trade.id, trade.status.value, trade.reason or trade.drift_tx_id)
        return out
