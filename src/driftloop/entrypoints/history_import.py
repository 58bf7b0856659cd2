"""`driftloop import-history`: option checks, wiring and the printed summary."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from urllib.parse import urlparse

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from driftloop.domain.errors import InputError
from driftloop.domain.history import exact18
from driftloop.services.history_import import ImportRequest, ImportSummary, import_history

_BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")
MAX_SUB_ACCOUNT = 65535  # Drift sub-account ids are u16


def parse_since(text: str) -> datetime:
    """An ISO-8601 date or time; naive means UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"not an ISO-8601 date or time: {text!r}", field="--since") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def validate_import_options(
    user: str, account: str, api_url: str, since: str | None, sub_account: int, batch_size: int
) -> tuple[ImportRequest, str]:
    """The request, or `InputError` naming the option (nothing is touched before this passes)."""
    if not user.strip():
        raise InputError("must not be empty", field="--user")
    if not _BASE58.match(account):
        raise InputError(
            f"not a Solana public key (base58, 32-44 characters): {account!r}", field="--account"
        )
    parsed = urlparse(api_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InputError(f"must be an http(s) URL, got {api_url!r}", field="--api-url")
    if not 0 <= sub_account <= MAX_SUB_ACCOUNT:
        raise InputError(f"must be between 0 and {MAX_SUB_ACCOUNT}, got {sub_account}", field="--sub-account")
    if batch_size < 1:
        raise InputError(f"must be at least 1, got {batch_size}", field="--batch-size")
    request = ImportRequest(
        user_id=user.strip(),
        account_key=account,
        sub_account=sub_account,
        since=parse_since(since) if since else None,
        batch_size=batch_size,
    )
    return request, api_url


def run_import(request: ImportRequest, api_url: str, db: str | None, err: Console) -> ImportSummary:
    """Run the import against the Data API into the configured database, with progress on stderr."""
    from driftloop.adapters.drift_data.client import DriftDataClient
    from driftloop.bootstrap import bootstrap

    container = bootstrap(database_url=db)

    async def go(progress: Progress) -> ImportSummary:
        pages = progress.add_task("pages read", total=None)
        events = progress.add_task("events stored", total=None)

        def advance(stage: str, n: int) -> None:
            progress.advance(pages if stage == "page" else events, n)

        async with DriftDataClient(request.account_key, api_url) as client:
            return await import_history(client, container.uow, container.clock, request, progress=advance)

    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.completed:,}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        return asyncio.run(go(progress))


def print_import_summary(out: Console, summary: ImportSummary, elapsed: float) -> None:
    table = Table(
        title=f"import {summary.account_key} → {summary.user_id} (sub-account {summary.sub_account})"
    )
    table.add_column("")
    table.add_column("", justify="right")
    records = sum(summary.records.values())
    rows = [
        ("pages read", f"{sum(summary.pages.values()):,}"),
        ("records read", f"{records:,}"),
        (
            "new fills / funding / settlements",
            f"{summary.new_fills} / {summary.new_funding} / {summary.new_settlements}",
        ),
        ("trades stored (closed / open now)", f"{summary.trades_closed} / {summary.trades_open}"),
        ("realized PnL of closed trades (USD)", f"{exact18(summary.realized_pnl):f}"),
        (
            "settle-PnL check (matched / mismatched / n.a.)",
            f"{summary.settle.matched} / {summary.settle.mismatched} / {summary.settle.not_comparable}",
        ),
        ("transactions", f"{summary.batches}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)
    for issue in summary.issues[:50]:
        when = f"{issue.ts:%Y-%m-%d %H:%M:%S}"
        out.print(f"[yellow]{issue.kind}[/yellow] market {issue.market_index} {when}: {escape(issue.detail)}")
    if len(summary.issues) > 50:
        out.print(f"… and {len(summary.issues) - 50} more issues (--json lists all)")
    if summary.new_events == 0:
        out.print("nothing new: the database already holds this history")
    rate = records / elapsed if elapsed > 0 else 0.0
    out.print(f"{records:,} records in {elapsed:.2f} s ({rate:,.0f} records/s)", highlight=False)
