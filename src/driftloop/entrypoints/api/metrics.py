"""Prometheus metrics of one API process (own registry, so several apps in one process never clash).

Monitor cycles are counted through the Monitor's `on_cycle` callback; failed cycles (which the
monitor logs and survives) through a logging handler on the monitor's logger. Labels are bounded:
no user ids, routes by their template.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from driftloop.services.monitoring import CheckResult

CYCLE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The counters and histograms `GET /metrics` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.cycles = Counter("driftloop_monitor_cycles", "Monitoring cycles completed.", registry=r)
        self.fills = Counter("driftloop_fills_ingested", "Venue fills ingested.", registry=r)
        self.funding = Counter("driftloop_funding_ingested", "Funding payments ingested.", registry=r)
        self.outcomes = Counter("driftloop_outcomes_captured", "Trade outcomes captured.", registry=r)
        self.errors = Counter("driftloop_errors", "Errors, by source.", ["source"], registry=r)
        self.trades = Counter(
            "driftloop_trades_placed", "Trades placed through the API, by status.", ["status"], registry=r
        )
        self.cycle_seconds = Histogram(
            "driftloop_monitor_cycle_seconds", "Monitoring cycle latency.", buckets=CYCLE_BUCKETS, registry=r
        )
        self.http_seconds = Histogram(
            "driftloop_http_request_duration_seconds",
            "HTTP request latency, by method, route template and status.",
            ["method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.monitored = Gauge("driftloop_monitored_users", "Users with a running monitor loop.", registry=r)
        self.bars = Gauge("driftloop_feed_bars", "Bars fed to the paper venue.", registry=r)
        self._log_handler = _ErrorCounter(self)
        self.on_change: Callable[[], None] | None = None  # told when a monitor cycle failed

    def on_cycle(self, result: CheckResult, seconds: float) -> None:
        """The Monitor's `on_cycle` hook."""
        self.cycles.inc()
        self.cycle_seconds.observe(seconds)
        self.fills.inc(result.fills_ingested)
        self.funding.inc(result.funding_ingested)
        if result.outcomes:
            self.outcomes.inc(len(result.outcomes))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_seconds.labels(method, route, str(status)).observe(seconds)
        if status >= 500:
            self.errors.labels("api").inc()

    def attach(self) -> None:
        """Count the monitor's failed cycles (it logs them at WARNING and carries on)."""
        logging.getLogger("driftloop.services.monitor").addHandler(self._log_handler)

    def detach(self) -> None:
        logging.getLogger("driftloop.services.monitor").removeHandler(self._log_handler)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ErrorCounter(logging.Handler):
    def __init__(self, metrics: Metrics) -> None:
        super().__init__(level=logging.WARNING)
        self.metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        self.metrics.errors.labels("monitor").inc()
        if self.metrics.on_change is not None:
            self.metrics.on_change()
