"""`python -m bench [--smoke] [--only replay,monitor,...] [--json PATH]`: run the workloads, print one
table, write the results as JSON (default bench/results.json).

Workloads: replay (engine vs vectorbt, backtesting.py, numpy floor), full-replay (through SQLite and
PostgreSQL with the learned policy), monitor (check_trades cycles), insights (get_insights vs
pandas + quantstats), latency (fill to outcome, pushed and polling), api (HTTP load), memory
(peak RSS). A peer that is not installed leaves its baseline empty with "peer not installed".
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.common import DEFAULT_PG, ROOT, Config, Row, render

WORKLOADS = ("replay", "full-replay", "monitor", "insights", "latency", "api", "memory")


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(part.replace("_", "")) for part in text.split(",") if part)


def parse(argv: list[str] | None = None) -> tuple[Config, Path]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (seconds), for the test suite")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(WORKLOADS)}")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--replay-n", type=int, default=10_000)
    parser.add_argument("--monitor-sizes", type=_sizes, default=(1_000, 10_000))
    parser.add_argument("--insights-sizes", type=_sizes, default=(10_000, 100_000, 1_000_000))
    parser.add_argument("--api-seconds", type=float, default=5.0)
    parser.add_argument("--candles", type=Path, default=None)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("DRIFTLOOP_BENCH_PG_URL", DEFAULT_PG),
        help="server URL; a scratch database is made there",
    )
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)
    only = {w.strip() for w in args.only.split(",") if w.strip()}
    unknown = only - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(sorted(unknown))}")
    config = Config(
        smoke=args.smoke,
        only=only,
        replay_n=args.replay_n,
        monitor_sizes=args.monitor_sizes,
        insights_sizes=args.insights_sizes,
        api_seconds=args.api_seconds,
        pg_url=None if args.no_pg else args.pg_url,
        candles=args.candles,
        workdir=Path(tempfile.mkdtemp(prefix="driftloop-bench-")),
    )
    if config.smoke:
        config.monitor_sizes = (200,)
        config.monitor_users = 10
        config.monitor_closes = 10
        config.insights_sizes = (2_000,)
        config.latency_users, config.latency_rounds = 2, 2
        config.api_seconds = 0.5
        config.api_concurrency = 4
    return config, args.json


def _runner(name: str) -> Callable[[Config], list[Row]]:
    module = importlib.import_module(f"bench.{name.replace('-', '_')}")
    run: Callable[[Config], list[Row]] = module.run
    return run


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("TQDM_DISABLE", "1")  # no peer progress bars on the table's terminal
    config, out = parse(argv)
    started = time.perf_counter()
    rows: list[Row] = []
    timings: dict[str, float] = {}
    errors: dict[str, str] = {}
    for name in WORKLOADS:
        if not config.wants(name):
            continue
        t = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            rows += _runner(name)(config)
        except Exception as exc:
            traceback.print_exc()
            errors[name] = f"{type(exc).__name__}: {exc}"
            rows.append(Row(name, "error", "", None, "", note=errors[name][:120]))
        timings[name] = time.perf_counter() - t
        print(f"[bench] {name} done in {timings[name]:.1f} s", file=sys.stderr, flush=True)
    total = time.perf_counter() - started
    print(render(rows))
    print(f"\nwhole suite: {total:.1f} s ({', '.join(f'{k} {v:.0f} s' for k, v in timings.items())})")
    document = {
        "generated": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "smoke": config.smoke,
        "seconds": total,
        "workload_seconds": timings,
        "errors": errors,
        "rows": [r.as_json() for r in rows],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(f"results: {out}")
    shutil.rmtree(config.workdir, ignore_errors=True)
    if errors:
        sys.exit(1)
