"""Workload 5: fill-to-outcome latency on the live paper venue: pushed fills vs polling only (1 s).

Each round places one trade per user, fills the entries, then feeds one bar that takes every
position out; the latency of a trade is the time from that bar being fed to its outcome committed.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from bench.common import Config, Row, percentile
from driftloop.adapters.marketdata.candle import Candle
from driftloop.adapters.venues.paper.feed import LiveFeed
from driftloop.adapters.venues.paper.venue import PaperVenue
from driftloop.bootstrap import bootstrap
from driftloop.domain.model import Analysis, Prediction, Recommendation, Timeframe
from driftloop.loop import build_loop
from driftloop.services.monitoring import CheckResult

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def bar(i: int, low: str = "99.5", high: str = "100.5") -> Candle:
    return Candle(T0 + timedelta(minutes=5 * i), D(100), D(high), D(low), D(100), D(1))


async def session(pushed: bool, users: int, rounds: int, db_url: str | None) -> list[float]:
    db = db_url or f"sqlite:///{tempfile.mkdtemp()}/latency.db"
    venue = PaperVenue()
    captured_at: dict[str, float] = {}

    def on_cycle(result: CheckResult, _: float) -> None:
        now = time.perf_counter()
        for trade_id in result.outcomes:
            captured_at.setdefault(trade_id, now)

    app = build_loop(bootstrap(database_url=db), venue=venue, on_cycle=on_cycle)
    if not pushed:  # polling only: no subscriptions
        venue.subscribe = lambda account, handler: type("S", (), {"close": lambda self: None})()  # type: ignore[method-assign]
    bars = [bar(0)]
    for r in range(rounds):
        bars += [bar(3 * r + 1), bar(3 * r + 2), bar(3 * r + 3, low="94")]
    feed = LiveFeed(venue, app.history, bars)
    await feed.step()
    latencies: list[float] = []
    for r in range(rounds):
        ids = []
        for u in range(users):
            analysis = Analysis(
                id=f"r{r}-u{u}",
                timestamp=T0,
                symbol="SOL-PERP",
                timeframe=Timeframe.M5,
                prediction=Prediction.BULLISH,
                confidence=D(60),
                recommendation=Recommendation.BUY,
                stop_loss=D(95),
                take_profit=D(110),
                size_usd=D(1000),
            )
            trade = await app.trading.place_trade(f"user-{u}", analysis)
            if r == 0:
                await app.monitor.start_monitoring(f"user-{u}", 1.0)
            ids.append(trade.id)
        await feed.step()  # entries fill
        await feed.step()
        await asyncio.sleep(1.2)  # let every loop settle (polling mode needs a cycle)
        fed = time.perf_counter()
        await feed.step()  # the stop fires for every position
        deadline = fed + 10
        while not all(i in captured_at for i in ids) and time.perf_counter() < deadline:
            await asyncio.sleep(0.0005)
        latencies += [captured_at[i] - fed for i in ids if i in captured_at]
    await app.monitor.shutdown()
    return latencies


def run(config: Config) -> list[Row]:
    rows = []
    users, rounds = config.latency_users, config.latency_rounds
    pushed = asyncio.run(session(True, users, rounds, None))
    polled = asyncio.run(session(False, users, rounds, None))
    size = f"{users} users × {rounds} rounds"
    for name, q in (("median", 0.5), ("p99", 0.99)):
        ours, base = 1000 * percentile(pushed, q), 1000 * percentile(polled, q)
        met = ours < 100 if name == "p99" else None
        target = "p99 < 100 ms pushed" if name == "p99" else ""
        rows.append(
            Row(
                "5 outcome latency",
                f"pushed fill → committed outcome, {name}",
                size,
                ours,
                "ms",
                "polling only, 1 s",
                base,
                target,
                met,
                extra={"n": len(pushed)},
            )
        )
    return rows
