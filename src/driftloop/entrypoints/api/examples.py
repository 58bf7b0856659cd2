"""OpenAPI request and response examples for every endpoint."""

from __future__ import annotations

from typing import Any

PROBLEM_JSON = "application/problem+json"

ANALYSIS: dict[str, Any] = {
    "userId": "drift-user",
    "id": "an-2025-06-01-sol-1",
    "timestamp": "2025-06-01T12:00:00Z",
    "symbol": "SOL-PERP",
    "timeframe": "1h",
    "prediction": "BULLISH",
    "confidence": 72,
    "recommendation": "BUY",
    "entryPrice": 150.2,
    "stopLoss": 147.5,
    "takeProfit": 156.0,
    "leverage": 3,
    "sizeUsd": 500,
    "maxHoldMinutes": 240,
    "analyst": "gpt-4o",
    "reasoning": "Higher lows on 1h, funding neutral.",
    "policy": "raw",
}

STATUS: dict[str, Any] = {
    "userId": "drift-user",
    "running": True,
    "intervalSeconds": 30.0,
    "lastCheck": "2025-06-01T12:05:00Z",
    "lastError": None,
    "openTrades": 1,
    "fillsIngested": 1,
    "outcomesCaptured": 0,
    "cycles": 3,
}

INSIGHTS: dict[str, Any] = {
    "userId": "drift-user",
    "totalDriftTrades": 12,
    "openTrades": 1,
    "winRate": 58.3333,
    "avgPnL": 4.12,
    "avgPnLPercent": 0.82,
    "totalPnL": 49.44,
    "avgR": 0.41,
    "exitReasons": {"TAKE_PROFIT": 6, "STOP_LOSS": 5, "TIME_LIMIT": 1},
    "bestPerformingTimeframe": {"timeframe": "1h", "winRate": 66.6667},
    "driftSpecificInsights": {
        "platformEfficiency": 100.0,
        "optimalLeverage": "2-3x",
        "stopLossEffectiveness": 100.0,
        "liquidations": 0,
        "totalFeesUsd": 12.0,
        "totalFundingUsd": -0.31,
    },
    "aiAccuracy": {"directionAccuracy": 58.3333, "avgAccuracyScore": 0.47, "brier": 0.231},
}

ORDERS = [
    {
        "leg": leg,
        "orderId": f"ord_{i}3f0c2a9d1e",
        "userOrderId": i + 1,
        "triggerPrice": trigger,
        "txId": "5qGz9kq3ZJ1wTn2hV8uY",
        "status": "OPEN",
    }
    for i, (leg, trigger) in enumerate((("ENTRY", None), ("STOP_LOSS", 147.5), ("TAKE_PROFIT", 156.0)))
]

TRADE: dict[str, Any] = {
    "analysisId": "an-2025-06-01-sol-1",
    "tradeId": "trd_5b1f0a7c93d2e4f6a8b0c1d2",
    "status": "OPEN",
    "reason": None,
    "driftTxId": "5qGz9kq3ZJ1wTn2hV8uY",
    "symbol": "SOL-PERP",
    "side": "LONG",
    "entryPrice": None,
    "exitPrice": None,
    "size": 3.328894806,
    "leverage": 3,
    "stopLoss": 147.5,
    "takeProfit": 156,
    "targetPrice": 156,
    "confidence": 72,
    "exitReason": None,
    "outcome": None,
    "pnlUsd": None,
    "pnlPercent": None,
    "openedAt": None,
    "closedAt": None,
    "userId": "drift-user",
    "venue": "paper",
    "subAccount": 0,
    "timeframe": "1h",
    "sizeUsd": 500,
    "orders": ORDERS,
}

CLOSED_TRADE: dict[str, Any] = {
    **TRADE,
    "status": "CLOSED",
    "entryPrice": 150.21,
    "exitPrice": 156,
    "exitReason": "TAKE_PROFIT",
    "outcome": "WIN",
    "pnlUsd": 18.27,
    "pnlPercent": 3.654,
    "roePercent": 10.962,
    "actualRR": 2.01,
    "openedAt": "2025-06-01T12:05:00Z",
    "closedAt": "2025-06-01T15:35:00Z",
    "orders": [{**o, "status": "FILLED" if o["leg"] != "STOP_LOSS" else "CANCELED"} for o in ORDERS],
}

DECISION: dict[str, Any] = {
    "policy": "raw",
    "action": "TAKE",
    "reason": None,
    "calibratedWinProb": None,
    "policyDecision": "TAKE",
    "sizeMultiplier": 1,
    "expectedR": None,
}


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"urn:driftloop:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": "/api/drift/trade",
        "success": False,
        "error": detail,
        **extra,
    }


PROBLEMS: dict[int, dict[str, Any]] = {
    400: problem(
        400, "malformed-json", "Bad request", "malformed JSON body: Expecting ',' delimiter (at character 42)"
    ),
    401: problem(401, "unauthorized", "Unauthorized", "missing bearer token (Authorization: Bearer <token>)"),
    404: problem(404, "not-found", "Not found", "unknown user 'nobody'"),
    409: problem(
        409, "analysis-conflict", "Conflict", "analysis id 'an-1' was already used for another analysis"
    ),
    413: problem(413, "payload-too-large", "Payload too large", "the request body exceeds 65536 bytes"),
    415: problem(
        415,
        "unsupported-media-type",
        "Unsupported media type",
        "the request body must be JSON (Content-Type: application/json)",
    ),
    422: problem(
        422,
        "validation-error",
        "Invalid input",
        "confidence: Input should be less than or equal to 100",
        errors=[
            {
                "field": "confidence",
                "location": "body",
                "message": "Input should be less than or equal to 100",
                "type": "less_than_equal",
            }
        ],
    ),
    500: problem(
        500, "internal-error", "Internal server error", "internal error: the request could not be completed"
    ),
    503: problem(
        503, "unavailable", "Service unavailable", "the venue is temporarily unavailable; retry later"
    ),
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for error statuses (problem+json with an example each)."""
    from driftloop.entrypoints.api.schemas import Problem

    descriptions = {
        400: "Malformed request",
        401: "Missing or invalid bearer token",
        404: "Unknown user or trade",
        409: "Conflicting analysis id",
        413: "Body too large",
        415: "Body is not JSON",
        422: "Invalid input (fields named in camelCase)",
        500: "Internal error",
        503: "Temporarily unavailable",
    }
    return {
        status: {
            "model": Problem,
            "description": descriptions[status],
            "content": {PROBLEM_JSON: {"example": PROBLEMS[status]}},
        }
        for status in (*statuses, 500)
    }


def ok(example: dict[str, Any], description: str = "Success") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"example": example}}}
