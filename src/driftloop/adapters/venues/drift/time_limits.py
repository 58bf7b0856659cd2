"""Time limits of Drift brackets (`maxHoldMinutes`): Drift has no such order, so the venue closes the
position itself with a reduce-only market order carrying a user order id (its fill is the bracket's
CLOSE leg: exit reason TIME_LIMIT) once the limit has passed since the entry fill.

The limits live in the process that placed the trades (like the paper venue's); `set_time_limit` lets a
restarted process arm them again. They are checked whenever the venue reads the account's events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from driftloop.domain.model import Fill, OrderLeg
from driftloop.domain.trade import AccountRef


@dataclass(slots=True)
class TimeLimit:
    trade_id: str
    market_index: int
    entry_order_id: str | None
    hold: timedelta | None = None
    placed_at: datetime | None = None
    entry_at: datetime | None = None
    deadline: datetime | None = None  # set explicitly, or entry (else placement) + hold

    def due(self, now: datetime) -> bool:
        if self.deadline is not None:
            return now >= self.deadline
        start = self.entry_at or self.placed_at
        return self.hold is not None and start is not None and now >= start + self.hold


class TimeLimits:
    def __init__(self) -> None:
        self._limits: dict[AccountRef, dict[str, TimeLimit]] = {}

    def arm(self, account: AccountRef, limit: TimeLimit) -> None:
        self._limits.setdefault(account, {})[limit.trade_id] = limit

    def set_deadline(
        self, account: AccountRef, trade_id: str, market_index: int, deadline: datetime | None
    ) -> None:
        """Close trade `trade_id` (in `market_index`) at market at `deadline`; None clears it."""
        if deadline is None:
            self._limits.get(account, {}).pop(trade_id, None)
            return
        current = self._limits.get(account, {}).get(trade_id)
        limit = current or TimeLimit(trade_id, market_index, None)
        limit.deadline = deadline
        self.arm(account, limit)

    def observe(self, account: AccountRef, fills: list[Fill]) -> None:
        """Note entry fill times (the hold runs from the entry fill)."""
        for limit in self._limits.get(account, {}).values():
            for fill in fills:
                if (
                    fill.leg is OrderLeg.ENTRY
                    and fill.order_id == limit.entry_order_id
                    and limit.entry_at is None
                ):
                    limit.entry_at = fill.ts

    def due(self, account: AccountRef, now: datetime) -> list[TimeLimit]:
        return [limit for limit in self._limits.get(account, {}).values() if limit.due(now)]

    def done(self, account: AccountRef, trade_id: str) -> None:
        self._limits.get(account, {}).pop(trade_id, None)
