"""The seed's endpoints: `POST /api/drift/feedback` (four actions) and `GET /api/drift/feedback`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse

from driftloop.domain.trade import AccountRef
from driftloop.entrypoints.api import examples as ex
from driftloop.entrypoints.api.schemas import (
    FeedbackAction,
    FeedbackRequest,
    FeedbackResponse,
    StatusResponse,
    UserId,
)
from driftloop.entrypoints.api.state import ApiState, State
from driftloop.services.insights import get_insights
from driftloop.services.monitor import DEFAULT_INTERVAL, UserStatus

router = APIRouter(tags=["feedback (seed)"])

# Error texts of these exception types are product messages; anything else is summarised.
_PUBLIC_ERRORS = ("TemporaryError", "RejectedError", "DriftloopError", "TimeoutError", "NotFoundError")

_FEEDBACK_EXAMPLES = {
    action: {"summary": action, "value": {"action": action, "userId": "drift-user", **extra}}
    for action, extra in (
        ("start_monitoring", {"intervalSeconds": 30}),
        ("stop_monitoring", {}),
        ("check_trades", {}),
        ("get_insights", {}),
    )
}
_RESPONSE_EXAMPLES = {
    "start_monitoring": {
        "success": True,
        "action": "start_monitoring",
        "userId": "drift-user",
        "message": "monitoring drift-user every 30 s",
        "status": ex.STATUS,
    },
    "check_trades": {
        "success": True,
        "action": "check_trades",
        "userId": "drift-user",
        "tradesChecked": 1,
        "fillsIngested": 2,
        "fundingIngested": 0,
        "outcomesCaptured": 1,
        "outcomes": ["trd_5b1f0a7c93d2e4f6a8b0c1d2"],
        "events": [],
    },
    "get_insights": {
        "success": True,
        "action": "get_insights",
        "userId": "drift-user",
        "insights": ex.INSIGHTS,
    },
}


def status_json(status: UserStatus) -> dict[str, Any]:
    """`UserStatus.as_json()` with `lastError` reduced to what is safe to show."""
    data = status.as_json()
    error = data.get("lastError")
    if isinstance(error, str):
        name = error.split(":", 1)[0]
        data["lastError"] = error[:300] if name in _PUBLIC_ERRORS else f"{name} (details in the server log)"
    return data


async def _store_monitoring(state: ApiState, user_id: str, interval: float) -> dict[str, Any]:
    """--no-monitor: record that the user is to be monitored (a `driftloop monitor` worker does it)."""

    def store() -> None:
        now = state.container.clock.now()
        with state.uow() as uow:
            if not uow.accounts.accounts_of(user_id):
                uow.accounts.ensure(AccountRef(user_id), now)
            uow.accounts.set_monitoring(user_id, True, interval, now)
            uow.commit()

    await state.in_thread(store)
    statuses = await state.in_thread(state.loop.monitor.status, user_id)
    return status_json(statuses[0])


@router.post(
    "/api/drift/feedback",
    summary="Seed actions: start_monitoring, stop_monitoring, check_trades, get_insights",
    response_model=None,
    responses={
        200: {
            "model": FeedbackResponse,
            "description": "The action's result",
            "content": {
                "application/json": {"examples": {k: {"value": v} for k, v in _RESPONSE_EXAMPLES.items()}}
            },
        },
        **ex.problems(400, 401, 404, 413, 415, 422),
    },
)
async def feedback(
    state: State,
    body: Annotated[FeedbackRequest, Body(openapi_examples=_FEEDBACK_EXAMPLES)],
) -> JSONResponse:
    """Run one monitoring action for a user. `start_monitoring` creates the user on first use; the
    other actions answer 404 for an unknown user. Errors carry `success: false` and `error`."""
    out: dict[str, Any] = {"success": True, "action": body.action.value, "userId": body.user_id}
    try:
        await _run_action(state, body, out)
    finally:
        state.status_cache.clear()
    return JSONResponse(out)


async def _run_action(state: ApiState, body: FeedbackRequest, out: dict[str, Any]) -> None:
    user, monitor = body.user_id, state.loop.monitor
    if body.action is FeedbackAction.START_MONITORING:
        interval = body.interval_seconds or DEFAULT_INTERVAL
        if state.monitor_enabled:
            out["status"] = status_json(await monitor.start_monitoring(user, interval))
            out["message"] = f"monitoring {user} every {interval:g} s"
        else:
            out["status"] = await _store_monitoring(state, user, interval)
            out["message"] = f"{user} recorded as monitored every {interval:g} s (run by a monitor worker)"
    elif body.action is FeedbackAction.STOP_MONITORING:
        out["status"] = status_json(await monitor.stop_monitoring(user))
        out["message"] = f"monitoring of {user} stopped"
    elif body.action is FeedbackAction.CHECK_TRADES:
        result = await monitor.check_trades(user)
        out.update(
            tradesChecked=result.trades_checked,
            fillsIngested=result.fills_ingested,
            fundingIngested=result.funding_ingested,
            outcomesCaptured=len(result.outcomes),
            outcomes=list(result.outcomes),
            events=list(result.events),
        )
    else:
        out["insights"] = await state.in_thread(get_insights, state.uow(), user)


@router.get(
    "/api/drift/feedback",
    summary="Monitoring status of every user (or one)",
    response_model=None,
    responses={
        200: {
            "model": StatusResponse,
            "description": "Monitoring status",
            "content": {
                "application/json": {
                    "example": {"success": True, "count": 1, "running": 1, "users": [ex.STATUS]}
                }
            },
        },
        **ex.problems(401, 404, 422),
    },
)
async def feedback_status(
    state: State,
    user_id: Annotated[
        UserId | None, Query(alias="userId", description="Only this user (404 if unknown).")
    ] = None,
) -> JSONResponse:
    """Every user with stored monitoring state: running, interval, last check and error, open trades,
    fills ingested and outcomes captured by this process."""
    cache = state.status_cache
    users = cache.get(user_id)
    if users is None:
        async with cache.locks.hold(user_id or ""):  # one computation for concurrent misses
            users = cache.get(user_id)
            if users is None:
                generation = cache.generation
                users = [status_json(s) for s in await state.in_thread(state.loop.monitor.status, user_id)]
                cache.put(user_id, generation, users)
    return JSONResponse(
        {
            "success": True,
            "count": len(users),
            "running": sum(1 for u in users if u["running"]),
            "users": users,
        }
    )
