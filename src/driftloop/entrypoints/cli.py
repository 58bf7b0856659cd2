"""The `driftloop` command line (thin: parse, call a service, print)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from driftloop.adapters.marketdata.csv_files import funding_for, read_candles, read_funding
from driftloop.adapters.marketdata.series import CandleSeries
from driftloop.adapters.marketdata.signals import read_signals
from driftloop.adapters.venues.paper.engine import PaperParams, ReplayEngine
from driftloop.domain.errors import DriftloopError, InputError, NotFoundError
from driftloop.domain.model import Analysis
from driftloop.entrypoints.presenters import write_report_json
from driftloop.entrypoints.tables import print_contexts, print_insights, print_summary, print_trades
from driftloop.services.replay import ReplayReport, file_digest, replay, run_id_for

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="driftloop: AI trade analyses → exact outcomes."
)
out = Console() if sys.stdout.isatty() else Console(width=150)
err = Console(stderr=True, soft_wrap=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Map errors to messages and exit codes once: bad input 2, other failures 1, never a traceback."""
    try:
        yield
    except InputError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    except NotFoundError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    except DriftloopError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    except typer.Exit:
        raise
    except Exception as exc:
        name = type(exc).__name__
        if name.endswith(("OperationalError", "ArgumentError")) or "sqlalchemy" in type(exc).__module__:
            first_line = escape(str(exc).splitlines()[0][:300])
            err.print(f"[red]error:[/red] database: {first_line}", highlight=False)
        else:
            err.print(f"[red]error:[/red] internal error ({name}); nothing was written", highlight=False)
        raise typer.Exit(1) from None


def decimal_option(name: str, text: str, low: Decimal, high: Decimal) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InputError(f"not a number: {text!r}", field=name) from None
    if not value.is_finite() or not low <= value <= high:
        raise InputError(f"must be between {low} and {high}, got {text}", field=name)
    return value


def _params(fee: str, slippage: str, breakeven: str, maintenance: str) -> PaperParams:
    return PaperParams(
        taker_fee_bps=decimal_option("--taker-fee-bps", fee, Decimal(0), Decimal(1000)),
        slippage_bps=decimal_option("--slippage-bps", slippage, Decimal(0), Decimal(1000)),
        breakeven_pct=decimal_option("--breakeven-pct", breakeven, Decimal(0), Decimal(100)),
        maintenance_margin_ratio=decimal_option(
            "--maintenance-margin", maintenance, Decimal("0.0001"), Decimal("0.99")
        ),
    )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", source=str(path)) from None


