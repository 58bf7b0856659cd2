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


def _candle_columns(path: Path, header: list[str]) -> list[int]:
    missing = [c for c in CANDLE_COLUMNS if c not in header]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", source=str(path), line=1)
    return [header.index(c) for c in CANDLE_COLUMNS]


def _bad_number(path: Path, line: int, name: str, text: str, positive: bool) -> InputError:
    need = "a positive number" if positive else "a number"
    return InputError(f"must be {need}, got {text!r}", source=str(path), line=line, field=name)


def read_candles(path: Path, symbol: str | None = None) -> CandleSeries:
    """Read and validate a candles CSV; any bad line raises `InputError` naming it.

    Prices are kept as their exact text (accounting reads them as Decimal) and as
    floats (for vectorised searches).
    """
    ts: list[int] = []
    columns: tuple[list[str], ...] = ([], [], [], [], [])  # open, high, low, close, volume
    floats: tuple[list[float], ...] = ([], [], [], [])
    names = CANDLE_COLUMNS[1:]
    with open_text(path) as handle:
        try:
            reader = csv.reader(handle)
            index = _candle_columns(path, [h.strip() for h in next(reader, [])])
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if len(row) < len(index) or len(row) <= max(index):
                    raise InputError(
                        f"expected {len(CANDLE_COLUMNS)} columns, got {len(row)}", source=str(path), line=line
                    )
                t = _timestamp(path, line, {"timestamp": row[index[0]]})
                values = []
                for k, name in enumerate(names):
                    text = row[index[k + 1]].strip()
                    try:
                        value = float(text)
                    except ValueError:
                        raise _bad_number(path, line, name, text, k < 4) from None
                    if not math.isfinite(value) or value < 0 or (k < 4 and value == 0):
                        raise _bad_number(path, line, name, text, k < 4)
                    columns[k].append(text)
                    values.append(value)
                fo, fh, fl, fc = values[:4]
                if not fl <= min(fo, fc) <= max(fo, fc) <= fh:
                    raise InputError(
                        f"inconsistent bar: low {fl} and high {fh} must bracket open {fo} and close {fc}",
                        source=str(path),
                        line=line,
                        field="high" if fh < max(fo, fc) else "low",
                    )
                if ts and t <= ts[-1]:
                    raise InputError(
                        "timestamps must be strictly increasing",
                        source=str(path),
                        line=line,
                        field="timestamp",
                    )
                ts.append(t)
                for k in range(4):
                    floats[k].append(values[k])
        except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, csv.Error, OSError) as exc:
            raise InputError(f"unreadable: {exc}", source=str(path)) from None
    if not ts:
        raise InputError("no candles in file", source=str(path))
    return CandleSeries(
        ts=np.array(ts, dtype=np.int64),
        open=np.array(floats[0], dtype=np.float64),
        high=np.array(floats[1], dtype=np.float64),
        low=np.array(floats[2], dtype=np.float64),
        open_text=columns[0],
        high_text=columns[1],
        low_text=columns[2],
        close_text=columns[3],
        volume_text=columns[4],
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
