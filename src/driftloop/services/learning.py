"""What the learning engine knows about a user: the calibrator's report and the analyst's feedback.

Both read the user's closed live trades as `LearningRecord`s. Figures fitted
on those trades are in-sample and say so; the out-of-sample view is the
calibrated probability each decision recorded before its outcome was known,
kept in the insight aggregates.
"""

from __future__ import annotations

from typing import Any

from driftloop.domain.errors import InputError, NotFoundError
from driftloop.domain.markets import PERP_MARKETS, base_asset_of
from driftloop.domain.model import Timeframe, TradeStatus
from driftloop.learning.aggregates import present
from driftloop.learning.calibration import Calibrator
from driftloop.learning.context import learning_context
from driftloop.learning.records import LearningRecord
from driftloop.services.ports import UnitOfWork


def _records(uow: UnitOfWork, user_id: str) -> tuple[list[LearningRecord], dict[str, Any]]:
    with uow:
        if not uow.accounts.user_exists(user_id):
            raise NotFoundError(f"unknown user {user_id!r}")
        closed = uow.trades.live_trades(user_id, TradeStatus.CLOSED)
        recorded = present(*uow.insights.read(user_id))["calibration"]
    return [LearningRecord.from_trade(t) for t in closed if t.outcome is not None], recorded


def learned_calibration(uow: UnitOfWork, user_id: str) -> dict[str, Any]:
    """The calibrator fitted on the user's closed trades, and the decisions' own calibrated record.

    `inSample`: stated vs calibrated Brier/ECE and reliability bins of the
    fitted calibrator over the trades it was fitted on (optimistic by
    construction). `recorded`: the Brier of the calibrated probabilities the
    learned policy recorded at decision time, out of sample.
    """
    records, recorded = _records(uow, user_id)
    calibrator = Calibrator.from_records(records)
    return {
        "trades": len(records),
        "inSample": calibrator.report(records).as_dict(),
        "priorStrengths": calibrator.prior_strengths(),
        "recorded": {
            "calibratedTrades": recorded["calibratedTrades"],
            "brierCalibrated": recorded["brierCalibrated"],
            "brierStatedOnCalibrated": recorded["brierStatedOnCalibrated"],
        },
    }


def get_learning_context(
    uow: UnitOfWork, user_id: str, symbol: str, timeframe: str, analyst: str | None = None
) -> tuple[str, dict[str, Any]]:
    """(text, json) track record and calibration of the user's analyst(s) for one market and timeframe."""
    symbol = f"{base_asset_of(symbol)}-PERP"
    if symbol not in PERP_MARKETS:
        raise InputError(f"unknown perp market {symbol!r}", field="symbol")
    if timeframe not in {t.value for t in Timeframe}:
        choices = ", ".join(t.value for t in Timeframe)
        raise InputError(f"must be one of {choices}, got {timeframe!r}", field="timeframe")
    records, _ = _records(uow, user_id)
    return learning_context(records, symbol, timeframe, analyst=analyst)
