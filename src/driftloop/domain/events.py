"""Immutable, past-tense facts the loop records (reconciliation findings, captures)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from driftloop.domain.trade import AccountRef


class EventKind(StrEnum):
    OUTCOME_CAPTURED = "OutcomeCaptured"
    POSITION_VANISHED = "PositionVanished"  # the venue has no position, no exit fill was seen
    UNKNOWN_POSITION = "UnknownPositionSeen"  # the venue has a position no open trade explains
    SIZE_MISMATCH = "PositionSizeMismatched"
    ORPHAN_ORDER_CANCELED = "OrphanOrderCanceled"
    FILL_UNMATCHED = "FillUnmatched"  # a fill no trade of ours explains (yet)
    FILL_MATCHED = "FillMatched"  # an earlier unmatched fill found its trade
    EXECUTION_FAILED = "ExecutionFailed"


@dataclass(frozen=True, slots=True)
class LoopEvent:
    """`key` makes the event idempotent within (account, kind)."""

    kind: EventKind
    account: AccountRef
    key: str
    recorded_at: datetime
    trade_id: str | None = None
    venue_ts: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)
