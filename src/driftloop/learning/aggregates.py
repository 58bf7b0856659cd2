"""Insight aggregates: exact running sums per (dimension, bucket), kept beside the trades.

Insights over a million trades cannot re-read a million trades. Instead every
live trade contributes a fixed vector of sums to a handful of buckets (its
symbol, timeframe, side, leverage, stated-confidence decile, exit reason, hour
of day, ISO week of the close, status, and "all"). When a trade is saved the
store adds `contributions(after) - contributions(before)`, in the same
transaction, so the buckets always equal a rebuild from scratch, whatever the
order of saves, re-saves or crashes. `present` turns the buckets into the
insights object in time independent of the number of trades.

Sums are Python integers: counts as they are, decimals scaled by 10^18 (every
stored value has at most 18 decimal places, so the scaling is exact). Squares
are floored back to 18 places per trade, so they too are order-independent.
Floats appear only in `present`, for ratios.
"""

from __future__ import annotations

import decimal
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import chain
from typing import Any

from driftloop.learning.records import leverage_bucket
from driftloop.learning.reliability import RELIABILITY_BINS, wilson_interval

SCALE = 10**18
_QUANTUM = Decimal(1).scaleb(-18)
_EXACT = decimal.Context(prec=80, rounding=ROUND_HALF_EVEN, traps=[decimal.InvalidOperation])
MIN_TRADES_FOR_BEST = 3  # a context with fewer closed trades is not called "best"

# The fields of a bucket's sum vector: (name, decimal?). Decimal fields are scaled by SCALE.
FIELDS: tuple[tuple[str, bool], ...] = (
    ("n", False),  # trades in the bucket (every status in "status"; closed trades elsewhere)
    ("wins", False),
    ("losses", False),
    ("pnl", True),  # USD after fees and funding
    ("gross_profit", True),
    ("gross_loss", True),  # positive
    ("pnl_pct", True),  # sum of pnlPercent
    ("pnl_pct_sq", True),  # sum of pnlPercent², each floored to 18 places
    ("down_sq", True),  # sum of min(pnlPercent, 0)²
    ("r_n", False),
    ("r_sum", True),
    ("fees", True),
    ("funding_paid", True),  # positive
    ("funding_received", True),
    ("notional", True),  # entry notional
    ("slip_n", False),
    ("slip_sum", True),  # bps, entry + exit
    ("stated_sum", True),  # stated win probability, 0–1
    ("brier_sum", True),  # Brier of the stated probability
    ("cal_n", False),  # trades whose decision recorded a calibrated probability
    ("cal_sum", True),
    ("cal_brier_sum", True),
    ("cal_stated_brier_sum", True),  # stated Brier over the same trades (a like-for-like comparison)
    ("direction_n", False),
    ("accuracy_sum", True),
    ("ai_n", False),  # closed trades with an AI forecast (imported history has none)
)
FIELD_NAMES = tuple(name for name, _ in FIELDS)
DECIMAL_FIELDS = frozenset(name for name, is_decimal in FIELDS if is_decimal)
IDX = {name: i for i, name in enumerate(FIELD_NAMES)}
WIDTH = len(FIELDS)

BucketKey = tuple[str, str]  # (dimension, bucket)
Sums = list[int]

DIMENSIONS = (
    "all",
    "status",
    "symbol",
    "timeframe",
    "side",
    "leverage",
    "confidence",
    "exit",
    "hour",
    "week",
)
BREAKDOWNS = {  # insights field → dimension
    "bySymbol": "symbol",
    "byTimeframe": "timeframe",
    "bySide": "side",
    "byLeverage": "leverage",
    "byConfidence": "confidence",
    "byExitReason": "exit",
    "byHourOfDay": "hour",
}


def scaled(value: Decimal) -> int:
    """`value` rounded half-even to 18 places (as the store keeps it), as an integer of 10^-18."""
    return int(_EXACT.scaleb(_EXACT.quantize(value, _QUANTUM), 18))


def unscaled(value: int) -> Decimal:
    """The exact decimal of an integer of 10^-18."""
    return _EXACT.scaleb(Decimal(value), -18)