def _run_replay(
    analyses: Sequence[Analysis],
    series: CandleSeries,
    funding: list[tuple[int, Decimal]],
    params: PaperParams,
    run_id: str,
    parameters: dict[str, Any],
    db: str | None,
    policy: str = "raw",
) -> ReplayReport:
    from driftloop.bootstrap import bootstrap  # deferred: the database is only touched after validation

    container = bootstrap(database_url=db)
    engine = ReplayEngine(series, params, funding, run_id=run_id)
    with Progress(
        TextColumn("[bold]replay"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("replay", total=len(analyses))
        advance: Callable[[int], None] = lambda n: bar.advance(task, n)  # noqa: E731
        return replay(
            analyses,
            engine,
            container.uow(),
            container.clock,
            run_id,
            parameters,
            advance,
            policy=policy,
            bar=timedelta(milliseconds=series.bar_ms),
        )


FeeOpt = Annotated[str, typer.Option("--taker-fee-bps", help="Taker fee per fill, bps of notional.")]
SlipOpt = Annotated[str, typer.Option("--slippage-bps", help="Slippage against the trader, bps.")]
BandOpt = Annotated[str, typer.Option("--breakeven-pct", help="|pnlPercent| ≤ this is BREAKEVEN.")]
MmrOpt = Annotated[
    str, typer.Option("--maintenance-margin", help="Maintenance margin ratio for liquidation.")
]
DbOpt = Annotated[
    str | None, typer.Option("--db", help="Database URL (default DRIFTLOOP_DATABASE_URL or sqlite).")
]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Write every trade and the summary as JSON.")]


@app.command("replay")
def replay_command(
    candles: Annotated[Path, typer.Option("--candles", help="Candles CSV (.csv or .csv.gz).")],
    signals: Annotated[Path, typer.Option("--signals", help="Analyses, one JSON object per line.")],
    funding: Annotated[
        Path | None, typer.Option("--funding", help="Funding CSV: timestamp,funding_rate.")
    ] = None,
    db: DbOpt = None,
    taker_fee_bps: FeeOpt = "10",
    slippage_bps: SlipOpt = "0",
    breakeven_pct: BandOpt = "0.05",
    maintenance_margin: MmrOpt = "0.03",
    symbol: Annotated[
        str | None, typer.Option("--symbol", help="Market of the candles, e.g. SOL-PERP.")
    ] = None,
    policy: Annotated[str, typer.Option("--policy", help="raw (take every analysis) or learned.")] = "raw",
    json_out: JsonOpt = None,
) -> None:
    """Replay analyses against the paper venue over candles, store every trade, print a summary."""
    with user_errors():
        if policy not in ("raw", "learned"):
            raise InputError(f"must be raw or learned, got {policy!r}", field="--policy")
        params = _params(taker_fee_bps, slippage_bps, breakeven_pct, maintenance_margin)
        started = time.perf_counter()
        series = read_candles(candles, symbol=symbol.upper() if symbol else None)
        analyses = read_signals(signals)
        funding_series = read_funding(funding) if funding else None
        digests = [file_digest(_read_bytes(p)) for p in (candles, signals, *([funding] if funding else []))]
        parameters = {
            "takerFeeBps": str(params.taker_fee_bps),
            "slippageBps": str(params.slippage_bps),
            "breakevenPct": str(params.breakeven_pct),
            "maintenanceMarginRatio": str(params.maintenance_margin_ratio),
            "symbol": series.symbol,
            "policy": policy,
        }
        run_id = run_id_for(digests, parameters)
        base = series.symbol.split("-")[0] if series.symbol else (analyses[0].base_asset if analyses else "")
        report = _run_replay(
            analyses, series, funding_for(funding_series, base), params, run_id, parameters, db, policy
        )
        elapsed = time.perf_counter() - started
        if json_out:
            write_report_json(json_out, report)
        print_trades(out, report.trades, limit=20)
        print_summary(out, report.summary, title=f"replay {report.run_id}")
        out.print(f"{len(series):,} candles, {len(analyses):,} analyses in {elapsed:.2f} s", highlight=False)


@app.command("demo")
def demo_command(
    candles: Annotated[
        Path | None, typer.Option("--candles", help="Real candles instead of synthetic.")
    ] = None,
    db: DbOpt = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic market.")] = 7,
    days: Annotated[float, typer.Option("--days", min=0.5, max=365, help="Simulated days of trading.")] = 3.0,
    speed: Annotated[
        float, typer.Option("--speed", min=0, help="× real time (0: as fast as possible).")
    ] = 0.0,
    replay_only: Annotated[
        bool, typer.Option("--replay", help="Batch replay instead of the live loop.")
    ] = False,
    json_out: JsonOpt = None,
) -> None:
    """The whole loop on the embedded default: market → analyst → paper venue → monitor → insights."""
    with user_errors():
        if replay_only:
            from driftloop.entrypoints.demo import run_demo

            bars = 120 + int(days * 288)
            run_demo(out, err, candles=candles, db=db, seed=seed, bars=bars, json_out=json_out)
            return
        from driftloop.entrypoints.live_demo import run_live_demo

        asyncio.run(
            run_live_demo(
                out, err, candles=candles, db=db, seed=seed, days=days, speed=speed, json_out=json_out
            )
        )


@app.command("insights")
def insights_command(
    user: Annotated[str, typer.Option("--user", help="The user whose live trades to summarise.")],
    db: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the insights as JSON.")] = False,
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Check the maintained aggregates against a rebuild from the trades."),
    ] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Recompute the user's aggregates from the stored trades first.")
    ] = False,
) -> None:
    """Insights over a user's live trades: performance, breakdowns, calibration, weekly progression."""
    with user_errors():
        from driftloop.bootstrap import bootstrap
        from driftloop.services.insights import get_insights, rebuild_insights, verify_insights

        container = bootstrap(database_url=db)
        if rebuild:
            count = rebuild_insights(container.uow(), user)
            err.print(f"rebuilt the insight aggregates from {count} live trades")
        if verify:
            ok, _, _ = verify_insights(container.uow(), user)
            err.print(
                "the maintained aggregates equal a rebuild from the trades"
                if ok
                else "[red]the maintained aggregates differ from a rebuild: run with --rebuild[/red]"
            )
            if not ok:
                raise typer.Exit(1)
        insights = get_insights(container.uow(), user)
        if as_json:
            typer.echo(json.dumps(insights, indent=1))
        else:
            print_insights(out, insights)


@app.command("context")
def context_command(
    user: Annotated[str, typer.Option("--user", help="The user whose closed trades to summarise.")],
    symbol: Annotated[str, typer.Option("--symbol", help="Perp market, e.g. SOL-PERP or SOL.")],
    timeframe: Annotated[str, typer.Option("--timeframe", help="5m, 15m, 1h, 4h or 1d.")],
    analyst: Annotated[str | None, typer.Option("--analyst", help="Only this analyst's trades.")] = None,
    db: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the facts as JSON instead of text.")] = False,
) -> None:
    """The analyst's track record and calibration for a market and timeframe, ready for its prompt."""
    with user_errors():
        from driftloop.bootstrap import bootstrap
        from driftloop.services.learning import get_learning_context

        container = bootstrap(database_url=db)
        text, data = get_learning_context(container.uow(), user, symbol, timeframe, analyst)
        typer.echo(json.dumps(data, indent=1) if as_json else text)


