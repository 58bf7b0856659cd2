"""Use case: replay analyses as independent paper trades and store them as one run."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, Protocol

from driftloop.domain.ids import stable_id
from driftloop.domain.markets import market_index
from driftloop.domain.model import Analysis, OutcomeClass, TradeStatus
from driftloop.domain.trade import Trade
from driftloop.learning.records import LearningRecord
from driftloop.learning.walkforward import walk_forward
from driftloop.services.ports import Clock, ReplayRun, UnitOfWork


class Simulator(Protocol):
    def simulate(self, analysis: Analysis, trade_id: str, market_index: int) -> Trade: ...


@dataclass(frozen=True, slots=True)
class ReplayReport:
    run_id: str
    trades: list[Trade]
    summary: dict[str, Any]
    evaluation: dict[str, Any] | None = None


def run_id_for(input_digests: Sequence[str], parameters: dict[str, Any]) -> str:
    """A run is identified by its inputs and parameters: re-running is idempotent."""
    canonical = ";".join(f"{k}={parameters[k]}" for k in sorted(parameters))
    return stable_id("run", *input_digests, canonical, length=20)


def trade_id_for(run_id: str, analysis_id: str) -> str:
    return stable_id("trd", run_id, analysis_id)


def summarize_trades(trades: Sequence[Trade]) -> dict[str, Any]:
    """Counts, win rate (% of closed trades), total and average PnL."""
    counts = {status.value: 0 for status in TradeStatus}
    for trade in trades:
        counts[trade.status.value] += 1
    closed = [t.outcome for t in trades if t.outcome is not None]
    wins = sum(1 for o in closed if o.outcome is OutcomeClass.WIN)
    losses = sum(1 for o in closed if o.outcome is OutcomeClass.LOSS)
    total = sum((o.pnl_usd for o in closed), Decimal(0))
    fees = sum((o.fees_usd for o in closed), Decimal(0))
    funding = sum((o.funding_usd for o in closed), Decimal(0))
    r_values = [o.actual_rr for o in closed if o.actual_rr is not None]
    return {
        "analyses": len(trades),
        "closed": counts["CLOSED"],
        "open": counts["OPEN"],
        "skipped": counts["SKIPPED"],
        "wins": wins,
        "losses": losses,
        "breakeven": len(closed) - wins - losses,
        "winRate": Decimal(wins) / len(closed) * 100 if closed else None,
        "totalPnlUsd": total,
        "avgPnlUsd": total / len(closed) if closed else None,
        "totalFeesUsd": fees,
        "totalFundingUsd": funding,
        "avgR": sum(r_values, Decimal(0)) / len(r_values) if r_values else None,
    }


def replay(
    analyses: Sequence[Analysis],
    simulator: Simulator,
    uow: UnitOfWork,
    clock: Clock,
    run_id: str,
    parameters: dict[str, Any],
    progress: Callable[[int], None] | None = None,
    *,
    policy: str = "raw",
    bar: timedelta = timedelta(minutes=5),
) -> ReplayReport:
    """Simulate every analysis, decide on each walk-forward (only outcomes known by its timestamp), then
    store the run and all its trades in one transaction."""
    trades = []
    for analysis in analyses:
        trades.append(
            simulator.simulate(analysis, trade_id_for(run_id, analysis.id), market_index(analysis.symbol))
        )
        if progress:
            progress(1)
    evaluation = decide_walk_forward(trades, policy, bar)
    summary = summarize_trades(trades)
    now = clock.now()
    with uow:
        existing = uow.runs.get(run_id)
        created = existing.created_at if existing else now
        uow.runs.save(ReplayRun(run_id, created, parameters, _jsonable(summary)))
        uow.trades.save_many(trades, now)
        uow.commit()
    return ReplayReport(run_id, trades, summary, evaluation if policy == "learned" else None)


def decide_walk_forward(trades: Sequence[Trade], policy: str, bar: timedelta) -> dict[str, Any]:
    """Record on every trade the learned policy's decision, made in time order from the outcomes known
    before the analysis (an outcome is known at the close of its exit candle); with `raw`, every
    tradeable analysis is taken at size 1 and the calibrated probability is reported beside it."""
    items = []
    for trade in trades:
        record = None
        if trade.outcome is not None:
            record = LearningRecord.from_trade(trade, known_at=trade.outcome.closed_at + bar)
        items.append((trade.analysis, record))
    result = walk_forward(items)
    by_id = {d.analysis_id: d for d in result.decisions}
    for trade in trades:
        d = by_id[trade.analysis.id]
        tradeable = trade.status is not TradeStatus.SKIPPED
        taken = tradeable and (d.taken if policy == "learned" else True)
        size = (d.size_multiplier if policy == "learned" else 1.0) if taken else 0.0
        trade.learning_data = {
            **trade.learning_data,
            **d.learning_data,
            "policy": policy,
            "decision": "TAKEN" if taken else "SKIPPED",
            "calibratedWinProb": d.calibrated_win_prob,
            "sizeMultiplier": size,
            "expectedR": d.expected_r,
            "knownOutcomes": d.known_outcomes,
        }
        if not taken and tradeable and d.reason:
            trade.learning_data["reason"] = d.reason
    return result.evaluation


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _jsonable(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in summary.items()}
