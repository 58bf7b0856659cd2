"""Workload 2: the whole `driftloop replay --policy learned` command through SQLite and PostgreSQL
(reading the candles, deciding each analysis from the outcomes known before it, simulating,
storing the run). Baseline: the paper engine alone on the same analyses, in-process."""

from __future__ import annotations

import subprocess
import sys
import time
from decimal import Decimal

from bench.common import Config, Row, databases
from bench.signals import load
from driftloop.adapters.marketdata.signals import read_signals
from driftloop.adapters.venues.paper.engine import PaperParams, ReplayEngine

TARGET_S = 30.0


def run(config: Config) -> list[Row]:
    n = 300 if config.smoke else config.replay_n
    candles, series, plan = load(config, n, "full-replay")
    analyses = read_signals(plan.path)
    engine = ReplayEngine(series, PaperParams(taker_fee_bps=Decimal(10)))
    started = time.perf_counter()
    for a in analyses:
        engine.simulate(a, a.id, 0)
    alone = time.perf_counter() - started
    rows = []
    days = (int(series.ts[-1]) - int(series.ts[0])) / 86_400_000
    with databases(config, "full_replay") as targets:
        for label, url in targets:
            command = [
                sys.executable,
                "-m",
                "driftloop",
                "replay",
                "--candles",
                str(candles),
                "--signals",
                str(plan.path),
                "--db",
                url,
                "--policy",
                "learned",
                "--json",
                str(config.workdir / "out.json"),
            ]
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            seconds = time.perf_counter() - started
            rows.append(
                Row(
                    "2 full replay",
                    f"--policy learned, {label}",
                    f"{n:,} analyses × {days:.0f} days",
                    seconds,
                    "s",
                    "engine alone",
                    alone,
                    f"< {TARGET_S:.0f} s",
                    seconds < TARGET_S,
                    note=f"{n / seconds:,.0f} analyses/s",
                    extra={"analyses_per_s": n / seconds},
                )
            )
    return rows
