"""Crash at every step of the outcome-capture path; after a restart the database is identical
(by natural keys) to the crash-free run: no outcome lost, none duplicated.

The capture path of `OutcomeCapture.check_trades`, per account: read the cursor → venue
`events_since` → `positions` (→ marks) → one transaction: lock the user, ingest fills and funding,
close trades, reconcile, record events, save trades (trade rows, then learning rows), set the
cursor, commit → cancel orphaned orders. Each crash fires once, at the first cycle that captures
an outcome, as a `SimulatedCrash` (a BaseException: nothing on the way may swallow it); the harness
then builds fresh services over the same engine and the same venue object (the exchange survives
our crash) and the session goes on.

The real process kill runs the session in a child process on a SQLite file and SIGKILLs it inside
the capture transaction or right after its commit. The exchange must survive that kill too, so the
child persists the paper venue (with the bar history and the clock) after every script step, as a
real exchange keeps its state outside our process; the parent then resumes the session from the
step that was interrupted with fresh services over the same database file and that venue.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from driftloop.adapters.db import repositories
from driftloop.adapters.db.accounts import SqlCursorRepository
from driftloop.adapters.db.engine import make_engine, migrate
from driftloop.adapters.db.repositories import SqlTradeRepository
from driftloop.adapters.db.tables import ai_learning_data
from driftloop.adapters.db.uow import SqlUnitOfWork
from driftloop.domain.model import TradeStatus
from driftloop.services.monitoring import OutcomeCapture
from loop_harness import (
    LoopHarness,
    RestingTriggers,
    SimulatedCrash,
    accounts_of_snapshot,
    check_consistent,
    reference_snapshot,
    run_session,
    session,
    snapshot,
    snapshot_diff,
)

TESTS_DIR = Path(__file__).resolve().parents[1]


class CrashOnce:
    """Raises `SimulatedCrash` the first time its condition holds (then never again)."""

    def __init__(self, name: str) -> None:
        self.name, self.fired = name, 0

    def __call__(self, condition: bool) -> None:
        if condition and not self.fired:
            self.fired += 1
            raise SimulatedCrash(self.name)


def has_exit(events: Any) -> bool:
    return any(f.cause is not None for f in events.fills)


def install(point: str, monkeypatch: pytest.MonkeyPatch, harness: LoopHarness) -> CrashOnce:
    """Arm a crash at `point` of the capture path.

    The hooks sit on the boundaries the path crosses (venue calls, repositories, the unit of work's
    commit), so they hold however `OutcomeCapture` arranges its internals; only "after-ingest"
    hooks its private `_ingest` step.
    """
    crash = CrashOnce(point)
    venue = harness.paper
    state: dict[str, Any] = {"exit": False, "closing": None}

    events_since = venue.events_since

    async def events_then_crash(account: Any, cursor: str | None) -> Any:
        events = await events_since(account, cursor)
        state["exit"] = has_exit(events)
        if point == "after-events-since":
            crash(state["exit"])
        return events

    positions = venue.positions

    async def positions_then_crash(account: Any) -> Any:
        found = await positions(account)
        if point == "after-positions":
            crash(state["exit"])
        return found

    monkeypatch.setattr(venue, "events_since", events_then_crash)
    monkeypatch.setattr(venue, "positions", positions_then_crash)

    ingest = OutcomeCapture._ingest

    def ingest_then_crash(self: OutcomeCapture, trades: Any, events: Any, *rest: Any) -> Any:
        changed = ingest(self, trades, events, *rest)
        if point == "after-ingest":
            crash(has_exit(events))
        return changed

    upsert = vars(repositories)["upsert"]  # what the trade repository calls (maybe already wrapped)

    def upsert_or_crash(connection: Any, table: Any, rows: Any, *args: Any, **kwargs: Any) -> None:
        # the trade rows of this save are already written (same transaction) when the learning rows come
        if point == "learning-write" and table is ai_learning_data:
            crash(any(row["status"] == "COMPLETE" for row in rows))
        upsert(connection, table, rows, *args, **kwargs)

    save_many = SqlTradeRepository.save_many

    def save_then_crash(self: SqlTradeRepository, trades: Any, recorded_at: Any) -> None:
        batch = list(trades)
        save_many(self, batch, recorded_at)
        if any(t.status is TradeStatus.CLOSED for t in batch):
            state["closing"] = self.connection  # this transaction captures an outcome
            if point == "after-trades-saved":
                crash(True)

    set_cursors = SqlCursorRepository.set_many

    def set_then_crash(self: SqlCursorRepository, *args: Any) -> None:
        set_cursors(self, *args)
        if point == "after-cursor-set":
            crash(state["closing"] is self.connection)

    commit = SqlUnitOfWork.commit

    def commit_then_crash(self: SqlUnitOfWork) -> None:
        closing = state["closing"] is self.connection
        commit(self)
        if point == "after-commit":  # committed; the orphaned orders are not cancelled yet
            crash(closing)

    monkeypatch.setattr(OutcomeCapture, "_ingest", ingest_then_crash)
    monkeypatch.setattr(repositories, "upsert", upsert_or_crash)
    monkeypatch.setattr(SqlTradeRepository, "save_many", save_then_crash)
    monkeypatch.setattr(SqlCursorRepository, "set_many", set_then_crash)
    monkeypatch.setattr(SqlUnitOfWork, "commit", commit_then_crash)
    return crash


POINTS = [
    "after-events-since",
    "after-positions",
    "after-ingest",
    "after-trades-saved",
    "learning-write",
    "after-cursor-set",
    "after-commit",
]


@pytest.mark.parametrize("point", POINTS)
def test_a_crash_changes_nothing_in_the_end(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    harness = LoopHarness(engine)
    crash = install(point, monkeypatch, harness)
    asyncio.run(run_session(harness))
    assert (crash.fired, harness.crashes) == (1, 1)
    assert snapshot_diff(snapshot(engine), reference_snapshot()) == []


def test_a_crash_at_every_step_in_one_session(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every point armed at once: each fires at the next cycle that captures an outcome."""
    harness = LoopHarness(engine)
    crashes: list[Callable[[bool], None]] = []
    for point in POINTS:
        crash = install(point, monkeypatch, harness)
        crashes.append(crash)
    asyncio.run(run_session(harness, drain=3))
    assert harness.crashes == len(POINTS)
    assert snapshot_diff(snapshot(engine), reference_snapshot()) == []


