"""Insights over a user's live trades: the seed's fields, rates in percent (0–100)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from driftloop.domain.errors import NotFoundError
from driftloop.domain.model import ExitReason, OutcomeClass, TradeStatus
from driftloop.domain.outcome import Outcome
from driftloop.domain.trade import Trade
from driftloop.learning.records import leverage_bucket
from driftloop.services.ports import UnitOfWork

MIN_TRADES_FOR_BEST = 3  # a context with fewer closed trades is not called "best"


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 4) if whole else None


def _win_rate(outcomes: Sequence[Outcome]) -> float | None:
    return _rate(sum(1 for o in outcomes if o.outcome is OutcomeClass.WIN), len(outcomes))


def _best(
    groups: dict[str, list[Outcome]], score: Callable[[list[Outcome]], float | None]
) -> tuple[str, float] | None:
    ranked = [
        (value, name, len(items))
        for name, items in groups.items()
        if len(items) >= MIN_TRADES_FOR_BEST and (value := score(items)) is not None
    ]
    if not ranked:
        return None
    value, name, _ = max(ranked, key=lambda r: (r[0], r[2]))
    return name, value


def _avg_pnl_percent(items: Sequence[Outcome]) -> float | None:
    return float(sum((o.pnl_percent for o in items), Decimal(0)) / len(items)) if items else None


def compute_insights(trades: Sequence[Trade]) -> dict[str, Any]:
    """The insights object of `get_insights` from a user's live trades."""
    closed = [(t, t.outcome) for t in trades if t.status is TradeStatus.CLOSED and t.outcome is not None]
    outcomes = [o for _, o in closed]
    attempted = [t for t in trades if t.status in (TradeStatus.OPEN, TradeStatus.CLOSED, TradeStatus.FAILED)]
    executed = [t for t in attempted if t.status is not TradeStatus.FAILED]
    by_timeframe: dict[str, list[Outcome]] = defaultdict(list)
    by_leverage: dict[str, list[Outcome]] = defaultdict(list)
    for trade, outcome in closed:
        by_timeframe[trade.analysis.timeframe.value].append(outcome)
        by_leverage[leverage_bucket(trade.analysis.leverage)].append(outcome)
    best_tf = _best(by_timeframe, _win_rate)
    best_lev = _best(by_leverage, _avg_pnl_percent)
    losses = [o for o in outcomes if o.outcome is OutcomeClass.LOSS]
    total = sum((o.pnl_usd for o in outcomes), Decimal(0))
    r_values = [float(o.actual_rr) for o in outcomes if o.actual_rr is not None]
    return {
        "totalDriftTrades": len(outcomes),
        "openTrades": sum(1 for t in trades if t.status is TradeStatus.OPEN),
        "winRate": _win_rate(outcomes),
        "avgPnL": float(total / len(outcomes)) if outcomes else None,
        "avgPnLPercent": _avg_pnl_percent(outcomes),
        "totalPnL": float(total),
        "avgR": sum(r_values) / len(r_values) if r_values else None,
        "exitReasons": dict(Counter(o.exit_reason.value for o in outcomes)),
        "bestPerformingTimeframe": {"timeframe": best_tf[0], "winRate": best_tf[1]} if best_tf else None,
        "driftSpecificInsights": {
            # share of placed trades the venue actually executed
            "platformEfficiency": _rate(len(executed), len(attempted)),
            # the leverage bucket with the best average PnL %, once it has enough trades
            "optimalLeverage": best_lev[0] if best_lev else None,
            # share of losing trades the stop-loss closed (rather than liquidation, time or by hand)
            "stopLossEffectiveness": _rate(
                sum(1 for o in losses if o.exit_reason is ExitReason.STOP_LOSS), len(losses)
            ),
            "liquidations": sum(1 for o in outcomes if o.exit_reason is ExitReason.LIQUIDATION),
            "totalFeesUsd": float(sum((o.fees_usd for o in outcomes), Decimal(0))),
            "totalFundingUsd": float(sum((o.funding_usd for o in outcomes), Decimal(0))),
        },
        "aiAccuracy": {
            "directionAccuracy": _rate(sum(1 for o in outcomes if o.direction_correct), len(outcomes)),
            "avgAccuracyScore": float(sum((o.accuracy_score for o in outcomes), Decimal(0)) / len(outcomes))
            if outcomes
            else None,
            "brier": float(sum((o.brier for o in outcomes), Decimal(0)) / len(outcomes))
            if outcomes
            else None,
        },
    }


def get_insights(uow: UnitOfWork, user_id: str) -> dict[str, Any]:
    """Insights of a known user (unknown → NotFoundError)."""
    with uow:
        if not uow.accounts.user_exists(user_id):
            raise NotFoundError(f"unknown user {user_id!r}")
        trades = uow.trades.live_trades(user_id)
    return {"userId": user_id, **compute_insights(trades)}
