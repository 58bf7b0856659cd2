"""Walk-forward learning on real candles with analysts of known, held-back skill.

An oracle (this test, not driftloop) looks ahead in the real SOL 5-minute candles to
see which side of a symmetric bracket (stop and target 1.5 % away) wins first, under
the paper venue's rules (a candle that touches both levels counts as a stop for
either side; such entries are left out). A "skilled" analyst picks the winning side
with probability 0.62, a "noise" analyst with 0.50; both state uninformative
confidences. `driftloop replay --policy learned` must recover each analyst's true
rate in its calibrated probabilities, beat `raw` where an edge exists, and claim
nothing on coin flips.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from datadir import SKIP_REASON, data_file, has_data
from driftloop.entrypoints.cli import app

SOL_5M = "SOL_USDT_PERP_binance_5m.csv.gz"
DISTANCE = 0.015
HORIZON = 3_000  # bars an entry may wait for one of its levels (~10 days)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not has_data(SOL_5M), reason=SKIP_REASON)]


def load(path: Path) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    with gzip.open(path, "rt") as f:
        header = f.readline().strip().split(",")
        rows = [line.strip().split(",") for line in f if line.strip()]
    col = {name: i for i, name in enumerate(header)}
    times = [r[col["timestamp"]] for r in rows]
    arr = np.array([[float(r[col[k]]) for k in ("open", "high", "low")] for r in rows])
    return times, arr[:, 0], arr[:, 1], arr[:, 2]


def winner(i: int, opens: np.ndarray, highs: np.ndarray, lows: np.ndarray) -> str | None:
    """LONG or SHORT: whose target the price reaches first from bar i's open; None when unclear."""
    entry = opens[i]
    up, down = entry * (1 + DISTANCE), entry * (1 - DISTANCE)
    hi, lo = highs[i : i + HORIZON] >= up, lows[i : i + HORIZON] <= down
    first_up = int(np.argmax(hi)) if hi.any() else None
    first_down = int(np.argmax(lo)) if lo.any() else None
    if first_up is None and first_down is None:
        return None
    if first_up is not None and (first_down is None or first_up < first_down):
        return "LONG"
    if first_down is not None and (first_up is None or first_down < first_up):
        return "SHORT"
    return None  # both in one candle


def signals(skills: dict[str, float], count: int, seed: int) -> list[dict[str, Any]]:
    times, opens, highs, lows = load(data_file(SOL_5M))
    rng = random.Random(seed)
    bars = sorted(rng.sample(range(100, len(opens) - HORIZON), count))
    rows = []
    for n, i in enumerate(bars):
        right = winner(i, opens, highs, lows)
        if right is None:
            continue
        analyst = list(skills)[n % len(skills)]
        side = right if rng.random() < skills[analyst] else ("SHORT" if right == "LONG" else "LONG")
        entry = opens[i]
        sign = 1 if side == "LONG" else -1
        rows.append(
            {
                "id": f"{analyst}-{n}",
                "timestamp": times[i],
                "symbol": "SOL-PERP",
                "timeframe": "5m",
                "prediction": "BULLISH" if side == "LONG" else "BEARISH",
                "confidence": rng.randint(55, 85),
                "recommendation": "BUY" if side == "LONG" else "SELL",
                "entryPrice": round(entry, 4),
                "stopLoss": round(entry * (1 - sign * DISTANCE), 4),
                "takeProfit": round(entry * (1 + sign * DISTANCE), 4),
                "sizeUsd": 1000,
                "leverage": 2,
                "analyst": analyst,
            }
        )
    return rows


def replay(tmp: Path, rows: list[dict[str, Any]], *extra: str) -> dict[str, Any]:
    path = tmp / "signals.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp / "out.json"
    args = ["replay", "--candles", str(data_file(SOL_5M)), "--signals", str(path), "--policy", "learned"]
    result = CliRunner().invoke(app, [*args, "--db", f"sqlite:///{tmp / 'r.db'}", "--json", str(out), *extra])
    assert result.exit_code == 0, result.output
    return dict(json.loads(out.read_text()))


def test_calibration_recovers_each_analysts_skill_and_the_policy_beats_raw(tmp_path: Path) -> None:
    report = replay(tmp_path, signals({"skilled": 0.62, "noise": 0.50}, 3_000, seed=1))
    skipped = [t for t in report["trades"] if t["decision"] == "SKIPPED"]
    for analyst in ("skilled", "noise"):
        mine = [t for t in report["trades"] if t["analysisId"].startswith(analyst)]
        closed = [t for t in mine if t.get("outcome") in ("WIN", "LOSS", "BREAKEVEN")]
        realised = sum(t["outcome"] == "WIN" for t in closed) / len(closed)
        late = [t["calibratedWinProb"] for t in mine[len(mine) // 2 :] if t["calibratedWinProb"] is not None]
        assert abs(float(np.mean(late)) - realised) < 0.05, (analyst, np.mean(late), realised)
    assert all(t["analysisId"].startswith("noise") for t in skipped[len(skipped) // 10 :])  # once it knows
    evaluation = report["evaluation"]
    low, _ = evaluation["pnlDifferenceCI95"]
    assert low > 0, evaluation  # learned beats raw out of sample, beyond the noise
    assert evaluation["learned"]["brierCalibrated"] < evaluation["learned"]["brierStated"]


def test_coin_flips_claim_no_improvement(tmp_path: Path) -> None:
    report = replay(tmp_path, signals({"a": 0.5, "b": 0.5}, 2_000, seed=2), "--taker-fee-bps", "0")
    low, high = report["evaluation"]["pnlDifferenceCI95"]
    assert low <= 0 <= high, report["evaluation"]
    late = [t["calibratedWinProb"] for t in report["trades"][1000:] if t["calibratedWinProb"] is not None]
    assert abs(float(np.mean(late)) - 0.5) < 0.06
