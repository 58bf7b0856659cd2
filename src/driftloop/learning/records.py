"""The compact record the learning engine learns from, and the context hierarchy.

A `LearningRecord` is one closed trade reduced to what calibration, context
statistics and the policy need: its context (analyst, symbol, timeframe, side,
leverage bucket), the stated confidence (0–1), the result (WIN or not, R,
PnL, excursions) and when the outcome became known.

Contexts are pooled along a fixed path from the most general to the most
specific level (`LEVELS`)::

    global → analyst → (analyst, symbol) → (analyst, symbol, timeframe)
           → (…, side) → (…, side, leverage bucket)

A key is the tuple of the first `level` context fields, so `()` is the global
key and the full 5-tuple the leaf. Every record updates exactly one node per
level, so the nodes form a tree and a parent's counts are the sums of its
children's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from driftloop.domain.model import Analysis, ExitReason, OutcomeClass, Side, Timeframe, TradeStatus
from driftloop.domain.trade import Trade

ContextKey = tuple[str, ...]

LEVELS: tuple[str, ...] = ("global", "analyst", "symbol", "timeframe", "side", "leverage")
"""Names of the pooling levels; level `i` keys have `i` fields."""

DEPTH = len(LEVELS)

LEVERAGE_BUCKETS: tuple[tuple[float, str], ...] = ((1.0, "1x"), (3.0, "2-3x"), (5.0, "4-5x"), (10.0, "6-10x"))
"""Upper bounds (inclusive) of the leverage buckets; above the last one is ">10x"."""

TIMEFRAME_LENGTH: dict[str, timedelta] = {
    Timeframe.M5.value: timedelta(minutes=5),
    Timeframe.M15.value: timedelta(minutes=15),
    Timeframe.H1.value: timedelta(hours=1),
    Timeframe.H4.value: timedelta(hours=4),
    Timeframe.D1.value: timedelta(days=1),
}


def leverage_bucket(leverage: float | Decimal) -> str:
    """The bucket name of a leverage: "1x", "2-3x", "4-5x", "6-10x" or ">10x"."""
    value = float(leverage)
    for limit, name in LEVERAGE_BUCKETS:
        if value <= limit:
            return name
    return ">10x"


@dataclass(frozen=True, slots=True)
class Context:
    """Where a forecast was made; the pooling hierarchy runs over these fields in order."""

    analyst: str
    symbol: str
    timeframe: str
    side: str
    leverage_bucket: str

    @property
    def fields(self) -> tuple[str, str, str, str, str]:
        return (self.analyst, self.symbol, self.timeframe, self.side, self.leverage_bucket)

    def key(self, level: int) -> ContextKey:
        """The key of this context at `level` (0 = global … DEPTH − 1 = full context)."""
        return self.fields[:level]

    def path(self) -> tuple[ContextKey, ...]:
        """Keys from the global level down to the full context (parents first)."""
        f = self.fields
        return ((), f[:1], f[:2], f[:3], f[:4], f)

    @classmethod
    def of_analysis(cls, analysis: Analysis) -> Context | None:
        """The context of a tradeable analysis (None for HOLD, which has no side)."""
        side = analysis.side
        if side is None:
            return None
        return cls(
            analysis.analyst,
            analysis.symbol,
            analysis.timeframe.value,
            side.value,
            leverage_bucket(analysis.leverage),
        )


def parent(key: ContextKey) -> ContextKey | None:
    """The key one level up (None for the global key)."""
    return key[:-1] if key else None


def describe(key: ContextKey) -> str:
    """A readable name of a key, e.g. ``"technical SOL-PERP 1h LONG"`` or ``"all"``."""
    return " ".join(key) if key else "all"


@dataclass(frozen=True, slots=True)
class LearningRecord:
    """One closed trade as the learning engine sees it.

    `confidence` is the stated probability (analysis confidence / 100, 0–1).
    `won` is True for a WIN outcome only (BREAKEVEN and LOSS are not wins).
    `r` is the realized R-multiple (0 when the trade had no initial risk).
    `mae`/`mfe`, `stop_pct` and `target_pct` are in % of the entry fill.
    `known_at` is when the outcome became known (the close of the exit candle);
    `outcome_known_at` falls back to `closed_at` when it is not given.
    """

    closed_at: datetime
    analyst: str
    symbol: str
    timeframe: str
    side: Side
    leverage_bucket: str
    confidence: float
    won: bool
    r: float
    pnl_usd: float
    pnl_percent: float
    mae: float
    mfe: float
    exit_reason: ExitReason
    known_at: datetime | None = None
    opened_at: datetime | None = None
    leverage: float = 1.0
    stop_pct: float | None = None
    target_pct: float | None = None

    @property
    def context(self) -> Context:
        return Context(self.analyst, self.symbol, self.timeframe, self.side.value, self.leverage_bucket)

    def path(self) -> tuple[ContextKey, ...]:
        """The record's context keys from global to full (as `Context.path`, without building one)."""
        f = (self.analyst, self.symbol, self.timeframe, self.side.value, self.leverage_bucket)
        return ((), f[:1], f[:2], f[:3], f[:4], f)

    @property
    def outcome_known_at(self) -> datetime:
        return self.known_at if self.known_at is not None else self.closed_at

    @property
    def planned_rr(self) -> float | None:
        """Planned reward/risk from the entry fill: target distance / stop distance."""
        if self.stop_pct is None or self.target_pct is None or self.stop_pct <= 0:
            return None
        return self.target_pct / self.stop_pct

    @classmethod
    def from_trade(cls, trade: Trade, *, known_at: datetime | None = None) -> LearningRecord:
        """Reduce a closed trade to its learning record.

        The outcome of a trade is known at the close of its exit candle; its
        `closedAt` is that candle's open. Without an explicit `known_at`, the
        record assumes the exit candle is one bar of the analysis' timeframe
        long (`closed_at` + timeframe length): pass the exact time when the
        candle interval is known. Raises ValueError for a trade that is not
        closed.
        """
        outcome = trade.outcome
        if trade.status is not TradeStatus.CLOSED or outcome is None:
            raise ValueError(f"trade {trade.id} is not closed")
        analysis = trade.analysis
        entry = outcome.entry_price
        stop_pct = float(abs(entry - analysis.stop_loss) / entry * 100) if entry else None
        target_pct = float(abs(analysis.take_profit - entry) / entry * 100) if entry else None
        timeframe = analysis.timeframe.value
        if known_at is None:
            known_at = outcome.closed_at + TIMEFRAME_LENGTH.get(timeframe, timedelta(0))
        return cls(
            closed_at=outcome.closed_at,
            analyst=analysis.analyst,
            symbol=analysis.symbol,
            timeframe=timeframe,
            side=outcome.side,
            leverage_bucket=leverage_bucket(analysis.leverage),
            confidence=min(1.0, max(0.0, float(outcome.stated_probability))),
            won=outcome.outcome is OutcomeClass.WIN,
            r=float(outcome.actual_rr) if outcome.actual_rr is not None else 0.0,
            pnl_usd=float(outcome.pnl_usd),
            pnl_percent=float(outcome.pnl_percent),
            mae=float(outcome.mae),
            mfe=float(outcome.mfe),
            exit_reason=outcome.exit_reason,
            known_at=known_at,
            opened_at=trade.opened_at if trade.opened_at is not None else analysis.timestamp,
            leverage=float(analysis.leverage),
            stop_pct=stop_pct,
            target_pct=target_pct,
        )
