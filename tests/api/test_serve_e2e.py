"""`driftloop serve` as a real process on a free port: the seed's four curl commands (with the token),
a trade through `/api/drift/trade` on the live paper venue until its outcome is captured, SIGTERM.
Also: the generated loopback token file, and the refusal to serve a public address without a token."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

TOKEN = "e2e-token-0123456789abcdef"
USER = "drift-user"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLOOP_")}
    return {**env, **extra}


@contextmanager
def serving(tmp_path: Path, env: dict[str, str], *args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    command = [sys.executable, "-m", "driftloop", "serve", "--port", str(port), "--db",
               f"sqlite:///{tmp_path / 'serve.db'}", *args]  # fmt: skip
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def test_serve_runs_the_seed_commands_and_captures_a_trade_outcome(tmp_path: Path) -> None:
    env = clean_env(DRIFTLOOP_API_TOKEN=TOKEN)
    with serving(tmp_path, env, "--speed", "20000") as (base, process):
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        # the seed's curl commands, verbatim apart from the token header
        started = client.post("/api/drift/feedback", json={"action": "start_monitoring", "userId": USER})
        assert started.status_code == 200 and started.json()["success"] is True
        status = client.get("/api/drift/feedback")
        assert status.status_code == 200 and status.json()["users"][0]["userId"] == USER
        insights = client.post("/api/drift/feedback", json={"action": "get_insights", "userId": USER})
        assert insights.status_code == 200 and insights.json()["insights"]["totalDriftTrades"] == 0
        checked = client.post("/api/drift/feedback", json={"action": "check_trades", "userId": USER})
        assert checked.status_code == 200 and checked.json()["success"] is True
        assert (
            httpx.post(
                f"{base}/api/drift/feedback", json={"action": "check_trades", "userId": USER}
            ).status_code
            == 401
        )

        analysis = {
            "userId": USER, "id": "e2e-1", "timestamp": datetime.now(UTC).isoformat(), "symbol": "SOL-PERP",
            "timeframe": "5m", "prediction": "BULLISH", "confidence": 65, "recommendation": "BUY",
            "stopLoss": 1, "takeProfit": 100_000, "leverage": 2, "sizeUsd": 50, "maxHoldMinutes": 30,
        }  # fmt: skip
        placed = client.post("/api/drift/trade", json=analysis, headers={"Idempotency-Key": "e2e-1"})
        assert placed.status_code == 200, placed.text
        trade = placed.json()["trade"]
        assert placed.json()["status"] == "OPEN" and trade["driftTxId"] and len(trade["orders"]) == 3
        deadline = time.monotonic() + 30
        while True:  # the monitor captures the outcome when the paper venue pushes the close
            detail = client.get(f"/api/trades/{trade['tradeId']}").json()
            if detail["trade"]["status"] == "CLOSED" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert detail["trade"]["status"] == "CLOSED", detail
        assert detail["trade"]["exitReason"] == "TIME_LIMIT" and detail["learning"]["status"] == "COMPLETE"
        insights = client.post("/api/drift/feedback", json={"action": "get_insights", "userId": USER}).json()
        assert insights["insights"]["totalDriftTrades"] == 1
        metrics = httpx.get(f"{base}/metrics").text
        assert "driftloop_outcomes_captured_total 1.0" in metrics

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    log = (tmp_path / "serve.log").read_text()
    assert "driftloop API stopped" in log and "Traceback" not in log
    assert TOKEN not in log


def test_loopback_without_a_token_generates_a_private_token_file(tmp_path: Path) -> None:
    with serving(tmp_path, clean_env(), "--speed", "60") as (base, _):
        token_file = tmp_path / ".driftloop-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 32
        ok = httpx.get(f"{base}/api/drift/feedback", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        assert httpx.get(f"{base}/api/drift/feedback").status_code == 401
    log = (tmp_path / "serve.log").read_text()
    assert str(token_file) in log and token not in log


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10"])
def test_public_address_without_a_token_is_refused(tmp_path: Path, host: str) -> None:
    command = [
        sys.executable,
        "-m",
        "driftloop",
        "serve",
        "--host",
        host,
        "--db",
        f"sqlite:///{tmp_path / 'x.db'}",
    ]
    done = subprocess.run(command, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "without a token" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.db").exists()  # refused before touching anything
