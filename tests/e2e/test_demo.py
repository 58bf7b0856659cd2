"""`driftloop demo` end to end: synthetic market by default, real candles with --candles."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datadir import SKIP_REASON, data_file, has_data
from driftloop.entrypoints.cli import app


def counts(db: Path) -> tuple[int, int, int]:
    with sqlite3.connect(db) as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(f"select count(*) from {table}").fetchone()[0])
            for table in ("trades", "fills", "ai_learning_data")
        )


def test_live_demo_captures_outcomes_and_prints_insights(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    result = CliRunner().invoke(app, ["demo", "--days", "2", "--db", f"sqlite:///{db}"])
    assert result.exit_code == 0, result.output
    assert "live demo" in result.output and "totalDriftTrades" in result.output
    with sqlite3.connect(db) as conn:
        closed = conn.execute("select count(*) from trades where status = 'CLOSED'").fetchone()[0]
        complete = conn.execute("select count(*) from ai_learning_data where status = 'COMPLETE'").fetchone()[
            0
        ]
        captured = conn.execute("select count(*) from loop_events where kind = 'OutcomeCaptured'").fetchone()[
            0
        ]
    assert closed > 0
    assert complete == closed == captured
    user = _demo_user(db)
    verify = CliRunner().invoke(
        app, ["insights", "--user", user, "--verify", "--json", "--db", f"sqlite:///{db}"]
    )
    assert verify.exit_code == 0, verify.output
    insights = json.loads(verify.stdout)
    assert insights["totalDriftTrades"] == closed
    assert sum(w["trades"] for w in insights["progression"]) == closed
    context = CliRunner().invoke(
        app, ["context", "--user", user, "--symbol", "SOL", "--timeframe", "5m", "--db", f"sqlite:///{db}"]
    )
    assert context.exit_code == 0 and f"{closed} closed trades" in context.stdout
    bad = CliRunner().invoke(
        app, ["context", "--user", user, "--symbol", "SOL", "--timeframe", "7m", "--db", f"sqlite:///{db}"]
    )
    assert bad.exit_code == 2 and "timeframe" in bad.output
    contexts = CliRunner().invoke(
        app, ["contexts", "--user", user, "--level", "side", "--json", "--db", f"sqlite:///{db}"]
    )
    assert contexts.exit_code == 0, contexts.output
    assert sum(c["count"] for c in json.loads(contexts.stdout)["contexts"]) == closed


def _demo_user(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("select distinct user_id from accounts").fetchone()[0])


def test_replay_demo_runs_into_sqlite_and_is_idempotent(tmp_path: Path) -> None:
    db, out = tmp_path / "demo.db", tmp_path / "demo.json"
    args = ["demo", "--replay", "--days", "14", "--db", f"sqlite:///{db}", "--json", str(out)]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "synthetic" in first.output and "winRate" in first.output
    trades = json.loads(out.read_text())["trades"]
    assert trades, "the analyst should have produced trades"
    closed = [t for t in trades if t["status"] == "CLOSED"]
    assert closed and all(t["pnlUsd"] is not None and t["exitReason"] for t in closed)
    before = counts(db)
    assert CliRunner().invoke(app, args).exit_code == 0
    assert counts(db) == before


@pytest.mark.skipif(not has_data("SOL_USDT_PERP_binance_1h_2023-12_2024-12.csv.gz"), reason=SKIP_REASON)
def test_demo_on_real_hourly_candles(tmp_path: Path) -> None:
    candles = data_file("SOL_USDT_PERP_binance_1h_2023-12_2024-12.csv.gz")
    db, out = tmp_path / "real.db", tmp_path / "real.json"
    result = CliRunner().invoke(
        app, ["demo", "--replay", "--candles", str(candles), "--db", f"sqlite:///{db}", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    trades = json.loads(out.read_text())["trades"]
    assert {t["symbol"] for t in trades} == {"SOL-PERP"}
    assert any(t["status"] == "CLOSED" for t in trades)
    live_out = tmp_path / "live.json"
    live = CliRunner().invoke(
        app,
        [
            "demo",
            "--candles",
            str(candles),
            "--days",
            "20",
            "--db",
            f"sqlite:///{db}",
            "--json",
            str(live_out),
        ],
    )
    assert live.exit_code == 0, live.output
    report = json.loads(live_out.read_text())
    assert report["insights"]["totalDriftTrades"] == sum(t["status"] == "CLOSED" for t in report["trades"])


def test_demo_with_missing_candles_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--candles", str(tmp_path / "nope.csv"), "--db", f"sqlite:///{tmp_path / 'x.db'}"]
    )
    assert result.exit_code == 2
    assert "nope.csv" in result.output + (result.stderr or "")
    assert not (tmp_path / "x.db").exists()


def test_the_drift_venue_without_its_extra_is_a_clear_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        import driftpy  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("driftpy is installed here: the drift venv tests the venue itself")
    monkeypatch.setenv("DRIFTLOOP_VENUE", "drift")
    result = CliRunner().invoke(app, ["monitor", "--user", "u", "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code != 0
    assert "driftloop[drift]" in result.output + (result.stderr or "")
    served = CliRunner().invoke(
        app, ["serve", "--venue", "drift", "--port", "3999", "--db", f"sqlite:///{tmp_path / 'y.db'}"]
    )
    assert served.exit_code != 0
    assert "driftloop[drift]" in served.output + (served.stderr or "")
