"""`DriftVenue`: the `Venue` protocol on Drift Protocol through driftpy.

- A bracket is one `place_orders` transaction: a market entry and reduce-only trigger-market stop-loss and
  take-profit, each carrying the `user_order_id` the trading service allocated; the transaction
  signature is the trade's `driftTxId` and the venue order ids are Drift's order ids (from the
  transaction's OrderRecords).
- Fills and funding come from the program's own records in the user account's transaction history
  (`OrderActionRecord` fills as taker or maker with the fee charged, `FundingPaymentRecord`,
  `LiquidationRecord`); the cursor is the newest transaction signature read, so a restart with the
  stored cursor neither loses nor repeats a fill. `subscribe` uses driftpy's `EventSubscriber` on the user
  account (websocket or polling log provider) to wake up and pushes what `events_since` returns.
- Positions, open orders and marks are read fresh from the chain (the User account, the oracle).
- Every driftpy/RPC error is translated once, here, into TemporaryError / RejectedError / ConfigError.

One venue serves one wallet: an `AccountRef`'s `sub_account` n trades on the wallet's Drift sub-account
`settings.sub_account` + n (the setting picks the sub-account of driftloop's default sub-account 0).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from anchorpy import Program, Provider, Wallet
from driftpy.accounts.oracle import get_oracle_decode_fn
from driftpy.accounts.types import DataAndSlot
from driftpy.addresses import get_user_account_public_key
from driftpy.drift_client import DriftClient
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Commitment
from solders.pubkey import Pubkey
from solders.signature import Signature

from driftloop.adapters.clock import SystemClock
from driftloop.adapters.venues.drift import convert, orders, program
from driftloop.adapters.venues.drift.errors import ErrorTranslator, boundary
from driftloop.adapters.venues.drift.events import AccountEvents
from driftloop.adapters.venues.drift.history import History
from driftloop.adapters.venues.drift.subscription import DriftSubscription
from driftloop.adapters.venues.drift.time_limits import TimeLimit, TimeLimits
from driftloop.config import DriftSettings
from driftloop.domain.errors import ConfigError
from driftloop.domain.model import OrderLeg
from driftloop.domain.trade import AccountRef
from driftloop.services.ports import BracketRequest, Clock, Placement, VenueEvents, VenueOrder, VenuePosition

log = logging.getLogger(__name__)
EventHandler = Callable[[VenueEvents], Awaitable[None]]


@dataclass(slots=True)
class _Connected:
    connection: AsyncClient
    client: DriftClient
    program: Program
    history: History
    markets: dict[int, program.MarketInfo]


class DriftVenue:
    """The live Drift venue (see the module docstring)."""

    name = "drift"

    def __init__(self, settings: DriftSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.time_limits = TimeLimits()
        self.symbols: dict[str, int] = dict(settings.markets)
        self._program_id = _pubkey(settings.program_id, "DRIFTLOOP_DRIFT_PROGRAM_ID")
        self._wallet = program.load_wallet(settings)
        self.authority = self._wallet.pubkey()
        self._errors = ErrorTranslator()
        self._connected: _Connected | None = None
        self._connect_lock: asyncio.Lock | None = None
        self._send_lock: asyncio.Lock | None = None
        self._events: dict[int, AccountEvents] = {}  # by sub-account
        self._placements: dict[str, Placement] = {}
        self._attempted: set[str] = set()  # trade ids a placing transaction was sent for
        self.subscriptions: list[DriftSubscription] = []

    def __repr__(self) -> str:
        rpc, pid = self.settings.rpc_url, self._program_id
        return f"DriftVenue(rpc={rpc!r}, program={pid}, authority={self.authority})"

    # --- connection ------------------------------------------------------------------------------------

    async def connect(self) -> _Connected:
        """Connect once: read the markets, build and subscribe the DriftClient."""
        if self._connected is not None:
            return self._connected
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self._connected is None:
                async with boundary(self._errors, "connecting to Drift"):
                    self._connected = await self._connect()
        return self._connected

    async def _connect(self) -> _Connected:
        settings = self.settings
        program.use_program(self._program_id, settings.state_seed)
        idl = program.load_idl(settings)
        self._errors.idl_errors = {int(e.code): (e.name, e.msg or "") for e in idl.errors or []}
        connection = AsyncClient(
            settings.rpc_url, Commitment(settings.commitment), timeout=settings.request_timeout_seconds
        )
        reader = Program(idl, self._program_id, Provider(connection, Wallet(self._wallet)))
        unknown = {i for i in self.symbols.values() if i < 0}
        if unknown:
            raise ConfigError(f"market indexes must be ≥ 0: {sorted(unknown)}")
        markets = await program.read_markets(reader, connection, sorted(set(self.symbols.values())))
        client = program.build_client(settings, self._wallet, connection, idl, markets)
        client.market_lookup_tables = await program.existing_lookup_tables(
            connection, client.market_lookup_tables
        )
        # driftpy's subscribe waits until every account loaded: bound it
        await asyncio.wait_for(client.subscribe(), 3 * settings.request_timeout_seconds)
        log.info(
            "connected to Drift program %s at %s as %s", self._program_id, settings.rpc_url, self.authority
        )
        return _Connected(
            connection,
            client,
            client.program,
            History(connection, client.program, settings.commitment),
            markets,
        )

    async def close(self) -> None:
        """Stop subscriptions and polling, close the RPC connection."""
        for subscription in list(self.subscriptions):
            subscription.close()
        if self._connected is not None:
            connected, self._connected = self._connected, None
            try:
                for user in connected.client.users.values():  # DriftUser.unsubscribe forgets the await
                    pending = user.account_subscriber.unsubscribe()
                    if inspect.isawaitable(pending):
                        await pending
                await connected.client.unsubscribe()
                loader = connected.client.account_subscription_config.bulk_account_loader
                if loader is not None:  # driftpy's unsubscribe leaves the polling task running
                    loader._stop_loading()
                await connected.connection.close()
            except Exception:  # closing is best effort
                log.debug("closing the Drift client failed", exc_info=True)

    def drift_sub_account(self, account: AccountRef) -> int:
        """The wallet's Drift sub-account a driftloop account trades on."""
        return self.settings.sub_account + account.sub_account

    def user_address(self, account: AccountRef) -> Pubkey:
        return get_user_account_public_key(self._program_id, self.authority, self.drift_sub_account(account))

    async def _user(self, account: AccountRef) -> Any:
        """The User account, read fresh (and handed to driftpy's subscriber so its math sees it too)."""
        c = await self.connect()
        address = self.user_address(account)
        async with boundary(self._errors, "reading the Drift user account"):
            resp = await c.connection.get_account_info(address, Commitment(self.settings.commitment))
        if resp.value is None:
            raise ConfigError(
                f"Drift sub-account {self.drift_sub_account(account)} of {self.authority} does not exist "
                f"(program {self._program_id}); create it and deposit collateral first"
            )
        user = c.program.coder.accounts.decode(bytes(resp.value.data))
        known = self._account_events(account).orders
        for order in user.orders:  # open orders seen now are recognised when they fill later
            if convert.variant(order.status) == "Open":
                known.setdefault(int(order.order_id), convert.OrderInfo.of(order))
        sub = self.drift_sub_account(account)
        if sub not in c.client.users:
            async with boundary(self._errors, "subscribing to the Drift user account"):
                c.client.sub_account_ids.append(sub)
                await c.client.add_user(sub)
        c.client.users[sub].account_subscriber.update_data(DataAndSlot(resp.context.slot, user))
        return user

    # --- reads -------------------------------------------------------------------------------------------

    async def positions(self, account: AccountRef) -> list[VenuePosition]:
        """Open perp positions of the sub-account (signed base size, entry price = quote entry / base)."""
        user = await self._user(account)
        found = [convert.position_from_account(p) for p in user.perp_positions]
        return sorted((p for p in found if p is not None), key=lambda p: p.market_index)

    async def open_orders(self, account: AccountRef) -> list[VenueOrder]:
        """Open perp orders. Reduce-only orders left in a market where the sub-account is flat and has no
        other order (Drift keeps a bracket's sibling after the position closes) can never fill: they are
        cancelled here and not listed."""
        user = await self._user(account)
        orders = [o for o in (convert.order_from_account(x) for x in user.orders) if o is not None]
        held = {int(p.market_index) for p in user.perp_positions if int(p.base_asset_amount) != 0}
        live_markets = held | {o.market_index for o in orders if not o.reduce_only}
        dead = [o for o in orders if o.reduce_only and o.market_index not in live_markets]
        for order in dead:
            try:
                await self._cancel_order(account, int(order.order_id))
            except Exception:
                log.warning("could not cancel the stale reduce-only order %s", order.order_id, exc_info=True)
        return [o for o in orders if o not in dead]

    async def mark_price(self, market_index: int) -> Decimal | None:
        """The market's oracle price, read fresh; None for a market this venue does not trade."""
        c = await self.connect()
        market = c.markets.get(market_index)
        if market is None:
            return None
        async with boundary(self._errors, "reading the oracle"):
            resp = await c.connection.get_account_info(market.oracle, Commitment(self.settings.commitment))
            if resp.value is None:
                return None
            data = get_oracle_decode_fn(market.oracle_source)(bytes(resp.value.data))
        return convert.price(int(data.price))

    async def position_details(self, account: AccountRef, market_index: int) -> dict[str, Decimal | None]:
        """Unrealized PnL (with and without funding) and liquidation price (None: none exists) by driftpy's
        math, on markets and oracles read now (display and risk only: driftpy uses floats in places; outcomes
        never use it)."""
        c = await self.connect()
        async with boundary(self._errors, "computing position details"):
            await c.client.account_subscriber.fetch()
            await self._user(account)
            drift_user = c.client.get_user(self.drift_sub_account(account))
            pnl = drift_user.get_unrealized_pnl(with_funding=False, market_index=market_index)
            pnl_funding = drift_user.get_unrealized_pnl(with_funding=True, market_index=market_index)
            liq = drift_user.get_perp_liq_price(market_index)
        return {
            "unrealizedPnl": convert.quote(int(pnl)),
            "unrealizedPnlWithFunding": convert.quote(int(pnl_funding)),
            "liquidationPrice": None if liq is None or liq <= 0 else convert.price(int(liq)),
        }

    # --- orders ------------------------------------------------------------------------------------------

    async def place_bracket(self, request: BracketRequest) -> Placement:
        """One transaction: market entry + reduce-only trigger-market stop and target (`place_orders`).

        Placing an accepted trade id again returns its placement (idempotent retry in this process); so
        does a retry after an error that hid whether the transaction landed: it is looked for on chain
        (orders carrying the request's user order ids in its market) before anything is sent again.
        """
        if request.trade_id in self._placements:
            return self._placements[request.trade_id]
        c = await self.connect()
        user = await self._user(request.account)
        if request.trade_id in self._attempted:
            landed = await self._landed(c, request, user)
            if landed is not None:
                return self._placed(request, landed)
        reason, params = orders.bracket_orders(
            request, c.markets.get(request.market_index), user, self.symbols
        )
        if reason is not None:
            return Placement(accepted=False, reason=reason)
        sub = self.drift_sub_account(request.account)
        self._attempted.add(request.trade_id)
        async with self._lock(), boundary(self._errors, "placing the bracket"):
            c.client.active_sub_account_id = sub
            signature = str(await c.client.place_orders(params, sub_account_id=sub))
        order_ids = await self._placed_order_ids(c, request, signature, int(user.next_order_id), params)
        return self._placed(request, Placement(True, signature, order_ids))

    async def _landed(self, c: _Connected, request: BracketRequest, user: Any) -> Placement | None:
        """The placement of an earlier attempt of this request that reached the chain, if any."""
        wanted = {uid: leg for leg, uid in request.user_order_ids.items() if leg in orders.LEGS}
        address = str(self.user_address(request.account))
        async with boundary(self._errors, "looking for an earlier placement"):
            statuses = await c.history.signatures(self.user_address(request.account), limit=20)
            for tx in reversed(await c.history.events(statuses)):  # newest first
                placed = {
                    wanted[int(r.order.user_order_id)]: str(int(r.order.order_id))
                    for n, r in tx.events
                    if n == "OrderRecord"
                    and str(r.user) == address
                    and int(r.order.market_index) == request.market_index
                    and int(r.order.user_order_id) in wanted
                }
                if len(placed) == len(wanted):
                    return Placement(True, tx.signature, placed)
        open_ids = {  # a program that logs no OrderRecord: the orders themselves, still open
            wanted[int(o.user_order_id)]: str(int(o.order_id))
            for o in user.orders
            if convert.variant(o.status) == "Open"
            and int(o.market_index) == request.market_index
            and int(o.user_order_id) in wanted
        }
        return Placement(True, None, open_ids) if len(open_ids) == len(wanted) else None

    def _placed(self, request: BracketRequest, placement: Placement) -> Placement:
        """Remember an accepted placement (and arm its time limit)."""
        self._placements[request.trade_id] = placement
        if request.max_hold_minutes is not None:
            hold, entry = timedelta(minutes=request.max_hold_minutes), placement.order_ids.get(OrderLeg.ENTRY)
            limit = TimeLimit(request.trade_id, request.market_index, entry, hold, self.clock.now())
            self.time_limits.arm(request.account, limit)
        sub, signature = self.drift_sub_account(request.account), placement.tx_id
        log.info("placed bracket %s on sub-account %d: %s", request.trade_id, sub, signature)
        return placement

    async def _placed_order_ids(
        self, c: _Connected, request: BracketRequest, signature: str, next_order_id: int, params: list[Any]
    ) -> dict[OrderLeg, str]:
        """Drift's order ids of the legs: from the OrderRecords of the placing transaction, else the
        account's open orders, else as the program numbers them (`next_order_id` onwards, in order).
        The legs are remembered, so their fills are recognised even without OrderRecords."""
        wanted = {uid: leg for leg, uid in request.user_order_ids.items() if leg in orders.LEGS}
        address = str(self.user_address(request.account))
        known = self._account_events(request.account)
        found: dict[OrderLeg, str] = {}
        async with boundary(self._errors, "reading the placing transaction"):
            statuses = [
                s
                for s in await c.history.signatures(self.user_address(request.account), limit=20)
                if str(s.signature) == signature
            ]
            for tx in await c.history.events(statuses):
                for name, record in tx.events:
                    if name == "OrderRecord" and str(record.user) == address:
                        info = convert.OrderInfo.of(record.order)
                        known.orders[info.order_id] = info
                        if info.user_order_id in wanted:
                            found[wanted[info.user_order_id]] = str(info.order_id)
        if len(found) < len(wanted):  # not in the recent history yet: the account's open orders tell
            user = await self._user(request.account)
            for order in user.orders:
                uid = int(order.user_order_id)
                if convert.variant(order.status) == "Open" and uid in wanted:
                    found.setdefault(wanted[uid], str(int(order.order_id)))
        for position, (leg, p) in enumerate(zip(orders.LEGS, params, strict=True)):
            order_id = int(found.setdefault(leg, str(next_order_id + position)))
            known.orders.setdefault(order_id, convert.OrderInfo.of_params(order_id, p))
        return found

    async def cancel(self, account: AccountRef, order_id: str) -> None:
        """Cancel an open order by Drift order id; an unknown, filled or cancelled order is a no-op."""
        user = await self._user(account)
        open_ids = {int(o.order_id) for o in user.orders if convert.variant(o.status) == "Open"}
        if order_id.isdigit() and int(order_id) in open_ids:
            await self._cancel_order(account, int(order_id))

    async def _cancel_order(self, account: AccountRef, order_id: int) -> None:
        c = await self.connect()
        await self._user(account)
        async with self._lock(), boundary(self._errors, "cancelling an order"):
            c.client.active_sub_account_id = sub = self.drift_sub_account(account)
            await c.client.cancel_order(order_id, sub_account_id=sub)

    def _lock(self) -> asyncio.Lock:
        """Transactions are built one at a time: driftpy keys remaining accounts on the active sub-account."""
        if self._send_lock is None:
            self._send_lock = asyncio.Lock()
        return self._send_lock

    # --- events ------------------------------------------------------------------------------------------

    async def events_since(self, account: AccountRef, cursor: str | None) -> VenueEvents:
        """The sub-account's fills and funding in transactions after `cursor` (a signature; None or "": from
        the start), oldest first, and the newest signature read as the next cursor ("" while the account has
        none). At most `max_transactions_per_read` transactions are read; the next read continues from the
        cursor. A cursor that is not a transaction signature raises ValueError."""
        cursor = cursor or None
        if cursor is not None and not _is_signature(cursor):
            raise ValueError(f"not a Drift venue cursor (a transaction signature): {cursor!r}")
        c = await self.connect()
        address = self.user_address(account)
        async with boundary(self._errors, "reading the Drift event history"):
            statuses = await c.history.signatures(address, until=cursor)
            statuses = statuses[: self.settings.max_transactions_per_read]
            txs = await c.history.events(statuses)
            fills, funding = await self._account_events(account).read(c.history, txs)
        newest = str(statuses[-1].signature) if statuses else cursor
        self.time_limits.observe(account, fills)
        await self._close_expired(account)
        return VenueEvents(fills=fills, funding=funding, cursor=newest or "")

    def _account_events(self, account: AccountRef) -> AccountEvents:
        if account.sub_account not in self._events:
            self._events[account.sub_account] = AccountEvents(self.user_address(account))
        return self._events[account.sub_account]

    def set_time_limit(
        self, account: AccountRef, trade_id: str, market_index: int, deadline: datetime | None
    ) -> None:
        """Close the trade's position at market at `deadline` (e.g. re-armed after a restart); None clears."""
        self.time_limits.set_deadline(account, trade_id, market_index, deadline)

    async def _close_expired(self, account: AccountRef) -> None:
        """Send the reduce-only market close of every bracket whose time limit has passed (its fill arrives
        with the next events: leg CLOSE, exit reason TIME_LIMIT)."""
        due = self.time_limits.due(account, self.clock.now())
        if not due:
            return
        user = await self._user(account)
        held = {
            int(p.market_index): int(p.base_asset_amount) for p in user.perp_positions if p.base_asset_amount
        }
        in_use = {int(o.user_order_id) for o in user.orders if convert.variant(o.status) == "Open"}
        closing = {
            int(o.market_index)
            for o in user.orders
            if convert.variant(o.status) == "Open"
            and convert.variant(o.order_type) == "Market"
            and o.reduce_only
        }
        for limit in due:
            size = held.get(limit.market_index, 0)
            if size == 0 or limit.market_index in closing:
                if size == 0:
                    self.time_limits.done(account, limit.trade_id)
                continue
            uid = next(i for i in range(1, 256) if i not in in_use)
            in_use.add(uid)
            params = orders.close_order(limit.market_index, size, uid)
            c = await self.connect()
            async with self._lock(), boundary(self._errors, "closing at the time limit"):
                c.client.active_sub_account_id = sub = self.drift_sub_account(account)
                await c.client.place_perp_order(params, sub_account_id=sub)
            self.time_limits.done(account, limit.trade_id)
            log.info(
                "time limit of %s: closing %s in market %d",
                limit.trade_id,
                convert.base(size),
                limit.market_index,
            )

    def subscribe(self, account: AccountRef, on_events: EventHandler) -> DriftSubscription:
        """Push the sub-account's new fills and funding as driftpy's EventSubscriber sees its transactions."""
        subscription = DriftSubscription(self, account, on_events)
        self.subscriptions.append(subscription)
        subscription.start()
        return subscription


def _is_signature(value: str) -> bool:
    try:
        Signature.from_string(value)
    except Exception:
        return False
    return True


def _pubkey(value: str, name: str) -> Pubkey:
    try:
        return Pubkey.from_string(value)
    except Exception:
        raise ConfigError(f"{name} is not a base58 public key: {value!r}") from None
