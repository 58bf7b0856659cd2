"""Request models (validation, camelCase on the wire) and response models (documentation).

`TradeRequest` is the wire Analysis (`adapters.marketdata.signals.AnalysisIn`) plus `userId`,
`policy` and `subAccount`, with bounds the store needs (prices, sizes and times that fit its
columns) and no NUL characters or unpaired surrogates anywhere (PostgreSQL refuses them).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from driftloop.adapters.marketdata.signals import AnalysisIn
from driftloop.domain.errors import InputError

MAX_PRICE = Decimal(10) ** 9
MIN_PRICE = Decimal(10) ** -9
MAX_SIZE_USD = Decimal(10) ** 9
MAX_HOLD_MINUTES = 366 * 24 * 60
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
MAX_DEPTH = 32


def _printable(value: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")
    return value


UserId = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_printable)]
Price = Annotated[Decimal, Field(ge=MIN_PRICE, le=MAX_PRICE, allow_inf_nan=False)]


def check_json(value: Any, path: str = "", depth: int = 0) -> None:
    """Reject NUL characters, unpaired surrogates (keys too) and NaN/Infinity anywhere in a JSON value."""
    if depth > MAX_DEPTH:
        raise InputError(f"nested deeper than {MAX_DEPTH} levels", field=path or "(body)")
    if isinstance(value, str):
        if "\x00" in value:
            raise InputError("must not contain NUL characters", field=path or "(body)")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError("must be valid Unicode (unpaired surrogate)", field=path or "(body)") from None
    elif isinstance(value, float) and not math.isfinite(value):
        raise InputError("must be a finite number", field=path or "(body)")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json(key, path or "(body)", depth + 1)
            check_json(item, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json(item, f"{path}.{index}" if path else str(index), depth + 1)


class FeedbackAction(StrEnum):
    START_MONITORING = "start_monitoring"
    STOP_MONITORING = "stop_monitoring"
    CHECK_TRADES = "check_trades"
    GET_INSIGHTS = "get_insights"


class FeedbackRequest(BaseModel):
    """The seed's `POST /api/drift/feedback` body."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", str_strip_whitespace=True)

    action: FeedbackAction
    user_id: UserId = Field(alias="userId")
    interval_seconds: float | None = Field(
        default=None,
        alias="intervalSeconds",
        ge=0.1,
        le=86_400,
        allow_inf_nan=False,
        description="Polling safety net for start_monitoring (default 30 s; pushes wake it sooner).",
    )


class TradeRequest(AnalysisIn):
    """An Analysis (camelCase, as in ARCHITECTURE.md Definitions) for a user, with the policy to apply."""

    user_id: UserId = Field(alias="userId")
    policy: Literal["raw", "learned"] = Field(
        default="raw",
        description="`raw`: the analysis as given; `learned`: sized and gated from the user's closed trades.",
    )
    sub_account: int = Field(default=0, ge=0, le=65_535, alias="subAccount")
    entry_price: Price | None = Field(default=None, alias="entryPrice")
    stop_loss: Price = Field(alias="stopLoss")
    take_profit: Price = Field(alias="takeProfit")
    target_price: Price | None = Field(default=None, alias="targetPrice")
    size_usd: Annotated[Decimal, Field(gt=0, le=MAX_SIZE_USD, allow_inf_nan=False)] = Field(alias="sizeUsd")
    max_hold_minutes: Annotated[int, Field(gt=0, le=MAX_HOLD_MINUTES)] | None = Field(
        default=None, alias="maxHoldMinutes"
    )

    @model_validator(mode="before")
    @classmethod
    def _absent_nulls(cls, data: Any) -> Any:
        """As for files: null means absent (required fields then report "missing"); strings are clean."""
        if isinstance(data, dict):
            check_json(data)
            return {key: value for key, value in data.items() if value is not None}
        return data

    @field_validator("timestamp", mode="before")
    @classmethod
    def _epoch_ms(cls, value: Any) -> Any:
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            if not EARLIEST.timestamp() * 1000 <= value <= LATEST.timestamp() * 1000:
                raise ValueError("epoch milliseconds out of range (years 2000-2099)")
            return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
        return value

    @field_validator("timestamp")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        try:
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:  # e.g. year 1 with a positive offset
            raise ValueError("timestamp out of range (years 2000-2099)") from None
        if not EARLIEST <= value < LATEST:
            raise ValueError("timestamp out of range (years 2000-2099)")
        return value


# --- responses (documentation; the routes build plain JSON) -------------------------------------


