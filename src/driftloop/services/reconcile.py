"""Reconciliation: the venue's positions against our open trades, every cycle.

A difference becomes a recorded event. A position that vanished without an
exit fill we saw is closed as MANUAL at the venue's mark price once the absence
has been confirmed on several consecutive cycles (a stale read must not close a
trade); a position no open trade explains is reported, never adopted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from driftloop.domain.events import EventKind, LoopEvent
from driftloop.domain.model import ExitReason, Fill, OrderLeg, TradeStatus
from driftloop.domain.pnl import summarize
from driftloop.domain.trade import AccountRef, Trade
from driftloop.services.ports import VenuePosition


@dataclass(slots=True)
class Findings:
    events: list[LoopEvent] = field(default_factory=list)
    closed_trades: list[str] = field(default_factory=list)  # given a MANUAL exit fill from the venue's mark


class Reconciler:
    def __init__(self, confirmations: int = 3):
        self.confirmations = confirmations
        self._absent: dict[str, int] = {}
        self._unknown: dict[
            tuple[AccountRef, int], int
        ] = {}  # consecutive sightings of unexplained positions
        self.marks_needed: set[int] = set()  # markets whose mark price the next cycle should bring

    def reconcile(
        self,
        account: AccountRef,
        trades: Sequence[Trade],
        positions: Sequence[VenuePosition],
        now: datetime,
        marks: dict[int, Decimal] | None = None,
    ) -> Findings:
        marks = marks or {}
        held = {p.market_index: p.size for p in positions if p.size != 0}
        findings = Findings()
        explained: set[int] = set()
        for trade in trades:
            explained.add(trade.market_index)  # also a trade closed by fills this cycle
            if trade.status is not TradeStatus.OPEN or trade.side is None:
                continue
            position = summarize(trade.side, trade.fills)
            if position.entry_size == 0 or position.is_closed:
                continue  # entry pending, or closed by fills this cycle
            expected = position.open_size * trade.side.sign
            actual = held.get(trade.market_index)
            if actual is None:
                self._vanished(account, trade, expected, now, marks, findings)
                continue
            self._absent.pop(trade.id, None)
            if actual != expected:
                findings.events.append(
                    LoopEvent(
                        EventKind.SIZE_MISMATCH,
                        account,
                        f"{trade.id}:{actual}",
                        now,
                        trade.id,
                        detail={
                            "expected": str(expected),
                            "venue": str(actual),
                            "marketIndex": trade.market_index,
                        },
                    )
                )
        for key in [k for k in self._unknown if k[0] == account and k[1] not in held]:
            del self._unknown[key]
        for market, size in held.items():
            if market in explained:
                self._unknown.pop((account, market), None)
                continue
            seen = self._unknown[(account, market)] = self._unknown.get((account, market), 0) + 1
            if seen >= self.confirmations:  # a stale read must not report a position that is not there
                findings.events.append(
                    LoopEvent(
                        EventKind.UNKNOWN_POSITION,
                        account,
                        f"{market}:{size}",
                        now,
                        detail={"marketIndex": market, "size": str(size), "note": "reported, not adopted"},
                    )
                )
        return findings

    def _vanished(
        self,
        account: AccountRef,
        trade: Trade,
        expected: Decimal,
        now: datetime,
        marks: dict[int, Decimal],
        findings: Findings,
    ) -> None:
        seen = self._absent[trade.id] = self._absent.get(trade.id, 0) + 1
        self.marks_needed.add(trade.market_index)
        mark = marks.get(trade.market_index)
        if seen < self.confirmations or mark is None or trade.side is None:
            return
        findings.events.append(
            LoopEvent(
                EventKind.POSITION_VANISHED,
                account,
                trade.id,
                now,
                trade.id,
                detail={"expectedSize": str(expected), "closedAtMark": str(mark), "confirmations": seen},
            )
        )
        trade.fills.append(
            Fill(
                fill_id=f"reconcile:{trade.id}",
                ts=now,
                side=trade.side.exit_order_side,
                price=mark,
                size=abs(expected),
                fee=Decimal(0),
                leg=OrderLeg.EXTERNAL,
                cause=ExitReason.MANUAL,
                market_index=trade.market_index,
            )
        )
        findings.closed_trades.append(trade.id)
        self._absent.pop(trade.id, None)
