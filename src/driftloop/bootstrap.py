"""Composition root: settings → engine, unit of work, clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from driftloop.adapters.clock import SystemClock
from driftloop.adapters.db.engine import make_engine, migrate
from driftloop.adapters.db.uow import SqlUnitOfWork
from driftloop.adapters.venues.paper.venue import PaperVenue
from driftloop.config import DriftSettings, Settings
from driftloop.domain.errors import ConfigError
from driftloop.services.ports import Clock, Venue


@dataclass
class Container:
    settings: Settings
    engine: Engine
    clock: Clock

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine)

    @property
    def uow_factory(self) -> Callable[[], SqlUnitOfWork]:
        return self.uow


def bootstrap(settings: Settings | None = None, *, database_url: str | None = None) -> Container:
    """Build the app's dependencies once; the database is migrated to head."""
    settings = settings or Settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    engine = make_engine(settings.database_url, schema=settings.database_schema)
    migrate(engine, schema=settings.database_schema)
    return Container(settings=settings, engine=engine, clock=SystemClock())


def build_venue(settings: Settings, drift: DriftSettings | None = None) -> Venue:
    """The configured venue (`DRIFTLOOP_VENUE`): `paper`, or `drift`, the live Drift venue, configured by
    the DRIFTLOOP_DRIFT_* settings and available with the `driftloop[drift]` extra (driftpy is imported
    here only when it is chosen)."""
    if settings.venue == "paper":
        return PaperVenue(
            taker_fee_bps=settings.taker_fee_bps,
            slippage_bps=settings.slippage_bps,
            maintenance_margin_ratio=settings.maintenance_margin_ratio,
        )
    if settings.venue == "drift":
        try:
            from driftloop.adapters.venues.drift.venue import DriftVenue
        except ImportError as exc:
            raise ConfigError(
                f"DRIFTLOOP_VENUE=drift needs the drift extra: pip install 'driftloop[drift]' "
                f"({exc.name} is missing)"
            ) from None
        return DriftVenue(drift or DriftSettings())
    raise ConfigError(f"unknown venue {settings.venue!r}: use 'paper' or 'drift'")
