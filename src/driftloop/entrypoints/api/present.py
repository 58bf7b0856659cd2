"""Trades, analyses, fills and decisions as the API's camelCase JSON (numbers as JSON numbers)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from driftloop.domain.model import Analysis, Fill, FundingPayment, TradeStatus
from driftloop.domain.trade import Trade
from driftloop.entrypoints.presenters import iso, number, trade_json


def trade_out(trade: Trade) -> dict[str, Any]:
    """`trade_json` plus who and where, and the trade's orders (the venue's order ids)."""
    return {
        **trade_json(trade),
        "userId": trade.account.user_id,
        "venue": trade.account.venue,
        "subAccount": trade.account.sub_account,
        "timeframe": trade.analysis.timeframe.value,
        "sizeUsd": number(trade.analysis.size_usd),
        "orders": [
            {
                "leg": o.leg.value,
                "orderId": o.venue_order_id,
                "userOrderId": o.user_order_id,
                "triggerPrice": number(o.trigger_price),
                "txId": o.tx_id,
                "status": o.status,
            }
            for o in trade.orders
        ],
    }


def _maybe_number(value: Any) -> Any:
    """Decision values stored as exact strings ("1") come back as JSON numbers."""
    if isinstance(value, str):
        try:
            return number(Decimal(value))
        except InvalidOperation:
            return value
    return value


def decision_json(trade: Trade) -> dict[str, Any]:
    """The policy decision stored with the trade; `action`/`reason` say what actually happened."""
    data = dict(trade.learning_data)
    skipped = trade.status is TradeStatus.SKIPPED
    out: dict[str, Any] = {
        "policy": data.pop("policy", "raw"),
        "action": "SKIP" if skipped else "TAKE",
        "reason": trade.reason if skipped or trade.status is TradeStatus.FAILED else data.get("reason"),
        "calibratedWinProb": data.pop("calibratedWinProb", None),
        "policyDecision": data.pop("decision", None),
    }
    data.pop("reason", None)
    out.update({key: _maybe_number(value) for key, value in data.items()})
    return out


def analysis_json(a: Analysis) -> dict[str, Any]:
    """The Analysis as received (Definitions' camelCase fields)."""
    return {
        "id": a.id,
        "timestamp": iso(a.timestamp),
        "symbol": a.symbol,
        "timeframe": a.timeframe.value,
        "prediction": a.prediction.value,
        "confidence": number(a.confidence),
        "recommendation": a.recommendation.value,
        "entryPrice": number(a.entry_price),
        "stopLoss": number(a.stop_loss),
        "takeProfit": number(a.take_profit),
        "targetPrice": number(a.target_price),
        "leverage": number(a.leverage),
        "sizeUsd": number(a.size_usd),
        "maxHoldMinutes": a.max_hold_minutes,
        "analyst": a.analyst,
        "reasoning": a.reasoning,
        "raw": a.raw,
    }


def fill_json(f: Fill) -> dict[str, Any]:
    return {
        "fillId": f.fill_id,
        "ts": iso(f.ts),
        "leg": f.leg.value,
        "side": f.side.value,
        "price": number(f.price),
        "size": number(f.size),
        "fee": number(f.fee),
        "cause": f.cause.value if f.cause else None,
        "referencePrice": number(f.reference_price),
        "role": f.role,
        "marketIndex": f.market_index,
        "orderId": f.order_id,
    }


def funding_json(p: FundingPayment) -> dict[str, Any]:
    return {"ts": iso(p.ts), "rate": number(p.rate), "amount": number(p.amount), "paymentId": p.payment_id}
