"""Rich tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from driftloop.domain.model import OutcomeClass
from driftloop.domain.trade import Trade

_STYLE = {OutcomeClass.WIN: "green", OutcomeClass.LOSS: "red", OutcomeClass.BREAKEVEN: "yellow"}


def _fmt(value: Decimal | None, places: int = 2) -> str:
    return "—" if value is None else f"{value:,.{places}f}"


def print_trades(console: Console, trades: Sequence[Trade], limit: int = 20) -> None:
    """The last `limit` trades, one row each."""
    table = Table(title=f"last {min(limit, len(trades))} of {len(trades)} analyses", title_justify="left")
    for column in (
        "analysis",
        "side",
        "status",
        "entry",
        "exit",
        "reason",
        "outcome",
        "pnl $",
        "R",
        "mae%",
        "mfe%",
    ):
        table.add_column(
            column, justify="right" if column not in ("analysis", "status", "reason") else "left"
        )
    for t in trades[-limit:]:
        o = t.outcome
        style = _STYLE[o.outcome] if o else "dim"
        table.add_row(
            t.analysis.id[:18],
            t.side.value if t.side else "—",
            t.status.value,
            _fmt(t.entry_price, 3),
            _fmt(o.exit_price if o else None, 3),
            o.exit_reason.value if o else (t.reason or "")[:40],
            o.outcome.value if o else "—",
            _fmt(o.pnl_usd if o else None),
            _fmt(o.actual_rr if o else None),
            _fmt(o.mae if o else None),
            _fmt(o.mfe if o else None),
            style=style,
        )
    console.print(table)


def print_summary(console: Console, summary: dict[str, Any], title: str = "summary") -> None:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        text = _fmt(value) if isinstance(value, Decimal) else ("—" if value is None else str(value))
        table.add_row(key, text + (" %" if key == "winRate" and value is not None else ""))
    console.print(table)


def _num(value: Any, places: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:,.{places}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


_SECTIONS = ("breakdowns", "calibration", "progression", "tradesByStatus", "exitReasons")


def print_insights(console: Console, insights: dict[str, Any], *, breakdowns: bool = True) -> None:
    """The headline figures, then one table per breakdown, the calibration table and the weekly
    progression."""
    table = Table(title=f"insights — {insights.get('userId', '')}", title_justify="left", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                add(f"{prefix}.{key}" if prefix else key, inner)
            return
        table.add_row(prefix, _num(value))

    add("", {k: v for k, v in insights.items() if k not in ("userId", *_SECTIONS)})
    console.print(table)
    if not breakdowns:
        return
    for name, rows in insights.get("breakdowns", {}).items():
        if len(rows) > 1:  # a single bucket repeats the headline
            _print_breakdown(console, name, rows)
    calibration = insights.get("calibration", {})
    if calibration.get("bins"):
        _print_calibration(console, calibration)
    if insights.get("progression"):
        _print_progression(console, insights["progression"])


def _print_breakdown(console: Console, name: str, rows: dict[str, dict[str, Any]]) -> None:
    table = Table(title=name, title_justify="left")
    for column in ("bucket", "trades", "win %", "95% CI", "pnl $", "avg $", "exp R", "PF"):
        table.add_column(column, justify="left" if column == "bucket" else "right")
    for bucket, r in rows.items():
        low, high = r["winRateCI95"]
        table.add_row(
            bucket,
            str(r["count"]),
            _num(r["winRate"], 1),
            f"{low:.0f}–{high:.0f}",
            _num(r["totalPnl"], 2),
            _num(r["avgPnl"], 2),
            _num(r["expectancyR"], 2),
            _num(r["profitFactor"], 2),
        )
    console.print(table)


def _print_calibration(console: Console, calibration: dict[str, Any]) -> None:
    table = Table(
        title=f"calibration — Brier stated {_num(calibration['brierStated'])}, "
        f"calibrated {_num(calibration['brierCalibrated'])} on {calibration['calibratedTrades']} trades "
        f"(stated on those {_num(calibration['brierStatedOnCalibrated'])}), "
        f"ECE {_num(calibration['eceStated'])}",
        title_justify="left",
    )
    for column in ("stated", "trades", "mean stated", "won", "95% CI", "Brier", "mean calibrated"):
        table.add_column(column, justify="right")
    for b in calibration["bins"]:
        low, high = b["wilson95"]
        table.add_row(
            f"{b['lower']:.1f}–{b['upper']:.1f}",
            str(b["count"]),
            _num(b["meanStated"], 3),
            _num(b["observedWinRate"], 3),
            f"{low:.2f}–{high:.2f}",
            _num(b["brier"], 3),
            _num(b["meanCalibrated"], 3),
        )
    console.print(table)


def _print_progression(console: Console, weeks: list[dict[str, Any]], limit: int = 12) -> None:
    table = Table(title=f"learning progression (last {min(limit, len(weeks))} of {len(weeks)} weeks)")
    for column in ("week", "trades", "win %", "pnl $", "exp R", "Brier stated", "Brier calibrated"):
        table.add_column(column, justify="left" if column == "week" else "right")
    for w in weeks[-limit:]:
        table.add_row(
            w["week"],
            str(w["trades"]),
            _num(w["winRate"], 1),
            _num(w["pnl"], 2),
            _num(w["expectancyR"], 2),
            _num(w["brierStated"], 3),
            _num(w["brierCalibrated"], 3),
        )
    console.print(table)


def print_contexts(console: Console, stats: dict[str, Any]) -> None:
    """One row per context: trades, win rate and interval, expectancy R and interval, PnL, PF."""
    table = Table(
        title=f"contexts by {stats['level']} — {stats['trades']} closed trades", title_justify="left"
    )
    for column in ("context", "trades", "win %", "95% CI", "exp R", "95% CI R", "avg pnl $", "PF"):
        table.add_column(column, justify="left" if column == "context" else "right")
    for c in stats["contexts"]:
        low, high = c["winRateCI95"]
        r_low, r_high = c["expectancyRCI95"]
        table.add_row(
            c["context"],
            str(c["count"]),
            _num(c["winRate"], 1),
            f"[{_num(low, 0)}, {_num(high, 0)}]",
            _num(c["expectancyR"], 2),
            f"[{_num(r_low, 2)}, {_num(r_high, 2)}]",
            _num(c["avgPnlUsd"], 2),
            _num(c["profitFactor"], 2),
        )
    console.print(table)
    for c in stats["contexts"]:
        for finding in c["findings"]:
            console.print(f"{c['context']}: {finding}")
