"""A harness for the live loop: a scripted market, many users' analyses, and a database snapshot.

`LoopHarness` builds the loop over a migrated engine with a deterministic clock (market time: the
close of the last bar fed) and a paper venue in live mode. `session(copies)` is a scripted live
session: bars, analyses (six users per copy), a close by hand, and monitoring cycles; `expected()`
says how each of its trades ends. The trades close by stop-loss, take-profit, time limit,
liquidation and by hand; some analyses are skipped (HOLD, wrong side, netting).

Venue wrappers for tests: `HideExitFills` (a position vanishes without a fill), `ExtraPosition`
(an unknown position), `RejectingVenue` (refusals) and `RestingTriggers` (reduce-only triggers stay
open after a close, as on Drift). `SimulatedCrash` + `LoopHarness.run` restart the services after a
crash; `save_exchange`/`load_exchange`/`kill_child_main` support the process-kill test.

`snapshot(engine)` is the database content by natural keys, without recording timestamps or
surrogate ids: two runs of the same session must give equal snapshots whatever crashed or failed
in between (crash-safety is compared by natural keys, ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
import os
import pickle
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from driftloop.adapters.clock import FixedClock
from driftloop.adapters.db import tables as t
from driftloop.adapters.db.engine import make_engine, migrate
from driftloop.adapters.marketdata.candle import Candle
from driftloop.adapters.marketdata.history import BarHistory
from driftloop.adapters.venues.paper.venue import PaperVenue
from driftloop.bootstrap import Container
from driftloop.config import Settings
from driftloop.domain.model import Analysis, Bar, Prediction, Recommendation, Timeframe
from driftloop.domain.trade import AccountRef, Trade
from driftloop.loop import LoopApp, build_loop
from driftloop.services.monitoring import CheckResult
from driftloop.services.ports import (
    BracketRequest,
    Placement,
    Subscription,
    Venue,
    VenueEvents,
    VenueOrder,
    VenuePosition,
)
from driftloop.services.retry import RetryPolicy
from driftloop.services.trading import TradingService, live_trade_id

D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)
BAR = timedelta(minutes=5)
SOL = 0  # market index of SOL-PERP
FAST_RETRY = RetryPolicy(attempts=8, base_delay=0.0005, max_delay=0.002, timeout=0.05)


def candle(i: int, o: str, h: str, low: str, c: str) -> Candle:
    return Candle(T0 + i * BAR, D(o), D(h), D(low), D(c), D(1))


# The scripted market (SOL-PERP, 5-minute bars). Wave-1 entries fill at bar 1's open (100).
CANDLES = [
    candle(0, "100", "100.5", "99.5", "100"),
    candle(1, "100", "101", "99.8", "100.5"),
    candle(2, "100.5", "103", "100", "102"),  # long TP 102.5; short SL 102.8; sub-account TP 103
    candle(3, "102", "102.5", "97", "97.5"),  # long SL 98
    candle(4, "97.5", "98", "96", "97"),  # the close by hand fills at this open
    candle(5, "97", "108", "96.5", "107"),  # the 10x short is liquidated at 110/1.03
    candle(6, "107", "107.5", "105", "106"),
    candle(7, "106", "106.5", "105.5", "106"),  # time limit (30 min after the bar-1 entry)
    candle(8, "106", "108.5", "105.5", "108"),  # wave-2 long TP 108
    candle(9, "108", "108.2", "107", "107.5"),
    candle(10, "107.5", "107.8", "99", "100"),  # wave-2 short target 101
]
FUNDING = {SOL: [(T0 + 2 * BAR, D("0.0001")), (T0 + 6 * BAR, D("-0.0002"))]}


def analysis(
    aid: str,
    recommendation: Recommendation,
    stop: str,
    target: str,
    *,
    at: datetime,
    leverage: str = "1",
    size: str = "1000",
    confidence: str = "70",
    max_hold: int | None = None,
    symbol: str = "SOL-PERP",
) -> Analysis:
    prediction = {
        Recommendation.BUY: Prediction.BULLISH,
        Recommendation.SELL: Prediction.BEARISH,
        Recommendation.HOLD: Prediction.NEUTRAL,
    }[recommendation]
    return Analysis(
        id=aid,
        timestamp=at,
        symbol=symbol,
        timeframe=Timeframe.M5,
        prediction=prediction,
        confidence=D(confidence),
        recommendation=recommendation,
        stop_loss=D(stop),
        take_profit=D(target),
        size_usd=D(size),
        leverage=D(leverage),
        max_hold_minutes=max_hold,
        analyst="scripted",
        reasoning=f"scripted analysis {aid}",
        raw={"script": aid},
    )


@dataclass(frozen=True, slots=True)
class Order:
    """An analysis to place for a user (on a sub-account)."""

    user: str
    analysis: Analysis
    sub_account: int = 0

    @property
    def account(self) -> AccountRef:
        return AccountRef(self.user, "paper", self.sub_account)

    @property
    def trade_id(self) -> str:
        return live_trade_id(self.user, self.analysis.id)


BUY, SELL, HOLD = Recommendation.BUY, Recommendation.SELL, Recommendation.HOLD
W1, W1B, W2 = T0 + BAR, T0 + 2 * BAR, T0 + 8 * BAR  # analysis times (after bars 0, 1 and 7)


def wave1(copy: int) -> list[Order]:
    """One trade per way of closing, for the users of copy `copy`."""
    u = f"c{copy}"
    return [
        Order(f"{u}-tp", analysis(f"{u}-tp-1", BUY, "97", "102.5", at=W1, leverage="2")),
        Order(f"{u}-sls", analysis(f"{u}-sls-1", SELL, "102.8", "95", at=W1)),
        Order(f"{u}-sll", analysis(f"{u}-sll-1", BUY, "98", "104", at=W1, leverage="3")),
        Order(f"{u}-man", analysis(f"{u}-man-1", BUY, "90", "110", at=W1)),
        Order(f"{u}-liq", analysis(f"{u}-liq-1", SELL, "150", "80", at=W1, leverage="10")),
        Order(f"{u}-time", analysis(f"{u}-time-1", BUY, "90", "115", at=W1, max_hold=30)),
    ]


def wave1b(copy: int) -> list[Order]:
    """After bar 1 (price 100.5): netting, another sub-account, HOLD, a stop above the price."""
    u = f"c{copy}"
    return [
        Order(f"{u}-time", analysis(f"{u}-time-2", BUY, "95", "110", at=W1B)),  # netting: skipped
        Order(f"{u}-time", analysis(f"{u}-time-sub1", BUY, "95", "103", at=W1B), sub_account=1),
        Order(f"{u}-sls", analysis(f"{u}-sls-hold", HOLD, "95", "110", at=W1B)),
        Order(f"{u}-sls", analysis(f"{u}-sls-wrong", BUY, "101", "110", at=W1B), sub_account=2),
    ]


def wave2(copy: int) -> list[Order]:
    """After bar 7: new trades of users whose first trade closed."""
    u = f"c{copy}"
    return [
        Order(f"{u}-tp", analysis(f"{u}-tp-2", BUY, "100", "108", at=W2)),
        Order(f"{u}-liq", analysis(f"{u}-liq-2", SELL, "112", "101", at=W2, leverage="2")),
    ]


def expected(copies: int = 1) -> dict[str, tuple[str, str | None]]:
    """(status, exit reason) of every analysis of the session, by trade id."""
    out: dict[str, tuple[str, str | None]] = {}
    for copy in range(copies):
        u = f"c{copy}"
        for aid, status, reason in [
            ("tp-1", "CLOSED", "TAKE_PROFIT"),
            ("sls-1", "CLOSED", "STOP_LOSS"),
            ("sll-1", "CLOSED", "STOP_LOSS"),
            ("man-1", "CLOSED", "MANUAL"),
            ("liq-1", "CLOSED", "LIQUIDATION"),
            ("time-1", "CLOSED", "TIME_LIMIT"),
            ("time-2", "SKIPPED", None),
            ("time-sub1", "CLOSED", "TAKE_PROFIT"),
            ("sls-hold", "SKIPPED", None),
            ("sls-wrong", "SKIPPED", None),
            ("tp-2", "CLOSED", "TAKE_PROFIT"),
            ("liq-2", "CLOSED", "TAKE_PROFIT"),
        ]:
            user = f"{u}-{aid.split('-')[0]}"
            out[live_trade_id(user, f"{u}-{aid}")] = (status, reason)
    return out


Step = tuple[Any, ...]


def session(copies: int = 1) -> list[Step]:
    """The scripted live session, as steps:
    ("bar", i) | ("place", [Order]) | ("close", user, sub_account, market) | ("cycle",)."""
    w1 = [o for c in range(copies) for o in wave1(c)]
    w1b = [o for c in range(copies) for o in wave1b(c)]
    w2 = [o for c in range(copies) for o in wave2(c)]
    manual = [("close", f"c{c}-man", 0, SOL) for c in range(copies)]
    steps: list[Step] = [("bar", 0), ("place", w1), ("cycle",), ("bar", 1), ("cycle",), ("place", w1b)]
    for i in range(2, len(CANDLES)):
        steps += [("bar", i), ("cycle",)]
        if i == 3:
            steps += manual
        if i == 7:
            steps += [("place", w2)]
    return steps


# --- clock ------------------------------------------------------------------------------------


class MarketTime(FixedClock):
    """A FixedClock that advances with the market: now = the close time of the last bar fed."""

    def bar_fed(self, candle: Candle) -> None:
        self.at = max(self.at, candle.ts + BAR)


# --- venue wrappers used by tests -------------------------------------------------------------


class DelegatingVenue:
    """A `Venue` that delegates every call; subclasses change what they need."""

    def __init__(self, inner: Venue) -> None:
        self.inner = inner
        self.name = inner.name

    async def place_bracket(self, request: BracketRequest) -> Placement:
        return await self.inner.place_bracket(request)

    async def cancel(self, account: AccountRef, order_id: str) -> None:
        await self.inner.cancel(account, order_id)

    async def open_orders(self, account: AccountRef) -> list[VenueOrder]:
        return await self.inner.open_orders(account)

    async def positions(self, account: AccountRef) -> list[VenuePosition]:
        return await self.inner.positions(account)

    async def events_since(self, account: AccountRef, cursor: str | None) -> VenueEvents:
        return await self.inner.events_since(account, cursor)

    async def mark_price(self, market_index: int) -> Decimal | None:
        return await self.inner.mark_price(market_index)

    def subscribe(
        self, account: AccountRef, on_events: Callable[[VenueEvents], Awaitable[None]]
    ) -> Subscription:
        return self.inner.subscribe(account, on_events)


class HideExitFills(DelegatingVenue):
    """Never reports the exit fills (fills with a cause) of the given accounts; positions still go flat."""

    def __init__(self, inner: Venue, accounts: Iterable[AccountRef]) -> None:
        super().__init__(inner)
        self.accounts = set(accounts)

    async def events_since(self, account: AccountRef, cursor: str | None) -> VenueEvents:
        events = await self.inner.events_since(account, cursor)
        if account not in self.accounts:
            return events
        return VenueEvents([f for f in events.fills if f.cause is None], events.funding, events.cursor)


class ExtraPosition(DelegatingVenue):
    """Reports one more position than the venue holds (one nobody opened through the loop)."""

    def __init__(self, inner: Venue, account: AccountRef, position: VenuePosition) -> None:
        super().__init__(inner)
        self.account, self.extra = account, position

    async def positions(self, account: AccountRef) -> list[VenuePosition]:
        found = await self.inner.positions(account)
        return [*found, self.extra] if account == self.account else found


class RejectingVenue(DelegatingVenue):
    """Rejects the brackets of the given trades: with a refused placement or by raising `error`."""

    def __init__(self, inner: Venue, refuse: dict[str, str], error: Exception | None = None) -> None:
        super().__init__(inner)
        self.refuse, self.error = refuse, error

    async def place_bracket(self, request: BracketRequest) -> Placement:
        if request.trade_id in self.refuse:
            if self.error is not None:
                raise self.error
            return Placement(accepted=False, reason=self.refuse[request.trade_id])
        return await self.inner.place_bracket(request)


class RestingTriggers(DelegatingVenue):
    """Like Drift: a trade's reduce-only triggers stay open after its position closes, until cancelled.

    (The paper venue drops them itself when the position goes flat.)
    """

    def __init__(self, inner: Venue) -> None:
        super().__init__(inner)
        self._resting: dict[AccountRef, dict[str, VenueOrder]] = {}
        self._filled: set[str] = set()

    async def place_bracket(self, request: BracketRequest) -> Placement:
        placement = await self.inner.place_bracket(request)
        if placement.accepted:
            mine = set(placement.order_ids.values())
            book = self._resting.setdefault(request.account, {})
            for order in await self.inner.open_orders(request.account):
                if order.order_id in mine and order.reduce_only:
                    book[order.order_id] = order
        return placement

    async def cancel(self, account: AccountRef, order_id: str) -> None:
        self._resting.get(account, {}).pop(order_id, None)
        await self.inner.cancel(account, order_id)

    async def open_orders(self, account: AccountRef) -> list[VenueOrder]:
        live = await self.inner.open_orders(account)
        filled = {f.order_id for f in (await self.inner.events_since(account, None)).fills}
        ids = {o.order_id for o in live}
        resting = [o for oid, o in self._resting.get(account, {}).items() if oid not in ids | filled]
        return [*live, *resting]


# --- the harness --------------------------------------------------------------------------------


class SimulatedCrash(BaseException):
    """The process dies here (a BaseException: no `except Exception` on the way can swallow it)."""


class LoopHarness:
    """The loop over `engine`, a paper venue in live mode (`paper`) and the venue the loop sees
    (`venue`: the paper venue, or a wrapper of it).

    `trading` places trades without starting monitor tasks (cycles are driven by the script);
    `app` is the full wiring of `build_loop` (its trading service starts monitoring loops).
    `restart()` builds fresh services over the same engine and venue: the exchange survives our crash.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        paper: PaperVenue | None = None,
        wrap: Callable[[PaperVenue], Venue] | None = None,
        history: BarHistory | None = None,
        clock: MarketTime | None = None,
        retry: RetryPolicy = FAST_RETRY,
        tolerate: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.engine = engine
        self.paper = paper or PaperVenue(funding=FUNDING)
        self.venue: Venue = wrap(self.paper) if wrap else self.paper
        self.history = history or BarHistory()
        self.clock = clock or MarketTime(T0)
        self.retry = retry
        self.tolerate = tolerate  # cycle errors to log and survive (venue faults)
        self.users: list[str] = []
        self.results: list[CheckResult] = []
        self.errors: list[BaseException] = []
        self.crashes = 0
        self.restart()

    def restart(self) -> None:
        settings = Settings(database_url=self.engine.url.render_as_string(hide_password=False))
        self.container = Container(settings=settings, engine=self.engine, clock=self.clock)
        self.app: LoopApp = build_loop(
            self.container, venue=self.venue, history=self.history, retry=self.retry
        )
        self.trading = TradingService(self.container.uow, self._venue_for, self.clock, retry=self.retry)

    def _venue_for(self, account: AccountRef) -> Venue:
        return self.venue

    # --- script actions ----------------------------------------------------------------------

    async def feed(self, bar: int | Candle, market: int = SOL) -> None:
        c = CANDLES[bar] if isinstance(bar, int) else bar
        self.history.add(market, Bar(c.ts, c.open, c.high, c.low))
        await self.paper.on_candle(market, c)
        self.clock.bar_fed(c)

    async def place(self, order: Order) -> Trade:
        if order.user not in self.users:
            self.users.append(order.user)
        return await self.trading.place_trade(order.user, order.analysis, sub_account=order.sub_account)

    async def place_all(self, orders: Sequence[Order]) -> list[Trade]:
        return [await self.place(o) for o in orders]

    async def cycle(self) -> None:
        """One monitoring cycle for every user of the script (a tolerated error skips the user)."""
        for user in self.users:
            try:
                self.results.append(await self.app.monitor.check_trades(user))
            except self.tolerate as exc:
                self.errors.append(exc)

    async def step(self, step: Step) -> None:
        kind = step[0]
        if kind == "bar":
            await self.feed(step[1])
        elif kind == "place":
            await self.place_all(step[1])
        elif kind == "close":
            _, user, sub, market = step
            self.paper.close_position(AccountRef(user, "paper", sub), market)
        elif kind == "cycle":
            await self.cycle()
        else:  # pragma: no cover
            raise ValueError(f"unknown step {step!r}")

    async def run(
        self,
        steps: Sequence[Step],
        *,
        start: int = 0,
        drain: int = 2,
        after_step: Callable[[int], None] | None = None,
    ) -> None:
        """Run the steps, then `drain` more cycles to catch up with the venue.

        A `SimulatedCrash` restarts the services (fresh objects over the same engine and venue) and,
        as a restarted worker resumes monitoring at once, the interrupted cycle runs again."""
        for index in range(start, len(steps)):
            await self._survive(steps[index])
            if after_step is not None:
                after_step(index)
        for _ in range(drain):
            await self._survive(("cycle",))

    async def _survive(self, step: Step, restarts: int = 20) -> None:
        for _ in range(restarts):
            try:
                await self.step(step)
                return
            except SimulatedCrash:
                self.crashes += 1
                self.restart()
                if step[0] != "cycle":
                    return  # a crash outside the capture path: the script goes on
        raise AssertionError(f"{step!r} crashed {restarts} times in a row")

    # --- process-kill support: the exchange (and the market) live outside our process ------------

    def save_exchange(self, path: Path, step_index: int) -> None:
        """Persist the venue, the bar history, the clock and the users after `step_index` (atomically)."""
        state = (step_index, self.paper, self.history, self.clock.at, self.users)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(state))
        tmp.replace(path)

    @classmethod
    def load_exchange(cls, engine: Engine, path: Path, **kwargs: Any) -> tuple[LoopHarness, int]:
        step_index, paper, history, at, users = pickle.loads(path.read_bytes())
        harness = cls(engine, paper=paper, history=history, clock=MarketTime(at), **kwargs)
        harness.users = list(users)
        return harness, step_index