@app.command("contexts")
def contexts_command(
    user: Annotated[str, typer.Option("--user", help="The user whose closed trades to summarise.")],
    level: Annotated[
        str, typer.Option("--level", help="global, analyst, symbol, timeframe, side or leverage.")
    ] = "timeframe",
    db: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summaries as JSON.")] = False,
) -> None:
    """Which contexts pay: win rate, expectancy in R and profit factor per context, with uncertainty."""
    with user_errors():
        from driftloop.bootstrap import bootstrap
        from driftloop.services.learning import context_statistics

        container = bootstrap(database_url=db)
        stats = context_statistics(container.uow(), user, level)
        if as_json:
            typer.echo(json.dumps(stats, indent=1))
        else:
            print_contexts(out, stats)


@app.command("monitor")
def monitor_command(
    user: Annotated[list[str] | None, typer.Option("--user", help="User to monitor (repeatable).")] = None,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Polling safety net, seconds.")
    ] = 30.0,
    candles: Annotated[
        Path | None, typer.Option("--candles", help="Paper feed: replay these candles.")
    ] = None,
    speed: Annotated[float, typer.Option("--speed", min=0, help="Paper feed: × real time.")] = 60.0,
    db: DbOpt = None,
) -> None:
    """Run the monitoring loop for users (and every user stored as monitored) until SIGINT/SIGTERM."""
    from driftloop.entrypoints.worker import configure_logging, run_worker

    configure_logging()
    with user_errors():
        asyncio.run(
            run_worker(db=db, users=list(user or []), interval=interval, candles=candles, speed=speed)
        )


@app.command("migrate")
def migrate_command(db: DbOpt = None) -> None:
    """Create or upgrade the database schema (Alembic head)."""
    with user_errors():
        from driftloop.bootstrap import bootstrap

        container = bootstrap(database_url=db)
        out.print(f"database at head: {container.engine.url.render_as_string(hide_password=True)}")


@app.command("serve")
def serve_command(
    host: Annotated[
        str, typer.Option("--host", help="Bind address (non-loopback needs a token).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 3000,
    venue: Annotated[
        str, typer.Option("--venue", help="paper, or drift (live: driftloop[drift], DRIFTLOOP_DRIFT_*).")
    ] = "paper",
    candles: Annotated[
        Path | None, typer.Option("--candles", help="Paper feed: replay these candles (default synthetic).")
    ] = None,
    speed: Annotated[float, typer.Option("--speed", min=0, help="Paper feed: × real time.")] = 60.0,
    no_monitor: Annotated[
        bool, typer.Option("--no-monitor", help="Run no monitor loops here (a `driftloop monitor` does).")
    ] = False,
    db: DbOpt = None,
) -> None:
    """The HTTP API (FastAPI on uvicorn) with the monitor, until SIGINT/SIGTERM."""
    from driftloop.domain.errors import ConfigError
    from driftloop.entrypoints.serve import run_serve
    from driftloop.entrypoints.worker import configure_logging

    configure_logging()
    with user_errors():
        try:
            run_serve(
                host=host, port=port, venue=venue, candles=candles, speed=speed, monitor=not no_monitor, db=db
            )
        except ConfigError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(2) from None


@app.command("import-history")
def import_history_command(
    user: Annotated[str, typer.Option("--user", help="The user the trades belong to.")],
    account: Annotated[
        str, typer.Option("--account", help="The Drift user (sub-account) account public key.")
    ],
    api_url: Annotated[
        str, typer.Option("--api-url", help="Drift Data API base URL.")
    ] = "https://data.api.drift.trade",
    since: Annotated[
        str | None, typer.Option("--since", help="Ignore records before this date (ISO-8601, UTC).")
    ] = None,
    sub_account: Annotated[int, typer.Option("--sub-account", help="Sub-account id the trades go to.")] = 0,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Events stored per transaction (resumable unit).")
    ] = 1000,
    db: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Import a Drift account's fills, funding and settle-PnL records as trades with exact outcomes."""
    from driftloop.entrypoints.history_import import print_import_summary, run_import, validate_import_options

    with user_errors():
        request, url = validate_import_options(user, account, api_url, since, sub_account, batch_size)
        started = time.perf_counter()
        summary = run_import(request, url, db, err)
        elapsed = time.perf_counter() - started
        if as_json:
            typer.echo(json.dumps({**summary.to_json(), "seconds": round(elapsed, 3)}, indent=1))
        else:
            print_import_summary(out, summary, elapsed)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
