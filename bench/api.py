"""Workload 6: requests/s and p99 of `GET /api/drift/feedback` and `POST /api/drift/trade` against
`driftloop serve` (paper venue, synthetic feed, monitor in-process, SQLite), from a local load
generator: `wrk` for the GET when installed, else (and always for the POST, whose bodies differ)
an async httpx client with a fixed number of connections for a fixed time. Baseline: `GET
/api/health` on the same server with the same generator (the framework's floor here).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import PEER_MISSING, Config, Row, has_module, percentile

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


async def _load(
    base: str, request: Callable[[int], tuple[str, str, Any]], seconds: float, connections: int
) -> tuple[float, float, int, int]:
    """(requests/s, p99 seconds, requests, errors) for `connections` clients for `seconds`."""
    import httpx

    latencies: list[float] = []
    errors = 0
    counter = 0
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, headers=HEADERS, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal counter, errors
            while time.perf_counter() < stop_at:
                counter += 1
                method, path, body = request(counter)
                started = time.perf_counter()
                response = await client.request(method, path, json=body)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, percentile(latencies, 0.99), len(latencies), errors


def _wrk(url: str, seconds: float, connections: int) -> tuple[float, float] | None:
    """(requests/s, p99 seconds) from `wrk --latency`, or None when wrk is not installed."""
    if shutil.which("wrk") is None:
        return None
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {TOKEN}",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99 is not None
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0}[p99.group(2)]
    return rate, float(p99.group(1)) * scale


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
    if not has_module("httpx"):
        return [Row("6 api", "GET /api/drift/feedback", "", None, "req/s", note=PEER_MISSING + " (httpx)")]
    seconds, connections = config.api_seconds, config.api_concurrency
    rows = []
    with serve(config, "api") as (base, _):
        import httpx

        for u in range(20):  # some monitored users for the status answer
            body = {"action": "start_monitoring", "userId": f"status-{u}", "intervalSeconds": 30}
            httpx.post(
                f"{base}/api/drift/feedback", json=body, headers=HEADERS, timeout=10
            ).raise_for_status()
        by_wrk = _wrk(f"{base}/api/drift/feedback", seconds, connections)
        if by_wrk is not None:
            (rate, p99), generator = by_wrk, "wrk"
            health = _wrk(f"{base}/api/health", seconds, connections)
            assert health is not None
            health_rate = health[0]
        else:
            generator = "httpx"
            rate, p99, _, _ = asyncio.run(
                _load(base, lambda _: ("GET", "/api/drift/feedback", None), seconds, connections)
            )
            health_rate = asyncio.run(
                _load(base, lambda _: ("GET", "/api/health", None), seconds, connections)
            )[0]
        rows.append(
            Row(
                "6 api",
                f"GET /api/drift/feedback ({generator}, {connections} conn.)",
                f"{seconds:g} s",
                rate,
                "req/s",
                "GET /api/health",
                health_rate,
                "≥ 2,000 req/s",
                rate >= 2000,
                note=f"p99 {1000 * p99:.1f} ms",
                extra={"p99_ms": 1000 * p99},
            )
        )
        post_rate, post_p99, count, errors = asyncio.run(_load(base, _trade, seconds, connections))
        rows.append(
            Row(
                "6 api",
                f"POST /api/drift/trade (httpx, {connections} conn.)",
                f"{seconds:g} s",
                post_rate,
                "req/s",
                "GET /api/health",
                health_rate,
                "≥ 300 req/s",
                post_rate >= 300,
                note=f"p99 {1000 * post_p99:.0f} ms, {errors} errors",
                extra={"p99_ms": 1000 * post_p99, "requests": count, "errors": errors},
            )
        )
    return rows


if __name__ == "__main__":  # pragma: no cover
    print(run(Config(workdir=Path("/tmp"))))
