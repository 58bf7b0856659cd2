"""The monitor: per-user loops that run `check_trades` when the venue pushes and every interval.

Monitoring state is stored, so `resume()` after a restart monitors again the
users who were monitored. Pushed events only wake the loop: the cycle itself
always reads from the stored cursor, so a push and a poll can never disagree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from driftloop.domain.errors import ConfigError, NotFoundError
from driftloop.domain.model import TradeStatus
from driftloop.domain.trade import AccountRef
from driftloop.services.monitoring import CheckResult, OutcomeCapture
from driftloop.services.ports import Clock, Subscription, TimeLimitedVenue, UnitOfWork, Venue, VenueEvents

log = logging.getLogger(__name__)
DEFAULT_INTERVAL = 30.0
BATCH_GAP = 0.025  # seconds: the least time from one batch's start to the next one's


@dataclass(slots=True)
class UserStatus:
    user_id: str
    running: bool
    interval_seconds: float
    last_check: datetime | None = None
    last_error: str | None = None
    open_trades: int = 0
    fills_ingested: int = 0
    outcomes_captured: int = 0
    cycles: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "userId": self.user_id,
            "running": self.running,
            "intervalSeconds": self.interval_seconds,
            "lastCheck": self.last_check.isoformat().replace("+00:00", "Z") if self.last_check else None,
            "lastError": self.last_error,
            "openTrades": self.open_trades,
            "fillsIngested": self.fills_ingested,
            "outcomesCaptured": self.outcomes_captured,
            "cycles": self.cycles,
        }


@dataclass(slots=True)
class _Loop:
    status: UserStatus
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    stopped: bool = False
    subscriptions: list[Subscription] = field(default_factory=list)
    subscribed: set[AccountRef] = field(default_factory=set)


class Monitor:
    def __init__(
        self,
        capture: OutcomeCapture,
        uow_factory: Callable[[], UnitOfWork],
        venue_for: Callable[[AccountRef], Venue],
        clock: Clock,
        on_cycle: Callable[[CheckResult, float], None] | None = None,
    ):
        self.capture = capture
        self._uow = uow_factory
        self._venue_for = venue_for
        self._clock = clock
        self._loops: dict[str, _Loop] = {}
        self._stats: dict[str, UserStatus] = {}
        self._on_cycle = on_cycle
        self._lock = asyncio.Lock()
        # loops whose cycle is due now (e.g. woken by one push): run together by one `check_users`
        self._due: dict[str, asyncio.Future[CheckResult]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._batch_started = float("-inf")

    # --- control ----------------------------------------------------------------

    async def start_monitoring(self, user_id: str, interval: float = DEFAULT_INTERVAL) -> UserStatus:
        """Monitor the user (created on first use) now and after restarts."""
        now = self._clock.now()
        with self._uow() as uow:
            if not uow.accounts.accounts_of(user_id):
                uow.accounts.ensure(AccountRef(user_id), now)
            uow.accounts.set_monitoring(user_id, True, interval, now)
            uow.commit()
        self._start_loop(user_id, interval)
        return self.status(user_id)[0]

    async def stop_monitoring(self, user_id: str) -> UserStatus:
        self._require_user(user_id)
        with self._uow() as uow:
            uow.accounts.set_monitoring(user_id, False, self._interval_of(user_id), self._clock.now())
            uow.commit()
        await self._stop_loop(user_id)
        return self.status(user_id)[0]

    async def resume(self) -> list[str]:
        """Start again the loops of every user stored as monitored."""
        with self._uow() as uow:
            states = uow.accounts.monitoring()
        resumed = [s.user_id for s in states if s.active]
        self._rearm_time_limits(resumed)
        for state in states:
            if state.active:
                self._start_loop(state.user_id, state.interval_seconds)
        return resumed

    def _rearm_time_limits(self, user_ids: list[str]) -> None:
        """A venue that keeps time limits in its process lost them with the last one: arm them again
        for the open trades (deadline = entry fill + maxHoldMinutes). Other venues cost one read of the
        users' accounts."""
        with self._uow() as uow:
            for user in user_ids:
                for account in uow.accounts.accounts_of(user):
                    try:
                        venue = self._venue_for(account)
                    except ConfigError:  # another venue than this process runs: its own process re-arms
                        continue
                    if not isinstance(venue, TimeLimitedVenue):
                        continue
                    for trade in uow.trades.open_trades(user, account):
                        hold, entered = trade.analysis.max_hold_minutes, trade.opened_at
                        if hold is not None and entered is not None:
                            deadline = entered + timedelta(minutes=hold)
                            venue.set_time_limit(account, trade.id, trade.market_index, deadline)

    def ensure_running(self, account: AccountRef) -> None:
        """Called after a trade is placed on the account: its user is monitored (stored as such by the
        trade) and the account pushed. A known account needs no cycle now: its fills will be pushed."""
        user_id = account.user_id
        if user_id not in self._loops:
            self._start_loop(user_id, self._interval_of(user_id))
            return
        loop = self._loops[user_id]
        if account not in loop.subscribed:  # a new sub-account: pushed from now on, and looked at now
            self._subscribe(user_id, loop)  # (a fill made before the subscription would not be pushed)
            loop.wake.set()

    async def shutdown(self) -> None:
        for user_id in list(self._loops):
            await self._stop_loop(user_id)
        if self._runner is not None and not self._runner.done():
            await asyncio.wait({self._runner}, timeout=5.0)

    # --- cycles ---------------------------------------------------------------------

    async def check_trades(self, user_id: str) -> CheckResult:
        """One cycle now (also what the loops run); errors propagate to the caller."""
        self._require_user(user_id)
        started = time.perf_counter()
        try:
            result = await self.capture.check_trades(user_id)
        except Exception as exc:
            self._record(user_id, exc, time.perf_counter() - started)
            raise
        self._record(user_id, result, time.perf_counter() - started)
        return result

    async def _loop_cycle(self, user_id: str) -> CheckResult:
        """A loop's cycle. Loops due at the same moment (one push wakes many users, intervals that
        coincide) run as one `check_users`: the users' state in one query and their captures in one
        transaction, so the cost follows what changed rather than the number of users."""
        due = self._due.get(user_id)
        if due is None:
            due = self._due[user_id] = asyncio.get_running_loop().create_future()
            if self._runner is None or self._runner.done():
                self._runner = asyncio.create_task(self._run_due(), name="monitor:due")
        return await due

    async def _run_due(self) -> None:
        await asyncio.sleep(0)  # the other loops woken in this moment join the batch
        while self._due:
            if (wait := self._batch_started + BATCH_GAP - time.perf_counter()) > 0:
                # back to back (a busy stream of pushes): the next batch gathers a moment longer, so
                # that under load many users share one cycle; an idle monitor starts at once
                await asyncio.sleep(wait)
            batch, self._due = self._due, {}
            started = self._batch_started = time.perf_counter()
            try:
                results: dict[str, CheckResult | Exception] = await self.capture.check_users(list(batch))
            except Exception as exc:
                results = dict.fromkeys(batch, exc)
            seconds = time.perf_counter() - started
            for user_id, future in batch.items():
                outcome = results[user_id]
                self._record(user_id, outcome, seconds)
                if future.done():  # its loop was cancelled meanwhile
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def _record(self, user_id: str, outcome: CheckResult | Exception, seconds: float) -> None:
        status = self._status_record(user_id)
        if isinstance(outcome, Exception):
            status.last_error = f"{type(outcome).__name__}: {outcome}"[:500]
            return
        status.last_error = None
        status.last_check = self._clock.now()
        status.cycles += 1
        status.fills_ingested += outcome.fills_ingested
        status.outcomes_captured += len(outcome.outcomes)
        if self._on_cycle:
            self._on_cycle(outcome, seconds)

    def status(self, user_id: str | None = None) -> list[UserStatus]:
        """Monitoring status of every known user (or one; unknown → NotFoundError)."""
        with self._uow() as uow:
            states = {s.user_id: s for s in uow.accounts.monitoring()}
            if user_id is not None:
                if not uow.accounts.user_exists(user_id):
                    raise NotFoundError(f"unknown user {user_id!r}")
                states = {user_id: states[user_id]} if user_id in states else {}
                ids = [user_id]
            else:
                ids = sorted(states)
            out = []
            for uid in ids:
                record = self._status_record(uid)
                state = states.get(uid)
                record.running = uid in self._loops
                record.interval_seconds = state.interval_seconds if state else record.interval_seconds
                record.open_trades = len(uow.trades.live_trades(uid, TradeStatus.OPEN))
                out.append(record)
        return out

    # --- internals ------------------------------------------------------------------

    def _require_user(self, user_id: str) -> None:
        with self._uow() as uow:
            if not uow.accounts.user_exists(user_id):
                raise NotFoundError(f"unknown user {user_id!r}")

    def _interval_of(self, user_id: str) -> float:
        if user_id in self._loops:
            return self._loops[user_id].status.interval_seconds
        with self._uow() as uow:
            for state in uow.accounts.monitoring(user_id):
                return state.interval_seconds
        return DEFAULT_INTERVAL

    def _status_record(self, user_id: str) -> UserStatus:
        return self._stats.setdefault(user_id, UserStatus(user_id, False, DEFAULT_INTERVAL))

    def _start_loop(self, user_id: str, interval: float) -> None:
        status = self._status_record(user_id)
        status.interval_seconds, status.running = interval, True
        if user_id in self._loops:
            return
        loop = _Loop(status)
        self._loops[user_id] = loop
        self._subscribe(user_id, loop)
        loop.task = asyncio.create_task(self._run(user_id, loop), name=f"monitor:{user_id}")

    def _subscribe(self, user_id: str, loop: _Loop) -> None:
        """Have the venue push every account of the user (once per account)."""
        with self._uow() as uow:
            accounts = uow.accounts.accounts_of(user_id)

        async def wake(_: VenueEvents) -> None:
            loop.wake.set()

        for account in accounts:
            if account not in loop.subscribed:
                loop.subscribed.add(account)
                loop.subscriptions.append(self._venue_for(account).subscribe(account, wake))

    async def _stop_loop(self, user_id: str) -> None:
        loop = self._loops.pop(user_id, None)
        self._status_record(user_id).running = False
        if loop is None:
            return
        for subscription in loop.subscriptions:
            subscription.close()
        loop.stopped = True  # a flag, not only cancel(): Python 3.11's wait_for can swallow a cancellation
        loop.wake.set()
        if loop.task:
            done, _ = await asyncio.wait({loop.task}, timeout=5.0)
            if not done:
                loop.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop.task

    async def _run(self, user_id: str, loop: _Loop) -> None:
        """Cycle now, then whenever the venue pushes or the interval passes, until stopped."""
        while not loop.stopped:
            loop.wake.clear()
            try:
                await self._loop_cycle(user_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("monitor cycle failed for %s", user_id, exc_info=True)
            if loop.stopped:
                break
            waiter = asyncio.ensure_future(loop.wake.wait())
            try:
                await asyncio.wait({waiter}, timeout=loop.status.interval_seconds)
            finally:
                waiter.cancel()
