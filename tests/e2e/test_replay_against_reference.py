"""`driftloop replay` checked field by field against an independent reference (tests/reference_impl.py).

The reference is written from the Definitions in ARCHITECTURE.md only; it shares no code with the engine.
1. Hand-built candles: the reference's own numbers are asserted against values worked out by hand.
2. Hand-built candles through the CLI: every field compared with the reference.
3. ~300 seeded random analyses over three months of real SOL 5m candles, through the CLI twice
   (fee 10 bps / no slippage; fee 7.5 bps / slippage 5 bps / breakeven 0.1 / real funding), every field
   compared.
"""

from __future__ import annotations

import bisect
import gzip
import json
import os
import random
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from datadir import SHARED_DATA as DATA
from datadir import SKIP_REASON
from reference_impl import NUMERIC_FIELDS, parse_time, reference_replay, reference_summary

ROOT = Path(__file__).resolve().parents[2]
SOL_5M = DATA / "SOL_USDT_PERP_binance_5m.csv.gz"
FUNDING = DATA / "FUNDING_binance_usdm_SOL_BTC_ETH_8h.csv.gz"
SLICE_START, SLICE_END = "2025-03-01", "2025-06-01"  # ~26.5k bars of 5m
SEED = 20250301
N_ANALYSES = 300

requires_data = pytest.mark.skipif(
    not (SOL_5M.exists() and FUNDING.exists()),
    reason=SKIP_REASON,
)

REL_TOL = Decimal("1e-6")
ABS_TOL = Decimal("1e-9")
EXACT_FIELDS = ("status", "side", "exitReason", "outcome", "directionCorrect")
TIME_FIELDS = ("openedAt", "closedAt")
ENTRY_FIELDS = ("entryPrice", "size", "leverage", "stopLoss", "takeProfit", "targetPrice")
NULL_WHEN_OPEN = (
    "exitPrice",
    "exitReason",
    "outcome",
    "pnlUsd",
    "pnlPercent",
    "roePercent",
    "actualRR",
    "priceAccuracy",
    "accuracyScore",
    "brier",
    "closedAt",
)


# ----------------------------------------------------------------------------------------------- helpers


