"""Workload 1: the paper replay engine alone vs vectorbt, backtesting.py and a numpy floor.

Every engine gets the same analyses on the same candles (fee 10 bps, slippage 0). Agreement is
counted where the peers' semantics match ours: analyses driftloop closes by stop, target or time
limit (the peers know no liquidation; trades still open at the end are left out), compared on the
exit bar, the exit price (relative 1e-9) and the exit reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.common import PEER_MISSING, Config, Row, has_module
from bench.signals import Plan, load
from driftloop.adapters.marketdata.series import CandleSeries
from driftloop.adapters.marketdata.signals import read_signals
from driftloop.adapters.venues.paper.engine import PaperParams, ReplayEngine

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
# exit reasons as small ints
OPEN, STOP, TARGET, TIME, LIQ = 0, 1, 2, 3, 4
REASON = {"STOP_LOSS": STOP, "TAKE_PROFIT": TARGET, "TIME_LIMIT": TIME, "LIQUIDATION": LIQ}
MAINTENANCE = 0.03
FEE = 0.001


@dataclass
class Exits:
    """Per analysis: exit bar (-1 open), exit price, reason code."""

    bar: Ints
    price: Floats
    reason: Ints


def limits(series: CandleSeries, plan: Plan) -> Ints:
    """The time-limit bar of each analysis (len(series) without one)."""
    deadline = series.ts[plan.entry] + plan.hold_minutes * 60_000
    found = np.searchsorted(series.ts, deadline, side="left").astype(np.int64)
    return np.where(plan.hold_minutes > 0, found, len(series))


# --- driftloop -------------------------------------------------------------------------------------


def run_engine(series: CandleSeries, plan: Plan) -> tuple[float, Exits]:
    analyses = read_signals(plan.path)
    engine = ReplayEngine(series, PaperParams(taker_fee_bps=Decimal(10)))
    started = time.perf_counter()
    trades = [engine.simulate(a, a.id, 0) for a in analyses]
    seconds = time.perf_counter() - started
    bar = np.full(len(trades), -1, dtype=np.int64)
    price = np.full(len(trades), np.nan)
    reason = np.zeros(len(trades), dtype=np.int64)
    index = {int(t): i for i, t in enumerate(series.ts)}
    for k, trade in enumerate(trades):
        if trade.outcome is not None:
            closing = trade.fills[-1]
            bar[k] = index[int(closing.ts.timestamp() * 1000)]
            price[k] = float(closing.price)
            reason[k] = REASON[trade.outcome.exit_reason.value]
    return seconds, Exits(bar, price, reason)


# --- the floor: vectorised first-touch search over all analyses at once ----------------------------


def numpy_floor(series: CandleSeries, plan: Plan) -> Exits:
    """Batched scan: every still-open analysis looks at its next `width` bars in one array operation."""
    o, h, lo = series.open, series.high, series.low
    n, m = len(series), len(plan.entry)
    entry_price = o[plan.entry]
    lev = plan.leverage
    with np.errstate(divide="ignore", invalid="ignore"):
        liq = np.where(
            plan.long,
            entry_price * (1 - 1 / lev) / (1 - MAINTENANCE),
            entry_price * (1 + 1 / lev) / (1 + MAINTENANCE),
        )
    liq = np.where(liq > 0, liq, np.nan)
    adverse = np.where(plan.long, np.fmax(plan.stop, liq), np.fmin(plan.stop, liq))
    limit = limits(series, plan)
    first = np.full(m, -1, dtype=np.int64)
    start = plan.entry.copy()
    active = np.arange(m)
    width = 32
    while active.size:
        width = max(32, min(width, 4_000_000 // active.size))
        idx = start[active, None] + np.arange(width)
        inside = idx < limit[active, None]
        idx = np.minimum(idx, n - 1)
        lows, highs = lo[idx], h[idx]
        is_long = plan.long[active, None]
        adv, tgt = adverse[active, None], plan.target[active, None]
        hit = np.where(is_long, (lows <= adv) | (highs >= tgt), (highs >= adv) | (lows <= tgt)) & inside
        found = hit.any(axis=1)
        first[active[found]] = start[active[found]] + hit.argmax(axis=1)[found]
        done = found | ~inside[:, -1]
        start[active] += width
        active = active[~done]
        width *= 4
    bar = np.where(first >= 0, first, np.where(limit < n, limit, -1))
    price = np.full(m, np.nan)
    reason = np.zeros(m, dtype=np.int64)
    timed_out = (first < 0) & (limit < n)
    price[timed_out] = o[limit[timed_out]]
    reason[timed_out] = TIME
    k = np.flatnonzero(first >= 0)
    b = first[k]
    op, hi, low = o[b], h[b], lo[b]
    is_long, stop, tgt, lq = plan.long[k], plan.stop[k], plan.target[k], liq[k]
    with np.errstate(invalid="ignore"):
        tgt_hit = np.where(is_long, hi >= tgt, low <= tgt)
        gap_tgt = tgt_hit & np.where(is_long, op >= tgt, op <= tgt)
        stop_hit = np.where(is_long, low <= stop, hi >= stop)
        liq_hit = ~np.isnan(lq) & np.where(is_long, low <= lq, hi >= lq)
        liq_first = liq_hit & (~stop_hit | np.where(is_long, lq > stop, lq < stop))
    r = np.select([gap_tgt, liq_first, stop_hit, tgt_hit], [TARGET, LIQ, STOP, TARGET], default=OPEN)
    p = np.select(
        [gap_tgt, liq_first, stop_hit, tgt_hit],
        [
            op,
            np.where(is_long, np.fmin(op, lq), np.fmax(op, lq)),
            np.where(is_long, np.fmin(op, stop), np.fmax(op, stop)),
            tgt,
        ],
    )
    price[k], reason[k] = p, r
    return Exits(bar, price, reason)


# --- peers -----------------------------------------------------------------------------------------


def _columns(plan: Plan, exits: Exits, n: int) -> Ints:
    """Pack analyses into as few columns as possible so that trades in a column never overlap
    (vectorbt holds one position per column); packed by driftloop's own exit bars plus a margin."""
    order = np.argsort(plan.entry, kind="stable")
    free: list[int] = []  # bar from which each column is free
    column = np.zeros(len(plan.entry), dtype=np.int64)
    for k in order:
        start = int(plan.entry[k])
        end = int(exits.bar[k]) if exits.bar[k] >= 0 else n
        c = next((i for i, f in enumerate(free) if f <= start), len(free))
        if c == len(free):
            free.append(0)
        free[c] = end + 2
        column[k] = c
    return column


