"""Deterministic (seeded) analyses over a candle file, and the candles themselves.

Each analysis enters at a random bar's open, long or short, with a stop 0.3-5 % and a target
0.3-10 % away, leverage 1-20, and in 30 % of them a time limit (1 h, 4 h or 1 d).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.common import DATA, SOL_5M, Config
from driftloop.adapters.marketdata.csv_files import read_candles
from driftloop.adapters.marketdata.series import CandleSeries
from driftloop.adapters.marketdata.synthetic import generate_candles, write_candles_csv

SMOKE_BARS = 3_000


def candles_file(config: Config) -> Path:
    """The candles of the run: `--candles`, a small synthetic file in smoke mode, else SOL 5m."""
    if config.candles is not None:
        return config.candles
    if config.smoke:
        path = config.workdir / "SOL_USDT_PERP_synthetic_5m.csv"
        if not path.exists():
            write_candles_csv(generate_candles(seed=11, bars=SMOKE_BARS), path)
        return path
    return DATA / SOL_5M


@dataclass(frozen=True)
class Plan:
    """The analyses as arrays (for the peers and the floor) beside their JSONL file."""

    path: Path
    entry: npt.NDArray[np.int64]  # entry bar index
    long: npt.NDArray[np.bool_]
    stop: npt.NDArray[np.float64]
    target: npt.NDArray[np.float64]
    leverage: npt.NDArray[np.float64]
    hold_minutes: npt.NDArray[np.int64]  # 0: no time limit
    stop_text: list[str]
    target_text: list[str]


def write_signals(series: CandleSeries, path: Path, n: int, seed: int = 1) -> Plan:
    rng = random.Random(seed)
    entry, long_, stop, target, lev, hold, stop_t, target_t = [], [], [], [], [], [], [], []
    with path.open("w") as handle:
        for k in range(n):
            i = rng.randrange(len(series) - 10)
            price, long = float(series.open_text[i]), rng.random() < 0.5
            s, t = rng.uniform(0.003, 0.05), rng.uniform(0.003, 0.1)
            stop_price = round(price * (1 - s if long else 1 + s), 3)
            target_price = round(price * (1 + t if long else 1 - t), 3)
            leverage = rng.choice([1, 2, 5, 10, 20])
            row = {
                "id": f"a{k}", "timestamp": series.time_at(i).isoformat(), "symbol": "SOL-PERP",
                "timeframe": "5m", "prediction": "BULLISH" if long else "BEARISH",
                "confidence": rng.randint(40, 95), "recommendation": "BUY" if long else "SELL",
                "stopLoss": stop_price, "takeProfit": target_price,
                "sizeUsd": 1000, "leverage": leverage, "analyst": "bench",
            }  # fmt: skip
            minutes = rng.choice([60, 240, 1440]) if rng.random() < 0.3 else 0
            if minutes:
                row["maxHoldMinutes"] = minutes
            handle.write(json.dumps(row) + "\n")
            entry.append(i)
            long_.append(long)
            stop.append(stop_price)
            target.append(target_price)
            lev.append(leverage)
            hold.append(minutes)
            stop_t.append(str(Decimal(repr(stop_price))))
            target_t.append(str(Decimal(repr(target_price))))
    return Plan(
        path,
        np.array(entry, dtype=np.int64),
        np.array(long_, dtype=bool),
        np.array(stop, dtype=np.float64),
        np.array(target, dtype=np.float64),
        np.array(lev, dtype=np.float64),
        np.array(hold, dtype=np.int64),
        stop_t,
        target_t,
    )


def load(config: Config, n: int, name: str = "signals") -> tuple[Path, CandleSeries, Plan]:
    path = candles_file(config)
    series = read_candles(path)
    plan = write_signals(series, config.workdir / f"{name}-{n}.jsonl", n)
    return path, series, plan