def _run_cli(tmp: Path, candles: Path, signals: Path, *extra: str) -> dict[str, Any]:
    out = tmp / "out.json"
    cmd = [
        sys.executable,
        "-m",
        "driftloop",
        "replay",
        "--candles",
        str(candles),
        "--signals",
        str(signals),
        "--db",
        f"sqlite:///{tmp / 'x.db'}",
        "--json",
        str(out),
        *extra,
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, (
        f"driftloop replay exited {proc.returncode}\ncmd: {' '.join(cmd)}\n"
        f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    )
    return json.loads(out.read_text(encoding="utf-8"), parse_float=Decimal)


def _num_close(expected: Decimal, got: Any) -> bool:
    if got is None or isinstance(got, bool | str):
        return False
    got = Decimal(str(got))
    diff = abs(expected - got)
    return diff <= ABS_TOL or diff <= REL_TOL * max(abs(expected), abs(got))


def _same_time(expected: str | None, got: Any) -> bool:
    if expected is None or got is None:
        return expected is None and got is None
    try:
        return parse_time(expected) == parse_time(got)
    except (TypeError, ValueError):
        return False


def compare_trades(expected: dict[str, dict[str, Any]], output: dict[str, Any]) -> list[tuple[str, ...]]:
    """Mismatches as ``(analysisId, field, expected, got)``."""
    problems: list[tuple[str, ...]] = []
    got_by_id: dict[str, dict[str, Any]] = {}
    for trade in output.get("trades", []):
        aid = trade.get("analysisId")
        if aid in got_by_id:
            problems.append((str(aid), "<duplicate>", "one trade", "several"))
        got_by_id[aid] = trade
    for aid in sorted(set(got_by_id) - set(expected)):
        problems.append((aid, "<unexpected trade>", "-", "present"))

    for aid, exp in expected.items():
        got = got_by_id.get(aid)
        if got is None:
            problems.append((aid, "<trade>", "present", "missing"))
            continue

        def bad(field: str, want: Any, have: Any, aid: str = aid) -> None:
            problems.append((aid, field, repr(want), repr(have)))

        if got.get("status") != exp["status"]:
            bad(
                "status",
                f"{exp['status']} ({exp.get('reason')})",
                f"{got.get('status')} ({got.get('reason')})",
            )
            continue
        if exp["status"] == "SKIPPED":
            if not got.get("reason"):
                bad("reason", "a non-empty reason", got.get("reason"))
            continue
        if got.get("side") != exp["side"]:
            bad("side", exp["side"], got.get("side"))
        fields = ENTRY_FIELDS if exp["status"] == "OPEN" else (*NUMERIC_FIELDS, "targetPrice")
        for field in fields:
            if not _num_close(exp[field], got.get(field)):
                bad(field, exp[field], got.get(field))
        times = ("openedAt",) if exp["status"] == "OPEN" else TIME_FIELDS
        for field in times:
            if not _same_time(exp[field], got.get(field)):
                bad(field, exp[field], got.get(field))
        if exp["status"] == "OPEN":
            for field in NULL_WHEN_OPEN:
                if got.get(field) is not None:
                    bad(field, None, got.get(field))
            continue
        for field in EXACT_FIELDS:
            if got.get(field) != exp[field]:
                bad(field, exp[field], got.get(field))
    return problems


def _report(problems: list[tuple[str, ...]], label: str, limit: int = 40) -> str:
    by_field = Counter(p[1] for p in problems)
    lines = [f"{label}: {len(problems)} mismatches; by field: {dict(by_field.most_common())}"]
    lines += [f"  {aid} {field}: expected {want} got {have}" for aid, field, want, have in problems[:limit]]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- hand-built

# Six 5m bars. Bar 3 gaps down through 96; bar 5 gaps up through 111 and also wicks down to 92.
TINY_CANDLES = """timestamp,open,high,low,close,volume
2025-01-01T00:00:00Z,100,101,99,100,10
2025-01-01T00:05:00Z,100,102,98,101,10
2025-01-01T00:10:00Z,101,103,97,99,10
2025-01-01T00:15:00Z,95,96,94,95,10
2025-01-01T00:20:00Z,95,100,94,99,10
2025-01-01T00:25:00Z,112,113,92,112,10
"""

# Funding: the 00:00 row equals A's entry time (excluded), BTC rows are filtered out, 00:12 falls between bars
# (price = open of the last bar before it: 101), 00:20 is after A's close.
TINY_FUNDING = """timestamp,symbol,funding_rate,source
2025-01-01T00:00:00Z,SOL/USDT:USDT,0.01,hand
2025-01-01T00:05:00Z,SOL/USDT:USDT,0.001,hand
2025-01-01T00:05:00Z,BTC/USDT:USDT,0.5,hand
2025-01-01T00:12:00Z,SOL/USDT:USDT,0.002,hand
2025-01-01T00:15:00Z,SOL/USDT:USDT,-0.0005,hand
2025-01-01T00:20:00Z,SOL/USDT:USDT,0.003,hand
2025-01-01T00:25:00Z,SOL/USDT:USDT,0.0001,hand
"""


def _analysis(
    aid: str, ts: str, rec: str, stop: Any, target: Any, size_usd: Any, **extra: Any
) -> dict[str, Any]:
    pred = {"BUY": "BULLISH", "SELL": "BEARISH", "HOLD": "NEUTRAL"}[rec]
    return {
        "id": aid,
        "timestamp": ts,
        "symbol": "SOL-PERP",
        "timeframe": "5m",
        "prediction": pred,
        "confidence": 60,
        "recommendation": rec,
        "stopLoss": stop,
        "takeProfit": target,
        "sizeUsd": size_usd,
        "analyst": "hand",
        "reasoning": f"hand-built case {aid}",
        "raw": {},
        **extra,
    }


T0 = "2025-01-01T00:"
TINY_SIGNALS = [
    _analysis("A-gap-stop", T0 + "00:00Z", "BUY", 96, 115, 1000),
    _analysis("B-stop-and-target", T0 + "05:00Z", "SELL", 102.5, 97.5, 1000, leverage=5),
    _analysis("C-open-beyond-target", T0 + "20:00Z", "BUY", 93, 111, 950, leverage=2, entryPrice=95.5),
    _analysis(
        "D-time-limit", T0 + "00:00Z", "BUY", 97.5, 120, 500, leverage=3, maxHoldMinutes=7, targetPrice=110
    ),
    _analysis("E-liq-before-stop", T0 + "00:00Z", "BUY", 97, 120, 1000, leverage=20),
    _analysis("F-gap-liq", T0 + "20:00Z", "SELL", 105, 90, 950, leverage=10),
    _analysis("F2-gap-stop", T0 + "20:00Z", "SELL", 100.5, 90, 950, leverage=10),
    _analysis("G-stop-liq-tie", T0 + "00:00Z", "BUY", 95, 120, 1000, leverage=20),
    _analysis("H-hold", T0 + "00:00Z", "HOLD", 95, 120, 1000),
    _analysis("I-stop-above", T0 + "00:00Z", "BUY", 101, 120, 1000),
    _analysis("J-stop-at-fill", T0 + "00:00Z", "BUY", 100, 120, 1000),
    _analysis("K-target-wrong", T0 + "05:00Z", "SELL", 110, 100.5, 1000),
    _analysis("L-after-end", T0 + "31:00Z", "BUY", 90, 130, 1000),
    _analysis("M-open", T0 + "22:30Z", "BUY", 90, 130, 560),
    _analysis("N-before-start", "2024-12-31T23:50:00Z", "BUY", 90, 130, 1000),
    _analysis("O-off-boundary", T0 + "01:00+00:00", "SELL", 102.5, 97.5, 1000),
    _analysis("P-flat-time-limit", T0 + "15:00Z", "SELL", 99, 90, 950, maxHoldMinutes=5),
]


def _write_tiny(tmp: Path) -> tuple[Path, Path, Path]:
    candles, signals, funding = tmp / "tiny.csv", tmp / "tiny.jsonl", tmp / "tiny_funding.csv"
    candles.write_text(TINY_CANDLES, encoding="utf-8")
    signals.write_text("".join(json.dumps(a) + "\n" for a in TINY_SIGNALS), encoding="utf-8")
    funding.write_text(TINY_FUNDING, encoding="utf-8")
    return candles, signals, funding


def _is(value: Any, expected: Any) -> bool:
    """Exact equality for Decimal vs a hand value (str, int or Fraction), up to 1e-30."""
    if value is None or expected is None:
        return value is expected
    return abs(Fraction(value) - Fraction(expected)) <= Fraction(1, 10**30)


def _check(trade: dict[str, Any], **expected: Any) -> None:
    for field, want in expected.items():
        have = trade[field]
        ok = _is(have, want) if field in NUMERIC_FIELDS else have == want
        assert ok, f"{trade['analysisId']}.{field}: reference {have!r}, hand value {want!r}"


def test_reference_matches_hand_computed_values(tmp_path: Path) -> None:
    candles, signals, funding = _write_tiny(tmp_path)
    ref = reference_replay(candles, signals)  # fee 10 bps, s = 0, b = 0.05, m = 0.03

    # A: long 1x at bar0 open 100, size 1000/100 = 10. Bars 0-2 lows 99/98/97 stay above 96; bar3 opens at 95,
    # below the stop: fills at min(95, 96) = 95. Price PnL (95-100)*10 = -50; fees 0.001*(1000 + 950) = 1.95;
    # pnl -51.95 -> -5.195 % (= ROE at 1x); R = -51.95 / (4*10) = -1.29875. Slippage 0 + (96-95)/96*1e4 =
    # 104.1666.. bps. MAE: lows 99, 98, 97 and bar3's low clipped max(94, 95) = 95 -> 5 %; MFE: high 103 -> 3
    # %.
    _check(
        ref["A-gap-stop"], status="CLOSED", side="LONG", exitReason="STOP_LOSS", outcome="LOSS",
        entryPrice=100, exitPrice=95, size=10, pnlUsd="-51.95", pnlPercent="-5.195", roePercent="-5.195",
        actualRR="-1.29875", feesUsd="1.95", fundingUsd=0, slippageBps=Fraction(10000, 96), mae=5, mfe=3,
        directionCorrect=False, priceAccuracy=0, accuracyScore=0,
        openedAt="2025-01-01T00:00:00Z", closedAt="2025-01-01T00:15:00Z",
    )  # fmt: skip
    # B: short 5x at bar1 open 100, size 10. Bar2 (open 101) reaches both stop 102.5 (high 103) and target
    # 97.5 (low 97), the open beyond neither -> stop first at max(101, 102.5) = 102.5. PnL -25 -
    # 0.001*(1000+1025) = -27.025 -> -2.7025 %; margin 200 -> ROE -13.5125 %; R = -27.025/25 = -1.081.
    # Slippage 0. MAE: highs 102 and bar2's high clipped min(103, 102.5) -> 2.5 %; MFE: bar2 low 97 (not the
    # exit side) -> 3 %.
    _check(
        ref["B-stop-and-target"], status="CLOSED", side="SHORT", exitReason="STOP_LOSS", outcome="LOSS",
        entryPrice=100, exitPrice="102.5", pnlUsd="-27.025", pnlPercent="-2.7025", roePercent="-13.5125",
        actualRR="-1.081", feesUsd="2.025", slippageBps=0, mae="2.5", mfe=3, directionCorrect=False,
        priceAccuracy=0, closedAt="2025-01-01T00:10:00Z",
    )  # fmt: skip
    # C: long 2x at bar4 open 95 (entryPrice 95.5 is only the slippage reference), size 950/95 = 10. Bar5
    # opens at 112 >= target 111 -> target first although its low 92 <= stop 93; fills at max(112, 111) = 112.
    # PnL 170 - 0.001*(950+1120) = 167.93 -> 17.6768.. %; ROE (margin 475) 35.3536.. %; R = 167.93/20 =
    # 8.3965. Slippage (95-95.5)/95.5*1e4 + (111-112)/111*1e4 = -52.356.. - 90.090.. bps. MAE: lows 94, 92 ->
    # 3/95; MFE: bar5 high clipped min(113, 112) -> 17/95. priceAccuracy 1 - |112-111|/|111-95| = 0.9375.
    _check(
        ref["C-open-beyond-target"], status="CLOSED", exitReason="TAKE_PROFIT", outcome="WIN", exitPrice=112,
        pnlUsd="167.93", pnlPercent=Fraction(16793, 950), roePercent=Fraction(16793, 475), actualRR="8.3965",
        slippageBps=Fraction(-50000, 955) - Fraction(10000, 111), mae=Fraction(300, 95),
        mfe=Fraction(1700, 95), directionCorrect=True, priceAccuracy="0.9375", accuracyScore="0.9375",
        closedAt="2025-01-01T00:25:00Z",
    )  # fmt: skip
    # D: long 3x at bar0 open 100, size 5, maxHold 7 min -> first bar opening >= 00:07 is bar2 (00:10): closed
    # at its open 101 before its low 97 could reach the stop 97.5. PnL 5 - 0.001*(500+505) = 3.995 -> 0.799 %;
    # ROE (margin 500/3) 2.397 %; R = 3.995/(2.5*5) = 0.3196. Slippage 0 (reference = that open). MAE/MFE:
    # bars 0, 1 and bar2 collapsed to 101 -> low 98, high 102 -> 2 % each. targetPrice 110: accuracy 1 - 9/10
    # = 0.1.
    _check(
        ref["D-time-limit"], status="CLOSED", exitReason="TIME_LIMIT", outcome="WIN", exitPrice=101,
        pnlUsd="3.995", pnlPercent="0.799", roePercent="2.397", actualRR="0.3196", slippageBps=0,
        mae=2, mfe=2,
        directionCorrect=True, priceAccuracy="0.1", accuracyScore="0.1", closedAt="2025-01-01T00:10:00Z",
    )  # fmt: skip
    # E: long 20x at 100: liquidation 100*(1-1/20)/(1-0.03) = 9500/97 = 97.938.. > stop 97. Bar2 low 97
    # reaches both; the higher (liquidation) is reached first from the open 101: exit 9500/97, no slippage.
    # Price PnL -2000/97; fees 0.001*(1000 + 95000/97) = 192/97; pnl -2192/97 = -22.5979..; -2.2597.. %; ROE
    # x20; R = pnl/(3*10). MAE: bar2 low clipped to 9500/97 -> 200/97 %; MFE: high 103 -> 3 %.
    _check(
        ref["E-liq-before-stop"], status="CLOSED", exitReason="LIQUIDATION", outcome="LOSS",
        exitPrice=Fraction(9500, 97), pnlUsd=Fraction(-2192, 97), pnlPercent=Fraction(-2192, 970),
        roePercent=Fraction(-2192 * 2, 97), actualRR=Fraction(-2192, 97 * 30), feesUsd=Fraction(192, 97),
        slippageBps=0, mae=Fraction(200, 97), mfe=3, closedAt="2025-01-01T00:10:00Z",
    )  # fmt: skip
    # F: short 10x at bar4 open 95, size 10; liquidation 95*1.1/1.03 = 101.456.. < stop 105. Bar5 opens at
    # 112, beyond both: the lower (liquidation) fires, at the open 112. PnL -170 - 0.001*(950+1120) = -172.07;
    # -18.1126.. %; ROE x10; R = -172.07/(10*10). MAE: bar5 high clipped min(113, 112) -> 17/95; MFE low 92 ->
    # 3/95.
    _check(
        ref["F-gap-liq"], status="CLOSED", side="SHORT", exitReason="LIQUIDATION", exitPrice=112,
        pnlUsd="-172.07", pnlPercent=Fraction(-17207, 950), roePercent=Fraction(-17207, 95),
        actualRR="-1.7207",
        slippageBps=0, mae=Fraction(1700, 95), mfe=Fraction(300, 95), closedAt="2025-01-01T00:25:00Z",
    )  # fmt: skip
    # F2: same with the stop 100.5 (above bar4's high 100, below the liquidation price): the stop fires at the
    # open 112; slippage (112-100.5)/100.5*1e4 = 1144.27.. bps; R = -172.07/(5.5*10) = -3.1285..
    _check(
        ref["F2-gap-stop"], exitReason="STOP_LOSS", exitPrice=112, pnlUsd="-172.07",
        actualRR=Fraction(-17207, 5500), slippageBps=Fraction(1150000, 1005),
    )  # fmt: skip
    # G with m = 0.03 is like E (liquidation 97.938.. hit in bar2).
    _check(ref["G-stop-liq-tie"], exitReason="LIQUIDATION", exitPrice=Fraction(9500, 97))
    # Skips: HOLD; stop above a long's fill; stop equal to the fill; a short's target above its fill;
    # 00:31 after the last bar; 23:50 -> first bar 00:00 opens more than one bar length later.
    for aid in (
        "H-hold",
        "I-stop-above",
        "J-stop-at-fill",
        "K-target-wrong",
        "L-after-end",
        "N-before-start",
    ):
        assert ref[aid]["status"] == "SKIPPED", aid
        assert ref[aid]["reason"], aid
    # M: 00:22:30 -> bar5 (00:25, within one bar): long at 112, size 560/112 = 5; no exit by the data's end.
    _check(
        ref["M-open"], status="OPEN", side="LONG", entryPrice=112, size=5, leverage=1, exitPrice=None,
        exitReason=None, outcome=None, pnlUsd=None, closedAt=None, openedAt="2025-01-01T00:25:00Z",
    )  # fmt: skip
    # O: 00:01 -> bar1 (00:05); otherwise identical to B at 1x: ROE = pnl% = -2.7025.
    _check(
        ref["O-off-boundary"], exitReason="STOP_LOSS", roePercent="-2.7025", openedAt="2025-01-01T00:05:00Z"
    )
    # P: short at bar3 open 95, 5 min limit -> closed at bar4's open 95: fees only, 0.001*1900 = 1.9 -> -0.2 %
    # LOSS; not strictly below entry -> direction wrong. MAE (96-95)/95, MFE (95-94)/95 (bar4 collapsed).
    _check(
        ref["P-flat-time-limit"], exitReason="TIME_LIMIT", exitPrice=95, pnlUsd="-1.9", pnlPercent="-0.2",
        outcome="LOSS", directionCorrect=False, mae=Fraction(100, 95), mfe=Fraction(100, 95), slippageBps=0,
    )  # fmt: skip

    # Funding (A: long, size 10, entry 00:00, closed 00:15): 00:05 -0.001*10*100 = -1; 00:12 -0.002*10*101 =
    # -2.02; 00:15 +0.0005*10*95 = +0.475 -> -2.545; pnl -54.495, R -54.495/40. B (short, 00:05 -> 00:10): the
    # 00:05 row is at its entry time (excluded) -> 0. D (long, size 5, 00:00 -> 00:10): -0.5 -> pnl 3.495.
    # F (short, 00:20 -> 00:25): +0.0001*10*112 = 0.112.
    funded = reference_replay(candles, signals, funding)
    _check(
        funded["A-gap-stop"],
        fundingUsd="-2.545",
        pnlUsd="-54.495",
        pnlPercent="-5.4495",
        actualRR="-1.362375",
    )
    _check(funded["B-stop-and-target"], fundingUsd=0, pnlUsd="-27.025")
    _check(funded["D-time-limit"], fundingUsd="-0.5", pnlUsd="3.495")
    _check(funded["F-gap-liq"], fundingUsd="0.112", pnlUsd="-171.958")

    # Slippage 10 bps on A: fill 100*1.001 = 100.1, size 1000/100.1; exit min(95, 96)*0.999 = 94.905.
    # Slippage 10 + (96-94.905)/96*1e4 = 124.0625 bps. Price PnL -5.195*1000/100.1; fees 1 + 94.905/100.1.
    # MAE (100.1-94.905)/100.1 (bar3's low 94 < exit, so max(94, 94.905)); MFE (103-100.1)/100.1.
    slipped = reference_replay(candles, signals, slippage_bps=10)
    size = Fraction(1000) / Fraction("100.1")
    pnl = Fraction("-5.195") * size - (1 + Fraction("94.905") / Fraction("100.1"))
    _check(
        slipped["A-gap-stop"], entryPrice="100.1", exitPrice="94.905", size=size, slippageBps="124.0625",
        pnlUsd=pnl, actualRR=pnl / (Fraction("4.1") * size), mae=Fraction("5.195") / Fraction("100.1") * 100,
        mfe=Fraction("2.9") / Fraction("100.1") * 100,
    )  # fmt: skip
    # J (stop 100 = open): with slippage the long fills at 100.1, so the stop is below the fill and it trades.
    assert slipped["J-stop-at-fill"]["status"] == "CLOSED"

    # G with m = 0: liquidation 100*(1-1/20) = 95 ties the stop 95; bar3 reaches both -> the stop fires at 95.
    no_maintenance = reference_replay(candles, signals, maintenance=0)
    _check(
        no_maintenance["G-stop-liq-tie"],
        exitReason="STOP_LOSS",
        exitPrice=95,
        closedAt="2025-01-01T00:15:00Z",
    )

    # Breakeven band: P without fees has pnl 0 -> BREAKEVEN; with b = 0.3 the -0.2 % of P is BREAKEVEN too.
    assert reference_replay(candles, signals, taker_fee_bps=0)["P-flat-time-limit"]["outcome"] == "BREAKEVEN"
    assert (
        reference_replay(candles, signals, breakeven_pct="0.3")["P-flat-time-limit"]["outcome"] == "BREAKEVEN"
    )

    # Brier of the stated confidence 60: (0.6 - 0)^2 for a LOSS, (0.6 - 1)^2 for a WIN; null while open.
    _check(ref["A-gap-stop"], brier="0.36")
    _check(ref["C-open-beyond-target"], brier="0.16")
    _check(ref["M-open"], brier=None)

    summary = reference_summary(ref)
    assert (summary["closed"], summary["open"], summary["skipped"]) == (10, 1, 6)
    assert (summary["wins"], summary["losses"], summary["breakeven"]) == (2, 8, 0)


@pytest.mark.parametrize(
    ("label", "extra"),
    [
        ("defaults", ()),
        ("slippage+funding", ("--taker-fee-bps", "7.5", "--slippage-bps", "5", "--breakeven-pct", "0.1")),
    ],
)
def test_cli_matches_reference_on_hand_built_edges(
    tmp_path: Path, label: str, extra: tuple[str, ...]
) -> None:
    candles, signals, funding = _write_tiny(tmp_path)
    if label == "defaults":
        expected = reference_replay(candles, signals)
    else:
        extra = (*extra, "--funding", str(funding))
        expected = reference_replay(candles, signals, funding, "7.5", "5", "0.1")
    output = _run_cli(tmp_path, candles, signals, *extra)
    problems = compare_trades(expected, output)
    assert not problems, _report(problems, f"hand-built candles, {label}")


# Bars 00:15 and 00:20 are missing (bar length stays 5 min, the smallest gap).
GAP_CANDLES = """timestamp,open,high,low,close,volume
2025-01-01T00:00:00Z,100,101,99,100,10
2025-01-01T00:05:00Z,100,102,98,101,10
2025-01-01T00:10:00Z,101,103,97,99,10
2025-01-01T00:25:00Z,99,100,96,97,10
2025-01-01T00:30:00Z,97,99,96,98,10
2025-01-01T00:35:00Z,98,104,97,103,10
"""
GAP_FUNDING = "timestamp,funding_rate\n2025-01-01T00:20:00Z,0.001\n2025-01-01T00:30:00Z,0.002\n"
GAP_SIGNALS = [
    _analysis("gap-inside", T0 + "16:00Z", "BUY", 90, 110, 1000),
    _analysis("gap-edge", T0 + "20:00Z", "BUY", 90, 110, 1000),
    _analysis("tl-across-gap", T0 + "05:00Z", "BUY", 90, 110, 1000, maxHoldMinutes=10),
    _analysis("funding-in-gap", T0 + "00:00Z", "SELL", 110, 90, 1000, maxHoldMinutes=30),
    _analysis("short-1x", T0 + "00:00Z", "SELL", 300, 50, 1000),
    _analysis("epoch-ms-timestamp", 1735690200000, "BUY", 90, 110, 1000),
]


def test_cli_matches_reference_across_data_gaps(tmp_path: Path) -> None:
    candles, signals, funding = tmp_path / "gap.csv", tmp_path / "gap.jsonl", tmp_path / "gap_funding.csv"
    candles.write_text(GAP_CANDLES, encoding="utf-8")
    signals.write_text("".join(json.dumps(a) + "\n" for a in GAP_SIGNALS), encoding="utf-8")
    funding.write_text(GAP_FUNDING, encoding="utf-8")
    expected = reference_replay(candles, signals, funding)
    # 00:16: the first bar at/after it opens at 00:25, later than 00:21 -> no market data. 00:20 -> 00:25 is
    # within one bar: enters there and stays open.
    assert expected["gap-inside"]["status"] == "SKIPPED"
    _check(expected["gap-edge"], status="OPEN", openedAt="2025-01-01T00:25:00Z")
    # Long at 00:05 (100, size 10), limit 10 min -> the first bar at/after 00:15 is 00:25: closed at its
    # open 99.
    # Funding 00:20 falls in the gap: price = open of the last bar before it (00:10: 101) -> -0.001*10*101.
    _check(
        expected["tl-across-gap"], exitReason="TIME_LIMIT", exitPrice=99, fundingUsd="-1.01",
        closedAt="2025-01-01T00:25:00Z",
    )  # fmt: skip
    # Short at 00:00 (100, size 10), limit 30 min -> closed at 00:30's open 97. Funding +0.001*10*101 (00:20)
    # + 0.002*10*97 (00:30 = closedAt, included) = 2.95.
    _check(expected["funding-in-gap"], exitReason="TIME_LIMIT", exitPrice=97, fundingUsd="2.95")
    # Epoch ms 1735690200000 = 2025-01-01T00:10:00Z.
    _check(expected["epoch-ms-timestamp"], status="OPEN", openedAt="2025-01-01T00:10:00Z")
    output = _run_cli(tmp_path, candles, signals, "--funding", str(funding))
    problems = compare_trades(expected, output)
    assert not problems, _report(problems, "candles with a gap")


def test_cli_wrong_side_is_checked_against_the_analysis_entry_price(tmp_path: Path) -> None:
    """Rule 0: the analysis' entryPrice "is the reference for slippage and for the wrong-side check".

    Every case is on the right side of the fill (bar1 open 100) but on the wrong side of the stated
    entryPrice, so the reference skips them (it checks the fill, rule 1, and the stated entryPrice, rule 0).
    """
    candles, signals, _ = _write_tiny(tmp_path)
    cases = [
        _analysis("stop-above-entryPrice", T0 + "05:00Z", "BUY", 99.5, 110, 1000, entryPrice=99.4),
        _analysis("target-below-entryPrice", T0 + "05:00Z", "BUY", 95, 100.3, 1000, entryPrice=100.5),
        _analysis("short-stop-below-entryPrice", T0 + "05:00Z", "SELL", 100.4, 90, 1000, entryPrice=100.6),
    ]
    signals.write_text("".join(json.dumps(a) + "\n" for a in cases), encoding="utf-8")
    expected = reference_replay(candles, signals)
    assert {t["status"] for t in expected.values()} == {"SKIPPED"}
    problems = compare_trades(expected, _run_cli(tmp_path, candles, signals))
    assert not problems, _report(problems, "wrong side of the analysis' entryPrice")


# ----------------------------------------------------------------------------------------------- real data


def _slice_lines() -> list[str]:
    with gzip.open(SOL_5M, "rt", encoding="utf-8") as fh:
        header, *rows = fh.read().splitlines()
    return [header] + [r for r in rows if SLICE_START <= r[:10] < SLICE_END]


def _fmt_ts(moment: datetime, rng: random.Random) -> str:
    style = rng.random()
    if style < 0.1:
        return moment.isoformat()  # +00:00
    if style < 0.2:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def generate_analyses(times: list[datetime], opens: list[Decimal], seed: int = SEED) -> list[dict[str, Any]]:
    """Seeded random analyses over the candle slice; the entry reference comes from the entry bar's open."""
    rng = random.Random(seed)
    kinds = ["hold"] * 8 + ["wrong_stop"] * 6 + ["wrong_target"] * 3 + ["stop_at_open"] * 3
    kinds += ["after_end"] * 6 + ["before_start"] * 2
    kinds += ["normal"] * (N_ANALYSES - len(kinds))
    rng.shuffle(kinds)
    start, end = times[0], times[-1]
    span = int((end - start).total_seconds())
    q = Decimal("0.001")
    out = []
    for i, kind in enumerate(kinds):
        if kind == "after_end":
            ts = end + timedelta(seconds=rng.choice([60, 299, 301, 3600, 86_400 * 3]))
        elif kind == "before_start":
            ts = start - timedelta(seconds=rng.choice([301, 7200]))
        else:
            # A quarter land in the last ten days so that some trades are still open when the data ends.
            lo = span - 10 * 86_400 if rng.random() < 0.25 else 0
            ts = start + timedelta(seconds=rng.randrange(lo, span) // 300 * 300)
            if rng.random() < 0.35:  # not on a bar boundary
                ts += timedelta(seconds=rng.randint(1, 299), milliseconds=rng.choice([0, 0, 250]))
        k = bisect.bisect_left(times, ts)
        bar_open = opens[min(k, len(opens) - 1)]
        rec = "HOLD" if kind == "hold" else rng.choice(["BUY", "SELL"])
        long = rec != "SELL"
        sign = 1 if long else -1
        entry_price = None
        if rng.random() < 0.5 and kind != "stop_at_open":
            entry_price = (bar_open * (1 + Decimal(rng.uniform(-0.001, 0.001)))).quantize(q)
        ref = entry_price if entry_price is not None else bar_open
        stop_d = Decimal(rng.uniform(0.003, 0.08))
        target_d = Decimal(rng.uniform(0.003, 0.15))
        stop = (ref * (1 - sign * stop_d)).quantize(q)
        target = (ref * (1 + sign * target_d)).quantize(q)
        if kind == "wrong_stop":
            stop = (ref * (1 + sign * Decimal(rng.uniform(0.003, 0.02)))).quantize(q)
        elif kind == "wrong_target":
            target = (ref * (1 - sign * Decimal(rng.uniform(0.003, 0.02)))).quantize(q)
        elif kind == "stop_at_open":  # equal to the fill without slippage (skipped), valid with slippage
            stop = bar_open
        a: dict[str, Any] = {
            "id": f"00000000-0000-4000-8000-{i:012d}",
            "timestamp": _fmt_ts(ts, rng),
            "symbol": "SOL-PERP",
            "timeframe": "5m",
            "prediction": {"BUY": "BULLISH", "SELL": "BEARISH", "HOLD": "NEUTRAL"}[rec],
            "confidence": rng.randint(0, 100),
            "recommendation": rec,
            "stopLoss": float(stop),
            "takeProfit": float(target),
            "sizeUsd": round(rng.uniform(20, 5000), 2),
            "analyst": "seeded-fuzz",
            "reasoning": f"random analysis {i} ({kind})",
            "raw": {"kind": kind},
        }
        if entry_price is not None:
            a["entryPrice"] = float(entry_price)
        r = rng.random()
        if r < 0.05:
            a["leverage"] = rng.choice([1.5, 2.5, 7.5])
        elif r < 0.85:
            a["leverage"] = rng.randint(1, 20)
        if rng.random() < 0.3:
            a["targetPrice"] = float((ref * (1 + sign * Decimal(rng.uniform(0.002, 0.2)))).quantize(q))
        if rng.random() < 0.4:
            a["maxHoldMinutes"] = rng.choice([rng.randint(1, 864) * 5, rng.randint(5, 4320)])
        out.append(a)
    return out


@pytest.fixture(scope="module")
def real_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if not (SOL_5M.exists() and FUNDING.exists()):
        pytest.skip(f"real market data not found at {DATA}")
    tmp = tmp_path_factory.mktemp("replay_real")
    lines = _slice_lines()
    iso_csv = tmp / "sol_5m_slice.csv"
    iso_csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # The same bars with epoch-millisecond timestamps, gzip-compressed.
    epoch_gz = tmp / "sol_5m_slice_epoch.csv.gz"
    with gzip.open(epoch_gz, "wt", encoding="utf-8") as fh:
        fh.write(lines[0] + "\n")
        for row in lines[1:]:
            ts, rest = row.split(",", 1)
            fh.write(f"{int(parse_time(ts).timestamp() * 1000)},{rest}\n")
    times = [parse_time(r.split(",", 1)[0]) for r in lines[1:]]
    opens = [Decimal(r.split(",")[1]) for r in lines[1:]]
    signals = tmp / "signals.jsonl"
    signals.write_text(
        "".join(json.dumps(a) + "\n" for a in generate_analyses(times, opens)), encoding="utf-8"
    )
    return {"iso_csv": iso_csv, "epoch_gz": epoch_gz, "signals": signals, "dir": tmp}


RUNS = {
    # label: (candles key, funding?, fee bps, slippage bps, breakeven %)
    "fee10-noslip": ("iso_csv", False, "10", "0", "0.05"),
    "fee7.5-slip5-be0.1-funding": ("epoch_gz", True, "7.5", "5", "0.1"),
}


@pytest.fixture(scope="module")
def real_runs(real_inputs: dict[str, Path]) -> dict[str, tuple[dict[str, Any], dict[str, Any] | Exception]]:
    """Reference result and CLI output (or the error running it) for every RUNS entry, computed once."""
    results: dict[str, tuple[dict[str, Any], dict[str, Any] | Exception]] = {}
    for label, (candles_key, with_funding, fee, slip, be) in RUNS.items():
        candles = real_inputs[candles_key]
        funding = FUNDING if with_funding else None
        expected = reference_replay(candles, real_inputs["signals"], funding, fee, slip, be)
        run_dir = real_inputs["dir"] / label
        run_dir.mkdir()
        extra = ["--taker-fee-bps", fee, "--slippage-bps", slip, "--breakeven-pct", be]
        if funding is not None:
            extra += ["--funding", str(funding)]
        try:
            got: dict[str, Any] | Exception = _run_cli(run_dir, candles, real_inputs["signals"], *extra)
        except AssertionError as exc:
            got = exc
        results[label] = (expected, got)
    return results


@requires_data
@pytest.mark.slow
def test_generated_analyses_cover_every_path(real_runs: dict[str, Any]) -> None:
    """The seeded set exercises every exit reason, open trades and every skip (checked on the reference)."""
    for label, (expected, _) in real_runs.items():
        statuses = Counter(t["status"] for t in expected.values())
        reasons = Counter(t["exitReason"] for t in expected.values() if t["status"] == "CLOSED")
        outcomes = Counter(t["outcome"] for t in expected.values() if t["status"] == "CLOSED")
        assert statuses["OPEN"] >= 3, (label, statuses)
        assert statuses["SKIPPED"] >= 20, (label, statuses)
        assert statuses["CLOSED"] >= 200, (label, statuses)
        for reason in ("TAKE_PROFIT", "STOP_LOSS", "LIQUIDATION", "TIME_LIMIT"):
            assert reasons[reason] >= 5, (label, reasons)
        assert outcomes["WIN"], (label, outcomes)
        assert outcomes["LOSS"], (label, outcomes)
        assert any(t.get("fundingUsd") for t in expected.values()) == ("funding" in label), label


@requires_data
@pytest.mark.slow
@pytest.mark.parametrize("label", list(RUNS))
def test_cli_replay_matches_reference(real_runs: dict[str, Any], label: str) -> None:
    expected, got = real_runs[label]
    if isinstance(got, Exception):
        raise got
    problems = compare_trades(expected, got)
    assert not problems, _report(problems, label)


@requires_data
@pytest.mark.slow
@pytest.mark.parametrize("label", list(RUNS))
def test_cli_summary_matches_reference(real_runs: dict[str, Any], label: str) -> None:
    expected, got = real_runs[label]
    if isinstance(got, Exception):
        raise got
    want = reference_summary(expected)
    summary = got["summary"]
    problems = []
    for key, value in want.items():
        have = summary.get(key)
        exact = value is None or isinstance(value, int)
        ok = have == value if exact else _num_close(value, have)
        if not ok:
            problems.append((label, f"summary.{key}", repr(value), repr(have)))
    assert not problems, _report(problems, f"{label} summary")