def run_vectorbt(series: CandleSeries, plan: Plan, reference: Exits) -> tuple[float, Exits, dict[str, Any]]:
    import pandas as pd
    import vectorbt as vbt
    from vectorbt.portfolio.enums import StopEntryPrice, StopExitPrice

    n, m = len(series), len(plan.entry)
    column = _columns(plan, reference, n)
    cols = int(column.max()) + 1
    limit = limits(series, plan)
    entry_price = series.open[plan.entry]
    long_entries = np.zeros((n, cols), dtype=bool)
    short_entries = np.zeros((n, cols), dtype=bool)
    long_exits = np.zeros((n, cols), dtype=bool)
    short_exits = np.zeros((n, cols), dtype=bool)
    sl = np.full((n, cols), np.nan)
    tp = np.full((n, cols), np.nan)
    long = plan.long
    long_entries[plan.entry[long], column[long]] = True
    short_entries[plan.entry[~long], column[~long]] = True
    timed = limit < n
    long_exits[limit[timed & long], column[timed & long]] = True
    short_exits[limit[timed & ~long], column[timed & ~long]] = True
    sl[plan.entry, column] = np.abs(entry_price - plan.stop) / entry_price
    tp[plan.entry, column] = np.abs(plan.target - entry_price) / entry_price
    index = pd.to_datetime(series.ts, unit="ms", utc=True)

    def frame(values: Floats) -> pd.DataFrame:
        return pd.DataFrame(np.repeat(values[:, None], cols, axis=1), index=index)

    close_values = np.array([float(x) for x in (series.close_text or series.open_text)])
    kwargs = dict(
        close=frame(close_values),
        open=frame(series.open),
        high=frame(series.high),
        low=frame(series.low),
        price=frame(series.open),
        entries=long_entries,
        exits=long_exits,
        short_entries=short_entries,
        short_exits=short_exits,
        sl_stop=sl,
        tp_stop=tp,
        size=1000.0,
        size_type="value",
        fees=FEE,
        init_cash=1e12,
        stop_entry_price=StopEntryPrice.FillPrice,
        stop_exit_price=StopExitPrice.StopMarket,
        freq="5min",
    )
    # numba compiles on the first call: warm it up on the first bars, then time the real run
    head = {
        k: (v.iloc[:500] if isinstance(v, pd.DataFrame) else v[:500] if isinstance(v, np.ndarray) else v)
        for k, v in kwargs.items()
    }
    vbt.Portfolio.from_signals(**head).trades.records_arr  # noqa: B018
    started = time.perf_counter()
    portfolio = vbt.Portfolio.from_signals(**kwargs)
    simulated = time.perf_counter() - started
    records = portfolio.trades.records_arr
    seconds = time.perf_counter() - started
    by_start = {(int(r["col"]), int(r["entry_idx"])): r for r in records}
    bar = np.full(m, -1, dtype=np.int64)
    price = np.full(m, np.nan)
    reason = np.zeros(m, dtype=np.int64)
    for k in range(m):
        r = by_start.get((int(column[k]), int(plan.entry[k])))
        if r is None or int(r["status"]) != 1:  # not entered, or still open
            continue
        bar[k], price[k] = int(r["exit_idx"]), float(r["exit_price"])
        reason[k] = _reason_of(plan, k, int(r["exit_idx"]), float(r["exit_price"]), limit, series)
    engine = "rust" if vbt._engine.is_rust_available() else "numba"
    return seconds, Exits(bar, price, reason), {"columns": cols, "simulate_s": simulated, "engine": engine}


