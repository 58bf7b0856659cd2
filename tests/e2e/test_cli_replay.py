"""`driftloop replay` end to end through the CLI: formats, bad input, idempotent runs."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from driftloop.entrypoints.cli import app

CANDLES = """timestamp,open,high,low,close,volume
2025-01-01T00:00:00Z,100,101,99.5,100.5,10
2025-01-01T00:05:00Z,100.5,102,100,101.5,10
2025-01-01T00:10:00Z,101.5,103,101,102.5,10
2025-01-01T00:15:00Z,102.5,102.6,97,98,10
2025-01-01T00:20:00Z,98,99,96,97,10
"""


def analysis(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "a1",
        "timestamp": "2025-01-01T00:00:00Z",
        "symbol": "SOL-PERP",
        "timeframe": "5m",
        "prediction": "BULLISH",
        "confidence": 70,
        "recommendation": "BUY",
        "stopLoss": 98,
        "takeProfit": 102.8,
        "sizeUsd": 1000,
        "leverage": 2,
        "analyst": "test",
    }
    base.update(overrides)
    return base


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def jsonl(*rows: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def run(tmp: Path, signals: str, *extra: str, candles: str = CANDLES) -> tuple[int, str, Path]:
    c = write(tmp, "candles.csv", candles)
    s = write(tmp, "signals.jsonl", signals)
    db = tmp / "t.db"
    out = tmp / "out.json"
    args = ["replay", "--candles", str(c), "--signals", str(s), "--db", f"sqlite:///{db}", "--json", str(out)]
    result = CliRunner().invoke(app, [*args, *extra])
    return result.exit_code, result.output + (result.stderr or ""), out


def trades_in(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return int(conn.execute("select count(*) from trades").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def test_long_target_hit_exact_numbers(tmp_path: Path) -> None:
    code, output, out = run(tmp_path, jsonl(analysis()))
    assert code == 0, output
    trade = json.loads(out.read_text())["trades"][0]
    # entry at open 100, size 10; target 102.8 touched in bar 3 (high 103) → fill 102.8
    # price pnl 28, fees 1 + 1.028 → pnl 25.972; 2.5972 % of 1000; ROE ×2; R = 25.972 / 20
    assert trade["status"] == "CLOSED" and trade["exitReason"] == "TAKE_PROFIT"
    assert trade["entryPrice"] == 100 and trade["exitPrice"] == pytest.approx(102.8)
    assert trade["pnlUsd"] == pytest.approx(25.972)
    assert trade["pnlPercent"] == pytest.approx(2.5972)
    assert trade["roePercent"] == pytest.approx(5.1944)
    assert trade["actualRR"] == pytest.approx(1.2986)
    assert trade["closedAt"] == "2025-01-01T00:10:00Z" and trade["outcome"] == "WIN"
    assert len(trade["driftTxId"]) in range(86, 90)


def test_rerun_is_idempotent_and_new_parameters_make_a_new_run(tmp_path: Path) -> None:
    signals = jsonl(analysis(), analysis(id="a2", recommendation="SELL", stopLoss=103, takeProfit=97.5))
    assert run(tmp_path, signals)[0] == 0
    first = json.loads((tmp_path / "out.json").read_text())
    assert run(tmp_path, signals)[0] == 0
    assert json.loads((tmp_path / "out.json").read_text()) == first
    assert trades_in(tmp_path / "t.db") == 2
    assert run(tmp_path, signals, "--taker-fee-bps", "5")[0] == 0
    assert trades_in(tmp_path / "t.db") == 4


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (analysis(confidence=150), "confidence"),
        (analysis(sizeUsd=-5), "sizeUsd"),
        (analysis(symbol="NOPE-PERP"), "symbol"),
        ({k: v for k, v in analysis().items() if k != "stopLoss"}, "stopLoss"),
        (analysis(recommendation="MAYBE"), "recommendation"),
        (analysis(timestamp="yesterday"), "timestamp"),
        (analysis(leverage=0), "leverage"),
    ],
)
def test_bad_analysis_line_names_file_line_field_and_writes_nothing(
    tmp_path: Path, row: dict[str, Any], field: str
) -> None:
    code, output, _ = run(tmp_path, jsonl(analysis(id="ok")) + jsonl(row))
    assert code == 2
    assert "signals.jsonl:2" in output and field in output
    assert "Traceback" not in output
    assert trades_in(tmp_path / "t.db") == 0


def test_malformed_json_and_csv_lines(tmp_path: Path) -> None:
    code, output, _ = run(tmp_path, jsonl(analysis()) + "{not json\n")
    assert code == 2 and "signals.jsonl:2" in output
    bad = CANDLES.replace("100.5,102,100,101.5", "100.5,abc,100,101.5")
    code, output, _ = run(tmp_path, jsonl(analysis()), candles=bad)
    assert code == 2 and "candles.csv:3" in output and "high" in output
    assert trades_in(tmp_path / "t.db") == 0


def test_unreadable_file_and_bad_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["replay", "--candles", str(tmp_path / "none.csv"), "--signals", "x"])
    assert result.exit_code == 2 and "none.csv" in result.output + (result.stderr or "")
    code, output, _ = run(tmp_path, jsonl(analysis()), "--slippage-bps", "-3")
    assert code == 2 and "--slippage-bps" in output


def test_untradeable_analyses_are_skipped_with_reason(tmp_path: Path) -> None:
    rows = [
        analysis(id="wrong-side", stopLoss=100.2),
        analysis(id="hold", recommendation="HOLD"),
        analysis(id="late", timestamp="2025-02-01T00:00:00Z"),
        analysis(id="open", takeProfit=150, stopLoss=50),
    ]
    code, output, out = run(tmp_path, jsonl(*rows))
    assert code == 0, output
    trades = {t["analysisId"]: t for t in json.loads(out.read_text())["trades"]}
    assert trades["wrong-side"]["status"] == "SKIPPED" and "stop loss" in trades["wrong-side"]["reason"]
    assert trades["hold"]["status"] == "SKIPPED" and "HOLD" in trades["hold"]["reason"]
    assert trades["late"]["status"] == "SKIPPED" and "no market data" in trades["late"]["reason"]
    assert trades["open"]["status"] == "OPEN" and trades["open"]["pnlUsd"] is None
    summary = json.loads(out.read_text())["summary"]
    assert summary["skipped"] == 3 and summary["open"] == 1


def test_epoch_ms_candles_and_gzip(tmp_path: Path) -> None:
    import gzip

    lines = CANDLES.splitlines()
    epoch = [lines[0]] + [
        f"{1735689600000 + i * 300_000}," + ln.split(",", 1)[1] for i, ln in enumerate(lines[1:])
    ]
    path = tmp_path / "c.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(epoch) + "\n").encode()))
    s = write(tmp_path, "s.jsonl", jsonl(analysis()))
    out = tmp_path / "o.json"
    result = CliRunner().invoke(
        app,
        [
            "replay",
            "--candles",
            str(path),
            "--signals",
            str(s),
            "--db",
            f"sqlite:///{tmp_path / 'g.db'}",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert Decimal(str(json.loads(out.read_text())["trades"][0]["pnlUsd"])) == Decimal("25.972")
