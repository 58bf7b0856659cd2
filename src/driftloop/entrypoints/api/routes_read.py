"""Read endpoints: insights, the reliability of stated confidence, health and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from driftloop.adapters.db.uow import SqlUnitOfWork
from driftloop.domain.errors import NotFoundError
from driftloop.entrypoints.api import examples as ex
from driftloop.entrypoints.api.queries import closed_forecasts
from driftloop.entrypoints.api.schemas import CalibrationResponse, HealthResponse, InsightsResponse, UserId
from driftloop.entrypoints.api.state import State
from driftloop.services.insights import get_insights
from driftloop.services.learning import context_statistics, get_learning_context, learned_calibration

router = APIRouter()
open_router = APIRouter(tags=["operations"])
METHOD = (
    "reliability of the stated confidence over closed trades; `learned`: the hierarchical beta-binomial "
    "calibrator fitted on them (in sample) and the calibrated probabilities decisions recorded "
    "(out of sample)"
)


def package_version() -> str:
    try:
        return version("driftloop")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


@router.get(
    "/api/insights",
    tags=["insights"],
    summary="Insights over a user's live trades (rates in percent 0-100)",
    response_model=None,
    responses={
        200: {
            "model": InsightsResponse,
            "description": "The insights object",
            "content": {"application/json": {"example": {"success": True, "insights": ex.INSIGHTS}}},
        },
        **ex.problems(401, 404, 422),
    },
)
async def insights(state: State, user_id: Annotated[UserId, Query(alias="userId")]) -> JSONResponse:
    """The same insights object as the seed's `get_insights` action; 404 for an unknown user."""
    return JSONResponse(
        {"success": True, "insights": await state.in_thread(get_insights, state.uow(), user_id)}
    )


def reliability(forecasts: Sequence[tuple[Decimal, bool, Decimal | None]], bins: int) -> dict[str, Any]:
    """Equal-width bins of stated probability: count, mean stated probability, observed win rate and
    mean Brier per bin (probabilities 0-1), the overall Brier and the expected calibration error."""
    rows: list[list[tuple[float, bool, float]]] = [[] for _ in range(bins)]
    for probability, won, brier in forecasts:
        p = min(max(float(probability), 0.0), 1.0)
        b = float(brier) if brier is not None else (p - (1.0 if won else 0.0)) ** 2
        rows[min(int(p * bins), bins - 1)].append((p, won, b))
    total = sum(len(r) for r in rows)
    out, ece = [], 0.0
    for index, items in enumerate(rows):
        n = len(items)
        mean_p = sum(i[0] for i in items) / n if n else None
        win_rate = sum(1 for i in items if i[1]) / n if n else None
        if mean_p is not None and win_rate is not None:
            ece += n / total * abs(win_rate - mean_p)
        out.append(
            {
                "lower": round(index / bins, 6),
                "upper": round((index + 1) / bins, 6),
                "count": n,
                "meanStatedProbability": mean_p,
                "observedWinRate": win_rate,
                "brier": sum(i[2] for i in items) / n if n else None,
            }
        )
    overall = sum(i[2] for r in rows for i in r) / total if total else None
    return {"trades": total, "brier": overall, "ece": ece if total else None, "bins": out}


@router.get(
    "/api/learning/calibration",
    tags=["learning"],
    summary="Reliability of stated confidence and the learned calibration",
    response_model=None,
    responses={
        200: {
            "model": CalibrationResponse,
            "description": "Reliability bins",
            "content": {
                "application/json": {
                    "example": {
                        "success": True,
                        "userId": "drift-user",
                        "calibrated": True,
                        "method": METHOD,
                        "trades": 3,
                        "brier": 0.2207,
                        "ece": 0.18,
                        "bins": [
                            {
                                "lower": 0.7,
                                "upper": 0.8,
                                "count": 3,
                                "meanStatedProbability": 0.72,
                                "observedWinRate": 0.6667,
                                "brier": 0.2207,
                            }
                        ],
                    }
                }
            },
        },
        **ex.problems(401, 404, 422),
    },
)
async def calibration(
    state: State,
    user_id: Annotated[UserId, Query(alias="userId")],
    bins: Annotated[int, Query(ge=2, le=20, description="Number of equal-width probability bins.")] = 10,
) -> JSONResponse:
    """How often trades stated at a confidence actually won (`bins`, from the stored learning records of the
    user's closed trades), and what the learning engine made of it (`learned`)."""

    def work(uow: SqlUnitOfWork) -> list[tuple[Decimal, bool, Decimal | None]]:
        if not uow.accounts.user_exists(user_id):
            raise NotFoundError(f"unknown user {user_id!r}")
        return closed_forecasts(uow.connection, user_id)

    forecasts = await state.read(work)
    learned = await state.in_thread(learned_calibration, state.uow(), user_id)
    body = {"success": True, "userId": user_id, "calibrated": learned["trades"] > 0, "method": METHOD}
    return JSONResponse({**body, **reliability(forecasts, bins), "learned": learned})


