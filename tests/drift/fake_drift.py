"""A small simulated Drift perp market: the program side of the fake chain.

It executes the Drift instructions the venue sends (`place_orders`, `place_perp_order`, `cancel_order`,
`cancel_order_by_user_id`, `cancel_orders`) and what keepers and the outside world do (fill market
orders at the oracle price ± a spread against the AMM with a taker fee, fire trigger orders when the
oracle crosses them, settle funding, liquidate, close by hand). Every effect updates the simulated
`User` accounts and emits the program's events (OrderRecord, OrderActionRecord, FundingPaymentRecord,
LiquidationRecord) as log lines of a transaction that mentions the user account, as Drift does.

All amounts are Drift integers: base 1e9, price 1e6, quote 1e6, funding 1e9.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, field
from decimal import Decimal
from typing import Any

from driftpy.addresses import (
    get_perp_market_public_key,
    get_spot_market_public_key,
    get_user_account_public_key,
    get_user_stats_account_public_key,
)
from solders.pubkey import Pubkey

from drift.codec import DriftCodec, replace, variant

BASE, PRICE, QUOTE = 10**9, 10**6, 10**6
FEE_DENOMINATOR = 100_000


class ProgramError(Exception):
    """The program refused an instruction: the transaction fails with this IDL error."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name, self.message = name, message


@dataclass
class SimOrder:
    order_id: int
    user_order_id: int
    market: int
    long: bool
    kind: str  # Market | TriggerMarket | Limit
    base: int
    reduce_only: bool
    trigger_price: int = 0
    trigger_above: bool = True
    price: int = 0
    slot: int = 0
    filled_base: int = 0
    filled_quote: int = 0
    triggered: bool = False


@dataclass
class SimPosition:
    base: int = 0
    quote_asset: int = 0
    quote_entry: int = 0
    quote_break_even: int = 0
    last_cumulative_funding: int = 0


@dataclass
class SimUser:
    authority: Pubkey
    sub_account: int
    pubkey: Pubkey
    collateral: int
    positions: dict[int, SimPosition] = field(default_factory=dict)
    orders: list[SimOrder] = field(default_factory=list)
    next_order_id: int = 1


@dataclass
class SimMarket:
    index: int
    name: str
    oracle: Pubkey
    price: int
    spread: int = 0
    taker_fee: int = 100  # per FEE_DENOMINATOR: 10 bps
    next_fill_record_id: int = 1
    cumulative_funding: int = 0  # long and short alike
    step_size: int = 1


Effect = tuple[list[str], set[Pubkey]]  # event log lines and the users the transaction mentions


