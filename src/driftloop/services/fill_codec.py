"""Fills as JSON (kept in loop events so an unmatched fill can be matched later)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from driftloop.domain.model import ExitReason, Fill, OrderLeg, OrderSide


def fill_to_json(fill: Fill) -> dict[str, Any]:
    return {
        "fillId": fill.fill_id,
        "ts": fill.ts.isoformat(),
        "side": fill.side.value,
        "price": str(fill.price),
        "size": str(fill.size),
        "fee": str(fill.fee),
        "leg": fill.leg.value,
        "cause": fill.cause.value if fill.cause else None,
        "referencePrice": None if fill.reference_price is None else str(fill.reference_price),
        "role": fill.role,
        "marketIndex": fill.market_index,
        "orderId": fill.order_id,
    }


def fill_from_json(data: dict[str, Any]) -> Fill:
    reference = data.get("referencePrice")
    return Fill(
        fill_id=data["fillId"],
        ts=datetime.fromisoformat(data["ts"]),
        side=OrderSide(data["side"]),
        price=Decimal(data["price"]),
        size=Decimal(data["size"]),
        fee=Decimal(data["fee"]),
        leg=OrderLeg(data["leg"]),
        cause=ExitReason(data["cause"]) if data.get("cause") else None,
        reference_price=None if reference is None else Decimal(reference),
        role=data.get("role", "taker"),
        market_index=int(data.get("marketIndex", 0)),
        order_id=data.get("orderId"),
    )
