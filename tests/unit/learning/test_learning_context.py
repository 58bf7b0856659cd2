"""The analyst's learning context: factual text and JSON with counts."""

from __future__ import annotations

import json

from learning_sim import Ctx, simulate

from driftloop.domain.model import Side, Timeframe
from driftloop.learning.context import learning_context


def test_learning_context_summarises_track_record_and_calibration() -> None:
    contexts = [
        Ctx("SOL-PERP", 0.6),
        Ctx("SOL-PERP", 0.45, side=Side.SHORT),
        Ctx("BTC-PERP", 0.5, timeframe=Timeframe.H4),
    ]
    recs = [rec for _, rec in simulate(600, contexts, seed=5)]
    text, data = learning_context(recs, "SOL-PERP", "1h")
    json.dumps(data)  # JSON-ready
    track = data["track"]
    assert track["overall"]["trades"] == 600
    sol = [r for r in recs if r.symbol == "SOL-PERP"]
    assert track["symbol"]["trades"] == len(sol) == track["symbolTimeframe"]["trades"]
    longs = [r for r in sol if r.side is Side.LONG]
    assert track["bySide"]["LONG"]["trades"] == len(longs)
    assert track["bySide"]["LONG"]["winRate"] == round(100 * sum(r.won for r in longs) / len(longs), 2)
    assert track["recent"]["trades"] == 20
    assert all(b["count"] >= 5 for b in data["calibration"]["reliability"])
    assert all(0 <= b["observedRate"] <= 1 for b in data["calibration"]["reliability"])
    calibrated = data["calibration"]["calibratedAtMedianConfidence"]
    assert calibrated["LONG"]["calibratedWinProb"] > calibrated["SHORT"]["calibratedWinProb"]
    assert "SOL-PERP 1h LONG" in text and f"{len(longs)} closed trades" in text
    assert "Calibrated win probability of a LONG on SOL-PERP 1h" in text
    assert len(text.splitlines()) < 30


def test_learning_context_without_trades_says_so() -> None:
    text, data = learning_context([], "SOL-PERP", "1h")
    assert data["track"]["overall"] == {"trades": 0}
    assert "no closed trades" in text
    assert data["calibration"]["brierStated"] is None


def test_learning_context_filters_by_analyst() -> None:
    recs = [
        rec for _, rec in simulate(100, [Ctx("SOL-PERP", 0.5), Ctx("SOL-PERP", 0.5, analyst="other")], seed=6)
    ]
    _, data = learning_context(recs, "SOL-PERP", "1h", analyst="other")
    assert data["track"]["overall"]["trades"] == sum(1 for r in recs if r.analyst == "other")
