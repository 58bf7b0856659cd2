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


class _Stored:
    """Values as the store keeps them, written without the ORM types (a million rows load in
    seconds): SQLite keeps decimals as fixed 18-place text and naive UTC timestamps as text;
    PostgreSQL reads COPY text."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def dec(self, x: float) -> str:
        text_ = f"{x + 0.0:.6f}"
        return text_ + "000000000000" if self.sqlite else text_

    def decs(self, values: np.ndarray) -> list[str]:
        suffix = "000000000000" if self.sqlite else ""
        return [f"{x + 0.0:.6f}{suffix}" for x in np.asarray(values, dtype=np.float64).tolist()]

    def ts(self, at: datetime) -> str:
        return at.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else at.isoformat()

    def flag(self, value: bool) -> Any:
        return int(value) if self.sqlite else value


def stored_rows(
    account_id: str, cols: dict[str, np.ndarray], now: datetime, v: _Stored
) -> Iterator[tuple[list[tuple[Any, ...]], ...]]:
    """(analyses, trades, learning) rows as tuples in the tables' column order, in chunks; every
    column is formatted in one pass over its array."""
    n = len(cols["k"])
    recorded = v.ts(now)
    for lo in range(0, n, CHUNK):
        part = {name: values[lo : lo + CHUNK] for name, values in cols.items()}
        m = len(part["k"])
        ks = part["k"].tolist()
        analysis_ids = [f"i{k}" for k in ks]
        pks = [keys.analysis_pk(USER, "", a) for a in analysis_ids]
        trade_ids = [f"trd_bench_{k:08d}" for k in ks]
        learning_ids = [keys.learning_pk(t) for t in trade_ids]
        long = part["long"].tolist()
        closed = [T0 + timedelta(minutes=c) for c in part["closed_min"].tolist()]
        t_close = [v.ts(c) for c in closed]
        t_open = [v.ts(c - timedelta(minutes=30)) for c in closed]
        pnl_pct = part["pnl_pct"]
        outcome = np.where(pnl_pct > 0.05, "WIN", np.where(pnl_pct < -0.05, "LOSS", "BREAKEVEN")).tolist()
        p = part["confidence"] / 100
        brier = (p - (pnl_pct > 0.05)) ** 2
        symbols = [SYMBOLS[i] for i in part["symbol"].tolist()]
        markets = part["symbol"].tolist()
        timeframes = [TIMEFRAMES[i] for i in part["timeframe"].tolist()]
        stop = np.where(part["long"], 98.0, 102.0)
        target = np.where(part["long"], 104.0, 96.0)
        d = v.decs
        conf, lev, notional = d(part["confidence"]), d(part["leverage"]), d(part["notional"])
        stop_t, target_t, pnl_t, pct_t = d(stop), d(target), d(part["pnl_usd"]), d(pnl_pct)
        roe_t, rr_t, fees_t = d(pnl_pct * part["leverage"]), d(pnl_pct / 2), d(part["fees"])
        acc_t, p_t, brier_t = d(np.where(pnl_pct > 0, 0.5, 0.0)), d(p), d(brier)
        one, hundred, zero, half, mfe = v.dec(1), v.dec(100), v.dec(0), v.dec(0.5), v.dec(0.7)
        reasons = [REASONS[i] for i in part["reason"].tolist()]
        flags = [v.flag(x > 0) for x in pnl_pct.tolist()]
        a_rows = [
            (pks[j], USER, "", analysis_ids[j], t_open[j], symbols[j], timeframes[j],
             "BULLISH" if long[j] else "BEARISH", conf[j], "BUY" if long[j] else "SELL", None, stop_t[j],
             target_t[j], None, lev[j], notional[j], None, "bench", "", "{}", recorded)
            for j in range(m)
        ]  # fmt: skip
        t_rows = [
            (trade_ids[j], account_id, pks[j], "", "CLOSED", None, symbols[j], markets[j],
             "LONG" if long[j] else "SHORT", lev[j], one, hundred, notional[j], hundred, stop_t[j],
             target_t[j], target_t[j], reasons[j], outcome[j], pnl_t[j], pct_t[j], roe_t[j], rr_t[j],
             fees_t[j], zero, pnl_t[j], zero, zero, zero, half, mfe, t_open[j], t_close[j], None, "{}",
             recorded, recorded)
            for j in range(m)
        ]  # fmt: skip
        l_rows = [
            (learning_ids[j], trade_ids[j], pks[j], "COMPLETE", outcome[j], hundred, flags[j], half, acc_t[j],
             p_t[j], brier_t[j], None, None, "{}", recorded, recorded)
            for j in range(m)
        ]  # fmt: skip
        yield a_rows, t_rows, l_rows


def _write(connection: Any, table: Any, rows: list[tuple[Any, ...]]) -> None:
    names = ", ".join(f'"{c.name}"' for c in table.columns)
    if connection.dialect.name == "sqlite":
        marks = ", ".join("?" for _ in table.columns)
        connection.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)
        return
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def insert(engine: Any, start: int, n: int) -> float:
    """Trades start..start+n of the user, bulk-written (executemany on SQLite, COPY on PostgreSQL)."""
    now = datetime.now(UTC)
    started = time.perf_counter()
    cols = columns(start, n)
    account_id = keys.account_id(AccountRef(USER))
    with engine.begin() as connection:
        if start == 0:
            connection.execute(
                accounts.insert(),
                [{"id": account_id, "user_id": USER, "venue": "paper", "sub_account": 0,
                  "monitoring_active": False, "monitoring_interval_s": None, "created_at": now}],
            )  # fmt: skip
        if connection.dialect.name == "sqlite":  # setup, not measured: a large cache keeps the random-key
            connection.exec_driver_sql("PRAGMA cache_size=-1000000")  # index inserts in memory
        stored = _Stored(connection.dialect.name)
        for a_rows, t_rows, l_rows in stored_rows(account_id, cols, now, stored):
            _write(connection, analyses, a_rows)
            _write(connection, trades, t_rows)
            _write(connection, ai_learning_data, l_rows)
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
