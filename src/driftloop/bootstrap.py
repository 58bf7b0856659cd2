"""Composition root: settings → engine, unit of work, clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from driftloop.adapters.clock import SystemClock
from driftloop.adapters.db.engine import make_engine, migrate
from driftloop.adapters.db.uow import SqlUnitOfWork
from driftloop.config import Settings
from driftloop.services.ports import Clock


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
