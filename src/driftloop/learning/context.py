"""Feedback for the analyst: a compact, factual summary of its track record and calibration.

`learning_context` returns the same facts twice: a short text an LLM analyst
can put in its prompt, and a JSON-ready dict. Every figure comes with its
count; nothing beyond the data is advised. Rates are percentages (0–100) in
the JSON, probabilities (stated, observed per bin, calibrated) stay in 0–1.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from driftloop.domain.model import Side
from driftloop.learning.calibration import Calibrator
from driftloop.learning.excursions import excursion_findings
from driftloop.learning.records import Context, LearningRecord
from driftloop.learning.reliability import brier_score, reliability_bins, wilson_interval
from driftloop.learning.stats import mean_ci95

MIN_BIN_TRADES = 5
"""Reliability bins with fewer trades are left out of the summary."""
RECENT_TRADES = 20


def _track(records: Sequence[LearningRecord]) -> dict[str, Any]:
    n = len(records)
    if n == 0:
        return {"trades": 0}
    wins = sum(rec.won for rec in records)
    low, high = wilson_interval(wins, n)
    mean_r, se_r, _, _ = mean_ci95([rec.r for rec in records])
    return {
        "trades": n,
        "wins": wins,
        "winRate": round(100 * wins / n, 2),
        "winRateCI95": [round(100 * low, 2), round(100 * high, 2)],
        "expectancyR": round(mean_r, 4),
        "expectancyRStdErr": None if math.isnan(se_r) else round(se_r, 4),
        "avgPnlPercent": round(sum(rec.pnl_percent for rec in records) / n, 4),
        "avgStatedProb": round(sum(rec.confidence for rec in records) / n, 4),
    }


def _track_line(label: str, t: dict[str, Any]) -> str:
    if not t["trades"]:
        return f"{label}: no closed trades."
    se = f" ± {t['expectancyRStdErr']:.2f}" if t["expectancyRStdErr"] is not None else ""
    return (
        f"{label}: {t['trades']} closed trades, won {t['wins']} ({t['winRate']:.1f}%, 95% CI "
        f"{t['winRateCI95'][0]:.1f}–{t['winRateCI95'][1]:.1f}%); average stated confidence "
        f"{100 * t['avgStatedProb']:.1f}%; expectancy {t['expectancyR']:+.2f} R{se}; "
        f"average PnL {t['avgPnlPercent']:+.3f}% of notional."
    )


def learning_context(
    records: Sequence[LearningRecord], symbol: str, timeframe: str, *, analyst: str | None = None
) -> tuple[str, dict[str, Any]]:
    """(text, json) summary of `records` (one user's closed trades) for `symbol` and `timeframe`."""
    mine = [rec for rec in records if analyst is None or rec.analyst == analyst]
    market = [rec for rec in mine if rec.symbol == symbol]
    here = [rec for rec in market if rec.timeframe == timeframe]
    recent = sorted(mine, key=lambda rec: rec.outcome_known_at)[-RECENT_TRADES:]
    tracks = {
        "overall": _track(mine),
        "symbol": _track(market),
        "symbolTimeframe": _track(here),
        "bySide": {side.value: _track([rec for rec in here if rec.side is side]) for side in Side},
        "recent": _track(recent),
    }
    bins = [
        b.as_dict()
        for b in reliability_bins([rec.confidence for rec in mine], [rec.won for rec in mine])
        if b.count >= MIN_BIN_TRADES
    ]
    calibrator = Calibrator.from_records(mine)
    calibrated: dict[str, Any] = {}
    if here:
        stated = sorted(rec.confidence for rec in here)[len(here) // 2]
        bucket = Counter(rec.leverage_bucket for rec in here).most_common(1)[0][0]
        who = analyst if analyst is not None else Counter(rec.analyst for rec in here).most_common(1)[0][0]
        for side in Side:
            est = calibrator.estimate(stated, Context(who, symbol, timeframe, side.value, bucket))
            calibrated[side.value] = {
                "statedProb": round(stated, 4),
                "calibratedWinProb": round(est.probability, 4),
                "std": round(est.std, 4),
                "contextTrades": est.count,
            }
    brier = brier_score([rec.confidence for rec in mine], [rec.won for rec in mine])
    data: dict[str, Any] = {
        "symbol": symbol,
        "timeframe": timeframe,
        "analyst": analyst,
        "track": tracks,
        "calibration": {
            "trades": len(mine),
            "brierStated": None if math.isnan(brier) else round(brier, 4),
            "reliability": bins,
            "calibratedAtMedianConfidence": calibrated,
        },
        "findings": excursion_findings(here),
    }
    return _text(data), data


def _bin_line(b: dict[str, Any]) -> str:
    low, high = b["wilson95"]
    return (
        f"- stated {100 * b['lower']:.0f}–{100 * b['upper']:.0f}% (mean {100 * b['meanPredicted']:.1f}%): "
        f"won {100 * b['observedRate']:.1f}% of {b['count']} (95% CI {100 * low:.1f}–{100 * high:.1f}%)"
    )


def _text(data: dict[str, Any]) -> str:
    track, cal = data["track"], data["calibration"]
    where = f"{data['symbol']} {data['timeframe']}"
    lines = [
        "Your track record (closed trades; outcomes after fees and funding):",
        _track_line("- All markets", track["overall"]),
        _track_line(f"- {data['symbol']}", track["symbol"]),
        _track_line(f"- {where}", track["symbolTimeframe"]),
    ]
    lines += [_track_line(f"  - {where} {side}", t) for side, t in track["bySide"].items() if t["trades"]]
    lines.append(_track_line(f"- Last {RECENT_TRADES}", track["recent"]))
    if cal["reliability"]:
        lines.append("Calibration (stated confidence vs how often you won):")
        lines += [_bin_line(b) for b in cal["reliability"]]
    if cal["brierStated"] is not None:
        lines.append(
            f"Brier score of your stated confidence: {cal['brierStated']:.3f} over {cal['trades']} trades."
        )
    for side, c in cal["calibratedAtMedianConfidence"].items():
        lines.append(
            f"Calibrated win probability of a {side} on {where} at your median stated "
            f"{100 * c['statedProb']:.0f}%: {100 * c['calibratedWinProb']:.1f}% "
            f"(± {100 * c['std']:.1f} points, {c['contextTrades']} trades in that exact context)."
        )
    lines += [f"Observed: {finding}." for finding in data["findings"]]
    return "\n".join(lines)
