"""`driftloop demo`: the loop live on the paper venue, a few simulated days in well under a minute.

Analyses arrive as the market moves (the technical analyst is causal: each
analysis is timestamped at the close of its signal bar and submitted when the
feed reaches that time), trades are placed through the trading service, and
the monitor captures every outcome when the venue pushes the fills.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from driftloop.adapters.analysts.technical import TechnicalAnalyst
from driftloop.adapters.marketdata.candle import Candle
from driftloop.adapters.marketdata.csv_files import read_candles
from driftloop.adapters.marketdata.synthetic import generate_candles
from driftloop.adapters.venues.paper.feed import LiveFeed
from driftloop.adapters.venues.paper.venue import PaperVenue
from driftloop.bootstrap import bootstrap
from driftloop.domain.markets import market_index
from driftloop.domain.model import TradeStatus
from driftloop.entrypoints.demo import timeframe_for
from driftloop.entrypoints.presenters import trade_json, write_json
from driftloop.entrypoints.tables import print_insights, print_trades
from driftloop.loop import build_loop
from driftloop.services.insights import get_insights

WARMUP_BARS = 120  # the analyst's slow EMA needs history before the session starts


def _market(candles: Path | None, seed: int, days: float) -> tuple[list[Candle], str, str]:
    if candles is None:
        bars = WARMUP_BARS + int(days * 288)
        return (
            generate_candles(seed=seed, bars=bars),
            "SOL-PERP",
            f"synthetic SOL-PERP (seed {seed}; not real data)",
        )
    series = read_candles(candles)
    bar_minutes = series.bar_ms / 60_000
    keep = WARMUP_BARS + int(days * 1440 / bar_minutes)
    all_candles = series.to_candles()
    return (
        all_candles[-keep:],
        series.symbol or "SOL-PERP",
        f"{candles.name}, last {min(keep, len(all_candles)):,} bars",
    )


async def run_live_demo(
    out: Console,
    err: Console,
    *,
    candles: Path | None,
    db: str | None,
    seed: int,
    days: float,
    speed: float,
    json_out: Path | None = None,
) -> None:
    started = time.perf_counter()
    bars, symbol, source = _market(candles, seed, days)
    bar = bars[1].ts - bars[0].ts
    analyst = TechnicalAnalyst(symbol=symbol, timeframe=timeframe_for(bar.total_seconds() / 60))
    pending = sorted(analyst.analyze(bars), key=lambda a: a.timestamp)
    container = bootstrap(database_url=db)
    settings = container.settings
    venue = PaperVenue(taker_fee_bps=settings.taker_fee_bps, slippage_bps=settings.slippage_bps,
                       maintenance_margin_ratio=settings.maintenance_margin_ratio)  # fmt: skip
    app = build_loop(container, venue=venue)
    user = f"demo-{container.clock.now():%Y%m%d-%H%M%S}"
    await app.monitor.start_monitoring(user, interval=1.0)
    feed = LiveFeed(venue, app.history, bars, market_index(symbol), speed=speed,
                    bar_seconds=bar.total_seconds())  # fmt: skip
    out.print(
        f"[bold]driftloop live demo[/bold] — {source}; user {user}; analyst {analyst.name}; paper venue "
        f"(taker {container.settings.taker_fee_bps} bps); {len(bars):,} bars",
        highlight=False,
    )
    with Progress(TextColumn("[bold]live"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[note]}"), console=err) as progress:  # fmt: skip
        task = progress.add_task("live", total=len(bars), note="")
        while (candle := await feed.step()) is not None:
            now = candle.ts + bar  # the bar has closed: analyses up to now are known
            while pending and pending[0].timestamp <= now:
                await app.trading.place_trade(user, pending.pop(0))
            await asyncio.sleep(bar.total_seconds() / speed if speed > 0 else 0.001)  # let the monitor react
            status = app.monitor.status(user)[0]
            progress.update(task, advance=1, note=f"outcomes {status.outcomes_captured}")
    await app.monitor.check_trades(user)
    await app.monitor.shutdown()
    with container.uow() as uow:
        trades = uow.trades.live_trades(user)
    placed = [t for t in trades if t.status is not TradeStatus.SKIPPED]
    insights = get_insights(container.uow(), user)
    print_trades(out, placed, limit=15)
    print_insights(out, insights)
    if json_out:
        write_json(
            json_out, {"userId": user, "trades": [trade_json(t) for t in trades], "insights": insights}
        )
    skipped = len(trades) - len(placed)
    out.print(
        f"{len(trades)} analyses: {len(placed)} traded, {skipped} skipped (one position per market and "
        f"sub-account); simulated {(bars[-1].ts - bars[0].ts) / timedelta(days=1):.1f} days in "
        f"{time.perf_counter() - started:.1f} s; stored in "
        f"{container.engine.url.render_as_string(hide_password=True)}",
        highlight=False,
    )
