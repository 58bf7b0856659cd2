"""Composition of the live loop: venue, price history, trading service, outcome capture, monitor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from driftloop.adapters.marketdata.history import BarHistory
from driftloop.bootstrap import Container, build_venue
from driftloop.domain.errors import ConfigError
from driftloop.domain.trade import AccountRef
from driftloop.services.monitor import Monitor
from driftloop.services.monitoring import CheckResult, OutcomeCapture
from driftloop.services.policy import Policy
from driftloop.services.ports import Venue
from driftloop.services.reconcile import Reconciler
from driftloop.services.retry import RetryPolicy
from driftloop.services.trading import TradingService


@dataclass
class LoopApp:
    container: Container
    venue: Venue
    history: BarHistory
    trading: TradingService
    capture: OutcomeCapture
    monitor: Monitor


def build_loop(
    container: Container,
    venue: Venue | None = None,
    history: BarHistory | None = None,
    policy: Policy | None = None,
    retry: RetryPolicy | None = None,
    on_cycle: Callable[[CheckResult, float], None] | None = None,
    *,
    serving: bool = False,
) -> LoopApp:
    """Wire the loop on the given venue, or the configured one (`DRIFTLOOP_VENUE`: paper or drift).
    `serving`: the process also answers HTTP requests (captures run off its event loop)."""
    settings = container.settings
    if venue is None:
        venue = build_venue(settings)
    history = history or BarHistory()
    chosen: Venue = venue

    def venue_for(account: AccountRef) -> Venue:
        if account.venue != chosen.name:
            raise ConfigError(
                f"account {account.user_id} trades on {account.venue!r}; this process runs "
                f"the {chosen.name!r} venue"
            )
        return chosen

    capture = OutcomeCapture(
        container.uow,
        venue_for,
        container.clock,
        history,
        breakeven_pct=settings.breakeven_pct,
        retry=retry,
        reconciler=Reconciler(),
        offload=serving,
    )
    monitor = Monitor(capture, container.uow, venue_for, container.clock, on_cycle=on_cycle)
    trading = TradingService(
        container.uow, venue_for, container.clock, policy=policy, on_trade=monitor.ensure_running, retry=retry
    )
    return LoopApp(container, venue, history, trading, capture, monitor)
