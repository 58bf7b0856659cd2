"""Workload 4: `get_insights` over 10k / 100k / 1M stored closed trades of one user, on SQLite and
PostgreSQL, vs pandas + quantstats computing the same metrics from a dataframe of the same trades
(win rate, profit factor, expectancy, max drawdown, Sharpe, Sortino, breakdowns by symbol,
timeframe and side).

Trades are generated (seeded) as rows and bulk-inserted with SQLAlchemy Core executemany into
accounts, analyses, trades and ai_learning_data; sizes grow in place (10k, then +90k, ...). When
`services.insights` has `rebuild_insights`, the aggregates are rebuilt after each insert (its time
is reported beside); `get_insights` is then timed on its own (median of 5).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from bench.common import PEER_MISSING, Config, Row, databases, has_module, median
from driftloop.adapters.db import keys
from driftloop.adapters.db.engine import make_engine, migrate
from driftloop.adapters.db.tables import accounts, ai_learning_data, analyses, trades
from driftloop.adapters.db.uow import SqlUnitOfWork
from driftloop.domain.trade import AccountRef
from driftloop.services import insights as service

USER = "whale"
T0 = datetime(2023, 1, 1, tzinfo=UTC)
SYMBOLS = ("SOL-PERP", "BTC-PERP", "ETH-PERP", "ARB-PERP", "DOGE-PERP")
TIMEFRAMES = ("5m", "15m", "1h", "4h", "1d")
REASONS = ("TAKE_PROFIT", "STOP_LOSS", "TIME_LIMIT", "LIQUIDATION", "MANUAL")
CHUNK = 20_000
OLD_API_LIMIT = 100_000  # without aggregates, get_insights loads every trade: not run above this


def columns(start: int, n: int, seed: int = 5) -> dict[str, np.ndarray]:
    """Trades start..start+n as arrays (the same numbers feed the database and the dataframe)."""
    rng = np.random.default_rng(seed + start)
    k = np.arange(start, start + n)
    pnl_pct = np.round(rng.normal(0.05, 1.5, n), 6)
    notional = np.round(rng.uniform(100, 5000, n), 2)
    return {
        "k": k,
        "symbol": rng.integers(0, len(SYMBOLS), n),
        "timeframe": rng.integers(0, len(TIMEFRAMES), n),
        "long": rng.random(n) < 0.5,
        "leverage": rng.choice(np.array([1, 2, 5, 10, 20]), n),
        "confidence": rng.integers(40, 96, n),
        "pnl_pct": pnl_pct,
        "notional": notional,
        "pnl_usd": np.round(pnl_pct * notional / 100, 6),
        "fees": np.round(notional * 0.002, 6),
        "reason": np.where(pnl_pct > 0, 0, 1) + np.where(rng.random(n) < 0.1, 2, 0),
        "closed_min": k * 7 + 30,  # minutes after T0, in trade order
    }


def _d(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def rows(
    account_id: str, cols: dict[str, np.ndarray], now: datetime
) -> Iterator[tuple[list[dict[str, Any]], ...]]:
    """(analyses, trades, learning) rows in chunks."""
    n = len(cols["k"])
    for lo in range(0, n, CHUNK):
        a_rows, t_rows, l_rows = [], [], []
        for j in range(lo, min(n, lo + CHUNK)):
            k = int(cols["k"][j])
            analysis_id = f"i{k}"
            pk = keys.analysis_pk(USER, "", analysis_id)
            trade_id = f"trd_bench_{k:08d}"
            long = bool(cols["long"][j])
            closed = T0 + timedelta(minutes=int(cols["closed_min"][j]))
            opened = closed - timedelta(minutes=30)
            pnl_pct = float(cols["pnl_pct"][j])
            outcome = "WIN" if pnl_pct > 0.05 else "LOSS" if pnl_pct < -0.05 else "BREAKEVEN"
            confidence = Decimal(int(cols["confidence"][j]))
            y = 1 if outcome == "WIN" else 0
            p = confidence / 100
            symbol, timeframe = SYMBOLS[int(cols["symbol"][j])], TIMEFRAMES[int(cols["timeframe"][j])]
            leverage = Decimal(int(cols["leverage"][j]))
            entry = Decimal(100)
            stop, target = (Decimal(98), Decimal(104)) if long else (Decimal(102), Decimal(96))
            a_rows.append(
                {
                    "id": pk,
                    "user_id": USER,
                    "run_id": "",
                    "analysis_id": analysis_id,
                    "timestamp": opened,
                    "symbol": symbol,
                    "timeframe": timeframe,
                    "prediction": "BULLISH" if long else "BEARISH",
                    "confidence": confidence,
                    "recommendation": "BUY" if long else "SELL",
                    "entry_price": None,
                    "stop_loss": stop,
                    "take_profit": target,
                    "target_price": None,
                    "leverage": leverage,
                    "size_usd": _d(cols["notional"][j]),
                    "max_hold_minutes": None,
                    "analyst": "bench",
                    "reasoning": "",
                    "raw": {},
                    "recorded_at": now,
                }
            )
            t_rows.append(
                {
                    "id": trade_id,
                    "account_id": account_id,
                    "analysis_pk": pk,
                    "run_id": "",
                    "status": "CLOSED",
                    "reason": None,
                    "symbol": symbol,
                    "market_index": int(cols["symbol"][j]),
                    "side": "LONG" if long else "SHORT",
                    "leverage": leverage,
                    "size": Decimal(1),
                    "entry_price": entry,
                    "entry_notional": _d(cols["notional"][j]),
                    "exit_price": entry,
                    "stop_loss": stop,
                    "take_profit": target,
                    "target_price": target,
                    "exit_reason": REASONS[int(cols["reason"][j])],
                    "outcome": outcome,
                    "pnl_usd": _d(cols["pnl_usd"][j]),
                    "pnl_percent": _d(pnl_pct),
                    "roe_percent": _d(pnl_pct) * leverage,
                    "actual_rr": _d(pnl_pct / 2),
                    "fees_usd": _d(cols["fees"][j]),
                    "funding_usd": Decimal(0),
                    "price_pnl": _d(cols["pnl_usd"][j]),
                    "slippage_bps": Decimal(0),
                    "entry_slippage_bps": Decimal(0),
                    "exit_slippage_bps": Decimal(0),
                    "mae": Decimal("0.5"),
                    "mfe": Decimal("0.7"),
                    "opened_at": opened,
                    "closed_at": closed,
                    "drift_tx_id": None,
                    "learning_data": {},
                    "recorded_at": now,
                    "updated_at": now,
                }
            )
            l_rows.append(
                {
                    "id": keys.learning_pk(trade_id),
                    "trade_id": trade_id,
                    "analysis_pk": pk,
                    "status": "COMPLETE",
                    "outcome": outcome,
                    "actual_price": entry,
                    "direction_correct": pnl_pct > 0,
                    "price_accuracy": Decimal("0.5"),
                    "accuracy_score": Decimal("0.5") if pnl_pct > 0 else Decimal(0),
                    "stated_probability": p,
                    "brier": (p - y) ** 2,
                    "calibrated_probability": None,
                    "calibrated_brier": None,
                    "feedback_data": {},
                    "recorded_at": now,
                    "updated_at": now,
                }
            )
        yield a_rows, t_rows, l_rows


def insert(engine: Any, start: int, n: int) -> float:
    now = datetime.now(UTC)
    started = time.perf_counter()
    cols = columns(start, n)
    with engine.begin() as connection:
        if start == 0:
            connection.execute(
                accounts.insert(),
                [
                    {
                        "id": keys.account_id(AccountRef(USER)),
                        "user_id": USER,
                        "venue": "paper",
                        "sub_account": 0,
                        "monitoring_active": False,
                        "monitoring_interval_s": None,
                        "created_at": now,
                    }
                ],
            )
        for a_rows, t_rows, l_rows in rows(keys.account_id(AccountRef(USER)), cols, now):
            connection.execute(analyses.insert(), a_rows)
            connection.execute(trades.insert(), t_rows)
            connection.execute(ai_learning_data.insert(), l_rows)
    return time.perf_counter() - started


def pandas_baseline(n: int) -> tuple[float, dict[str, Any]]:
    """The same metrics with pandas + quantstats from a dataframe of the same trades."""
    import warnings

    import pandas as pd
    import quantstats as qs

    cols = columns(0, n) if n <= 10_000 else _concat(n)
    frame = pd.DataFrame(
        {
            "closed_at": pd.to_datetime(T0) + pd.to_timedelta(cols["closed_min"], unit="min"),
            "symbol": np.array(SYMBOLS)[cols["symbol"]],
            "timeframe": np.array(TIMEFRAMES)[cols["timeframe"]],
            "side": np.where(cols["long"], "LONG", "SHORT"),
            "pnl_usd": cols["pnl_usd"],
            "pnl_pct": cols["pnl_pct"],
        }
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        returns = pd.Series(frame["pnl_pct"].to_numpy() / 100, index=frame["closed_at"])
        wins = frame["pnl_pct"] > 0.05
        gains, losses = (
            frame.loc[frame.pnl_usd > 0, "pnl_usd"].sum(),
            -frame.loc[frame.pnl_usd < 0, "pnl_usd"].sum(),
        )
        out: dict[str, Any] = {
            "win_rate": 100 * wins.mean(),
            "profit_factor": gains / losses if losses else None,
            "expectancy": frame["pnl_usd"].mean(),
            "max_drawdown": qs.stats.max_drawdown(returns),
            "sharpe": qs.stats.sharpe(returns),
            "sortino": qs.stats.sortino(returns),
        }
        frame["win"] = wins
        for key in ("symbol", "timeframe", "side"):
            out[key] = (
                frame.groupby(key)
                .agg(
                    trades=("pnl_usd", "size"),
                    win_rate=("win", "mean"),
                    pnl=("pnl_usd", "sum"),
                    avg_pct=("pnl_pct", "mean"),
                )
                .to_dict()
            )
    return time.perf_counter() - started, out


def _concat(n: int) -> dict[str, np.ndarray]:
    parts = [columns(0, min(n, 10_000))]
    done = len(parts[0]["k"])
    for size in (100_000, 1_000_000):
        if done >= n:
            break
        parts.append(columns(done, min(n, size) - done))
        done = min(n, size)
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def run(config: Config) -> list[Row]:
    rebuild = getattr(service, "rebuild_insights", None)
    out: list[Row] = []
    baselines: dict[int, float] = {}
    peers = has_module("pandas") and has_module("quantstats")
    for size in config.insights_sizes:
        if peers:
            baselines[size] = pandas_baseline(size)[0]
    with databases(config, "insights") as targets:
        for label, url in targets:
            engine = make_engine(url)
            migrate(engine)
            have = 0
            try:
                for size in sorted(config.insights_sizes):
                    if rebuild is None and size > OLD_API_LIMIT:
                        out.append(
                            Row(
                                "4 insights",
                                f"get_insights, {label}",
                                f"{size:,} trades",
                                None,
                                "ms",
                                note=f"skipped: no aggregates (rebuild_insights) above {OLD_API_LIMIT:,}",
                            )
                        )
                        continue
                    load_s = insert(engine, have, size - have)
                    have = size
                    rebuild_s = None
                    if rebuild is not None:
                        started = time.perf_counter()
                        rebuild(SqlUnitOfWork(engine), USER)
                        rebuild_s = time.perf_counter() - started
                    times = []
                    for _ in range(5):
                        started = time.perf_counter()
                        result = service.get_insights(SqlUnitOfWork(engine), USER)
                        times.append(time.perf_counter() - started)
                    seconds = median(times)
                    base = baselines.get(size)
                    target = "< 500 ms at 1M, ≥ 10× faster than pandas"
                    met = None
                    if size >= 1_000_000:
                        met = seconds < 0.5 and (base is None or seconds * 10 <= base)
                    elif base is not None and size == max(config.insights_sizes):
                        met = seconds * 10 <= base
                    out.append(
                        Row(
                            "4 insights",
                            f"get_insights, {label}",
                            f"{size:,} trades",
                            1000 * seconds,
                            "ms",
                            "pandas+quantstats",
                            None if base is None else 1000 * base,
                            target,
                            met,
                            note="" if peers else PEER_MISSING,
                            extra={"load_s": load_s, "rebuild_s": rebuild_s, "keys": sorted(result)[:40]},
                        )
                    )
            finally:
                engine.dispose()
    return out
