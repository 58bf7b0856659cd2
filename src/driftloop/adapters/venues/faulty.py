"""`FaultyVenue`: a fault-injecting wrapper around any `Venue`, for reliability tests and drills.

At a configurable rate it makes a call fail the way real venues and RPC nodes do:

- a `TemporaryError` (rate limit, node behind),
- a timeout: the call hangs longer than any sane retry timeout (`hang_seconds`),
- stale positions: `positions` answers with the previous snapshot it returned,
- fills delivered twice and out of order: some fills of an `events_since` batch are duplicated and the
  batch is shuffled (funding too); the cursor is the inner venue's.

Faults never corrupt the inner venue: a read that fails is never sent, a write that "times out" has
either not been sent (an error) or was sent and only its answer is lost (a timeout after the call,
as when a transaction lands but its confirmation does not), which idempotent venues must absorb.
Every decision comes from one `random.Random(seed)`, so a given sequence of calls meets the same
faults for the same seed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Collection
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from driftloop.domain.errors import TemporaryError
from driftloop.domain.trade import AccountRef
from driftloop.services.ports import (
    BracketRequest,
    Placement,
    Subscription,
    Venue,
    VenueEvents,
    VenueOrder,
    VenuePosition,
)

T = TypeVar("T")


class Fault(StrEnum):
    ERROR = "error"
    TIMEOUT = "timeout"
    STALE = "stale"  # positions only
    REDELIVER = "redeliver"  # events_since only: duplicated and shuffled fills


ALL_CALLS = frozenset({"place_bracket", "cancel", "open_orders", "positions", "events_since", "mark_price"})


class FaultyVenue:
    """A `Venue` that delegates to `inner` and injects faults into a share `rate` of the calls.

    `calls` limits the injection to some methods (by name) and `faults` to some kinds of fault;
    `hang_seconds` is how long a timeout hangs (make it longer than the retry policy's per-attempt
    timeout). `rate` may be changed between calls. `injected` counts the faults by kind, `log` lists
    them as (call, fault) in order.
    """

    def __init__(
        self,
        inner: Venue,
        rate: float,
        seed: int,
        *,
        hang_seconds: float = 1.0,
        calls: Collection[str] = ALL_CALLS,
        faults: Collection[Fault] = tuple(Fault),
    ) -> None:
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must lie in [0, 1], not {rate}")
        unknown = set(calls) - ALL_CALLS
        if unknown:
            raise ValueError(f"unknown venue calls {sorted(unknown)}; choose among {sorted(ALL_CALLS)}")
        self.inner = inner
        self.name = inner.name
        self.rate = rate
        self.hang_seconds = hang_seconds
        self.calls = frozenset(calls)
        self.faults = frozenset(faults)
        self.injected: dict[Fault, int] = dict.fromkeys(Fault, 0)
        self.log: list[tuple[str, Fault]] = []
        self._rng = random.Random(seed)  # noqa: S311 - reproducible faults, not cryptography
        self._last_positions: dict[AccountRef, list[VenuePosition]] = {}

    # --- fault decisions -----------------------------------------------------------------

    def _draw(self, call: str, kinds: tuple[Fault, ...]) -> Fault | None:
        """The fault this call meets, if any (one draw for whether, one for which)."""
        allowed = [kind for kind in kinds if kind in self.faults]
        if call not in self.calls or not allowed or self.rate == 0:
            return None
        if self._rng.random() >= self.rate:
            return None
        fault = allowed[self._rng.randrange(len(allowed))]
        self.injected[fault] += 1
        self.log.append((call, fault))
        return fault

    async def _hang(self) -> None:
        await asyncio.sleep(self.hang_seconds)

    async def _read(self, call: str, run: Callable[[], Awaitable[T]]) -> T:
        """A read: an error or a timeout happens before the request reaches the venue."""
        fault = self._draw(call, (Fault.ERROR, Fault.TIMEOUT))
        if fault is Fault.ERROR:
            raise TemporaryError(f"injected fault: {call} failed")
        if fault is Fault.TIMEOUT:
            await self._hang()
        return await run()

    async def _write(self, call: str, run: Callable[[], Awaitable[T]]) -> T:
        """A write: an error before it is sent, or a timeout after it was sent (the answer is lost)."""
        fault = self._draw(call, (Fault.ERROR, Fault.TIMEOUT))
        if fault is Fault.ERROR:
            raise TemporaryError(f"injected fault: {call} failed")
        result = await run()
        if fault is Fault.TIMEOUT:
            await self._hang()
        return result

    # --- Venue ------------------------------------------------------------------------------

    async def place_bracket(self, request: BracketRequest) -> Placement:
        return await self._write("place_bracket", lambda: self.inner.place_bracket(request))

    async def cancel(self, account: AccountRef, order_id: str) -> None:
        await self._write("cancel", lambda: self.inner.cancel(account, order_id))

    async def open_orders(self, account: AccountRef) -> list[VenueOrder]:
        return await self._read("open_orders", lambda: self.inner.open_orders(account))

    async def mark_price(self, market_index: int) -> Decimal | None:
        return await self._read("mark_price", lambda: self.inner.mark_price(market_index))

    async def positions(self, account: AccountRef) -> list[VenuePosition]:
        fault = self._draw("positions", (Fault.ERROR, Fault.TIMEOUT, Fault.STALE))
        if fault is Fault.ERROR:
            raise TemporaryError("injected fault: positions failed")
        if fault is Fault.TIMEOUT:
            await self._hang()
        if fault is Fault.STALE and account in self._last_positions:
            return list(self._last_positions[account])
        fresh = list(await self.inner.positions(account))
        self._last_positions[account] = fresh
        return list(fresh)

    async def events_since(self, account: AccountRef, cursor: str | None) -> VenueEvents:
        fault = self._draw("events_since", (Fault.ERROR, Fault.TIMEOUT, Fault.REDELIVER))
        if fault is Fault.ERROR:
            raise TemporaryError("injected fault: events_since failed")
        if fault is Fault.TIMEOUT:
            await self._hang()
        events = await self.inner.events_since(account, cursor)
        if fault is not Fault.REDELIVER:
            return events
        return VenueEvents(
            fills=self._redelivered(list(events.fills)),
            funding=self._redelivered(list(events.funding)),
            cursor=events.cursor,
        )

    def _redelivered(self, items: list[T]) -> list[T]:
        """A copy of `items` with about half of them twice, shuffled."""
        doubled = items + [item for item in items if self._rng.random() < 0.5]
        self._rng.shuffle(doubled)
        return doubled

    def subscribe(
        self, account: AccountRef, on_events: Callable[[VenueEvents], Awaitable[None]]
    ) -> Subscription:
        """Pushes pass through unchanged: a push only wakes the monitor, which reads `events_since`."""
        return self.inner.subscribe(account, on_events)


if TYPE_CHECKING:

    def _implements_port(inner: Venue) -> Venue:
        return FaultyVenue(inner, 0.0, 0)
