"""`driftloop serve`: the HTTP API on uvicorn, with the paper venue live and the monitor in-process.

The paper venue moves on a price feed: synthetic candles for SOL, BTC and ETH perps (generated
chunk by chunk, starting now, at `speed`× real time), or a candles file replayed at `speed`×.
SIGINT/SIGTERM stop the server gracefully: requests in flight finish, then the feeds and the
monitor loops stop (the lifespan's shutdown).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import FrameType

import uvicorn

from driftloop.adapters.db.engine import make_engine
from driftloop.adapters.marketdata.candle import Candle
from driftloop.adapters.marketdata.csv_files import read_candles
from driftloop.adapters.marketdata.history import BarHistory
from driftloop.adapters.marketdata.synthetic import generate_candles
from driftloop.adapters.venues.paper.feed import LiveFeed
from driftloop.adapters.venues.paper.venue import DEFAULT_SYMBOLS, PaperVenue
from driftloop.bootstrap import bootstrap, build_venue
from driftloop.config import Settings
from driftloop.domain.errors import ConfigError
from driftloop.domain.markets import market_index
from driftloop.entrypoints.api.app import create_app
from driftloop.entrypoints.api.tokens import resolve_token
from driftloop.services.ports import Venue

log = logging.getLogger("driftloop.serve")
BAR = timedelta(minutes=5)
CHUNK = 5_000  # synthetic bars generated at a time
DB_POOL = 40  # anyio's default worker-thread limit
SYNTHETIC_MARKETS = (("SOL-PERP", Decimal(150)), ("BTC-PERP", Decimal(60_000)), ("ETH-PERP", Decimal(3_000)))


class _Server(uvicorn.Server):
    """uvicorn re-raises a captured SIGTERM after its graceful shutdown (the process then dies by the
    signal); for driftloop SIGTERM is the normal way to stop, so the process exits with status 0."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        captured = getattr(self, "_captured_signals", None)
        if sig == signal.SIGTERM and isinstance(captured, list) and sig in captured:
            captured.remove(sig)


def synthetic_candles(seed: int, start: datetime, price: Decimal) -> Iterator[Candle]:
    """An endless synthetic market (SYNTHETIC data), continuous across chunks."""
    chunk = 0
    while True:
        bars = generate_candles(seed=seed * 1_000 + chunk, bars=CHUNK, start=start, start_price=price)
        yield from bars
        start, price, chunk = bars[-1].ts + BAR, bars[-1].close, chunk + 1


def build_feeds(
    venue: PaperVenue, history: BarHistory, candles: Path | None, speed: float, seed: int = 7
) -> list[LiveFeed]:
    """The paper venue's feeds: one per synthetic market, or the candles file's market."""
    if candles is not None:
        series = read_candles(candles)
        symbol = series.symbol or "SOL-PERP"
        index = market_index(symbol)
        venue.symbols.setdefault(symbol, index)
        bar_seconds = series.bar_ms / 1000 if len(series) > 1 else 300.0
        return [LiveFeed(venue, history, series.to_candles(), index, speed=speed, bar_seconds=bar_seconds)]
    now = datetime.now(UTC)
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5)
    return [
        LiveFeed(venue, history, synthetic_candles(seed + i, start, price), market_index(symbol), speed=speed)
        for i, (symbol, price) in enumerate(SYNTHETIC_MARKETS)
    ]


def run_serve(
    *,
    host: str,
    port: int,
    venue: str,
    candles: Path | None,
    speed: float,
    monitor: bool,
    db: str | None,
) -> None:
    """Serve until SIGINT/SIGTERM. ConfigError (exit 2 in the CLI) before anything starts when the
    venue is not available or a public address has no token."""
    settings = Settings()
    if db:
        settings = settings.model_copy(update={"database_url": db})
    settings = settings.model_copy(update={"host": host, "port": port, "venue": venue})
    if venue not in ("paper", "drift"):
        raise ConfigError(f"unknown venue {venue!r}: use 'paper' or 'drift'")
    token = resolve_token(settings, host)
    container = bootstrap(settings)
    # Requests run their database work in worker threads: a pool as large as the threads that may
    # hold a connection at once, so that a burst never opens (and closes) connections per request.
    container.engine.dispose()
    container.engine = make_engine(
        settings.database_url, schema=settings.database_schema, pool_size=DB_POOL, max_overflow=DB_POOL
    )
    history = BarHistory()
    chosen: Venue
    if venue == "paper":
        paper = PaperVenue(
            taker_fee_bps=settings.taker_fee_bps,
            slippage_bps=settings.slippage_bps,
            maintenance_margin_ratio=settings.maintenance_margin_ratio,
            symbols=dict(DEFAULT_SYMBOLS),
        )
        feeds = build_feeds(paper, history, candles, speed)
        chosen, feed = paper, str(candles) if candles else "synthetic SOL/BTC/ETH"
    else:  # the live Drift venue (driftloop[drift]): prices come from its oracles, no feed
        chosen, feeds, feed = build_venue(settings), [], "the Drift oracles"
    app = create_app(
        container, token=token.value, venue=chosen, history=history, feeds=feeds, monitor=monitor
    )
    where = container.engine.url.render_as_string(hide_password=True)
    details = {"url": f"http://{host}:{port}", "token_source": token.origin, "database": where, "feed": feed}
    log.info("driftloop API starting", extra={**details, "speed": speed, "monitor": monitor})
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")
    _Server(config).run()
    container.engine.dispose()
    log.info("driftloop API stopped")
