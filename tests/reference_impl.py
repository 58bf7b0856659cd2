"""Independent reference implementation of `driftloop replay`, for tests only.

Written straight from the **Definitions** section of ARCHITECTURE.md (Analysis fields, Trade
outcome fields, Accuracy of the AI, Paper fills rules 0-8) plus the interpretation decisions the lead
fixed for replay, without looking at the engine under ``src/driftloop``. It is deliberately slow and
literal: pure Python, ``Decimal`` everywhere, one loop over the candles per analysis. It must never
import anything from ``driftloop``.

Interpretation decisions followed (see the replay brief):
- maintenance margin ratio ``m`` defaults to 0.03; a long with leverage 1 is never liquidated (price 0);
- when the stop and the liquidation price tie, the stop fires;
- "within one bar length": the first candle opening at or after the analysis timestamp must open no later than
  timestamp + bar length, bar length = smallest positive gap between consecutive candle open times;
- a stop or target equal to the entry fill is on the wrong side;
- funding for timestamps ``t`` with entry time < t <= closedAt (closedAt = exit candle open time);
- MAE/MFE over the entry candle through the exit candle; the exit candle's extreme on the side of the exit is
  clipped at the exit fill; for TIME_LIMIT both extremes of the exit candle are clipped at the exit fill;
- slippageBps = entry slippage + exit slippage, each signed (positive = against the trader).
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
import itertools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
TEN_THOUSAND = Decimal(10_000)

# Every numeric output field that is not null for a CLOSED trade.
NUMERIC_FIELDS = (
    "entryPrice",
    "exitPrice",
    "size",
    "leverage",
    "stopLoss",
    "takeProfit",
    "pnlUsd",
    "pnlPercent",
    "roePercent",
    "actualRR",
    "feesUsd",
    "fundingUsd",
    "slippageBps",
    "mae",
    "mfe",
    "priceAccuracy",
    "accuracyScore",
    "brier",
)


@dataclass(frozen=True)
class Candle:
    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


# ----------------------------------------------------------------------------------------------- parsing


def _read_text(path: str | Path) -> str:
    path = Path(path)
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            return fh.read().decode("utf-8")
    return path.read_text(encoding="utf-8")


_EPOCH_RE = re.compile(r"^-?\d+(\.\d+)?$")


def parse_time(value: Any) -> datetime:
    """ISO-8601 (``Z`` or offset; naive = UTC) or epoch milliseconds -> aware UTC datetime."""
    if isinstance(value, int | Decimal | float):
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(Decimal(value)))
    text = str(value).strip()
    if _EPOCH_RE.match(text):
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(Decimal(text)))
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_candles(path: str | Path) -> list[Candle]:
    rows = csv.DictReader(io.StringIO(_read_text(path)))
    candles = [
        Candle(
            time=parse_time(row["timestamp"]),
            open=Decimal(row["open"]),
            high=Decimal(row["high"]),
            low=Decimal(row["low"]),
            close=Decimal(row["close"]),
        )
        for row in rows
    ]
    candles.sort(key=lambda c: c.time)
    return candles


def base_asset(symbol: str) -> str:
    """``SOL-PERP`` -> ``SOL``; ``SOL/USDT:USDT`` -> ``SOL``."""
    return re.split(r"[-/:_ ]", symbol.strip().upper(), maxsplit=1)[0]


def load_funding(path: str | Path, symbol: str) -> list[tuple[datetime, Decimal]]:
    """Funding rows ``(t, rate)`` for the analysis' base asset (all rows when there is no symbol column)."""
    wanted = base_asset(symbol)
    out = []
    for row in csv.DictReader(io.StringIO(_read_text(path))):
        row_symbol = row.get("symbol")
        if row_symbol and base_asset(row_symbol) != wanted:
            continue
        out.append((parse_time(row["timestamp"]), Decimal(row["funding_rate"])))
    out.sort(key=lambda item: item[0])
    return out


def load_signals(path: str | Path) -> list[dict[str, Any]]:
    analyses = []
    for line in _read_text(path).splitlines():
        if line.strip():
            analyses.append(json.loads(line, parse_float=Decimal, parse_int=Decimal))
    return analyses


