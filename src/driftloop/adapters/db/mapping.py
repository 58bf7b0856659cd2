"""Domain objects → table rows (plain dicts for executemany)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from driftloop.adapters.db import keys
from driftloop.adapters.db.types import quantize, stored_decimal
from driftloop.domain.model import Analysis, OutcomeClass, TradeStatus
from driftloop.domain.outcome import Outcome
from driftloop.domain.trade import AccountRef, Trade

Row = dict[str, Any]
HUNDRED = Decimal(100)
PENDING, COMPLETE = "PENDING", "COMPLETE"
NO_LEARNING = frozenset({TradeStatus.SKIPPED, TradeStatus.FAILED})


class InconsistentTradeError(ValueError):
    """A trade's own fields contradict its outcome; storing it would lose one of them."""


def account_row(account: AccountRef, created_at: datetime) -> Row:
    return {
        "id": keys.account_id(account),
        "user_id": account.user_id,
        "venue": account.venue,
        "sub_account": account.sub_account,
        "monitoring_active": False,
        "monitoring_interval_s": None,
        "created_at": created_at,
    }


def analysis_row(trade: Trade, recorded_at: datetime) -> Row:
    a: Analysis = trade.analysis
    return {
        "id": keys.analysis_pk(trade.account.user_id, trade.run_id, a.id),
        "user_id": trade.account.user_id,
        "run_id": trade.run_id,
        "analysis_id": a.id,
        "timestamp": a.timestamp,
        "symbol": a.symbol,
        "timeframe": str(a.timeframe),
        "prediction": str(a.prediction),
        "confidence": a.confidence,
        "recommendation": str(a.recommendation),
        "entry_price": a.entry_price,
        "stop_loss": a.stop_loss,
        "take_profit": a.take_profit,
        "target_price": a.target_price,
        "leverage": a.leverage,
        "size_usd": a.size_usd,
        "max_hold_minutes": a.max_hold_minutes,
        "analyst": a.analyst,
        "reasoning": a.reasoning,
        "raw": a.raw,
        "recorded_at": recorded_at,
    }


def _agree(trade: Trade, name: str, mine: Any, theirs: Any) -> Any:
    """The trade's value, else the outcome's; both present must agree as stored."""
    if mine is None:
        return theirs
    if theirs is not None:
        same = quantize(mine) == quantize(theirs) if isinstance(mine, Decimal) else mine == theirs
        if not same:
            raise InconsistentTradeError(
                f"trade {trade.id}: {name} {mine} differs from its outcome's {theirs}"
            )
    return mine


def trade_row(trade: Trade, account_id: str, recorded_at: datetime) -> Row:
    o = trade.outcome
    a = trade.analysis
    row: Row = {
        "id": trade.id,
        "account_id": account_id,
        "analysis_pk": keys.analysis_pk(trade.account.user_id, trade.run_id, a.id),
        "run_id": trade.run_id,
        "status": str(trade.status),
        "reason": trade.reason,
        "symbol": a.symbol,
        "market_index": trade.market_index,
        "side": _agree(trade, "side", trade.side, o and o.side),
        "leverage": o.leverage if o else a.leverage,
        "size": _agree(trade, "size", trade.size, o and o.size),
        "entry_price": _agree(trade, "entry_price", trade.entry_price, o and o.entry_price),
        "stop_loss": a.stop_loss,
        "take_profit": a.take_profit,
        "target_price": a.effective_target,
        "opened_at": trade.opened_at,
        "drift_tx_id": trade.drift_tx_id,
        "learning_data": trade.learning_data,
        "recorded_at": recorded_at,
        "updated_at": recorded_at,
    }
    if row["side"] is not None:
        row["side"] = str(row["side"])
    row.update(outcome_columns(o))
    return row


def outcome_columns(o: Outcome | None) -> Row:
    """The `trades` columns of an outcome (all NULL while there is none)."""
    if o is None:
        return dict.fromkeys(OUTCOME_COLUMNS)
    return {
        "entry_notional": o.entry_notional,
        "exit_price": o.exit_price,
        "exit_reason": str(o.exit_reason),
        "outcome": str(o.outcome),
        "pnl_usd": o.pnl_usd,
        "pnl_percent": o.pnl_percent,
        "roe_percent": o.roe_percent,
        "actual_rr": o.actual_rr,
        "fees_usd": o.fees_usd,
        "funding_usd": o.funding_usd,
        "price_pnl": o.price_pnl,
        "slippage_bps": o.slippage_bps,
        "entry_slippage_bps": o.entry_slippage_bps,
        "exit_slippage_bps": o.exit_slippage_bps,
        "mae": o.mae,
        "mfe": o.mfe,
        "closed_at": o.closed_at,
    }


