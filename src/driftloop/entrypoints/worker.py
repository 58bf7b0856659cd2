"""`driftloop monitor`: the monitoring worker, until SIGINT/SIGTERM (then it stops after the current cycle).

Several workers may share a PostgreSQL database: each cycle holds its user with
an advisory transaction lock, so no user is processed twice at once. On SQLite
one worker is the supported setup: a second one refuses to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from driftloop.adapters.marketdata.candle import Candle
from driftloop.adapters.marketdata.csv_files import read_candles
from driftloop.adapters.marketdata.synthetic import generate_candles
from driftloop.adapters.venues.paper.feed import LiveFeed
from driftloop.adapters.venues.paper.venue import PaperVenue
from driftloop.bootstrap import Container, bootstrap, build_venue
from driftloop.domain.errors import ConfigError
from driftloop.domain.markets import market_index
from driftloop.loop import build_loop
from driftloop.services.monitoring import CheckResult

log = logging.getLogger("driftloop.worker")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` fields."""

    _STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update({k: v for k, v in record.__dict__.items() if k not in self._STANDARD})
        if record.exc_info and record.exc_info[0] is not None:
            payload["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
        return json.dumps(payload, default=str)


def configure_logging(stream: IO[str] = sys.stderr, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


@contextlib.contextmanager
def single_sqlite_worker(container: Container) -> Iterator[None]:
    """On SQLite, hold an exclusive lock file next to the database for the worker's lifetime."""
    url = container.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        yield
        return
    path = Path(url.database).with_suffix(Path(url.database).suffix + ".worker.lock")
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"another driftloop monitor is already running on {url.database}: one worker is supported on "
                "SQLite (use PostgreSQL to run several)"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _feed_candles(candles: Path | None, seed: int) -> tuple[list[Candle], str]:
    if candles is None:
        return generate_candles(seed=seed, bars=200_000), "SOL-PERP"
    series = read_candles(candles)
    return series.to_candles(), series.symbol or "SOL-PERP"


async def run_worker(
    *, db: str | None, users: list[str], interval: float, candles: Path | None, speed: float, seed: int = 7
) -> None:
    container = bootstrap(database_url=db)
    with single_sqlite_worker(container):
        venue = build_venue(container.settings)  # paper (moved by a candle feed) or the live Drift venue

        def on_cycle(result: CheckResult, seconds: float) -> None:
            if result.fills_ingested or result.outcomes or result.events:
                log.info("cycle", extra={"user": result.user_id, "fills": result.fills_ingested,
                                         "outcomes": result.outcomes, "events": result.events,
                                         "ms": round(seconds * 1000, 2)})  # fmt: skip

        app = build_loop(container, venue=venue, on_cycle=on_cycle)
        feed: LiveFeed | None = None
        if isinstance(venue, PaperVenue):
            bars, symbol = _feed_candles(candles, seed)
            feed = LiveFeed(venue, app.history, bars, market_index(symbol), speed=speed)
        for user in users:
            await app.monitor.start_monitoring(user, interval)
        resumed = await app.monitor.resume()
        log.info("worker started", extra={"users": sorted(set(users) | set(resumed)), "venue": venue.name,
                                          "speed": speed, "interval": interval})  # fmt: skip
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        feeding = asyncio.create_task(feed.run()) if feed is not None else None
        await stop.wait()
        log.info("stopping after the current cycle")
        if feeding is not None:
            feeding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeding
        await app.monitor.shutdown()
        close = getattr(venue, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result
        log.info("worker stopped", extra={"bars_fed": feed.fed if feed is not None else 0})