class FakeDrift:
    """The simulated program state; every method that changes it returns the emitted log lines."""

    def __init__(
        self,
        codec: DriftCodec,
        program_id: Pubkey,
        markets: dict[int, tuple[str, str]],
        state_seed: str = "drift_state",
    ) -> None:
        self.codec, self.program_id = codec, program_id
        self.state = Pubkey.find_program_address([state_seed.encode()], program_id)[0]
        self.now = 1_735_689_600  # 2025-01-01T00:00:00Z; the tests move it
        self.slot = 1
        self.markets: dict[int, SimMarket] = {}
        for index, (name, price) in markets.items():
            oracle = Pubkey.create_with_seed(Pubkey.default(), f"oracle-{index}", program_id)
            self.markets[index] = SimMarket(index, name, oracle, int(Decimal(price) * PRICE))
        self.quote_oracle = Pubkey.create_with_seed(Pubkey.default(), "oracle-usdc", program_id)
        self.users: dict[Pubkey, SimUser] = {}
        self.keeper = Pubkey.create_with_seed(Pubkey.default(), "keeper", program_id)
        self.liquidator = Pubkey.create_with_seed(Pubkey.default(), "liquidator", program_id)
        self.next_liquidation_id = 1
        self._encoded: dict[tuple[Any, ...], bytes] = {}
        self.order_records = True  # False: a program that logs no OrderRecord (venues must cope)
        self.liquidation_fills = True  # False: a liquidation logs only its LiquidationRecord
        self._order_tmpl = codec.template("User").orders[0]
        self._action_tmpl = codec.event_template("OrderActionRecord")

    # --- accounts ------------------------------------------------------------------------------

    def add_user(self, authority: Pubkey, sub_account: int = 0, collateral: int = 10_000 * QUOTE) -> SimUser:
        pubkey = get_user_account_public_key(self.program_id, authority, sub_account)
        user = SimUser(authority, sub_account, pubkey, collateral)
        self.users[pubkey] = user
        return user

    def accounts(self) -> dict[Pubkey, bytes]:
        """Every account the program owns, encoded."""
        out: dict[Pubkey, bytes] = {self.state: self._cached(("state",), self._state)}
        for m in self.markets.values():
            key = ("perp", m.index, m.price, m.cumulative_funding, m.step_size)
            out[get_perp_market_public_key(self.program_id, m.index)] = self._cached(
                key, lambda m=m: self._perp_market(m)
            )
            out[m.oracle] = self._oracle(m.price)
        out[get_spot_market_public_key(self.program_id, 0)] = self._cached(("spot",), self._spot_market)
        out[self.quote_oracle] = self._oracle(PRICE)
        for user in self.users.values():
            positions = sorted((m, astuple(p)) for m, p in user.positions.items())
            state = (user.collateral, user.next_order_id, positions, [astuple(o) for o in user.orders])
            out[user.pubkey] = self._cached(
                ("user", str(user.pubkey), repr(state)), lambda u=user: self._user(u)
            )
            stats = get_user_stats_account_public_key(self.program_id, user.authority)
            out[stats] = self._cached(("stats", str(user.authority)), lambda u=user: self._user_stats(u))
        return out

    def _cached(self, key: tuple[Any, ...], build: Any) -> bytes:
        """Encoding is slow: accounts whose inputs did not change are encoded once."""
        if key not in self._encoded:
            self._encoded[key] = build()
        return self._encoded[key]

    def _user_stats(self, user: SimUser) -> bytes:
        return self.codec.encode(
            "UserStats", replace(self.codec.template("UserStats"), authority=user.authority)
        )

    def _state(self) -> bytes:
        state = self.codec.template("State")
        state = replace(state, number_of_markets=len(self.markets), number_of_spot_markets=1)
        return self.codec.encode("State", state)

    def _perp_market(self, market: SimMarket) -> bytes:
        tmpl = self.codec.template("PerpMarket")
        amm = replace(
            tmpl.amm,
            oracle=market.oracle,
            oracle_source=variant(tmpl.amm.oracle_source, "PythLazer"),
            order_step_size=market.step_size,
            order_tick_size=1,
            min_order_size=market.step_size,
            cumulative_funding_rate_long=market.cumulative_funding,
            cumulative_funding_rate_short=market.cumulative_funding,
            historical_oracle_data=replace(tmpl.amm.historical_oracle_data, last_oracle_price=market.price),
            base_asset_reserve=10**18,
            quote_asset_reserve=10**18,
            sqrt_k=10**18,
            peg_multiplier=market.price,
        )
        name = market.name.encode().ljust(32, b" ")
        perp = replace(
            tmpl,
            pubkey=get_perp_market_public_key(self.program_id, market.index),
            amm=amm,
            market_index=market.index,
            name=list(name),
            status=variant(tmpl.status, "Active"),
            margin_ratio_initial=1000,
            margin_ratio_maintenance=500,
            quote_spot_market_index=0,
        )
        return self.codec.encode("PerpMarket", perp)

    def _spot_market(self) -> bytes:
        tmpl = self.codec.template("SpotMarket")
        spot = replace(
            tmpl,
            pubkey=get_spot_market_public_key(self.program_id, 0),
            oracle=self.quote_oracle,
            oracle_source=variant(tmpl.oracle_source, "PythLazerStableCoin"),
            market_index=0,
            decimals=6,
            status=variant(tmpl.status, "Active"),
            cumulative_deposit_interest=10**10,
            cumulative_borrow_interest=10**10,
            initial_asset_weight=10_000,
            maintenance_asset_weight=10_000,
            initial_liability_weight=10_000,
            maintenance_liability_weight=10_000,
            name=list(b"USDC".ljust(32, b" ")),
        )
        return self.codec.encode("SpotMarket", spot)

    def _oracle(self, price: int) -> bytes:
        tmpl = self.codec.template("PythLazerOracle")
        oracle = replace(
            tmpl, price=price, publish_time=self.now * 1_000_000, posted_slot=self.slot, exponent=-6, conf=0
        )
        return self.codec.encode("PythLazerOracle", oracle)

    def _user(self, user: SimUser) -> bytes:
        tmpl = self.codec.template("User")
        spot = list(tmpl.spot_positions)
        spot[0] = replace(
            spot[0],
            scaled_balance=user.collateral * 1000,
            market_index=0,
            balance_type=variant(spot[0].balance_type, "Deposit"),
        )
        perps = list(tmpl.perp_positions)
        live = [(m, p) for m, p in sorted(user.positions.items())]
        for slot, (market, pos) in enumerate(live):
            orders = [o for o in user.orders if o.market == market]
            bids = sum(o.base - o.filled_base for o in orders if o.long and not o.reduce_only)
            asks = -sum(o.base - o.filled_base for o in orders if not o.long and not o.reduce_only)
            perps[slot] = replace(
                perps[slot],
                market_index=market,
                base_asset_amount=pos.base,
                quote_asset_amount=pos.quote_asset,
                quote_entry_amount=pos.quote_entry,
                quote_break_even_amount=pos.quote_break_even,
                last_cumulative_funding_rate=pos.last_cumulative_funding,
                open_orders=len(orders),
                open_bids=bids,
                open_asks=asks,
            )
        orders = list(tmpl.orders)
        for slot, order in enumerate(user.orders):
            orders[slot] = self._order(order)
        name = list(f"Sub {user.sub_account}".encode().ljust(32, b" "))
        account = replace(
            tmpl,
            authority=user.authority,
            name=name,
            spot_positions=spot,
            perp_positions=perps,
            orders=orders,
            next_order_id=user.next_order_id,
            sub_account_id=user.sub_account,
        )
        return self.codec.encode("User", account)

    def _order(self, order: SimOrder, status: str = "Open") -> Any:
        t = self._order_tmpl
        long, short = variant(t.direction, "Long"), variant(t.direction, "Short")
        return replace(
            t,
            slot=order.slot,
            price=order.price,
            base_asset_amount=order.base,
            base_asset_amount_filled=order.filled_base,
            quote_asset_amount_filled=order.filled_quote,
            trigger_price=order.trigger_price,
            order_id=order.order_id,
            market_index=order.market,
            status=variant(t.status, status),
            order_type=variant(t.order_type, order.kind),
            market_type=variant(t.market_type, "Perp"),
            user_order_id=order.user_order_id,
            direction=long if order.long else short,
            existing_position_direction=long,
            reduce_only=order.reduce_only,
            trigger_condition=variant(
                t.trigger_condition,
                ("TriggeredAbove" if order.trigger_above else "TriggeredBelow")
                if order.triggered
                else ("Above" if order.trigger_above else "Below"),
            ),
        )

    # --- instructions ----------------------------------------------------------------------------

    def execute(self, name: str, args: Any, user_key: Pubkey, signer: Pubkey) -> Effect:
        """Run one Drift instruction; raises ProgramError (and changes nothing) when it fails."""
        user = self.users.get(user_key)
        if user is None:
            raise ProgramError("UserNotFound", f"no user account {user_key}")
        if user.authority != signer:
            raise ProgramError("InvalidSignature", "the signer is not the user's authority")
        if name in ("place_orders", "place_perp_order"):
            params = list(args.params) if name == "place_orders" else [args.params]
            return self._place(user, params)
        if name == "cancel_order":
            ids = [o.order_id for o in user.orders]
            order_id = args.order_id if args.order_id is not None else (max(ids) if ids else None)
            return self._cancel(user, [o for o in user.orders if o.order_id == order_id], "None")
        if name == "cancel_order_by_user_id":
            return self._cancel(
                user, [o for o in user.orders if o.user_order_id == args.user_order_id], "None"
            )
        if name == "cancel_orders":
            market = args.market_index
            chosen = [o for o in user.orders if market is None or o.market == market]
            return self._cancel(user, chosen, "None")
        raise ProgramError("InstructionNotSupported", f"the fake program does not run {name}")

    def _place(self, user: SimUser, params: list[Any]) -> Effect:
        in_use = {o.user_order_id for o in user.orders} - {0}
        new = [p.user_order_id for p in params if p.user_order_id]
        if in_use & set(new) or len(new) != len(set(new)):
            raise ProgramError(
                "UserOrderIdAlreadyInUse", f"user order id in use: {sorted(in_use & set(new))}"
            )
        if len(user.orders) + len(params) > 32:
            raise ProgramError("MaxNumberOfOrders", "32 open orders at most")
        for p in params:
            market = self.markets.get(p.market_index)
            if market is None:
                raise ProgramError("InvalidPerpMarketIndex", f"no perp market {p.market_index}")
            if p.base_asset_amount <= 0 or p.base_asset_amount % market.step_size:
                raise ProgramError("InvalidOrderSizeTooSmall", "size must be a positive multiple of the step")
            notional = p.base_asset_amount * market.price // BASE
            if not p.reduce_only and notional > user.collateral * 10:
                raise ProgramError("InsufficientCollateral", f"notional {notional} above 10x collateral")
        lines: list[str] = []
        for p in params:
            kind = type(p.order_type).__name__
            order = SimOrder(
                order_id=user.next_order_id,
                user_order_id=p.user_order_id,
                market=p.market_index,
                long=type(p.direction).__name__ == "Long",
                kind=kind,
                base=p.base_asset_amount,
                reduce_only=bool(p.reduce_only),
                trigger_price=p.trigger_price or 0,
                trigger_above=type(p.trigger_condition).__name__ == "Above",
                price=p.price or 0,
                slot=self.slot,
            )
            user.next_order_id += 1
            user.orders.append(order)
            user.positions.setdefault(order.market, SimPosition())
            lines.append(self._order_record(user, order))
            lines.append(self._action(user, order, "Place", "None"))
        return lines, {user.pubkey}

    def _cancel(self, user: SimUser, orders: list[SimOrder], explanation: str) -> Effect:
        lines = []
        for order in orders:
            user.orders.remove(order)
            lines.append(self._action(user, order, "Cancel", explanation))
        self._tidy(user)
        return lines, {user.pubkey}

    # --- keepers and the outside world --------------------------------------------------------------

    def fill_market_orders(self, market_index: int) -> list[Effect]:
        """A filler fills every open market order in the market (one transaction each)."""
        effects = []
        for user in list(self.users.values()):
            for order in [o for o in user.orders if o.market == market_index and o.kind == "Market"]:
                effects.append(self._fill(user, order, "OrderFilledWithAMM"))
        return effects

    def move_oracle(self, market_index: int, price: int, *, gap: bool = False) -> list[Effect]:
        """Move the oracle to `price`. Trigger orders it crosses fire at their trigger price (a
        continuous move passes through it) or, after a `gap`, at the new price."""
        market = self.markets[market_index]
        start, effects = market.price, []
        while True:
            crossed = self._next_trigger(market_index, start, price)
            if crossed is None:
                break
            user, order, fire_at = crossed
            market.price = price if gap else fire_at
            order.triggered = True
            trigger_line = self._action(user, order, "Trigger", "None")
            lines, mentions = self._fill(user, order, "OrderFilledWithAMM")
            effects.append(([trigger_line, *lines], mentions))
            start = market.price
        market.price = price
        return effects

    def _next_trigger(self, market_index: int, start: int, end: int) -> tuple[SimUser, SimOrder, int] | None:
        """The first untriggered trigger order a move from `start` to `end` reaches, and the price it
        fires at (its level, or `start` if the oracle was already beyond it)."""
        hits = []
        for user in self.users.values():
            for order in user.orders:
                if order.market != market_index or order.kind != "TriggerMarket" or order.triggered:
                    continue
                level = order.trigger_price
                if order.trigger_above and end >= level:
                    hits.append((max(0, level - start), order.order_id, user, order, max(level, start)))
                if not order.trigger_above and end <= level:
                    hits.append((max(0, start - level), order.order_id, user, order, min(level, start)))
        if not hits:
            return None
        _, _, user, order, fire_at = min(hits, key=lambda h: (h[0], h[1]))
        return user, order, fire_at

    def settle_funding(self, market_index: int, delta: int) -> list[Effect]:
        """The cumulative funding rate moves by `delta` (1e9 quote per base; > 0: longs pay) and each
        position in the market settles it (one transaction per user)."""
        market = self.markets[market_index]
        market.cumulative_funding += delta
        effects = []
        for user in self.users.values():
            pos = user.positions.get(market_index)
            if pos is None or pos.base == 0:
                continue
            payment = -((market.cumulative_funding - pos.last_cumulative_funding) * pos.base) // 10**12
            record = replace(
                self.codec.event_template("FundingPaymentRecord"),
                ts=self.now,
                user_authority=user.authority,
                user=user.pubkey,
                market_index=market_index,
                funding_payment=payment,
                base_asset_amount=pos.base,
                user_last_cumulative_funding=pos.last_cumulative_funding,
                amm_cumulative_funding_long=market.cumulative_funding,
                amm_cumulative_funding_short=market.cumulative_funding,
            )
            pos.quote_asset += payment
            pos.quote_break_even += payment
            pos.last_cumulative_funding = market.cumulative_funding
            effects.append(([self.codec.event_line("FundingPaymentRecord", record)], {user.pubkey}))
        return effects

    def close_by_hand(self, user: SimUser, market_index: int) -> Effect:
        """The user closes the position from another client: a reduce-only market order without a
        user order id, placed and filled in one transaction."""
        pos = user.positions[market_index]
        order = SimOrder(
            user.next_order_id, 0, market_index, pos.base < 0, "Market", abs(pos.base), True, slot=self.slot
        )
        user.next_order_id += 1
        user.orders.append(order)
        place = [self._order_record(user, order), self._action(user, order, "Place", "None")]
        lines, mentions = self._fill(user, order, "OrderFilledWithAMM")
        return [*place, *lines], mentions

    def liquidate(
        self, user: SimUser, market_index: int, liquidator_fee_bps: int = 100, if_fee_bps: int = 0
    ) -> Effect:
        """A liquidator takes over the whole position at the oracle price; the user's orders are cancelled."""
        market, pos = self.markets[market_index], user.positions[market_index]
        lines = []
        canceled = [o.order_id for o in user.orders]
        for order in list(user.orders):
            user.orders.remove(order)
            lines.append(self._action(user, order, "Cancel", "Liquidation"))
        order = SimOrder(user.next_order_id, 0, market_index, pos.base < 0, "Market", abs(pos.base), True)
        user.next_order_id += 1
        quote, held = abs(pos.base) * market.price // BASE, pos.base
        liquidator_fee = quote * liquidator_fee_bps // 10_000
        if_fee = quote * if_fee_bps // 10_000
        fill_record_id = market.next_fill_record_id
        lines.append(self._order_record(user, order))
        fill = self._apply_fill(
            user, order, market.price, liquidator_fee + if_fee, "Liquidation", maker_fee=-liquidator_fee
        )
        tmpl = self.codec.event_template("LiquidationRecord")
        record = replace(
            tmpl,
            ts=self.now,
            liquidation_type=variant(tmpl.liquidation_type, "LiquidatePerp"),
            user=user.pubkey,
            liquidator=self.liquidator,
            liquidation_id=self.next_liquidation_id,
            canceled_order_ids=canceled,
            liquidate_perp=replace(
                tmpl.liquidate_perp,
                market_index=market_index,
                oracle_price=market.price,
                base_asset_amount=-held,  # the user's position change
                quote_asset_amount=quote if held > 0 else -quote,
                fill_record_id=fill_record_id,
                user_order_id=order.order_id,
                liquidator_fee=liquidator_fee,
                if_fee=if_fee,
            ),
        )
        self.next_liquidation_id += 1
        lines += [fill] if self.liquidation_fills else []
        lines.append(self.codec.event_line("LiquidationRecord", record))
        return lines, {user.pubkey}

    # --- execution ---------------------------------------------------------------------------------

    def _fill(self, user: SimUser, order: SimOrder, explanation: str) -> Effect:
        """Fill the order against the AMM at the oracle ± the spread, paying the taker fee."""
        market = self.markets[order.market]
        pos = user.positions.setdefault(order.market, SimPosition())
        if order.reduce_only and (pos.base == 0 or (pos.base > 0) == order.long):
            user.orders.remove(order)  # would increase the position: Drift cancels it instead
            line = self._action(user, order, "Cancel", "ReduceOnlyOrderIncreasedPosition")
            self._tidy(user)
            return [line], {user.pubkey}
        if order.reduce_only:
            order.base = min(order.base, order.filled_base + abs(pos.base))
        price = market.price + market.spread if order.long else market.price - market.spread
        remaining = order.base - order.filled_base
        quote = remaining * price // BASE
        fee = -(-quote * market.taker_fee // FEE_DENOMINATOR)  # rounded up, as the program does
        return [self._apply_fill(user, order, price, fee, explanation)], {user.pubkey}

    def _apply_fill(
        self,
        user: SimUser,
        order: SimOrder,
        price: int,
        fee: int,
        explanation: str,
        maker_fee: int | None = None,
    ) -> str:
        market = self.markets[order.market]
        pos = user.positions.setdefault(order.market, SimPosition())
        base = order.base - order.filled_base
        quote = base * price // BASE
        signed_base = base if order.long else -base
        signed_quote = -quote if order.long else quote
        existing: tuple[int | None, int | None] = (None, None)
        if pos.base != 0 and (pos.base > 0) != order.long:  # reduces
            closed = min(base, abs(pos.base))
            entry_part = pos.quote_entry * closed // abs(pos.base)
            break_even_part = pos.quote_break_even * closed // abs(pos.base)
            existing = (abs(entry_part), abs(pos.base))
            pos.quote_entry -= entry_part
            pos.quote_break_even -= break_even_part
            if closed < base:  # flips: the rest opens the other way
                rest = (base - closed) * price // BASE
                pos.quote_entry += -rest if order.long else rest
                pos.quote_break_even += -rest if order.long else rest
        else:
            pos.quote_entry += signed_quote
            pos.quote_break_even += signed_quote
        pos.base += signed_base
        pos.quote_asset += signed_quote - fee
        pos.quote_break_even -= fee
        if pos.base == 0:
            pos.quote_entry = pos.quote_break_even = 0
        order.filled_base += base
        order.filled_quote += quote
        fill_record_id = market.next_fill_record_id
        market.next_fill_record_id += 1
        record = replace(
            self._action_tmpl,
            ts=self.now,
            action=variant(self._action_tmpl.action, "Fill"),
            action_explanation=variant(self._action_tmpl.action_explanation, explanation),
            market_index=order.market,
            market_type=variant(self._action_tmpl.market_type, "Perp"),
            filler=self.keeper if explanation != "Liquidation" else None,
            filler_reward=0 if explanation != "Liquidation" else None,
            fill_record_id=fill_record_id,
            base_asset_amount_filled=base,
            quote_asset_amount_filled=quote,
            taker_fee=fee,
            maker_fee=maker_fee,
            quote_asset_amount_surplus=0 if explanation != "Liquidation" else None,
            taker=user.pubkey,
            taker_order_id=order.order_id,
            taker_order_direction=self._direction(order.long),
            taker_order_base_asset_amount=order.base,
            taker_order_cumulative_base_asset_amount_filled=order.filled_base,
            taker_order_cumulative_quote_asset_amount_filled=order.filled_quote,
            maker=self.liquidator if explanation == "Liquidation" else None,
            oracle_price=market.price,
            taker_existing_quote_entry_amount=existing[0],
            taker_existing_base_asset_amount=existing[1],
        )
        if order in user.orders:
            user.orders.remove(order)
        self._tidy(user)
        return self.codec.event_line("OrderActionRecord", record)

    def _tidy(self, user: SimUser) -> None:
        """A flat position with no orders frees its slot; its unsettled PnL is settled to collateral."""
        for market, pos in list(user.positions.items()):
            if pos.base == 0 and not any(o.market == market for o in user.orders):
                user.collateral += pos.quote_asset
                del user.positions[market]

    def _direction(self, long: bool) -> Any:
        return variant(self._order_tmpl.direction, "Long" if long else "Short")

    def _order_record(self, user: SimUser, order: SimOrder) -> str:
        if not self.order_records:
            return ""
        record = replace(
            self.codec.event_template("OrderRecord"), ts=self.now, user=user.pubkey, order=self._order(order)
        )
        return self.codec.event_line("OrderRecord", record)

    def _action(self, user: SimUser, order: SimOrder, action: str, explanation: str) -> str:
        t = self._action_tmpl
        record = replace(
            t,
            ts=self.now,
            action=variant(t.action, action),
            action_explanation=variant(t.action_explanation, explanation),
            market_index=order.market,
            market_type=variant(t.market_type, "Perp"),
            taker=user.pubkey,
            taker_order_id=order.order_id,
            taker_order_direction=self._direction(order.long),
            taker_order_base_asset_amount=order.base,
            taker_order_cumulative_base_asset_amount_filled=order.filled_base,
            taker_order_cumulative_quote_asset_amount_filled=order.filled_quote,
            oracle_price=self.markets[order.market].price,
            trigger_price=order.trigger_price if order.kind == "TriggerMarket" else None,
        )
        return self.codec.event_line("OrderActionRecord", record)
