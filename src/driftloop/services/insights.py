"""Insights over a user's live trades, answered from the aggregates kept beside the trades.

The figures are defined in README (Insights) and computed by
`learning.aggregates.present`; rates are percentages (0–100), probabilities and
Brier scores 0–1, money in USD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from driftloop.domain.errors import NotFoundError
from driftloop.domain.history import IMPORT_ANALYST
from driftloop.domain.model import OutcomeClass
from driftloop.domain.trade import Trade
from driftloop.learning.aggregates import TradeFacts, aggregate, equity_of, present, scaled
from driftloop.services.ports import UnitOfWork


def get_insights(uow: UnitOfWork, user_id: str) -> dict[str, Any]:
    """Insights of a known user (unknown → NotFoundError); cost independent of the number of trades."""
    with uow:
        if not uow.accounts.user_exists(user_id):
            raise NotFoundError(f"unknown user {user_id!r}")
        buckets, equity = uow.insights.read(user_id)
    return {"userId": user_id, **present(buckets, equity)}


def verify_insights(uow: UnitOfWork, user_id: str) -> tuple[bool, dict[str, Any], dict[str, Any]]:
    """(equal?, maintained, rebuilt): the maintained aggregates against a rebuild from the trades.

    The rebuild runs in a transaction that is rolled back, so nothing changes.
    """
    with uow:
        if not uow.accounts.user_exists(user_id):
            raise NotFoundError(f"unknown user {user_id!r}")
        maintained = present(*uow.insights.read(user_id))
        uow.insights.rebuild(user_id)
        rebuilt = present(*uow.insights.read(user_id))
        uow.rollback()
    return maintained == rebuilt, maintained, rebuilt


def rebuild_insights(uow: UnitOfWork, user_id: str | None = None) -> int:
    """Recompute and store the aggregates (one user or all) from the trades; returns trades read."""
    with uow:
        count = uow.insights.rebuild(user_id)
        uow.commit()
    return count


def facts_of_trade(trade: Trade) -> TradeFacts:
    """A trade's facts straight from the domain object (as the store would round them)."""
    o, a = trade.outcome, trade.analysis
    entered = trade.opened_at if trade.opened_at is not None else a.timestamp
    facts = TradeFacts(
        trade_id=trade.id,
        user_id=trade.account.user_id,
        status=str(trade.status),
        symbol=a.symbol,
        timeframe=a.timeframe.value,
        side=None if trade.side is None else str(trade.side),
        leverage=a.leverage,
        confidence=a.confidence,
        hour=entered.hour,
        forecast=a.analyst != IMPORT_ANALYST,
    )
    if o is None:
        return facts
    calibrated = trade.calibrated_probability
    won = 1 if o.outcome is OutcomeClass.WIN else 0
    return replace(
        facts,
        outcome=str(o.outcome),
        exit_reason=str(o.exit_reason),
        closed_at=o.closed_at,
        pnl=scaled(o.pnl_usd),
        pnl_pct=scaled(o.pnl_percent),
        rr=None if o.actual_rr is None else scaled(o.actual_rr),
        fees=scaled(o.fees_usd),
        funding=scaled(o.funding_usd),
        notional=scaled(o.entry_notional),
        slippage=scaled(o.slippage_bps),
        stated=scaled(o.stated_probability),
        brier=scaled(o.brier),
        calibrated=None if calibrated is None else scaled(calibrated),
        calibrated_brier=None if calibrated is None else scaled((calibrated - won) ** 2),
        direction_correct=o.direction_correct,
        accuracy=scaled(o.accuracy_score),
    )


def compute_insights(trades: Sequence[Trade]) -> dict[str, Any]:
    """The insights object straight from trades in memory (the reference the store must match)."""
    facts = [facts_of_trade(t) for t in trades]
    buckets = next(iter(aggregate(facts).values()), {})
    return present(buckets, equity_of([(key, f.pnl) for f in facts if (key := f.equity_key) is not None]))
