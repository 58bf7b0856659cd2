"""Workload 6: requests/s and p99 of `GET /api/drift/feedback` and `POST /api/drift/trade` against
`driftloop serve` (paper venue, synthetic feed, monitor in-process, SQLite), from a local load
generator (`bench.loadgen`: keep-alive connections, a fixed number of them for a fixed time, a
different body per POST). Baseline: `GET /api/health` on the same server with the same generator.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import Config, Row, percentile
from bench.loadgen import LoadResult, Request, load

TOKEN = "bench-token-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
SYMBOLS = ("SOL-PERP", "BTC-PERP", "ETH-PERP")  # the synthetic feed's markets


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(config: Config, name: str):  # type: ignore[no-untyped-def]
    port = _free_port()
    db = config.workdir / f"{name}.db"
    env = {**os.environ, "DRIFTLOOP_API_TOKEN": TOKEN}
    log = (config.workdir / f"{name}.log").open("w")
    command = [
        sys.executable,
        "-m",
        "driftloop",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--db",
        f"sqlite:///{db}",
    ]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"driftloop serve did not start: see {log.name}")
            time.sleep(0.2)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _load(base: str, request: Callable[[int], Request], seconds: float, connections: int) -> LoadResult:
    return asyncio.run(load(base, request, seconds, connections, HEADERS))


POST_USERS = 200


def _trade(k: int) -> tuple[str, str, Any]:
    """Request k: one of 200 users, each placing trades in market after market (one open trade per
    user, market and sub-account: every request opens a trade)."""
    user, nth = k % POST_USERS, k // POST_USERS
    body = {
        "userId": f"trader-{user}", "id": f"load-{k}", "timestamp": "2025-01-01T00:00:00Z",
        "symbol": SYMBOLS[nth % len(SYMBOLS)], "subAccount": nth // len(SYMBOLS), "timeframe": "5m",
        "prediction": "BULLISH", "confidence": 60, "recommendation": "BUY", "stopLoss": 1,
        "takeProfit": 10_000_000, "sizeUsd": 100,
    }  # fmt: skip
    return "POST", "/api/drift/trade", body


def run(config: Config) -> list[Row]:
    seconds, connections = config.api_seconds, config.api_concurrency
    rows = []
    with serve(config, "api") as (base, _):
        import httpx

        for u in range(20):  # some monitored users for the status answer
            body = {"action": "start_monitoring", "userId": f"status-{u}", "intervalSeconds": 30}
            httpx.post(
                f"{base}/api/drift/feedback", json=body, headers=HEADERS, timeout=10
            ).raise_for_status()
        feedback = _load(base, lambda _: ("GET", "/api/drift/feedback", None), seconds, connections)
        health = _load(base, lambda _: ("GET", "/api/health", None), seconds, connections)
        rate, p99, health_rate = feedback.rate, percentile(feedback.latencies, 0.99), health.rate
        rows.append(
            Row(
                "6 api",
                f"GET /api/drift/feedback ({connections} conn.)",
                f"{seconds:g} s",
                rate,
                "req/s",
                "GET /api/health",
                health_rate,
                "≥ 2,000 req/s",
                rate >= 2000 and not feedback.errors,
                note=f"p99 {1000 * p99:.1f} ms, {feedback.errors} errors",
                extra={"p99_ms": 1000 * p99},
            )
        )
        post = _load(base, _trade, seconds, connections)
        post_p99 = percentile(post.latencies, 0.99)
        rows.append(
            Row(
                "6 api",
                f"POST /api/drift/trade ({connections} conn.)",
                f"{seconds:g} s",
                post.rate,
                "req/s",
                "GET /api/health",
                health_rate,
                "≥ 300 req/s",
                post.rate >= 300 and not post.errors,  # fast errors are no throughput
                note=f"p99 {1000 * post_p99:.0f} ms, {post.errors} errors",
                extra={"p99_ms": 1000 * post_p99, "requests": len(post.latencies), "errors": post.errors},
            )
        )
    return rows


if __name__ == "__main__":  # pragma: no cover
    print(run(Config(workdir=Path("/tmp"))))
