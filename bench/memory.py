"""Workload 7: peak RSS of the monitor holding 10,000 open trades (seeding them, quiet cycles, a
round of closes) and of `driftloop replay` on the whole candle file, each in its own process.
Baseline: the same process started with nothing to do (the interpreter and driftloop's imports)."""

from __future__ import annotations

from bench.common import Config, Row, peak_rss_mb_of
from bench.signals import load

CLI = "import sys; from driftloop.entrypoints.cli import main; sys.argv[0] = 'driftloop'; main()"


def _monitor_rss(url: str, size: int, users: int) -> float:
    code = "from bench.monitor import rss_main; rss_main()"
    return peak_rss_mb_of(code, [url, str(size), str(users)])[0]


def run(config: Config) -> list[Row]:
    size = max(config.monitor_sizes)
    users = config.monitor_users
    url = f"sqlite:///{config.workdir / 'memory-monitor.db'}"
    idle = _monitor_rss(f"sqlite:///{config.workdir / 'memory-idle.db'}", 0, users)
    held = _monitor_rss(url, size, users)
    rows = [
        Row(
            "7 memory",
            "monitor peak RSS, sqlite",
            f"{size:,} open trades",
            held,
            "MB",
            "idle process",
            idle,
            note=f"+{held - idle:.0f} MB for the trades",
        )
    ]
    n = 300 if config.smoke else config.replay_n
    candles, series, plan = load(config, n, "memory")
    args = ["replay", "--candles", str(candles), "--signals", str(plan.path), "--db",
            f"sqlite:///{config.workdir / 'memory-replay.db'}"]  # fmt: skip
    rss, seconds = peak_rss_mb_of(CLI, args)
    base, _ = peak_rss_mb_of("import driftloop.entrypoints.cli", [])
    rows.append(
        Row(
            "7 memory",
            "replay peak RSS, sqlite",
            f"{len(series):,} bars, {n:,} analyses",
            rss,
            "MB",
            "import only",
            base,
            note=f"+{rss - base:.0f} MB, {seconds:.1f} s",
        )
    )
    return rows
