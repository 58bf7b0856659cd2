"""What the learning engine knows about a user: the calibrator's report and the analyst's feedback.

Both read the user's closed live trades as `LearningRecord`s. Figures fitted
on those trades are in-sample and say so; the out-of-sample view is the
calibrated probability each decision recorded before its outcome was known,
kept in the insight aggregates.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from driftloop.domain.errors import InputError, NotFoundError
from driftloop.domain.history import IMPORT_ANALYST
from driftloop.domain.markets import PERP_MARKETS, base_asset_of
from driftloop.domain.model import Timeframe, TradeStatus
from driftloop.domain.trade import Trade
from driftloop.learning.aggregates import present
from driftloop.learning.calibration import Calibrator
from driftloop.learning.context import learning_context
from driftloop.learning.policy import LearnedPolicy, PolicyConfig
from driftloop.learning.records import LEVELS, LearningRecord
from driftloop.learning.stats import summarize_by
from driftloop.services.ports import UnitOfWork


def _records(uow: UnitOfWork, user_id: str) -> list[LearningRecord]:
    """The user's closed trades the engine learns from (unknown user → NotFoundError); the caller's
    unit of work must be open."""
    if not uow.accounts.user_exists(user_id):
        raise NotFoundError(f"unknown user {user_id!r}")
    closed = uow.trades.live_trades(user_id, TradeStatus.CLOSED)
    return [LearningRecord.from_trade(t) for t in closed if _learns_from(t)]


def learned_calibration(uow: UnitOfWork, user_id: str) -> dict[str, Any]:
    """The calibrator fitted on the user's closed trades, and the decisions' own calibrated record.

    `inSample`: stated vs calibrated Brier/ECE and reliability bins of the
    fitted calibrator over the trades it was fitted on (optimistic by
    construction). `recorded`: the Brier of the calibrated probabilities the
    learned policy recorded at decision time, out of sample.
    """
    with uow:
        records = _records(uow, user_id)
        recorded = present(*uow.insights.read(user_id))["calibration"]
    calibrator = Calibrator.from_records(records)
    return {
        "trades": len(records),
        "inSample": calibrator.report(records).as_dict(),
        "priorStrengths": calibrator.prior_strengths(),
        "recorded": {
            "calibratedTrades": recorded["calibratedTrades"],
            "brierCalibrated": recorded["brierCalibrated"],
            "brierStatedOnCalibrated": recorded["brierStatedOnCalibrated"],
        },
    }


def context_statistics(uow: UnitOfWork, user_id: str, level: str = "timeframe") -> dict[str, Any]:
    """Per context at `level` (global, analyst, symbol, timeframe, side, leverage — each level nested in
    the previous one): win rate with its Wilson 95 % interval, expectancy in R with its standard error
    and 95 % interval, average and total PnL, profit factor, MAE/MFE quantiles of winners and losers,
    and plain findings about stops and targets."""
    if level not in LEVELS:
        raise InputError(f"must be one of {', '.join(LEVELS)}, got {level!r}", field="level")
    with uow:
        records = _records(uow, user_id)
    summaries = summarize_by(records, LEVELS.index(level))
    return {
        "level": level,
        "trades": len(records),
        "contexts": [summary.as_dict() for summary in summaries.values()],
    }


def get_learning_context(
    uow: UnitOfWork, user_id: str, symbol: str, timeframe: str, analyst: str | None = None
) -> tuple[str, dict[str, Any]]:
    """(text, json) track record and calibration of the user's analyst(s) for one market and timeframe."""
    symbol = f"{base_asset_of(symbol)}-PERP"
    if symbol not in PERP_MARKETS:
        raise InputError(f"unknown perp market {symbol!r}", field="symbol")
    if timeframe not in {t.value for t in Timeframe}:
        choices = ", ".join(t.value for t in Timeframe)
        raise InputError(f"must be one of {choices}, got {timeframe!r}", field="timeframe")
    with uow:
        records = _records(uow, user_id)
    return learning_context(records, symbol, timeframe, analyst=analyst)


REREAD = timedelta(minutes=10)
"""How far before the last seen write a refresh looks again: a trade written (stamped) earlier but
committed after that read is still picked up; one committed later still is caught by the count check."""


@dataclass
class _Learned:
    policy: LearnedPolicy
    seen: set[str] = field(default_factory=set)
    since: datetime | None = None


class PolicyBook:
    """Each user's learned policy, kept in step with their closed trades incrementally.

    A refresh reads the user's closed-trade count (one row of the insight
    aggregates); when it matches what the policy has observed, the cached
    policy is used as is. Otherwise only the trades written since the last
    refresh are read and observed; if the count still disagrees (a trade
    committed long after it was stamped) the policy is rebuilt from every closed
    trade. Other processes' captures are therefore seen on the next decision.
    """

    def __init__(self, uow: Callable[[], UnitOfWork], config: PolicyConfig | None = None) -> None:
        self._uow = uow
        self._config = config
        self._users: dict[str, _Learned] = {}
        self._lock = threading.Lock()
        self.rebuilds = 0  # full rebuilds so far (observability and tests)

    def learned(self, user_id: str) -> LearnedPolicy:
        """The user's learned policy, up to date with every closed trade committed so far."""
        with self._lock:
            entry = self._users.get(user_id)
            with self._uow() as uow:
                total = uow.insights.closed_count(user_id)
                if entry is not None and total == len(entry.seen):
                    return entry.policy
                since = None if entry is None or entry.since is None else entry.since - REREAD
                trades, latest = uow.trades.closed_since(user_id, since)
            if entry is None:
                entry = _Learned(LearnedPolicy(self._config))
                self.rebuilds += 1
            fresh = [t for t in trades if t.id not in entry.seen and t.outcome is not None]
            if len(entry.seen) + len(fresh) != total:
                entry = self._rebuild(user_id)
            else:
                for trade in sorted(fresh, key=_closing_order):
                    if _learns_from(trade):
                        entry.policy.observe(LearningRecord.from_trade(trade))
                    entry.seen.add(trade.id)
                if latest is not None:
                    entry.since = latest if entry.since is None else max(entry.since, latest)
            self._users[user_id] = entry
            return entry.policy

    def _rebuild(self, user_id: str) -> _Learned:
        with self._uow() as uow:
            trades, latest = uow.trades.closed_since(user_id, None)
        closed = sorted((t for t in trades if t.outcome is not None), key=_closing_order)
        self.rebuilds += 1
        return _Learned(
            LearnedPolicy.from_records(
                [LearningRecord.from_trade(t) for t in closed if _learns_from(t)], self._config
            ),
            {t.id for t in closed},
            latest,
        )


def _closing_order(trade: Trade) -> tuple[datetime, str]:
    assert trade.outcome is not None
    return trade.outcome.closed_at, trade.id


def _learns_from(trade: Trade) -> bool:
    """Closed trades of an AI analysis: imported history has no forecast, stop, target or R to learn from
    (it counts in the insights' PnL, performance and symbol/side breakdowns instead)."""
    return trade.outcome is not None and trade.analysis.analyst != IMPORT_ANALYST
