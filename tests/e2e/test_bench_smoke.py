"""`make bench` runs: the suite on tiny sizes (SQLite, synthetic candles) writes the JSON table.

Never asserts a time: only the shape, and that every figure measured is positive. Peers that are not
installed (they live in .venv-bench only) leave their baseline empty with "peer not installed".
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "workload",
    "case",
    "size",
    "value",
    "unit",
    "baseline",
    "baseline_value",
    "ratio",
    "target",
    "met",
    "note",
}


def test_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    command = [sys.executable, "-m", "bench", "--smoke", "--no-pg", "--only",
               "replay,full-replay,monitor,insights", "--json", str(out)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "workload" in done.stdout and "ratio" in done.stdout
    document = json.loads(out.read_text())
    assert document["smoke"] is True and not document["errors"]
    rows = document["rows"]
    assert {r["workload"].split()[0] for r in rows} == {"1", "2", "3", "4"}
    for row in rows:
        assert set(row) >= KEYS
        if row["value"] is not None:
            assert row["value"] > 0, row
        if row["baseline_value"] is not None:
            assert row["baseline_value"] > 0, row
        if row["baseline_value"] is None and row["baseline"] in (
            "vectorbt",
            "backtesting.py",
            "pandas+quantstats",
        ):
            assert "peer not installed" in row["note"], row
