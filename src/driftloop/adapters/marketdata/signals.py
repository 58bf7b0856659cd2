"""Analyses from JSONL (one camelCase Analysis per line), validated with pydantic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from driftloop.adapters.marketdata.csv_files import open_text
from driftloop.domain.errors import InputError
from driftloop.domain.markets import PERP_MARKETS
from driftloop.domain.model import Analysis, Prediction, Recommendation, Timeframe

Positive = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]


class AnalysisIn(BaseModel):
    """The wire form of an Analysis (ARCHITECTURE.md Definitions)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=True)

    id: Annotated[str, Field(min_length=1, max_length=200)]
    timestamp: datetime
    symbol: str
    timeframe: Timeframe
    prediction: Prediction
    confidence: Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)]
    recommendation: Recommendation
    entry_price: Positive | None = Field(default=None, alias="entryPrice")
    stop_loss: Positive = Field(alias="stopLoss")
    take_profit: Positive = Field(alias="takeProfit")
    target_price: Positive | None = Field(default=None, alias="targetPrice")
    leverage: Annotated[Decimal, Field(gt=0, le=100, allow_inf_nan=False)] = Decimal(1)
    size_usd: Positive = Field(alias="sizeUsd")
    max_hold_minutes: Annotated[int, Field(gt=0)] | None = Field(default=None, alias="maxHoldMinutes")
    analyst: Annotated[str, Field(max_length=200)] = ""
    reasoning: Annotated[str, Field(max_length=20_000)] = ""
    raw: Any = Field(default_factory=dict)

    @field_validator("symbol")
    @classmethod
    def _known_market(cls, value: str) -> str:
        symbol = value.upper()
        if symbol not in PERP_MARKETS and f"{symbol}-PERP" in PERP_MARKETS:
            symbol = f"{symbol}-PERP"  # a bare base asset names its perp market
        if symbol not in PERP_MARKETS:
            raise ValueError(f"unknown Drift perp market {value!r} (e.g. SOL-PERP)")
        return symbol

    @field_validator("timestamp", mode="before")
    @classmethod
    def _epoch_ms(cls, value: Any) -> Any:
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
        return value

    @field_validator("timestamp")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:
            raise ValueError("timestamp out of range") from None

    def to_domain(self) -> Analysis:
        return Analysis(
            id=self.id,
            timestamp=self.timestamp,
            symbol=self.symbol,
            timeframe=self.timeframe,
            prediction=self.prediction,
            confidence=self.confidence,
            recommendation=self.recommendation,
            stop_loss=self.stop_loss,
            take_profit=self.take_profit,
            size_usd=self.size_usd,
            entry_price=self.entry_price,
            target_price=self.target_price,
            leverage=self.leverage,
            max_hold_minutes=self.max_hold_minutes,
            analyst=self.analyst,
            reasoning=self.reasoning,
            raw=self.raw,
        )


def _first_error(exc: ValidationError) -> tuple[str, str]:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "(line)"
    message = error["msg"].removeprefix("Value error, ")
    return field, message


def parse_analysis(payload: Any, *, source: str = "", line: int | None = None) -> Analysis:
    """Validate one wire Analysis; raises `InputError` naming the field."""
    if not isinstance(payload, dict):
        raise InputError("expected a JSON object", source=source, line=line)
    # AI output often spells "absent" as null: treat it so (required fields then report "missing").
    present = {key: value for key, value in payload.items() if value is not None}
    try:
        return AnalysisIn.model_validate(present).to_domain()
    except ValidationError as exc:
        field, message = _first_error(exc)
        raise InputError(message, source=source, line=line, field=field) from None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with open_text(path) as handle:
        try:
            yield from enumerate(handle, start=1)
        except UnicodeDecodeError as exc:
            raise InputError(f"unreadable: {exc}", source=str(path)) from None


def read_signals(path: Path) -> list[Analysis]:
    """Read a JSONL file of analyses; blank lines are skipped, ids must be unique."""
    analyses: list[Analysis] = []
    seen: dict[str, int] = {}
    for line, text in _lines(path):
        if not text.strip():
            continue
        try:
            payload = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg}", source=str(path), line=line) from None
        analysis = parse_analysis(payload, source=str(path), line=line)
        if analysis.id in seen:
            raise InputError(
                f"duplicate id {analysis.id!r} (first on line {seen[analysis.id]})",
                source=str(path),
                line=line,
                field="id",
            )
        seen[analysis.id] = line
        analyses.append(analysis)
    return analyses
