"""Several workers: on PostgreSQL they share the users and capture every outcome exactly once;
on SQLite a second worker refuses to start.

The concurrency test runs three workers, each a `build_loop` (its own Monitor, OutcomeCapture and
engine) in its own thread with its own event loop, resumed over every monitored user and polling
every few milliseconds, while the main thread plays the scripted session on the one exchange they
all share. Exactly once is checked where double processing would show: in what each worker's
cycles report (an outcome or a fill counted by two workers), not only in the unique rows.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from driftloop.adapters.clock import SystemClock
from driftloop.adapters.db.engine import make_engine
from driftloop.adapters.venues.paper.venue import PaperVenue
from driftloop.bootstrap import Container
from driftloop.config import Settings
from driftloop.domain.errors import ConfigError
from driftloop.domain.trade import AccountRef
from driftloop.entrypoints.worker import single_sqlite_worker
from driftloop.loop import build_loop
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
from loop_harness import (
    BUY,
    FAST_RETRY,
    FUNDING,
    W1,
    DelegatingVenue,
    LoopHarness,
    Order,
    analysis,
    closed_trades,
    events_of,
    expected,
    reference_snapshot,
    session,
    snapshot,
    snapshot_diff,
)

WORKERS = 3
POLL = 0.005  # seconds between a worker's cycles (pushes wake them sooner)


class SharedExchange(DelegatingVenue):
    """The one exchange every thread talks to: calls are serialised, and pushes are relayed to the
    subscriber's own event loop (each worker runs in its own thread)."""

    def __init__(self, inner: Venue, lock: threading.Lock) -> None:
        super().__init__(inner)
        self.lock = lock

    async def place_bracket(self, request: BracketRequest) -> Placement:
        with self.lock:
            return await self.inner.place_bracket(request)

    async def cancel(self, account: AccountRef, order_id: str) -> None:
        with self.lock:
            await self.inner.cancel(account, order_id)

    async def open_orders(self, account: AccountRef) -> list[VenueOrder]:
        with self.lock:
            return await self.inner.open_orders(account)

    async def positions(self, account: AccountRef) -> list[VenuePosition]:
        with self.lock:
            return await self.inner.positions(account)

    async def events_since(self, account: AccountRef, cursor: str | None) -> VenueEvents:
        with self.lock:
            return await self.inner.events_since(account, cursor)

    async def mark_price(self, market_index: int) -> Decimal | None:
        with self.lock:
            return await self.inner.mark_price(market_index)

    def subscribe(
        self, account: AccountRef, on_events: Callable[[VenueEvents], Awaitable[None]]
    ) -> Subscription:
        loop = asyncio.get_running_loop()

        async def relay(events: VenueEvents) -> None:
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(on_events(events), loop=loop))

        with self.lock:
            return self.inner.subscribe(account, relay)


class Worker(threading.Thread):
    """One `driftloop monitor`: its own engine, services and event loop."""

    def __init__(self, number: int, url: str, venue: Venue, harness: LoopHarness) -> None:
        super().__init__(name=f"worker-{number}", daemon=True)
        self.url, self.venue, self.harness = url, venue, harness
        self.results: list[CheckResult] = []
        self.stop = threading.Event()
        self.resumed: list[str] = []
        self.error: BaseException | None = None
        self.errors: list[Exception] = []  # cycles that failed (none expected)

    def run(self) -> None:
        engine = make_engine(self.url)
        try:
            container = Container(Settings(database_url=self.url), engine, self.harness.clock)
            app = build_loop(
                container,
                venue=self.venue,
                history=self.harness.history,
                retry=FAST_RETRY,
                on_cycle=lambda result, _: self.results.append(result),
            )

            async def serve() -> None:
                self.resumed = await app.monitor.resume()  # loops woken by the venue's pushes
                while not self.stop.is_set():  # and a fast poll: the test is about contention
                    for user in self.resumed:
                        try:
                            await app.monitor.check_trades(user)
                        except Exception as exc:
                            self.errors.append(exc)
                    await asyncio.sleep(POLL)
                await app.monitor.shutdown()

            asyncio.run(serve())
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            engine.dispose()


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s")
        time.sleep(0.005)


