"""Reading the replay's input files: candles and funding CSV (plain or .gz)."""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TextIO

import numpy as np

from driftloop.adapters.marketdata.series import CandleSeries
from driftloop.domain.errors import InputError
from driftloop.domain.markets import PERP_MARKETS, base_asset_of

CANDLE_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


def open_text(path: Path) -> TextIO:
    """Open a text file, transparently gunzipping `.gz`."""
    try:
        if path.suffix == ".gz":
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
        return path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", source=str(path)) from None


def parse_timestamp_ms(text: str) -> int:
    """ISO-8601 (naive means UTC) or epoch milliseconds → epoch ms."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    with open_text(path) as handle:
        try:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            if missing:
                raise InputError(f"missing column(s) {', '.join(missing)}", source=str(path), line=1)
            for row in reader:
                yield reader.line_num, row
        except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, csv.Error) as exc:
            raise InputError(f"unreadable: {exc}", source=str(path)) from None


def _number(path: Path, line: int, row: dict[str, str], name: str, *, positive: bool) -> str:
    text = (row.get(name) or "").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InputError(f"not a number: {text!r}", source=str(path), line=line, field=name) from None
    if not value.is_finite() or (positive and value <= 0):
        raise InputError(f"must be a positive number, got {text!r}", source=str(path), line=line, field=name)
    return text


def _timestamp(path: Path, line: int, row: dict[str, str]) -> int:
    text = row.get("timestamp") or ""
    try:
        return parse_timestamp_ms(text)
    except (ValueError, OverflowError):
        raise InputError(
            f"not an ISO-8601 time or epoch milliseconds: {text!r}",
            source=str(path),
            line=line,
            field="timestamp",
        ) from None


def symbol_from_filename(path: Path) -> str | None:
    """`SOL_USDT_PERP_binance_5m.csv.gz` → `SOL-PERP` when the base asset is a Drift market."""
    symbol = f"{base_asset_of(path.name)}-PERP"
    return symbol if symbol in PERP_MARKETS else None


def read_candles(path: Path, symbol: str | None = None) -> CandleSeries:
    """Read and validate a candles CSV; any bad line raises `InputError` naming it."""
    ts: list[int] = []
    opens: list[str] = []
    highs: list[str] = []
    lows: list[str] = []
    closes: list[str] = []
    volumes: list[str] = []
    for line, row in _rows(path, CANDLE_COLUMNS):
        t = _timestamp(path, line, row)
        o, h, low = (_number(path, line, row, name, positive=True) for name in ("open", "high", "low"))
        c = _number(path, line, row, "close", positive=True)
        volumes.append(_number(path, line, row, "volume", positive=False))
        fo, fh, fl, fc = float(o), float(h), float(low), float(c)
        if not fl <= min(fo, fc) <= max(fo, fc) <= fh:
            raise InputError(
                f"inconsistent bar: low {low} high {h} must bracket open {o} and close {c}",
                source=str(path),
                line=line,
                field="high" if fh < max(fo, fc) else "low",
            )
        if ts and t <= ts[-1]:
            raise InputError(
                "timestamps must be strictly increasing", source=str(path), line=line, field="timestamp"
            )
        ts.append(t)
        opens.append(o)
        highs.append(h)
        lows.append(low)
        closes.append(c)
    if not ts:
        raise InputError("no candles in file", source=str(path))
    return CandleSeries(
        ts=np.array(ts, dtype=np.int64),
        open=np.array(opens, dtype=np.float64),
        high=np.array(highs, dtype=np.float64),
        low=np.array(lows, dtype=np.float64),
        open_text=opens,
        high_text=highs,
        low_text=lows,
        close_text=closes,
        volume_text=volumes,
        symbol=symbol or symbol_from_filename(path),
    )


FundingSeries = dict[str | None, list[tuple[int, Decimal]]]  # base asset (None = any) → (ts ms, rate)


def read_funding(path: Path) -> FundingSeries:
    """Read `timestamp,funding_rate[,symbol]`; rates are fractions per period."""
    series: FundingSeries = {}
    for line, row in _rows(path, ("timestamp", "funding_rate")):
        t = _timestamp(path, line, row)
        rate_text = (row.get("funding_rate") or "").strip()
        try:
            rate = Decimal(rate_text)
        except InvalidOperation:
            rate = Decimal("NaN")
        if not rate.is_finite() or math.isnan(float(rate)):
            raise InputError(
                f"not a number: {rate_text!r}", source=str(path), line=line, field="funding_rate"
            )
        symbol = row.get("symbol")
        key = base_asset_of(symbol) if symbol else None
        series.setdefault(key, []).append((t, rate))
    for points in series.values():
        points.sort(key=lambda p: p[0])
    return series


def funding_for(series: FundingSeries | None, base_asset: str) -> list[tuple[int, Decimal]]:
    """The funding points that apply to a market's base asset."""
    if not series:
        return []
    return sorted(series.get(base_asset, []) + series.get(None, []), key=lambda p: p[0])
