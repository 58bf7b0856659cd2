"""The SQL unit of work: one connection and one transaction per use case."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Self

from sqlalchemy import Connection, Engine

from driftloop.adapters.db.repositories import SqlRunRepository, SqlTradeRepository
from driftloop.services.ports import RunRepository, TradeRepository

if TYPE_CHECKING:
    from driftloop.services.ports import UnitOfWork


class SqlUnitOfWork:
    """`services.ports.UnitOfWork` over SQLAlchemy Core.

    ``with SqlUnitOfWork(engine) as uow: ...; uow.commit()`` — anything not
    committed when the block exits (normally or by an exception) is rolled back.
    Repositories share the unit's connection and never commit.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        self._trades: SqlTradeRepository | None = None
        self._runs: SqlRunRepository | None = None

    # The port declares plain attributes; these properties read as the SQL types
    # (so `uow.trades.save_many` type-checks) and accept only SQL repositories.
    @property
    def trades(self) -> SqlTradeRepository:
        """The trade repository bound to this unit's connection."""
        if self._trades is None:
            raise RuntimeError("the unit of work is not open: use it as a context manager")
        return self._trades

    @trades.setter
    def trades(self, repository: TradeRepository) -> None:
        if not isinstance(repository, SqlTradeRepository):
            raise TypeError("a SqlUnitOfWork holds a SqlTradeRepository")
        self._trades = repository

    @property
    def runs(self) -> SqlRunRepository:
        """The replay-run repository bound to this unit's connection."""
        if self._runs is None:
            raise RuntimeError("the unit of work is not open: use it as a context manager")
        return self._runs

    @runs.setter
    def runs(self, repository: RunRepository) -> None:
        if not isinstance(repository, SqlRunRepository):
            raise TypeError("a SqlUnitOfWork holds a SqlRunRepository")
        self._runs = repository

    @property
    def connection(self) -> Connection:
        """The open connection, for other adapters that must join this transaction."""
        if self._connection is None:
            raise RuntimeError("the unit of work is not open: use it as a context manager")
        return self._connection

    def __enter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("the unit of work is already open")
        self._connection = self.engine.connect()
        self._connection.begin()
        self.trades = SqlTradeRepository(self._connection)
        self.runs = SqlRunRepository(self._connection)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        connection, self._connection = self._connection, None
        self._trades = self._runs = None
        if connection is None:
            return
        try:
            connection.rollback()
        finally:
            connection.close()

    def commit(self) -> None:
        """Commit the work so far; later work starts a new transaction."""
        self.connection.commit()

    def rollback(self) -> None:
        """Discard the work since the last commit."""
        self.connection.rollback()


if TYPE_CHECKING:

    def _implements_port(engine: Engine) -> UnitOfWork:
        return SqlUnitOfWork(engine)
