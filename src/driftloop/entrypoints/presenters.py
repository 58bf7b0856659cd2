"""Trades as the camelCase JSON users and the API see (numbers as JSON numbers)."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from driftloop.domain.errors import InputError
from driftloop.domain.trade import Trade
from driftloop.services.replay import ReplayReport


def number(value: Decimal | None) -> float | int | None:
    """Exact Decimal → JSON number at the output boundary (floats only here)."""
    if value is None:
        return None
    if value == value.to_integral_value() and abs(value) < 2**53:
        return int(value)
    return float(value)


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def trade_json(trade: Trade) -> dict[str, Any]:
    """One analysis' result: the replay `--json` and API trade shape."""
    a, o = trade.analysis, trade.outcome
    return {
        "analysisId": a.id,
        "tradeId": trade.id,
        "status": trade.status.value,
        "reason": trade.reason,
        "driftTxId": trade.drift_tx_id,
        "symbol": a.symbol,
        "side": trade.side.value if trade.side else None,
        "entryPrice": number(trade.entry_price),
        "exitPrice": number(o.exit_price) if o else None,
        "size": number(trade.size),
        "leverage": number(a.leverage),
        "stopLoss": number(a.stop_loss),
        "takeProfit": number(a.take_profit),
        "targetPrice": number(a.effective_target),
        "confidence": number(a.confidence),
        "exitReason": o.exit_reason.value if o else None,
        "outcome": o.outcome.value if o else None,
        "pnlUsd": number(o.pnl_usd) if o else None,
        "pnlPercent": number(o.pnl_percent) if o else None,
        "roePercent": number(o.roe_percent) if o else None,
        "actualRR": number(o.actual_rr) if o else None,
        "feesUsd": number(o.fees_usd) if o else None,
        "fundingUsd": number(o.funding_usd) if o else None,
        "slippageBps": number(o.slippage_bps) if o else None,
        "mae": number(o.mae) if o else None,
        "mfe": number(o.mfe) if o else None,
        "openedAt": iso(trade.opened_at),
        "closedAt": iso(o.closed_at) if o else None,
        "directionCorrect": o.direction_correct if o else None,
        "priceAccuracy": number(o.price_accuracy) if o else None,
        "accuracyScore": number(o.accuracy_score) if o else None,
        "brier": number(o.brier) if o else None,
        "decision": trade.learning_data.get("decision"),
        "calibratedWinProb": trade.learning_data.get("calibratedWinProb"),
        "sizeMultiplier": trade.learning_data.get("sizeMultiplier"),
    }


def summary_json(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: number(v) if isinstance(v, Decimal) else v for k, v in summary.items()}


def write_report_json(path: Path, report: ReplayReport) -> None:
    """`{"runId", "trades": [...], "summary": {...}}` to a file."""
    payload = {
        "runId": report.run_id,
        "trades": [trade_json(t) for t in report.trades],
        "summary": summary_json(report.summary),
    }
    if report.evaluation is not None:
        payload["evaluation"] = report.evaluation
    write_json(path, payload)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write file: {exc.strerror or exc}", source=str(path)) from None