def test_workers_share_users_and_capture_every_outcome_exactly_once(db_url: str, engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: on SQLite one worker is the supported setup (a second one refuses)")
    lock = threading.Lock()
    paper = PaperVenue(funding=FUNDING)
    harness = LoopHarness(engine, paper=paper, wrap=lambda p: SharedExchange(p, lock))
    steps = session(copies=1)
    workers: list[Worker] = []

    async def caught_up() -> bool:
        snap = snapshot(engine)
        for account, stream in snap["cursors"]:
            log = await harness.paper.events_since(AccountRef(*account), None)
            if snap["cursors"][(account, stream)] != log.cursor:
                return False
        return True

    async def play() -> None:
        for index, step in enumerate(steps):
            if step[0] == "cycle":
                continue  # the workers monitor on their own
            if step[0] == "place" and index > 1:
                # a new analysis nets against what is known to be open: let the workers catch up
                while not await caught_up():
                    await asyncio.sleep(0.005)
            if step[0] == "bar":
                with lock:
                    await harness.step(step)
            else:
                await harness.step(step)
            if index == 1:  # wave 1 is placed: its users are monitored; start the workers
                for number in range(WORKERS):
                    worker = Worker(number, db_url, harness.venue, harness)
                    workers.append(worker)
                    worker.start()
                wait_until(lambda: all(w.resumed for w in workers))
            await asyncio.sleep(0.01)
        while not await caught_up():
            await asyncio.sleep(0.005)

    try:
        asyncio.run(play())
        want = {tid for tid, (status, _) in expected(1).items() if status == "CLOSED"}
        wait_until(lambda: set(closed_trades(snapshot(engine))) >= want)
    finally:
        for worker in workers:
            worker.stop.set()
        for worker in workers:
            worker.join(timeout=10)
    assert [w.error for w in workers] == [None] * WORKERS
    assert [e for w in workers for e in w.errors] == []
    assert all(sorted(w.resumed) == sorted(workers[0].resumed) for w in workers)  # the same users

    snap = snapshot(engine)
    assert snapshot_diff(snap, reference_snapshot()) == []
    results = [r for w in workers for r in w.results]
    outcomes = Counter(tid for r in results for tid in r.outcomes)
    assert outcomes == Counter(set(closed_trades(snap)))  # each outcome captured by exactly one cycle
    assert sum(r.fills_ingested for r in results) == len(snap["fills"])  # no fill ingested twice
    assert sum(r.funding_ingested for r in results) == len(snap["funding"])
    captured = Counter(row["trade_id"] for row in events_of(snap, "OutcomeCaptured").values())
    assert captured == Counter(set(closed_trades(snap)))
    assert all(snap["learning"][tid]["status"] == "COMPLETE" for tid in closed_trades(snap))
    busy = [w for w in workers if any(r.outcomes or r.fills_ingested for r in w.results)]
    assert len(busy) >= 2 or sum(r.skipped_accounts for r in results) > 0  # they really shared the work
    print(  # for the curious (pytest -s): how the work was shared
        {w.name: (sum(len(r.outcomes) for r in w.results), len(w.results)) for w in workers},
        "skipped:",
        sum(r.skipped_accounts for r in results),
    )


# --- a fill that comes before its trade is stored ------------------------------------------------------


def test_a_fill_before_the_trade_is_stored_is_not_lost(engine: Engine) -> None:
    order = Order("race-1", analysis("race-1-a", BUY, "97", "102.5", at=W1))

    class FillsAtOnce(DelegatingVenue):
        """Like Drift: the market entry fills as the order lands, and another worker's cycle runs
        before this process stores the trade."""

        other: LoopHarness

        async def place_bracket(self, request: BracketRequest) -> Placement:
            placement = await self.inner.place_bracket(request)
            await harness.feed(1)
            await self.other.app.monitor.check_trades(request.account.user_id)
            return placement

    async def go() -> None:
        await harness.feed(0)
        await harness.app.monitor.start_monitoring(order.user, 30)  # the user is known and monitored
        await harness.app.monitor.shutdown()
        await harness.place(order)
        for bar in (2, 3):
            await harness.feed(bar)
            await harness.cycle()

    harness = LoopHarness(engine, wrap=FillsAtOnce)
    assert isinstance(harness.venue, FillsAtOnce)
    harness.venue.other = LoopHarness(
        engine, paper=harness.paper, history=harness.history, clock=harness.clock
    )
    asyncio.run(go())
    trade = snapshot(engine)["trades"][order.trade_id]
    assert (trade["status"], trade["exit_reason"]) == ("CLOSED", "TAKE_PROFIT")


# --- SQLite: one worker --------------------------------------------------------------------------------


def sqlite_container(path: Path) -> Container:
    url = f"sqlite:///{path}"
    return Container(Settings(database_url=url), make_engine(url), SystemClock())


def test_a_second_sqlite_worker_refuses_to_start(tmp_path: Path) -> None:
    first, second = sqlite_container(tmp_path / "a.db"), sqlite_container(tmp_path / "a.db")
    refusal = "another driftloop monitor is already running"
    with single_sqlite_worker(first):
        with pytest.raises(ConfigError, match=refusal) as refused, single_sqlite_worker(second):
            pytest.fail("a second worker started")  # pragma: no cover
        assert "use PostgreSQL to run several" in str(refused.value)
        with single_sqlite_worker(sqlite_container(tmp_path / "other.db")):
            pass  # another database is another worker's business
    with single_sqlite_worker(second):  # the first one stopped: the lock is free again
        pass


def test_the_worker_lock_is_not_needed_elsewhere(tmp_path: Path, engine: Engine) -> None:
    """In-memory SQLite and PostgreSQL take no lock file: several workers may start."""
    memory = Container(Settings(), make_engine("sqlite:///:memory:"), SystemClock())
    with single_sqlite_worker(memory), single_sqlite_worker(memory):
        pass
    if engine.dialect.name == "postgresql":
        shared = Container(Settings(), engine, SystemClock())
        with single_sqlite_worker(shared), single_sqlite_worker(shared):
            pass


def test_the_monitor_command_refuses_a_second_worker_on_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "loop.db"
    with single_sqlite_worker(sqlite_container(db)):
        command = [sys.executable, "-m", "driftloop", "monitor", "--db", f"sqlite:///{db}", "--user", "u"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "another driftloop monitor is already running" in " ".join(done.stderr.split())