# ----------------------------------------------------------------------------------------------- simulation


def bar_length(candles: list[Candle]) -> timedelta:
    gaps = [b.time - a.time for a, b in itertools.pairwise(candles) if b.time > a.time]
    return min(gaps)


def _skipped(analysis: dict[str, Any], reason: str) -> dict[str, Any]:
    return {"analysisId": analysis["id"], "status": "SKIPPED", "reason": reason, "symbol": analysis["symbol"]}


def _optional_decimal(analysis: dict[str, Any], key: str) -> Decimal | None:
    value = analysis.get(key)
    return None if value is None else Decimal(value)


def simulate(
    analysis: dict[str, Any],
    candles: list[Candle],
    times: list[datetime],
    bar: timedelta,
    funding: list[tuple[datetime, Decimal]],
    fee: Decimal,
    s: Decimal,
    breakeven: Decimal,
    m: Decimal,
) -> dict[str, Any]:
    """One analysis as one independent trade (rule 8)."""
    recommendation = analysis["recommendation"]
    if recommendation == "HOLD":  # rule 0
        return _skipped(analysis, "HOLD")
    is_long = recommendation == "BUY"
    side = "LONG" if is_long else "SHORT"

    # Rule 1: entry at the open of the first candle opening at/after the timestamp, within one bar length.
    ts = parse_time(analysis["timestamp"])
    i0 = bisect.bisect_left(times, ts)
    if i0 == len(candles) or candles[i0].time > ts + bar:
        return _skipped(analysis, "no market data")
    entry_candle = candles[i0]
    entry = entry_candle.open * (ONE + s) if is_long else entry_candle.open * (ONE - s)

    stop = Decimal(analysis["stopLoss"])
    target = Decimal(analysis["takeProfit"])
    target_price = _optional_decimal(analysis, "targetPrice")
    if target_price is None:
        target_price = target
    leverage = _optional_decimal(analysis, "leverage")
    if leverage is None:
        leverage = ONE
    size_usd = Decimal(analysis["sizeUsd"])
    reference_entry = _optional_decimal(analysis, "entryPrice")

    # Wrong side of the fill (rule 1); equal counts as wrong. The analysis' entryPrice is also named the
    # reference for the wrong-side check (rule 0), so it is checked as well when given.
    for ref in [entry] + ([reference_entry] if reference_entry is not None else []):
        stop_ok = stop < ref if is_long else stop > ref
        target_ok = target > ref if is_long else target < ref
        if not stop_ok:
            return _skipped(analysis, "stop on the wrong side")
        if not target_ok:
            return _skipped(analysis, "target on the wrong side")

    size = size_usd / entry
    entry_notional = size * entry

    # Rule 4: liquidation price; a long at 1x is never liquidated.
    if is_long:
        liq = entry * (ONE - ONE / leverage) / (ONE - m)
    else:
        liq = entry * (ONE + ONE / leverage) / (ONE + m)

    max_hold = _optional_decimal(analysis, "maxHoldMinutes")
    deadline = None
    if max_hold is not None:
        deadline = entry_candle.time + timedelta(seconds=float(max_hold * 60))

    exit_index = exit_price = exit_reason = exit_reference = None
    for j in range(i0, len(candles)):
        c = candles[j]
        # Rule 3: the time limit closes at this candle's open before its triggers are checked.
        if deadline is not None and c.time >= deadline:
            exit_index, exit_reason, exit_reference = j, "TIME_LIMIT", c.open
            exit_price = c.open * (ONE - s) if is_long else c.open * (ONE + s)
            break
        if is_long:
            open_beyond_target = c.open >= target
            # The adverse trigger reached first from the open is the higher price; a tie goes to the stop.
            adverse_is_stop = stop >= liq
            adverse_price = stop if adverse_is_stop else liq
            adverse_hit = adverse_price > ZERO and c.low <= adverse_price
            target_hit = c.high >= target
        else:
            open_beyond_target = c.open <= target
            adverse_is_stop = stop <= liq
            adverse_price = stop if adverse_is_stop else liq
            adverse_hit = c.high >= adverse_price
            target_hit = c.low <= target
        if open_beyond_target or (target_hit and not adverse_hit):
            # Rule 2: target fills at the worse-for-the-market of open and target, then slippage.
            exit_index, exit_reason, exit_reference = j, "TAKE_PROFIT", target
            exit_price = max(c.open, target) * (ONE - s) if is_long else min(c.open, target) * (ONE + s)
            break
        if adverse_hit:
            exit_index = j
            gapped = min(c.open, adverse_price) if is_long else max(c.open, adverse_price)
            if adverse_is_stop:
                exit_reason, exit_reference = "STOP_LOSS", stop
                exit_price = gapped * (ONE - s) if is_long else gapped * (ONE + s)
            else:
                exit_reason, exit_reference = "LIQUIDATION", None
                exit_price = gapped  # no slippage on a liquidation
            break

    result: dict[str, Any] = {
        "analysisId": analysis["id"],
        "status": "OPEN",
        "reason": None,
        "symbol": analysis["symbol"],
        "side": side,
        "entryPrice": entry,
        "size": size,
        "leverage": leverage,
        "stopLoss": stop,
        "takeProfit": target,
        "targetPrice": target_price,
        "openedAt": iso(entry_candle.time),
    }
    for key in NUMERIC_FIELDS:
        result.setdefault(key, None)
    for key in ("exitReason", "outcome", "closedAt", "directionCorrect"):
        result[key] = None
    if exit_index is None:  # rule 7: data ends before an exit
        return result

    exit_candle = candles[exit_index]
    closed_at = exit_candle.time
    exit_notional = size * exit_price
    price_pnl = (exit_price - entry) * size if is_long else (entry - exit_price) * size
    fees = fee * entry_notional + fee * exit_notional  # rule 5

    # Rule 6: funding for entry time < t <= closedAt, price(t) = open of the candle opening at t or before.
    funding_usd = ZERO
    for t, rate in funding:
        if entry_candle.time < t <= closed_at:
            k = bisect.bisect_right(times, t) - 1
            price_t = candles[k].open
            funding_usd += -rate * size * price_t if is_long else rate * size * price_t

    pnl = price_pnl - fees + funding_usd
    pnl_percent = pnl / entry_notional * HUNDRED
    margin = entry_notional / leverage
    roe = pnl / margin * HUNDRED
    initial_risk = abs(entry - stop) * size
    actual_rr = pnl / initial_risk
    if pnl_percent > breakeven:
        outcome = "WIN"
    elif pnl_percent < -breakeven:
        outcome = "LOSS"
    else:
        outcome = "BREAKEVEN"

    # Slippage (signed, positive = against the trader), in bps of each fill's reference.
    entry_ref = reference_entry if reference_entry is not None else entry_candle.open
    if is_long:
        entry_slip = (entry - entry_ref) / entry_ref * TEN_THOUSAND
    else:
        entry_slip = (entry_ref - entry) / entry_ref * TEN_THOUSAND
    if exit_reference is None:  # liquidation
        exit_slip = ZERO
    elif is_long:  # a sell: below the reference is against the trader
        exit_slip = (exit_reference - exit_price) / exit_reference * TEN_THOUSAND
    else:
        exit_slip = (exit_price - exit_reference) / exit_reference * TEN_THOUSAND

    # MAE / MFE over the entry candle .. exit candle, the exit candle clipped on the side of the exit.
    lowest = highest = None
    for j in range(i0, exit_index + 1):
        low, high = candles[j].low, candles[j].high
        if j == exit_index:
            if exit_reason == "TIME_LIMIT":
                low, high = max(low, exit_price), min(high, exit_price)
            elif exit_reason in ("STOP_LOSS", "LIQUIDATION"):
                if is_long:
                    low = max(low, exit_price)
                else:
                    high = min(high, exit_price)
            elif is_long:  # TAKE_PROFIT
                high = min(high, exit_price)
            else:
                low = max(low, exit_price)
        lowest = low if lowest is None else min(lowest, low)
        highest = high if highest is None else max(highest, high)
    assert lowest is not None
    assert highest is not None
    if is_long:
        mae = max(ZERO, (entry - lowest) / entry * HUNDRED)
        mfe = max(ZERO, (highest - entry) / entry * HUNDRED)
    else:
        mae = max(ZERO, (highest - entry) / entry * HUNDRED)
        mfe = max(ZERO, (entry - lowest) / entry * HUNDRED)

    # Accuracy of the AI: actualPrice = exit fill, entry = entry fill.
    direction_correct = exit_price > entry if is_long else exit_price < entry
    price_accuracy = max(ZERO, ONE - abs(exit_price - target_price) / abs(target_price - entry))
    accuracy_score = price_accuracy if direction_correct else ZERO
    # Brier score of the stated confidence: p = confidence/100, y = 1 for a WIN else 0.
    y = ONE if outcome == "WIN" else ZERO
    brier = (Decimal(analysis["confidence"]) / HUNDRED - y) ** 2

    result.update(
        status="CLOSED",
        exitPrice=exit_price,
        exitReason=exit_reason,
        outcome=outcome,
        pnlUsd=pnl,
        pnlPercent=pnl_percent,
        roePercent=roe,
        actualRR=actual_rr,
        feesUsd=fees,
        fundingUsd=funding_usd,
        slippageBps=entry_slip + exit_slip,
        mae=mae,
        mfe=mfe,
        closedAt=iso(closed_at),
        directionCorrect=direction_correct,
        priceAccuracy=price_accuracy,
        accuracyScore=accuracy_score,
        brier=brier,
    )
    return result