async def run_session(harness: LoopHarness, copies: int = 1, drain: int = 2) -> None:
    await harness.run(session(copies), drain=drain)


# --- databases ------------------------------------------------------------------------------------

PG_ENV = "DRIFTLOOP_TEST_DATABASE_URL"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]  # as tests/conftest.py


@contextmanager
def fresh_database(backend: str, directory: Path | None = None) -> Iterator[Engine]:
    """A migrated engine on a new SQLite file, or on a new PostgreSQL schema (dropped afterwards;
    the test is skipped when DRIFTLOOP_TEST_DATABASE_URL is not set)."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'loop.db'}")
            migrate(engine)
            try:
                yield engine
            finally:
                engine.dispose()
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} not set: PostgreSQL tests skipped")
    schema = f"dl_loop_{uuid.uuid4().hex}"
    engine = make_engine(base, schema=schema)
    try:
        migrate(engine, schema=schema)
        yield engine
    finally:
        engine.dispose()
        admin = make_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


_REFERENCE: dict[int, dict[str, Any]] = {}


def reference_snapshot(copies: int = 1) -> dict[str, Any]:
    """The snapshot of a crash-free, fault-free run of the session (SQLite; computed once per process).

    Snapshots are backend-independent, so PostgreSQL runs compare against it too."""
    if copies not in _REFERENCE:
        with fresh_database("sqlite") as engine:
            asyncio.run(run_session(LoopHarness(engine), copies))
            _REFERENCE[copies] = snapshot(engine)
    return _REFERENCE[copies]


# --- the snapshot -------------------------------------------------------------------------------


def _without(row: Any, *names: str) -> dict[str, Any]:
    return {k: v for k, v in dict(row).items() if k not in names}


def snapshot(engine: Engine) -> dict[str, Any]:
    """The database content by natural keys (no recording timestamps, surrogate ids or `seq`)."""
    with engine.connect() as conn:
        acct = {
            row.id: (row.user_id, row.venue, row.sub_account)
            for row in conn.execute(select(t.accounts)).mappings()
        }
        analysis_key = {
            row.id: (row.user_id, row.run_id, row.analysis_id)
            for row in conn.execute(select(t.analyses)).mappings()
        }
        accounts = {
            acct[row.id]: (bool(row.monitoring_active), row.monitoring_interval_s)
            for row in conn.execute(select(t.accounts)).mappings()
        }
        analyses = {
            analysis_key[row.id]: _without(row, "id", "recorded_at")
            for row in conn.execute(select(t.analyses)).mappings()
        }
        fills: dict[Any, Any] = {}
        fills_of: dict[str, list[Any]] = {}
        for row in conn.execute(select(t.fills)).mappings():
            key = (row.venue, acct[row.account_id], row.market_index, row.fill_id, row.role)
            fills[key] = _without(row, "id", "seq", "venue", "account_id", "fill_id", "role", "recorded_at")
            fills_of.setdefault(row.trade_id, []).append(row.fill_id)
        orders_of: dict[str, dict[str, Any]] = {}
        for row in conn.execute(select(t.trade_orders)).mappings():
            orders_of.setdefault(row.trade_id, {})[row.leg] = _without(row, "trade_id", "leg", "seq")
        trades = {
            row.id: {
                **_without(row, "id", "account_id", "analysis_pk", "recorded_at", "updated_at"),
                "account": acct[row.account_id],
                "analysis": analysis_key[row.analysis_pk],
                "fill_ids": sorted(fills_of.get(row.id, [])),
                "orders": orders_of.get(row.id, {}),
            }
            for row in conn.execute(select(t.trades)).mappings()
        }
        funding = {
            (row.trade_id, row.payment_id): _without(row, "trade_id", "payment_id", "seq")
            for row in conn.execute(select(t.funding_payments)).mappings()
        }
        learning = {
            row.trade_id: {
                **_without(row, "id", "trade_id", "analysis_pk", "recorded_at", "updated_at"),
                "analysis": analysis_key[row.analysis_pk],
            }
            for row in conn.execute(select(t.ai_learning_data)).mappings()
        }
        events = {
            (acct[row.account_id], row.kind, row.key): _without(
                row, "id", "account_id", "kind", "key", "recorded_at"
            )
            for row in conn.execute(select(t.loop_events)).mappings()
        }
        cursors = {
            (acct[row.account_id], row.stream): row.cursor
            for row in conn.execute(select(t.ingest_cursors)).mappings()
        }
    return {
        "accounts": accounts,
        "analyses": analyses,
        "trades": trades,
        "fills": fills,
        "funding": funding,
        "learning": learning,
        "events": events,
        "cursors": cursors,
    }


def snapshot_diff(a: dict[str, Any], b: dict[str, Any], limit: int = 20) -> list[str]:
    """Readable differences between two snapshots (empty when equal)."""
    out: list[str] = []
    for table in sorted(set(a) | set(b)):
        left, right = a.get(table, {}), b.get(table, {})
        for key in sorted(set(left) | set(right), key=repr):
            if key not in right:
                out.append(f"{table}[{key!r}] only in the first: {left[key]!r}")
            elif key not in left:
                out.append(f"{table}[{key!r}] only in the second: {right[key]!r}")
            elif left[key] != right[key]:
                if isinstance(left[key], dict) and isinstance(right[key], dict):
                    fields = sorted(set(left[key]) | set(right[key]))
                    changed = {
                        f: (left[key].get(f), right[key].get(f))
                        for f in fields
                        if left[key].get(f) != right[key].get(f)
                    }
                    out.append(f"{table}[{key!r}] differs: {changed!r}")
                else:
                    out.append(f"{table}[{key!r}]: {left[key]!r} != {right[key]!r}")
    return out[:limit]


def closed_trades(snap: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {tid: row for tid, row in snap["trades"].items() if row["status"] == "CLOSED"}


def events_of(snap: dict[str, Any], kind: str) -> dict[Any, Any]:
    return {key: row for key, row in snap["events"].items() if key[1] == kind}


def accounts_of_snapshot(snap: dict[str, Any]) -> list[AccountRef]:
    return [AccountRef(*key) for key in snap["accounts"]]


def check_consistent(snap: dict[str, Any]) -> None:
    """No partial capture: a trade is CLOSED with its exit fill, its COMPLETE learning row and one
    OutcomeCaptured event, or OPEN with none of them."""
    captured: dict[str, int] = {}
    for (_, kind, _), row in snap["events"].items():
        if kind == "OutcomeCaptured":
            captured[row["trade_id"]] = captured.get(row["trade_id"], 0) + 1
    exits = {f["trade_id"] for f in snap["fills"].values() if f["cause"] is not None}
    for tid, row in snap["trades"].items():
        learning = snap["learning"].get(tid, {}).get("status")
        if row["status"] == "CLOSED":
            assert (tid in exits, learning, captured.get(tid)) == (True, "COMPLETE", 1), tid
        elif row["status"] == "OPEN":
            assert (tid in exits, learning, captured.get(tid)) == (False, "PENDING", None), tid
        else:
            assert (tid in exits, learning, captured.get(tid)) == (False, None, None), tid


def kill_child_main(db: str, state: str, point: str) -> None:
    """Run the session on the SQLite file `db`, persisting the exchange to `state` after every step,
    and SIGKILL this process at `point` of the first cycle that captures an outcome:
    "in-transaction" (the closed trades are saved, the transaction is not committed) or
    "after-commit" (committed, orphaned orders not yet cancelled)."""
    import os
    import signal

    from driftloop.adapters.db.repositories import SqlTradeRepository
    from driftloop.adapters.db.uow import SqlUnitOfWork
    from driftloop.domain.model import TradeStatus

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "in-transaction":
        save_many = SqlTradeRepository.save_many

        def save_then_die(self: SqlTradeRepository, trades: Any, recorded_at: Any) -> None:
            batch = list(trades)
            save_many(self, batch, recorded_at)
            if any(trade.status is TradeStatus.CLOSED for trade in batch):
                die()

        SqlTradeRepository.save_many = save_then_die  # type: ignore[method-assign]
    elif point == "after-commit":
        commit = SqlUnitOfWork.commit
        save = SqlTradeRepository.save_many
        closing: list[Any] = []

        def save_and_note(self: SqlTradeRepository, trades: Any, recorded_at: Any) -> None:
            batch = list(trades)
            save(self, batch, recorded_at)
            if any(trade.status is TradeStatus.CLOSED for trade in batch):
                closing.append(self.connection)

        def commit_then_die(self: SqlUnitOfWork) -> None:
            commit(self)
            if any(c is self.connection for c in closing):
                die()

        SqlTradeRepository.save_many = save_and_note  # type: ignore[method-assign]
        SqlUnitOfWork.commit = commit_then_die  # type: ignore[method-assign]
    else:
        raise ValueError(f"unknown kill point {point!r}")
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    harness = LoopHarness(engine)
    path = Path(state)
    harness.save_exchange(path, -1)
    asyncio.run(harness.run(session(), after_step=lambda index: harness.save_exchange(path, index)))
    raise SystemExit("the session ended without being killed")
