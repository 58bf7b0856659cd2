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


def print_insights(console: Console, insights: dict[str, Any]) -> None:
    """The insights object as a two-column table (nested objects flattened)."""
    table = Table(title=f"insights — {insights.get('userId', '')}", title_justify="left", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                add(f"{prefix}.{key}" if prefix else key, inner)
            return
        if isinstance(value, float):
            text = f"{value:,.4f}".rstrip("0").rstrip(".")
        else:
            text = "—" if value is None else str(value)
        table.add_row(prefix, text)

    add("", {k: v for k, v in insights.items() if k != "userId"})
    console.print(table)