def test_a_crash_after_the_commit_leaves_no_orphaned_trigger(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = LoopHarness(engine, wrap=RestingTriggers)
    crash = install("after-commit", monkeypatch, harness)

    async def go() -> list[Any]:
        await run_session(harness, drain=3)
        left = []
        for account in accounts_of_snapshot(snapshot(engine)):
            left += await harness.venue.open_orders(account)
        return left

    left = asyncio.run(go())
    assert crash.fired == 1
    assert left == []


# --- a real process kill ---------------------------------------------------------------------------------


CHILD = """
import sys
sys.path[:0] = [{tests!r}]
import loop_harness
loop_harness.kill_child_main({db!r}, {state!r}, {point!r})
"""


@pytest.mark.parametrize("point", ["in-transaction", "after-commit"])
def test_a_killed_worker_resumes_to_the_same_database(tmp_path: Path, point: str) -> None:
    db, state = tmp_path / "loop.db", tmp_path / "exchange.pickle"
    code = CHILD.format(tests=str(TESTS_DIR), db=str(db), state=str(state), point=point)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR.parent / "src"), str(TESTS_DIR)])}
    child = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, timeout=60, check=False
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]

    engine = make_engine(f"sqlite:///{db}")
    try:
        migrate(engine)
        killed = snapshot(engine)
        check_consistent(killed)  # no partial capture: all of an outcome or none of it
        harness, done = LoopHarness.load_exchange(engine, state)
        steps = session()
        assert 0 <= done < len(steps) - 1 and steps[done + 1] == ("cycle",)  # killed inside a cycle
        asyncio.run(harness.run(steps, start=done + 1))
        assert snapshot_diff(snapshot(engine), reference_snapshot()) == []
    finally:
        engine.dispose()