class FieldError(BaseModel):
    field: str
    location: str
    message: str
    type: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details, with the seed's `success`/`error`."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    success: Literal[False] = False
    error: str
    errors: list[FieldError] | None = None


class UserStatusOut(BaseModel):
    user_id: str = Field(alias="userId")
    running: bool
    interval_seconds: float = Field(alias="intervalSeconds")
    last_check: str | None = Field(alias="lastCheck")
    last_error: str | None = Field(alias="lastError")
    open_trades: int = Field(alias="openTrades")
    fills_ingested: int = Field(alias="fillsIngested")
    outcomes_captured: int = Field(alias="outcomesCaptured")
    cycles: int


class FeedbackResponse(BaseModel):
    """One shape for the four actions: the fields of the action that ran are present."""

    success: Literal[True] = True
    action: FeedbackAction
    user_id: str = Field(alias="userId")
    message: str | None = None
    status: UserStatusOut | None = None
    trades_checked: int | None = Field(default=None, alias="tradesChecked")
    fills_ingested: int | None = Field(default=None, alias="fillsIngested")
    funding_ingested: int | None = Field(default=None, alias="fundingIngested")
    outcomes_captured: int | None = Field(default=None, alias="outcomesCaptured")
    outcomes: list[str] | None = Field(
        default=None, description="Ids of the trades whose outcome was captured."
    )
    insights: dict[str, Any] | None = None


class StatusResponse(BaseModel):
    success: Literal[True] = True
    count: int
    running: int
    users: list[UserStatusOut]


Number = float | int | None


class OrderOut(BaseModel):
    leg: str
    order_id: str = Field(alias="orderId")
    user_order_id: int = Field(alias="userOrderId")
    trigger_price: Number = Field(alias="triggerPrice")
    tx_id: str = Field(alias="txId")
    status: str


class TradeOut(BaseModel):
    """A trade (the replay `--json` shape plus user, account and orders); more fields may appear."""

    model_config = ConfigDict(extra="allow")

    trade_id: str = Field(alias="tradeId")
    analysis_id: str = Field(alias="analysisId")
    user_id: str = Field(alias="userId")
    sub_account: int = Field(alias="subAccount")
    status: Literal["OPEN", "CLOSED", "SKIPPED", "FAILED"]
    reason: str | None
    drift_tx_id: str | None = Field(alias="driftTxId")
    symbol: str
    side: Literal["LONG", "SHORT"] | None
    entry_price: Number = Field(alias="entryPrice")
    exit_price: Number = Field(alias="exitPrice")
    exit_reason: str | None = Field(alias="exitReason")
    outcome: Literal["WIN", "LOSS", "BREAKEVEN"] | None
    pnl_usd: Number = Field(alias="pnlUsd")
    pnl_percent: Number = Field(alias="pnlPercent")
    orders: list[OrderOut]


class Decision(BaseModel):
    model_config = ConfigDict(extra="allow")

    policy: str
    action: Literal["TAKE", "SKIP"]
    reason: str | None
    calibrated_win_prob: float | None = Field(alias="calibratedWinProb")


class TradeResponse(BaseModel):
    success: bool = Field(description="False when the venue refused the order (status FAILED; see `error`).")
    status: Literal["OPEN", "CLOSED", "SKIPPED", "FAILED"]
    analysis_id: str = Field(alias="analysisId")
    trade_id: str = Field(alias="tradeId")
    decision: Decision
    trade: TradeOut | None = Field(description="Null when the analysis was skipped.")
    monitoring: bool
    error: str | None = None


class TradeListResponse(BaseModel):
    success: Literal[True] = True
    count: int
    trades: list[TradeOut]
    next_cursor: str | None = Field(alias="nextCursor")


class TradeDetailResponse(BaseModel):
    success: Literal[True] = True
    trade: TradeOut
    analysis: dict[str, Any]
    fills: list[dict[str, Any]]
    funding: list[dict[str, Any]]
    learning: dict[str, Any] | None
    decision: dict[str, Any]


class InsightsResponse(BaseModel):
    success: Literal[True] = True
    insights: dict[str, Any]


class CalibrationBin(BaseModel):
    lower: float
    upper: float
    count: int
    mean_stated_probability: float | None = Field(alias="meanStatedProbability")
    observed_win_rate: float | None = Field(alias="observedWinRate")
    brier: float | None


class CalibrationResponse(BaseModel):
    success: Literal[True] = True
    user_id: str = Field(alias="userId")
    calibrated: bool
    method: str
    trades: int
    brier: float | None
    ece: float | None
    bins: list[CalibrationBin]
    learned: dict[str, Any]


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    venue: str
    monitor: bool
    version: str