OUTCOME_COLUMNS = (
    "entry_notional",
    "exit_price",
    "exit_reason",
    "outcome",
    "pnl_usd",
    "pnl_percent",
    "roe_percent",
    "actual_rr",
    "fees_usd",
    "funding_usd",
    "price_pnl",
    "slippage_bps",
    "entry_slippage_bps",
    "exit_slippage_bps",
    "mae",
    "mfe",
    "closed_at",
)


def order_rows(trade: Trade) -> list[Row]:
    return [
        {
            "trade_id": trade.id,
            "leg": str(order.leg),
            "seq": seq,
            "venue_order_id": order.venue_order_id,
            "user_order_id": order.user_order_id,
            "trigger_price": order.trigger_price,
            "tx_id": order.tx_id,
            "status": order.status,
        }
        for seq, order in enumerate(trade.orders)
    ]


def fill_rows(trade: Trade, account_id: str, recorded_at: datetime) -> list[Row]:
    venue = trade.account.venue
    return [
        {
            "id": keys.fill_pk(venue, account_id, fill),
            "trade_id": trade.id,
            "seq": seq,
            "venue": venue,
            "account_id": account_id,
            "market_index": fill.market_index,
            "fill_id": fill.fill_id,
            "role": fill.role,
            "leg": str(fill.leg),
            "cause": None if fill.cause is None else str(fill.cause),
            "side": str(fill.side),
            "price": fill.price,
            "size": fill.size,
            "fee": fill.fee,
            "reference_price": fill.reference_price,
            "order_id": fill.order_id,
            "ts": fill.ts,
            "recorded_at": recorded_at,
        }
        for seq, fill in enumerate(trade.fills)
    ]


def funding_rows(trade: Trade) -> list[Row]:
    return [
        {
            "trade_id": trade.id,
            "payment_id": keys.funding_key(payment),
            "seq": seq,
            "ts": payment.ts,
            "rate": payment.rate,
            "amount": payment.amount,
        }
        for seq, payment in enumerate(trade.funding)
    ]


def feedback(o: Outcome) -> dict[str, Any]:
    """The seed's `feedbackData`: exact values as strings (JSON numbers would be floats)."""

    def text(value: Decimal | None) -> str | None:
        return None if value is None else format(stored_decimal(value), "f")

    return {
        "exitReason": str(o.exit_reason),
        "pnlUsd": text(o.pnl_usd),
        "pnlPercent": text(o.pnl_percent),
        "roePercent": text(o.roe_percent),
        "actualRR": text(o.actual_rr),
        "mae": text(o.mae),
        "mfe": text(o.mfe),
        "slippageBps": text(o.slippage_bps),
        "entrySlippageBps": text(o.entry_slippage_bps),
        "exitSlippageBps": text(o.exit_slippage_bps),
    }


def learning_row(trade: Trade, recorded_at: datetime) -> Row | None:
    """PENDING while open, COMPLETE with every accuracy field once there is an outcome; None if skipped."""
    if trade.status in NO_LEARNING:
        return None
    o = trade.outcome
    calibrated = trade.calibrated_probability
    row: Row = {
        "id": keys.learning_pk(trade.id),
        "trade_id": trade.id,
        "analysis_pk": keys.analysis_pk(trade.account.user_id, trade.run_id, trade.analysis.id),
        "status": PENDING,
        "outcome": None,
        "actual_price": None,
        "direction_correct": None,
        "price_accuracy": None,
        "accuracy_score": None,
        "stated_probability": trade.analysis.confidence / HUNDRED,
        "brier": None,
        "calibrated_probability": calibrated,
        "calibrated_brier": None,
        "feedback_data": {},
        "recorded_at": recorded_at,
        "updated_at": recorded_at,
    }
    if o is not None:
        y = Decimal(1) if o.outcome is OutcomeClass.WIN else Decimal(0)
        row.update(
            status=COMPLETE,
            outcome=str(o.outcome),
            actual_price=o.exit_price,
            direction_correct=o.direction_correct,
            price_accuracy=o.price_accuracy,
            accuracy_score=o.accuracy_score,
            stated_probability=o.stated_probability,
            brier=o.brier,
            calibrated_brier=None if calibrated is None else (calibrated - y) ** 2,
            feedback_data=feedback(o),
        )
    return row