@router.get(
    "/api/learning/context",
    tags=["learning"],
    summary="The analyst's track record and calibration for a market and timeframe, as prompt text and JSON",
    response_model=None,
    responses={
        200: {
            "description": "Text for an LLM prompt and the same facts as JSON",
            "content": {
                "application/json": {
                    "example": {
                        "success": True,
                        "userId": "drift-user",
                        "text": "Your track record (closed trades; outcomes after fees and funding):\n- ...",
                        "context": {
                            "symbol": "SOL-PERP",
                            "timeframe": "1h",
                            "track": {"overall": {"trades": 0}},
                        },
                    }
                }
            },
        },
        **ex.problems(400, 401, 404, 422),
    },
)
async def context(
    state: State,
    user_id: Annotated[UserId, Query(alias="userId")],
    symbol: Annotated[
        str, Query(min_length=1, max_length=32, description="Perp market, e.g. SOL-PERP or SOL.")
    ],
    timeframe: Annotated[str, Query(min_length=1, max_length=8, description="5m, 15m, 1h, 4h or 1d.")],
    analyst: Annotated[str | None, Query(max_length=200, description="Only this analyst's trades.")] = None,
) -> JSONResponse:
    """A compact, factual summary an analyst can put in its prompt: win rates with 95% intervals,
    expectancy in R, reliability of its stated confidence, calibrated win probabilities, excursions."""
    text_, data = await state.in_thread(
        get_learning_context, state.uow(), user_id, symbol, timeframe, analyst
    )
    return JSONResponse({"success": True, "userId": user_id, "text": text_, "context": data})


@router.get(
    "/api/learning/contexts",
    tags=["learning"],
    summary="Track record per context (analyst, symbol, timeframe, side, leverage) with uncertainty",
    response_model=None,
    responses={
        200: {
            "description": "One summary per context at the requested level",
            "content": {
                "application/json": {
                    "example": {
                        "success": True,
                        "userId": "drift-user",
                        "level": "symbol",
                        "trades": 42,
                        "contexts": [
                            {
                                "context": "analyst=gpt symbol=SOL-PERP",
                                "count": 42,
                                "wins": 24,
                                "winRate": 57.1429,
                                "winRateCI95": [42.2, 70.9],
                                "expectancyR": 0.21,
                                "expectancyRStdErr": 0.18,
                                "expectancyRCI95": [-0.14, 0.55],
                                "avgPnlUsd": 1.9,
                                "avgPnlPercent": 0.19,
                                "totalPnlUsd": 79.8,
                                "profitFactor": 1.4,
                                "excursions": {"count": 42},
                                "findings": [],
                            }
                        ],
                    }
                }
            },
        },
        **ex.problems(401, 404, 422),
    },
)
async def contexts(
    state: State,
    user_id: Annotated[UserId, Query(alias="userId")],
    level: Annotated[
        str, Query(max_length=16, description="global, analyst, symbol, timeframe, side or leverage.")
    ] = "timeframe",
) -> JSONResponse:
    """Which contexts really pay: win rate (Wilson 95% interval), expectancy in R (standard error and
    95% interval), PnL, profit factor, MAE/MFE quantiles of winners and losers, stop/target findings."""
    body = await state.in_thread(context_statistics, state.uow(), user_id, level)
    return JSONResponse({"success": True, "userId": user_id, **body})


@open_router.get(
    "/api/health",
    summary="Liveness and database check (no token needed)",
    response_model=None,
    responses={
        200: {
            "model": HealthResponse,
            "description": "Healthy",
            "content": {
                "application/json": {
                    "example": {
                        "status": "ok",
                        "database": "ok",
                        "venue": "paper",
                        "monitor": True,
                        "version": "0.1.0",
                    }
                }
            },
        },
        503: {"model": HealthResponse, "description": "The database is unreachable"},
    },
)
async def health(state: State) -> JSONResponse:
    """`ok` when the database answers; 503 `degraded` otherwise. Open: it reveals no user data."""

    def ping(uow: SqlUnitOfWork) -> None:
        uow.connection.execute(text("SELECT 1"))

    try:
        await state.read(ping)
        database = "ok"
    except Exception:
        database = "unavailable"
    body = {
        "status": "ok" if database == "ok" else "degraded",
        "database": database,
        "venue": state.loop.venue.name,
        "monitor": state.monitor_enabled,
        "version": state.version,
    }
    return JSONResponse(body, status_code=200 if database == "ok" else 503)


@open_router.get(
    "/metrics",
    summary="Prometheus metrics (no token needed: counts and latencies, no user data)",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format",
            "content": {CONTENT_TYPE_LATEST: {"example": "driftloop_monitor_cycles_total 42.0\n"}},
        }
    },
)
async def metrics(state: State) -> Response:
    """Cycles, fills, funding, outcomes, errors, trades placed, cycle and HTTP latency histograms."""
    statuses = await state.in_thread(state.loop.monitor.status)
    state.metrics.monitored.set(sum(1 for s in statuses if s.running))
    state.metrics.bars.set(sum(feed.fed for feed in state.feeds))
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
