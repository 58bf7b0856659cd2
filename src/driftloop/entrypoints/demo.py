"""`driftloop demo`: the whole loop on the embedded default, in well under a minute."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from driftloop.adapters.analysts.technical import TechnicalAnalyst
from driftloop.adapters.marketdata.csv_files import read_candles
from driftloop.adapters.marketdata.series import CandleSeries
from driftloop.adapters.marketdata.synthetic import generate_candles
from driftloop.adapters.venues.paper.engine import PaperParams, ReplayEngine
from driftloop.bootstrap import bootstrap
from driftloop.entrypoints.presenters import write_report_json
from driftloop.entrypoints.tables import print_summary, print_trades
from driftloop.services.replay import file_digest, replay, run_id_for

_TIMEFRAMES = ((5, "5m"), (15, "15m"), (60, "1h"), (240, "4h"), (1440, "1d"))


def timeframe_for(bar_minutes: float) -> str:
    """The smallest analysis timeframe at least as long as the bars."""
    return next((name for minutes, name in _TIMEFRAMES if bar_minutes <= minutes), "1d")


def run_demo(
    out: Console,
    err: Console,
    *,
    candles: Path | None,
    db: str | None,
    seed: int,
    bars: int,
    json_out: Path | None,
) -> None:
    started = time.perf_counter()
    if candles is None:
        series = CandleSeries.from_candles(generate_candles(seed=seed, bars=bars), symbol="SOL-PERP")
        source = f"synthetic SOL-PERP market (seed {seed}, {bars:,} × 5 min bars; not real data)"
        inputs = [f"synthetic:{seed}:{bars}"]
    else:
        series = read_candles(candles)
        source = f"{candles.name} ({len(series):,} bars)"
        inputs = [file_digest(candles.read_bytes())]
    symbol = series.symbol or "SOL-PERP"
    analyst = TechnicalAnalyst(symbol=symbol, timeframe=timeframe_for(series.bar_ms / 60_000))
    analyses = analyst.analyze(series.to_candles())
    params = PaperParams()
    parameters = {"analyst": analyst.name, "takerFeeBps": str(params.taker_fee_bps), "symbol": symbol}
    run_id = run_id_for(inputs, parameters)
    container = bootstrap(database_url=db)
    engine = ReplayEngine(series, params, run_id=run_id)
    out.print(
        f"[bold]driftloop demo[/bold] — {source}; analyst {analyst.name}; paper venue, "
        f"taker fee {params.taker_fee_bps} bps",
        highlight=False,
    )
    with Progress(
        TextColumn("[bold]trading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    ) as bar:
        task = bar.add_task("replay", total=len(analyses))
        report = replay(
            analyses,
            engine,
            container.uow(),
            container.clock,
            run_id,
            parameters,
            lambda n: bar.advance(task, n),
        )
    if json_out:
        write_report_json(json_out, report)
    print_trades(out, report.trades, limit=15)
    print_summary(out, report.summary, title=f"performance (run {run_id})")
    url = container.engine.url.render_as_string(hide_password=True)
    out.print(f"stored in {url} — {time.perf_counter() - started:.1f} s", highlight=False)