def _reason_of(plan: Plan, k: int, bar: int, price: float, limit: Ints, series: CandleSeries) -> int:
    """A peer's exit reason from where it exited: the time-limit bar's open, else the side of the entry."""
    if bar == limit[k] and price == series.open[bar]:
        return TIME
    entry = series.open[plan.entry[k]]
    favourable = price > entry if plan.long[k] else price < entry
    return TARGET if favourable else STOP


def run_backtesting(series: CandleSeries, plan: Plan) -> tuple[float, Exits, dict[str, Any]]:
    import warnings

    import pandas as pd
    from backtesting import Backtest, Strategy

    n, m = len(series), len(plan.entry)
    limit = limits(series, plan)
    close_values = np.array([float(x) for x in (series.close_text or series.open_text)])
    data = pd.DataFrame(
        {"Open": series.open, "High": series.high, "Low": series.low, "Close": close_values},
        index=pd.to_datetime(series.ts, unit="ms", utc=True).tz_localize(None),
    )
    # Orders sent at a bar's close fill at the next bar's open: send each analysis one bar early.
    by_bar: dict[int, list[int]] = {}
    for k in range(m):
        by_bar.setdefault(int(plan.entry[k]) - 1, []).append(k)
    closes_at: dict[int, list[int]] = {}
    for k in np.flatnonzero(limit < n):
        closes_at.setdefault(int(limit[k]) - 1, []).append(int(k))

    class Analyses(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            pass

        def next(self) -> None:
            i = len(self.data) - 1
            for k in closes_at.get(i, ()):
                for trade in self.trades:
                    if trade.tag == k:
                        trade.close()
            for k in by_bar.get(i, ()):
                if plan.long[k]:
                    self.buy(size=1, sl=plan.stop[k], tp=plan.target[k], tag=k)
                else:
                    self.sell(size=1, sl=plan.stop[k], tp=plan.target[k], tag=k)

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = Backtest(
            data,
            Analyses,
            cash=1e12,
            commission=FEE,
            hedging=True,
            exclusive_orders=False,
            finalize_trades=False,
        )
        stats = test.run()
    seconds = time.perf_counter() - started
    bar = np.full(m, -1, dtype=np.int64)
    price = np.full(m, np.nan)
    reason = np.zeros(m, dtype=np.int64)
    for row in stats._trades.itertuples():
        k = int(row.Tag)
        exit_bar = int(row.ExitBar)
        bar[k], price[k] = exit_bar, float(row.ExitPrice)
        reason[k] = _reason_of(plan, k, exit_bar, float(row.ExitPrice), limit, series)
    return seconds, Exits(bar, price, reason), {}


def agreement(ours: Exits, theirs: Exits) -> tuple[float, float, int]:
    """(% same exit reason, % same exit bar and price) over our stop/target/time-limit closes."""
    comparable = np.isin(ours.reason, (STOP, TARGET, TIME))
    total = int(comparable.sum())
    if not total:
        return 0.0, 0.0, 0
    same_reason = comparable & (ours.reason == theirs.reason)
    with np.errstate(invalid="ignore"):
        close = np.abs(ours.price - theirs.price) <= 1e-9 * np.abs(ours.price)
    same_exit = comparable & (ours.bar == theirs.bar) & close
    return 100.0 * same_reason.sum() / total, 100.0 * same_exit.sum() / total, total


def run(config: Config) -> list[Row]:
    n = 300 if config.smoke else config.replay_n
    _, series, plan = load(config, n)
    size = f"{n:,} analyses × {len(series):,} bars"
    engine_s, ours = run_engine(series, plan)
    started = time.perf_counter()
    floor = numpy_floor(series, plan)
    floor_s = time.perf_counter() - started
    rows = [
        Row(
            "1 replay engine",
            "driftloop vs numpy floor",
            size,
            engine_s,
            "s",
            "numpy floor",
            floor_s,
            note="floor agrees on " + "{:.2f} % reasons, {:.2f} % exits".format(*agreement(ours, floor)[:2]),
        ),
    ]
    peers: list[tuple[str, str, Any]] = [
        ("vectorbt", "vectorbt", lambda: run_vectorbt(series, plan, ours)),
        ("backtesting", "backtesting.py", lambda: run_backtesting(series, plan)),
    ]
    for module, label, runner in peers:
        target = "≤ 3× vectorbt" if module == "vectorbt" else "< 1× backtesting.py"
        bound = 3.0 if module == "vectorbt" else 1.0
        if not has_module(module):
            rows.append(
                Row(
                    "1 replay engine",
                    f"driftloop vs {label}",
                    size,
                    engine_s,
                    "s",
                    label,
                    None,
                    target,
                    None,
                    PEER_MISSING,
                )
            )
            continue
        seconds, exits, extra = runner()
        reasons, same, total = agreement(ours, exits)
        row = Row("1 replay engine", f"driftloop vs {label}", size, engine_s, "s", label, seconds, target)
        row.met = engine_s <= bound * seconds
        row.extra = {**extra, "agreement_reason_pct": reasons, "agreement_exit_pct": same, "compared": total}
        rows.append(row)
        rows.append(
            Row(
                "1 replay engine",
                f"agreement with {label}",
                f"{total:,} comparable",
                reasons,
                "%",
                note=f"same exit bar+price {same:.1f} %",
            )
        )
    return rows