@dataclass(frozen=True, slots=True)
class TradeFacts:
    """What one live trade contributes, as stored (decimals scaled, see `scaled`)."""

    trade_id: str
    user_id: str
    status: str
    symbol: str
    timeframe: str
    side: str | None
    leverage: Decimal
    confidence: Decimal  # stated, 0–100
    hour: int  # UTC hour of the entry (of the analysis while there is none)
    outcome: str | None = None
    exit_reason: str | None = None
    closed_at: datetime | None = None
    pnl: int = 0
    pnl_pct: int = 0
    rr: int | None = None
    fees: int = 0
    funding: int = 0
    notional: int = 0
    slippage: int | None = None
    stated: int | None = None  # stated probability 0–1 (scaled)
    brier: int | None = None
    calibrated: int | None = None
    calibrated_brier: int | None = None
    direction_correct: bool | None = None
    accuracy: int | None = None
    forecast: bool = True  # False for imported history: no stated confidence, stop, target or timeframe

    @property
    def closed(self) -> bool:
        return self.status == "CLOSED" and self.closed_at is not None and self.outcome is not None

    @property
    def equity_key(self) -> tuple[datetime, str] | None:
        """Where the trade sits in the equity curve (None while it is not closed)."""
        return (self.closed_at, self.trade_id) if self.closed and self.closed_at is not None else None


