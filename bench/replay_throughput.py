"""Replay throughput on the 5-minute SOL candles with 10,000 seeded analyses (stop, target, 30 % time limit).

Prints: candle loading, the paper engine alone (no database), and the whole `driftloop replay`
through SQLite (and PostgreSQL when DRIFTLOOP_BENCH_PG_URL is set).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from driftloop.adapters.marketdata.csv_files import read_candles
from driftloop.adapters.marketdata.signals import read_signals
from driftloop.adapters.venues.paper.engine import PaperParams, ReplayEngine

DATA = Path(
    os.environ.get("DRIFTLOOP_DATA_DIR") or Path(__file__).resolve().parents[1].parent / "shared" / "data"
)
CANDLES = DATA / "SOL_USDT_PERP_binance_5m.csv.gz"


def write_signals(path: Path, n: int, seed: int = 1) -> None:
    series = read_candles(CANDLES)
    rng = random.Random(seed)
    with path.open("w") as handle:
        for k in range(n):
            i = rng.randrange(len(series) - 10)
            price, long = float(series.open_text[i]), rng.random() < 0.5
            stop, target = rng.uniform(0.003, 0.05), rng.uniform(0.003, 0.1)
            row = {
                "id": f"a{k}", "timestamp": series.time_at(i).isoformat(), "symbol": "SOL-PERP",
                "timeframe": "5m", "prediction": "BULLISH" if long else "BEARISH",
                "confidence": rng.randint(40, 95), "recommendation": "BUY" if long else "SELL",
                "stopLoss": round(price * (1 - stop if long else 1 + stop), 3),
                "takeProfit": round(price * (1 + target if long else 1 - target), 3),
                "sizeUsd": 1000, "leverage": rng.choice([1, 2, 5, 10, 20]), "analyst": "bench",
            }  # fmt: skip
            if rng.random() < 0.3:
                row["maxHoldMinutes"] = rng.choice([60, 240, 1440])
            handle.write(json.dumps(row) + "\n")


def main() -> None:
    if not CANDLES.is_file():
        print(f"skipped: {CANDLES} not found")
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    tmp = Path(tempfile.mkdtemp())
    signals = tmp / "signals.jsonl"
    write_signals(signals, n)
    started = time.perf_counter()
    series = read_candles(CANDLES)
    load = time.perf_counter() - started
    analyses = read_signals(signals)
    engine = ReplayEngine(series, PaperParams(taker_fee_bps=Decimal(10)))
    started = time.perf_counter()
    for a in analyses:
        engine.simulate(a, a.id, 0)
    simulate = time.perf_counter() - started
    print(f"candles: {len(series):,} read in {load:.2f} s ({len(series) / load:,.0f} candles/s)")
    print(f"paper engine alone: {n:,} analyses in {simulate:.2f} s ({n / simulate:,.0f} analyses/s)")
    targets = [("sqlite", f"sqlite:///{tmp / 'bench.db'}")]
    if os.environ.get("DRIFTLOOP_BENCH_PG_URL"):
        targets.append(("postgresql", os.environ["DRIFTLOOP_BENCH_PG_URL"]))
    for name, url in targets:
        command = [sys.executable, "-m", "driftloop", "replay", "--candles", str(CANDLES), "--signals",
                   str(signals), "--db", url]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        total = time.perf_counter() - started
        print(f"driftloop replay ({name}, whole command): {n:,} analyses in {total:.2f} s "
              f"({n / total:,.0f} analyses/s, {len(series) / total:,.0f} candles/s)")  # fmt: skip


if __name__ == "__main__":
    main()
