"""Synthetic analyses and their outcomes (no candles): seeded, with known true win rates.

Every trade is a bracket at entry 100 with a 2 % stop and a target at RR × 2 %;
it wins (+RR R) with the true probability of its context (optionally a
function of its stated confidence) and otherwise loses (−1 R), each side
paying `fee_r` R of costs. The outcome is known one bar after the exit candle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from driftloop.domain.model import Analysis, ExitReason, Prediction, Recommendation, Side, Timeframe
from driftloop.learning.records import LearningRecord, leverage_bucket

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ENTRY = Decimal(100)
STOP_PCT = 2.0
SIZE_USD = 1000.0
RISK_USD = SIZE_USD * STOP_PCT / 100

Pair = tuple[Analysis, LearningRecord]


@dataclass(frozen=True)
class Ctx:
    """A context of the simulation and its true win probability (a constant or a function of confidence)."""

    symbol: str
    true_p: float | Callable[[float], float]
    side: Side = Side.LONG
    leverage: int = 1
    timeframe: Timeframe = Timeframe.H1
    analyst: str = "sim"

    def p(self, confidence: float) -> float:
        return self.true_p(confidence) if callable(self.true_p) else self.true_p


def make_analysis(
    i: int,
    ctx: Ctx,
    confidence: float,
    ts: datetime,
    rr: float = 1.0,
    *,
    entry_price: Decimal | None = ENTRY,
) -> Analysis:
    sign = 1 if ctx.side is Side.LONG else -1
    stop = ENTRY * (1 - sign * Decimal(str(STOP_PCT / 100)))
    target = ENTRY * (1 + sign * Decimal(str(rr * STOP_PCT / 100)))
    return Analysis(
        id=f"a{i:06d}",
        timestamp=ts,
        symbol=ctx.symbol,
        timeframe=ctx.timeframe,
        prediction=Prediction.BULLISH if ctx.side is Side.LONG else Prediction.BEARISH,
        confidence=Decimal(str(round(100 * confidence, 2))),
        recommendation=Recommendation.BUY if ctx.side is Side.LONG else Recommendation.SELL,
        stop_loss=stop,
        take_profit=target,
        size_usd=Decimal(int(SIZE_USD)),
        entry_price=entry_price,
        leverage=Decimal(ctx.leverage),
        analyst=ctx.analyst,
    )


def make_record(ctx: Ctx, confidence: float, won: bool, closed_at: datetime, rr: float, fee_r: float, *,
                mae: float, mfe: float, opened_at: datetime) -> LearningRecord:  # fmt: skip
    r = (rr if won else -1.0) - fee_r
    pnl = r * RISK_USD
    return LearningRecord(
        closed_at=closed_at,
        analyst=ctx.analyst,
        symbol=ctx.symbol,
        timeframe=ctx.timeframe.value,
        side=ctx.side,
        leverage_bucket=leverage_bucket(ctx.leverage),
        confidence=confidence,
        won=won,
        r=r,
        pnl_usd=pnl,
        pnl_percent=pnl / SIZE_USD * 100,
        mae=mae,
        mfe=mfe,
        exit_reason=ExitReason.TAKE_PROFIT if won else ExitReason.STOP_LOSS,
        known_at=closed_at + timedelta(hours=1),
        opened_at=opened_at,
        leverage=float(ctx.leverage),
        stop_pct=STOP_PCT,
        target_pct=rr * STOP_PCT,
    )


def simulate(
    n: int,
    contexts: Sequence[Ctx],
    *,
    seed: int,
    rr: float = 1.0,
    fee_r: float = 0.0,
    confidence: Callable[[np.random.Generator], float] | None = None,
    spacing: timedelta = timedelta(hours=1),
    max_hold_bars: int = 24,
    weights: Sequence[float] | None = None,
) -> list[Pair]:
    """`n` analyses, one every `spacing`, contexts drawn at random (with `weights`)."""
    rng = np.random.default_rng(seed)
    draw_conf = confidence or (lambda g: float(g.uniform(0.5, 0.9)))
    probs = None if weights is None else np.asarray(weights, dtype=float) / np.sum(weights)
    which = rng.choice(len(contexts), size=n, p=probs)
    pairs: list[Pair] = []
    for i in range(n):
        ctx = contexts[int(which[i])]
        c = round(draw_conf(rng), 4)
        ts = T0 + i * spacing
        won = bool(rng.random() < ctx.p(c))
        hold = int(rng.integers(1, max_hold_bars + 1))
        closed = ts + hold * timedelta(hours=1)
        target_pct = rr * STOP_PCT
        mae = float(rng.uniform(0, STOP_PCT)) if won else STOP_PCT
        mfe = target_pct if won else float(rng.uniform(0, target_pct))
        rec = make_record(ctx, c, won, closed, rr, fee_r, mae=mae, mfe=mfe, opened_at=ts)
        pairs.append((make_analysis(i, ctx, c, ts, rr), rec))
    return pairs


def with_outcome(rec: LearningRecord, won: bool, rr: float = 1.0, fee_r: float = 0.0) -> LearningRecord:
    r = (rr if won else -1.0) - fee_r
    return replace(rec, won=won, r=r, pnl_usd=r * RISK_USD, pnl_percent=r * RISK_USD / SIZE_USD * 100)