def confidence_bucket(confidence: Decimal) -> str:
    """The stated-confidence decile of a confidence in 0–100, e.g. "0.7-0.8" (100 falls in the last)."""
    index = min(max(int(confidence // 10), 0), RELIABILITY_BINS - 1)
    return f"{index / RELIABILITY_BINS:.1f}-{(index + 1) / RELIABILITY_BINS:.1f}"


def iso_week(at: datetime) -> str:
    year, week, _ = at.isocalendar()
    return f"{year}-W{week:02d}"


def _closed_sums(f: TradeFacts) -> Sums:
    s = [0] * WIDTH
    s[IDX["n"]] = 1
    s[IDX["wins"]] = int(f.outcome == "WIN")
    s[IDX["losses"]] = int(f.outcome == "LOSS")
    s[IDX["pnl"]] = f.pnl
    s[IDX["gross_profit"]] = max(f.pnl, 0)
    s[IDX["gross_loss"]] = max(-f.pnl, 0)
    s[IDX["pnl_pct"]] = f.pnl_pct
    s[IDX["pnl_pct_sq"]] = f.pnl_pct * f.pnl_pct // SCALE
    s[IDX["down_sq"]] = f.pnl_pct * f.pnl_pct // SCALE if f.pnl_pct < 0 else 0
    if f.rr is not None:
        s[IDX["r_n"]] = 1
        s[IDX["r_sum"]] = f.rr
    s[IDX["fees"]] = f.fees
    s[IDX["funding_paid"]] = max(-f.funding, 0)
    s[IDX["funding_received"]] = max(f.funding, 0)
    s[IDX["notional"]] = f.notional
    if f.slippage is not None:
        s[IDX["slip_n"]] = 1
        s[IDX["slip_sum"]] = f.slippage
    if not f.forecast:
        return s
    s[IDX["ai_n"]] = 1
    if f.stated is not None:
        s[IDX["stated_sum"]] = f.stated
    if f.brier is not None:
        s[IDX["brier_sum"]] = f.brier
    if f.calibrated is not None and f.calibrated_brier is not None:
        s[IDX["cal_n"]] = 1
        s[IDX["cal_sum"]] = f.calibrated
        s[IDX["cal_brier_sum"]] = f.calibrated_brier
        s[IDX["cal_stated_brier_sum"]] = f.brier or 0
    if f.direction_correct is not None:
        s[IDX["direction_n"]] = int(f.direction_correct)
    if f.accuracy is not None:
        s[IDX["accuracy_sum"]] = f.accuracy
    return s


def contributions(f: TradeFacts) -> dict[BucketKey, Sums]:
    """The sums one trade adds to each of its buckets."""
    count_only = [0] * WIDTH
    count_only[IDX["n"]] = 1
    out: dict[BucketKey, Sums] = {("status", f.status): count_only}
    if not f.closed or f.closed_at is None:
        return out
    sums = _closed_sums(f)
    keys: list[BucketKey] = [
        ("all", "all"),
        ("symbol", f.symbol),
        ("side", f.side or "-"),
        ("exit", f.exit_reason or "-"),
        ("hour", f"{f.hour:02d}"),
        ("week", iso_week(f.closed_at)),
    ]
    if f.forecast:  # an imported trade's timeframe, leverage and confidence are stand-ins
        keys += [
            ("timeframe", f.timeframe),
            ("leverage", leverage_bucket(f.leverage)),
            ("confidence", confidence_bucket(f.confidence)),
        ]
    for key in keys:
        out[key] = sums
    return out


def _signed_sum(signed: Iterable[tuple[int, TradeFacts]]) -> dict[str, dict[BucketKey, Sums]]:
    """Per user: Σ sign · contributions(facts), buckets that are not all zero only.

    Adds whole vectors with `map(operator.add, …)` (C-level loops over Python integers, still exact).
    """
    groups: dict[str, dict[BucketKey, Sums]] = {}
    for sign, f in signed:
        mine = groups.setdefault(f.user_id, {})
        for key, sums in contributions(f).items():
            vector = sums if sign == 1 else [-v for v in sums]
            into = mine.get(key)
            mine[key] = vector if into is None else list(map(operator.add, into, vector))
    return {
        user: changed
        for user, buckets in groups.items()
        if (changed := {key: sums for key, sums in buckets.items() if any(sums)})
    }


def delta(before: Iterable[TradeFacts], after: Iterable[TradeFacts]) -> dict[str, dict[BucketKey, Sums]]:
    """Per user: Σ contributions(after) − Σ contributions(before), buckets that changed only."""
    return _signed_sum(chain(((-1, f) for f in before), ((1, f) for f in after)))


def aggregate(facts: Iterable[TradeFacts]) -> dict[str, dict[BucketKey, Sums]]:
    """Per user: every bucket of these trades (a rebuild from scratch; equal to `delta((), facts)`)."""
    return _signed_sum((1, f) for f in facts)


@dataclass(frozen=True, slots=True)
class Equity:
    """The user's equity curve in closing order, reduced to what drawdown needs."""

    equity: int = 0  # scaled USD
    peak: int = 0  # the running peak starts at 0
    max_drawdown: int = 0
    last_closed_at: datetime | None = None
    last_trade_id: str | None = None

    @property
    def last_key(self) -> tuple[datetime, str] | None:
        if self.last_closed_at is None or self.last_trade_id is None:
            return None
        return self.last_closed_at, self.last_trade_id

    def extend(self, closes: Iterable[tuple[tuple[datetime, str], int]]) -> Equity:
        """The state after these (key, pnl) closes, which must follow `last_key` in order."""
        equity, peak, worst, last = self.equity, self.peak, self.max_drawdown, self.last_key
        for key, pnl in closes:
            equity += pnl
            peak = max(peak, equity)
            worst = max(worst, peak - equity)
            last = key
        if last is None:
            return Equity(equity, peak, worst)
        return Equity(equity, peak, worst, last[0], last[1])


def equity_of(closes: Iterable[tuple[tuple[datetime, str], int]]) -> Equity:
    """The equity state of these closes, in (closed_at, trade id) order."""
    return Equity().extend(sorted(closes))


# ---------------------------------------------------------------- presenting


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _money(value: int) -> float:
    return value / SCALE


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 4) if whole else None


def _stats(s: Sums) -> dict[str, Any]:
    """The breakdown row of one bucket."""
    n = s[IDX["n"]]
    low, high = wilson_interval(s[IDX["wins"]], n)
    return {
        "count": n,
        "winRate": _percent(s[IDX["wins"]], n),
        "winRateCI95": [round(100 * low, 2), round(100 * high, 2)],
        "totalPnl": _money(s[IDX["pnl"]]),
        "avgPnl": _money(s[IDX["pnl"]]) / n if n else None,
        "avgPnlPercent": _money(s[IDX["pnl_pct"]]) / n if n else None,
        "expectancyR": _money(s[IDX["r_sum"]]) / s[IDX["r_n"]] if s[IDX["r_n"]] else None,
        "profitFactor": _ratio(s[IDX["gross_profit"]], s[IDX["gross_loss"]]),
    }


def sharpe_sortino(s: Sums) -> tuple[float | None, float | None]:
    """Per-trade Sharpe (mean / sample sd) and Sortino (mean / downside deviation) of pnlPercent."""
    n, total, squares, down = s[IDX["n"]], s[IDX["pnl_pct"]], s[IDX["pnl_pct_sq"]], s[IDX["down_sq"]]
    if n == 0:
        return None, None
    mean = total / SCALE / n
    sharpe = None
    if n >= 2:
        # exact integer numerator: n·Σx² − (Σx)², in units of 10^-36 (squares floored to 10^-18)
        spread = n * squares * SCALE - total * total
        variance = spread / (SCALE * SCALE) / (n * (n - 1))
        sharpe = mean / math.sqrt(variance) if variance > 0 else None
    downside = math.sqrt(down / SCALE / n)
    return sharpe, (mean / downside if downside > 0 else None)


def _best(rows: Mapping[str, Sums], score: str) -> tuple[str, float] | None:
    ranked = []
    for name, s in rows.items():
        n = s[IDX["n"]]
        if n >= MIN_TRADES_FOR_BEST:
            value = 100.0 * s[IDX["wins"]] / n if score == "winRate" else _money(s[IDX["pnl_pct"]]) / n
            ranked.append((value, n, name))
    if not ranked:
        return None
    value, _, name = max(ranked, key=lambda r: (r[0], r[1]))
    return name, value


def _calibration(rows: Mapping[str, Sums], overall: Sums) -> dict[str, Any]:
    total = overall[IDX["ai_n"]]
    bins, ece = [], 0.0
    for name in sorted(rows):
        s = rows[name]
        n = s[IDX["n"]]
        low, high = wilson_interval(s[IDX["wins"]], n)
        mean_stated = s[IDX["stated_sum"]] / SCALE / n
        observed = s[IDX["wins"]] / n
        ece += n / total * abs(observed - mean_stated)
        lower, upper = (float(x) for x in name.split("-"))
        bins.append(
            {
                "lower": lower,
                "upper": upper,
                "count": n,
                "meanStated": round(mean_stated, 6),
                "observedWinRate": round(observed, 6),
                "wilson95": [round(low, 6), round(high, 6)],
                "brier": round(s[IDX["brier_sum"]] / SCALE / n, 6),
                "calibratedTrades": s[IDX["cal_n"]],
                "meanCalibrated": round(s[IDX["cal_sum"]] / SCALE / s[IDX["cal_n"]], 6)
                if s[IDX["cal_n"]]
                else None,
            }
        )
    cal_n = overall[IDX["cal_n"]]
    return {
        "trades": total,
        "brierStated": overall[IDX["brier_sum"]] / SCALE / total if total else None,
        "eceStated": ece if total else None,
        "calibratedTrades": cal_n,
        "brierCalibrated": overall[IDX["cal_brier_sum"]] / SCALE / cal_n if cal_n else None,
        "brierStatedOnCalibrated": overall[IDX["cal_stated_brier_sum"]] / SCALE / cal_n if cal_n else None,
        "bins": bins,
    }


def _progression(rows: Mapping[str, Sums]) -> list[dict[str, Any]]:
    out, cumulative = [], 0
    for week in sorted(rows):
        s = rows[week]
        n, ai_n, cal_n = s[IDX["n"]], s[IDX["ai_n"]], s[IDX["cal_n"]]
        cumulative += n
        out.append(
            {
                "week": week,
                "trades": n,
                "cumulativeTrades": cumulative,
                "winRate": _percent(s[IDX["wins"]], n),
                "pnl": _money(s[IDX["pnl"]]),
                "expectancyR": _money(s[IDX["r_sum"]]) / s[IDX["r_n"]] if s[IDX["r_n"]] else None,
                "brierStated": s[IDX["brier_sum"]] / SCALE / ai_n if ai_n else None,
                "calibratedTrades": cal_n,
                "brierCalibrated": s[IDX["cal_brier_sum"]] / SCALE / cal_n if cal_n else None,
                "brierStatedOnCalibrated": s[IDX["cal_stated_brier_sum"]] / SCALE / cal_n if cal_n else None,
            }
        )
    return out


def present(buckets: Mapping[BucketKey, Sequence[int]], equity: Equity | None) -> dict[str, Any]:
    """The insights object from a user's buckets (see README, Insights, for each definition)."""
    by_dim: dict[str, dict[str, Sums]] = {d: {} for d in DIMENSIONS}
    for (dimension, bucket), sums in buckets.items():
        by_dim.setdefault(dimension, {})[bucket] = list(sums)
    s = by_dim["all"].get("all", [0] * WIDTH)
    status = {name: sums[IDX["n"]] for name, sums in by_dim["status"].items()}
    n, ai_n = s[IDX["n"]], s[IDX["ai_n"]]
    attempted = status.get("OPEN", 0) + status.get("CLOSED", 0) + status.get("FAILED", 0)
    losses = s[IDX["losses"]]
    stop_losses = by_dim["exit"].get("STOP_LOSS", [0] * WIDTH)[IDX["losses"]]
    best_tf = _best(by_dim["timeframe"], "winRate")
    best_lev = _best(by_dim["leverage"], "avgPnlPercent")
    sharpe, sortino = sharpe_sortino(s)
    fees, notional = s[IDX["fees"]], s[IDX["notional"]]
    paid, received = s[IDX["funding_paid"]], s[IDX["funding_received"]]
    return {
        "totalDriftTrades": n,
        "openTrades": status.get("OPEN", 0),
        "tradesByStatus": dict(sorted(status.items())),
        "winRate": _percent(s[IDX["wins"]], n),
        "avgPnL": _money(s[IDX["pnl"]]) / n if n else None,
        "avgPnLPercent": _money(s[IDX["pnl_pct"]]) / n if n else None,
        "totalPnL": _money(s[IDX["pnl"]]),
        "totalPnLExact": format(unscaled(s[IDX["pnl"]]).normalize(), "f") if n else "0",
        "avgR": _money(s[IDX["r_sum"]]) / s[IDX["r_n"]] if s[IDX["r_n"]] else None,
        "exitReasons": {name: v[IDX["n"]] for name, v in sorted(by_dim["exit"].items())},
        "bestPerformingTimeframe": {"timeframe": best_tf[0], "winRate": best_tf[1]} if best_tf else None,
        "driftSpecificInsights": {
            "platformEfficiency": _percent(status.get("OPEN", 0) + status.get("CLOSED", 0), attempted),
            "optimalLeverage": best_lev[0] if best_lev else None,
            "stopLossEffectiveness": _percent(stop_losses, losses),
            "liquidations": by_dim["exit"].get("LIQUIDATION", [0] * WIDTH)[IDX["n"]],
            "totalFeesUsd": _money(fees),
            "totalFundingUsd": _money(received - paid),
        },
        "aiAccuracy": {
            "trades": ai_n,
            "directionAccuracy": _percent(s[IDX["direction_n"]], ai_n),
            "avgAccuracyScore": _money(s[IDX["accuracy_sum"]]) / ai_n if ai_n else None,
            "brier": s[IDX["brier_sum"]] / SCALE / ai_n if ai_n else None,
        },
        "performance": {
            "profitFactor": _ratio(s[IDX["gross_profit"]], s[IDX["gross_loss"]]),
            "expectancyUsd": _money(s[IDX["pnl"]]) / n if n else None,
            "expectancyR": _money(s[IDX["r_sum"]]) / s[IDX["r_n"]] if s[IDX["r_n"]] else None,
            "maxDrawdownUsd": _money(equity.max_drawdown) if equity is not None else 0.0,
            "sharpe": sharpe,
            "sortino": sortino,
            "avgSlippageBps": _money(s[IDX["slip_sum"]]) / s[IDX["slip_n"]] if s[IDX["slip_n"]] else None,
            "fees": {
                "totalUsd": _money(fees),
                "avgPerTradeUsd": _money(fees) / n if n else None,
                "bpsOfNotional": 10_000 * fees / notional if notional else None,
            },
            "funding": {
                "paidUsd": _money(paid),
                "receivedUsd": _money(received),
                "netUsd": _money(received - paid),
            },
        },
        "breakdowns": {
            name: {bucket: _stats(v) for bucket, v in sorted(by_dim[dim].items())}
            for name, dim in BREAKDOWNS.items()
        },
        "calibration": _calibration(by_dim["confidence"], s),
        "progression": _progression(by_dim["week"]),
    }
