"""What every workload shares: result rows, the table, data files, scratch databases, timing helpers."""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DRIFTLOOP_DATA_DIR") or ROOT.parent / "shared" / "data")
SOL_5M = "SOL_USDT_PERP_binance_5m.csv.gz"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
PEER_MISSING = "peer not installed"


@dataclass
class Row:
    """One line of the table: driftloop's figure beside a baseline measured in the same run.

    `ratio` = `value` / `baseline_value` (same unit): below 1 is better for times and memory,
    above 1 is better for rates (`unit` ending in "/s").
    """

    workload: str
    case: str
    size: str
    value: float | None
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline_value:
            return None
        return self.value / self.baseline_value

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        return data


@dataclass
class Config:
    """Sizes and switches of one run (`--smoke` shrinks everything to seconds)."""

    smoke: bool = False
    only: set[str] = field(default_factory=set)
    replay_n: int = 10_000
    monitor_sizes: tuple[int, ...] = (1_000, 10_000)
    monitor_users: int = 100
    monitor_closes: int = 100
    insights_sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    latency_users: int = 20
    latency_rounds: int = 10
    api_seconds: float = 5.0
    api_concurrency: int = 32
    pg_url: str | None = DEFAULT_PG
    candles: Path | None = None  # default: the SOL 5m file of the shared data
    workdir: Path = Path("/tmp")

    def wants(self, name: str) -> bool:
        return not self.only or name in self.only


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def fmt(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    magnitude = abs(value)
    if magnitude >= 100:
        text_ = f"{value:,.0f}"
    elif magnitude >= 10:
        text_ = f"{value:.1f}"
    elif magnitude >= 0.1:
        text_ = f"{value:.2f}"
    else:
        text_ = f"{value:.3g}"
    return f"{text_} {unit}".strip()


def render(rows: list[Row]) -> str:
    """The one table `make bench` prints."""
    header = [
        "workload",
        "case",
        "size",
        "driftloop",
        "baseline",
        "baseline figure",
        "ratio",
        "target",
        "met?",
    ]
    lines = [
        [
            r.workload,
            r.case,
            r.size,
            fmt(r.value, r.unit),
            r.baseline,
            fmt(r.baseline_value, r.unit) if r.baseline_value is not None else ("—" if r.baseline else ""),
            f"{r.ratio:.2f}×" if r.ratio is not None else "",
            r.target,
            {True: "yes", False: "NO", None: ""}[r.met] + (f" ({r.note})" if r.note else ""),
        ]
        for r in rows
    ]
    widths = [
        max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)
    ]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def timed(work: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of `repeat` runs (seconds) and the last result."""
    best, result = math.inf, None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


# --- databases ---------------------------------------------------------------------------------


def pg_available(url: str | None) -> bool:
    if not url or not has_module("psycopg"):
        return False
    try:
        engine = create_engine(_psycopg(url))
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def _psycopg(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@contextlib.contextmanager
def scratch_pg(server_url: str, name: str) -> Iterator[str]:
    """A database of its own on the server of `server_url`, dropped afterwards (never `test` itself)."""
    database = f"driftloop_bench_{name}_{os.getpid()}"
    admin = create_engine(
        _psycopg(str(make_url(server_url).set(database="postgres"))), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}"'))
            connection.execute(text(f'CREATE DATABASE "{database}"'))
        yield make_url(server_url).set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def databases(config: Config, name: str) -> Iterator[list[tuple[str, str]]]:
    """(label, url) of a fresh SQLite file and, when the server answers, a scratch PostgreSQL database."""
    sqlite = config.workdir / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sqlite}{suffix}").unlink(missing_ok=True)
    targets = [("sqlite", f"sqlite:///{sqlite}")]
    with contextlib.ExitStack() as stack:
        if pg_available(config.pg_url):
            assert config.pg_url is not None
            targets.append(("postgresql", stack.enter_context(scratch_pg(config.pg_url, name))))
        yield targets


# --- processes ---------------------------------------------------------------------------------


PEAK_HOOK = (
    "import atexit, os\n"
    "def _peak():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            open(os.environ['BENCH_PEAK_FILE'], 'w').write(line.split()[1])\n"
    "atexit.register(_peak)\n"
)


def peak_rss_mb_of(code: str, args: list[str]) -> tuple[float, float]:
    """Run `python -c code args...` to completion; (its peak RSS in MB, wall seconds).

    The peak is the process's own high-water mark (VmHWM, read at exit): `ru_maxrss` would carry
    over the peak of the (large) benchmark process that started it.
    """
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".peak") as peak:
        env = {**os.environ, "BENCH_PEAK_FILE": peak.name}
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", PEAK_HOOK + code, *args], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        seconds = time.perf_counter() - started
        return int(Path(peak.name).read_text()) / 1024, seconds