def reference_replay(
    candles_path: str | Path,
    signals_path: str | Path,
    funding_path: str | Path | None = None,
    taker_fee_bps: Decimal | float | str = 10,
    slippage_bps: Decimal | float | str = 0,
    breakeven_pct: Decimal | float | str = "0.05",
    maintenance: Decimal | float | str = "0.03",
) -> dict[str, dict[str, Any]]:
    """Replay every analysis in ``signals_path`` over ``candles_path``; ``{analysisId: trade fields}``."""
    with localcontext() as ctx:
        ctx.prec = 60
        candles = load_candles(candles_path)
        times = [c.time for c in candles]
        bar = bar_length(candles)
        fee = Decimal(str(taker_fee_bps)) / TEN_THOUSAND
        s = Decimal(str(slippage_bps)) / TEN_THOUSAND
        breakeven = Decimal(str(breakeven_pct))
        m = Decimal(str(maintenance))
        funding_cache: dict[str, list[tuple[datetime, Decimal]]] = {}
        out: dict[str, dict[str, Any]] = {}
        for analysis in load_signals(signals_path):
            funding: list[tuple[datetime, Decimal]] = []
            if funding_path is not None:
                base = base_asset(analysis["symbol"])
                if base not in funding_cache:
                    funding_cache[base] = load_funding(funding_path, analysis["symbol"])
                funding = funding_cache[base]
            out[analysis["id"]] = simulate(analysis, candles, times, bar, funding, fee, s, breakeven, m)
        return out


def reference_summary(trades: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Counts, win rate (percent of CLOSED trades), totals and averages over CLOSED trades."""
    closed = [t for t in trades.values() if t["status"] == "CLOSED"]
    wins = sum(1 for t in closed if t["outcome"] == "WIN")
    losses = sum(1 for t in closed if t["outcome"] == "LOSS")
    total = sum((t["pnlUsd"] for t in closed), ZERO)
    return {
        "analyses": len(trades),
        "closed": len(closed),
        "open": sum(1 for t in trades.values() if t["status"] == "OPEN"),
        "skipped": sum(1 for t in trades.values() if t["status"] == "SKIPPED"),
        "wins": wins,
        "losses": losses,
        "breakeven": len(closed) - wins - losses,
        "winRate": Decimal(wins) / len(closed) * HUNDRED if closed else None,
        "totalPnlUsd": total,
        "avgPnlUsd": total / len(closed) if closed else None,
        "totalFeesUsd": sum((t["feesUsd"] for t in closed), ZERO),
        "totalFundingUsd": sum((t["fundingUsd"] for t in closed), ZERO),
        "avgR": sum((t["actualRR"] for t in closed), ZERO) / len(closed) if closed else None,
    }
