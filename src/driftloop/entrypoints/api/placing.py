"""Placing a trade from the API: checks that must change nothing, then `TradingService.place_trade`.

Checked before anything is stored (422, nothing written): the policy exists, and the stop-loss and
take-profit lie on either side of the analysis' `entryPrice` and of the venue's current price
(the API follows the issue here: a stop on the wrong side is bad input, while the CLI's replay
records it as SKIPPED per the Conventions). A HOLD, a policy skip, a market already held on the
sub-account or missing market data are decisions, not errors: 200, status SKIPPED, with the reason.

An analysis id the user already sent returns the stored trade (placing is idempotent on
(user, analysis id)); the same id with different content is a 409.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from driftloop.adapters.db.types import stored_decimal
from driftloop.domain.markets import market_index
from driftloop.domain.model import Analysis, Side, TradeStatus
from driftloop.domain.trade import Trade
from driftloop.entrypoints.api.present import decision_json, trade_out
from driftloop.entrypoints.api.problems import ApiError
from driftloop.entrypoints.api.schemas import TradeRequest
from driftloop.entrypoints.api.state import ApiState
from driftloop.services.policy import Policy

_COMPARED = (
    "timestamp",
    "symbol",
    "timeframe",
    "prediction",
    "confidence",
    "recommendation",
    "entry_price",
    "stop_loss",
    "take_profit",
    "target_price",
    "leverage",
    "size_usd",
    "max_hold_minutes",
)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return stored_decimal(a) == stored_decimal(b)
    return bool(a == b)


def same_analysis(stored: Analysis, sent: Analysis) -> bool:
    """Whether `sent` is the analysis stored under its id (as the store keeps numbers)."""
    return all(_same(getattr(stored, name), getattr(sent, name)) for name in _COMPARED)


def trade_response(trade: Trade, *, replayed: bool = False) -> dict[str, Any]:
    """The response of `POST /api/drift/trade` for a stored trade."""
    status = trade.status
    out: dict[str, Any] = {
        "success": status is not TradeStatus.FAILED,
        "status": status.value,
        "analysisId": trade.analysis.id,
        "tradeId": trade.id,
        "decision": decision_json(trade),
        "trade": None if status is TradeStatus.SKIPPED else trade_out(trade),
        "monitoring": status is TradeStatus.OPEN,
        "replayed": replayed,
    }
    if status is TradeStatus.SKIPPED:
        out["reason"] = trade.reason
    if status is TradeStatus.FAILED:
        out["error"] = trade.reason or "the venue refused the order"
    return out


def _wrong_side(side: Side, stop: Decimal, target: Decimal, price: Decimal, label: str) -> ApiError | None:
    long = side is Side.LONG
    stop_bad = stop >= price if long else stop <= price
    target_bad = target <= price if long else target >= price
    if not (stop_bad or target_bad):
        return None
    field = "stopLoss" if stop_bad else "takeProfit"
    value = stop if stop_bad else target
    where = ("below" if long else "above") if stop_bad else ("above" if long else "below")
    kind = "BUY (long)" if long else "SELL (short)"
    message = f"{field} {value} must be {where} the {label} {price} for a {kind}"
    return ApiError(
        422,
        message,
        slug="wrong-side",
        errors=[{"field": field, "location": "body", "message": message, "type": "wrong_side"}],
    )


async def check_sides(state: ApiState, analysis: Analysis) -> None:
    """422 when the stop or the target is on the wrong side of the entry price or the current price."""
    side = analysis.side
    if side is None:
        return  # HOLD: skipped with the reason by the trading service
    references: list[tuple[str, Decimal]] = []
    if analysis.entry_price is not None:
        references.append(("entryPrice", analysis.entry_price))
    mark = await state.loop.venue.mark_price(market_index(analysis.symbol))
    if mark is not None:
        references.append(("current price", mark))
    if not references:  # no reference at all: the order of stop and target must still fit the side
        low, high = (
            (analysis.stop_loss, analysis.take_profit)
            if side is Side.LONG
            else (analysis.take_profit, analysis.stop_loss)
        )
        if low < high:
            return
        references.append(("takeProfit", analysis.take_profit))
    for label, price in references:
        problem = _wrong_side(side, analysis.stop_loss, analysis.take_profit, price, label)
        if problem is not None:
            raise problem


def resolve_policy(state: ApiState, name: str) -> Policy | str:
    """A policy configured on the app, or `learned`: built by the trading service from the user's record."""
    policy = state.policies.get(name)
    if policy is not None:
        return policy
    if name == "learned":
        return "learned"
    message = f"policy {name!r} is not available; use 'raw' or 'learned'"
    raise ApiError(
        422,
        message,
        slug="policy-unavailable",
        errors=[{"field": "policy", "location": "body", "message": message, "type": "unavailable"}],
    )


async def place(state: ApiState, request: TradeRequest) -> tuple[int, dict[str, Any]]:
    """Place (or find) the trade of one analysis; returns the status code and the response body."""
    analysis = request.to_domain()
    policy = resolve_policy(state, request.policy)
    user = request.user_id
    async with state.analysis_locks.hold(f"{user}\x1f{analysis.id}"):
        # the sides are checked only for a new analysis: a stored one is answered as it was stored
        trade, new = await state.trading.place_or_find(
            user,
            analysis,
            venue=state.loop.venue.name,
            sub_account=request.sub_account,
            policy=policy,
            check=lambda sent: check_sides(state, sent),
        )
    if not new:
        if not same_analysis(trade.analysis, analysis) or trade.account.sub_account != request.sub_account:
            raise ApiError(
                409,
                f"analysis id {analysis.id!r} was already used for another analysis of {user}",
                slug="analysis-conflict",
                errors=[{"field": "id", "location": "body", "message": "already used", "type": "conflict"}],
            )
        return 200, trade_response(trade, replayed=True)
    state.metrics.trades.labels(trade.status.value).inc()
    return 200, trade_response(trade)
