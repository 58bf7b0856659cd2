"""Trades: `POST /api/drift/trade` (idempotent), `GET /api/trades` (paged), `GET /api/trades/{id}`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from driftloop.adapters.db.uow import SqlUnitOfWork
from driftloop.domain.errors import InputError, NotFoundError
from driftloop.domain.markets import PERP_MARKETS
from driftloop.entrypoints.api import examples as ex
from driftloop.entrypoints.api.idempotency import body_digest, valid_key
from driftloop.entrypoints.api.placing import place
from driftloop.entrypoints.api.present import analysis_json, decision_json, fill_json, funding_json, trade_out
from driftloop.entrypoints.api.problems import ApiError
from driftloop.entrypoints.api.queries import (
    TradeFilter,
    decode_cursor,
    get_live_trade,
    learning_record,
    list_trades,
)
from driftloop.entrypoints.api.schemas import (
    TradeDetailResponse,
    TradeListResponse,
    TradeRequest,
    TradeResponse,
    UserId,
)
from driftloop.entrypoints.api.state import ApiState, State

router = APIRouter(tags=["trades"])
TRADE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)

_TRADE_EXAMPLES = {
    "buy": {"summary": "A long on SOL-PERP", "value": ex.ANALYSIS},
    "hold": {
        "summary": "A HOLD (skipped, 200)",
        "value": {**ex.ANALYSIS, "id": "an-2", "recommendation": "HOLD"},
    },
}
_PLACED = {
    "success": True,
    "status": "OPEN",
    "analysisId": ex.TRADE["analysisId"],
    "tradeId": ex.TRADE["tradeId"],
    "decision": ex.DECISION,
    "trade": ex.TRADE,
    "monitoring": True,
    "replayed": False,
}
_SKIPPED = {
    "success": True,
    "status": "SKIPPED",
    "analysisId": "an-2",
    "tradeId": "trd_0c9d8e7f6a5b4c3d2e1f0a9b",
    "decision": {**ex.DECISION, "action": "SKIP", "reason": "HOLD recommendation: nothing to trade"},
    "trade": None,
    "monitoring": False,
    "replayed": False,
    "reason": "HOLD recommendation: nothing to trade",
}


@router.post(
    "/api/drift/trade",
    summary="Place a trade from an AI analysis (auto-integration)",
    response_model=None,
    responses={
        200: {
            "model": TradeResponse,
            "description": "The trade (OPEN), or the decision of a skipped analysis",
            "content": {
                "application/json": {
                    "examples": {"placed": {"value": _PLACED}, "skipped": {"value": _SKIPPED}}
                }
            },
        },
        **ex.problems(400, 401, 409, 413, 415, 422, 503),
    },
)
async def place_trade(
    request: Request,
    state: State,
    body: Annotated[TradeRequest, Body(openapi_examples=_TRADE_EXAMPLES)],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key", description="Same key and body: the same response (24 h, this process)."
        ),
    ] = None,
) -> JSONResponse:
    """Validate the analysis, apply the policy, place the entry with its reduce-only stop-loss and
    take-profit on the venue, store the trade linked to the analysis and monitor the user. Retrying
    the same analysis id returns the same trade."""
    try:
        return await _place_once(request, state, body, idempotency_key)
    finally:
        state.status_cache.clear()


async def _place_once(
    request: Request, state: ApiState, body: TradeRequest, idempotency_key: str | None
) -> JSONResponse:
    if idempotency_key is None:
        status, content = await place(state, body)
        return JSONResponse(content, status_code=status)
    if not valid_key(idempotency_key):
        raise ApiError(
            400, "Idempotency-Key must be 1-255 printable ASCII characters", slug="bad-idempotency-key"
        )
    digest = body_digest(await request.json())
    async with state.idempotency.locks.hold(idempotency_key):
        stored = state.idempotency.get(idempotency_key)
        if stored is not None:
            if stored.body_digest != digest:
                raise ApiError(
                    422,
                    "this Idempotency-Key was already used with a different request body",
                    slug="idempotency-key-reused",
                )
            return JSONResponse(stored.content, stored.status, headers={"Idempotent-Replayed": "true"})
        status, content = await place(state, body)
        if status < 300:
            state.idempotency.put(idempotency_key, digest, status, content)
    return JSONResponse(content, status_code=status)


def _query_error(field: str, message: str) -> ApiError:
    errors = [{"field": field, "location": "query", "message": message, "type": "value_error"}]
    return ApiError(422, f"{field}: {message}", errors=errors)


def _cursor(value: str | None) -> str | None:
    if value is not None:
        try:
            decode_cursor(value)
        except InputError as exc:
            raise _query_error("cursor", exc.message) from None
    return value


def _aware(value: datetime | None, field: str) -> datetime | None:
    """A query time as aware UTC (naive means UTC), within a sane range."""
    if value is None:
        return None
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        in_range = EARLIEST <= value <= LATEST
    except (OverflowError, ValueError):
        in_range = False
    if not in_range:
        raise _query_error(field, "out of range (years 1970-2200)")
    return value


def _symbol(value: str | None) -> str | None:
    if value is None:
        return None
    symbol = value.strip().upper()
    symbol = symbol if symbol in PERP_MARKETS else f"{symbol}-PERP"
    if symbol not in PERP_MARKETS:
        raise _query_error("symbol", f"unknown Drift perp market {value!r} (e.g. SOL-PERP)")
    return symbol


def _require_user(uow: SqlUnitOfWork, user_id: str | None) -> None:
    if user_id is not None and not uow.accounts.user_exists(user_id):
        raise NotFoundError(f"unknown user {user_id!r}")


@router.get(
    "/api/trades",
    summary="Live trades, newest first, with filters and cursor pagination",
    response_model=None,
    responses={
        200: {
            "model": TradeListResponse,
            "description": "A page of trades",
            "content": {
                "application/json": {
                    "example": {
                        "success": True,
                        "count": 1,
                        "trades": [ex.CLOSED_TRADE],
                        "nextCursor": "WyIyMDI1LTA2LTAxVDEyOjAwOjAwKzAwOjAwIiwidHJkXzEiXQ",
                    }
                }
            },
        },
        **ex.problems(401, 404, 422),
    },
)
async def trades(
    state: State,
    user_id: Annotated[UserId | None, Query(alias="userId", description="Only this user's trades.")] = None,
    symbol: Annotated[str | None, Query(max_length=32, description="e.g. SOL-PERP (or SOL).")] = None,
    status: Annotated[Literal["OPEN", "CLOSED", "SKIPPED", "FAILED"] | None, Query()] = None,
    outcome: Annotated[Literal["WIN", "LOSS", "BREAKEVEN"] | None, Query()] = None,
    start: Annotated[
        datetime | None, Query(alias="from", description="Analysis time ≥ this (ISO 8601).")
    ] = None,
    end: Annotated[datetime | None, Query(alias="to", description="Analysis time < this (ISO 8601).")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=400, description="`nextCursor` of the previous page.")
    ] = None,
) -> JSONResponse:
    """Live trades (any status) ordered by analysis time, newest first. Pass `nextCursor` as `cursor`
    for the next page; it is null on the last page."""
    where = TradeFilter(user_id, _symbol(symbol), status, outcome, _aware(start, "from"), _aware(end, "to"))
    after = _cursor(cursor)

    def work(uow: SqlUnitOfWork) -> tuple[list[Any], str | None]:
        _require_user(uow, user_id)
        return list_trades(uow.connection, where, limit, after)

    found, next_cursor = await state.read(work)
    items = [trade_out(t) for t in found]
    return JSONResponse({"success": True, "count": len(items), "trades": items, "nextCursor": next_cursor})


@router.get(
    "/api/trades/{trade_id}",
    summary="One trade with its analysis, fills, funding, decision and learning record",
    response_model=None,
    responses={
        200: {
            "model": TradeDetailResponse,
            "description": "The trade",
            "content": {
                "application/json": {
                    "example": {
                        "success": True,
                        "trade": ex.CLOSED_TRADE,
                        "analysis": {k: v for k, v in ex.ANALYSIS.items() if k not in ("userId", "policy")},
                        "fills": [],
                        "funding": [],
                        "decision": ex.DECISION,
                        "learning": {
                            "status": "COMPLETE",
                            "outcome": "WIN",
                            "statedProbability": 0.72,
                            "brier": 0.0784,
                        },
                    }
                }
            },
        },
        **ex.problems(401, 404),
    },
)
async def trade_detail(
    state: State, trade_id: Annotated[str, Path(description="A `tradeId`.")]
) -> JSONResponse:
    """Everything stored about one live trade; 404 if there is no such trade."""
    if not TRADE_ID.match(trade_id):
        raise NotFoundError(f"no trade {trade_id!r}")

    def work(uow: SqlUnitOfWork) -> dict[str, Any]:
        trade = get_live_trade(uow.connection, trade_id)
        if trade is None:
            raise NotFoundError(f"no trade {trade_id!r}")
        return {
            "success": True,
            "trade": trade_out(trade),
            "analysis": analysis_json(trade.analysis),
            "fills": [fill_json(f) for f in trade.fills],
            "funding": [funding_json(p) for p in trade.funding],
            "decision": decision_json(trade),
            "learning": learning_record(uow.connection, trade.id),
        }

    return JSONResponse(await state.read(work))
