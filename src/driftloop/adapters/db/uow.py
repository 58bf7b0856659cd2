"""The SQL unit of work: one connection and one transaction per use case."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Self

from sqlalchemy import Connection, Engine, text

from driftloop.adapters.db.accounts import SqlAccountRepository, SqlCursorRepository
from driftloop.adapters.db.events import SqlEventRepository
from driftloop.adapters.db.insights import SqlInsightRepository
from driftloop.adapters.db.repositories import SqlRunRepository, SqlTradeRepository
from driftloop.domain.ids import digest
from driftloop.domain.trade import AccountRef

if TYPE_CHECKING:
    from driftloop.services.ports import UnitOfWork

_TRY_LOCKS = text("SELECT key, pg_try_advisory_xact_lock(key) FROM unnest(CAST(:keys AS bigint[])) AS key")


def user_lock_key(user_id: str) -> int:
    """The PostgreSQL advisory-lock key of a user: 64 bits of a digest, as a signed bigint."""
    return int.from_bytes(bytes.fromhex(digest("driftloop-user", user_id)[:16]), "big", signed=True)


class _Repositories:
    """The repositories of one open unit, all on its connection."""

    def __init__(self, connection: Connection) -> None:
        # accounts created or confirmed in this transaction: later writes skip ensuring them again
        self.ensured: set[AccountRef] = set()
        self.trades = SqlTradeRepository(connection, self.ensured)
        self.runs = SqlRunRepository(connection)
        self.accounts = SqlAccountRepository(connection)
        self.cursors = SqlCursorRepository(connection, self.ensured)
        self.events = SqlEventRepository(connection, self.ensured)
        self.insights = SqlInsightRepository(connection)


class SqlUnitOfWork:
    """`services.ports.UnitOfWork` over SQLAlchemy Core.

    ``with SqlUnitOfWork(engine) as uow: ...; uow.commit()`` — anything not
    committed when the block exits (normally or by an exception) is rolled back.
    Repositories share the unit's connection and never commit; they are only
    available while the unit is open. Their properties read as the SQL types
    (so e.g. `uow.trades.ensure_accounts` type-checks).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        self._repositories: _Repositories | None = None

    def _open(self) -> _Repositories:
        if self._repositories is None:
            raise RuntimeError("the unit of work is not open: use it as a context manager")
        return self._repositories

    @property
    def trades(self) -> SqlTradeRepository:
        """Trades with everything they carry."""
        return self._open().trades

    @property
    def runs(self) -> SqlRunRepository:
        """Replay runs."""
        return self._open().runs

    @property
    def accounts(self) -> SqlAccountRepository:
        """Accounts and the users' monitoring state."""
        return self._open().accounts

    @property
    def cursors(self) -> SqlCursorRepository:
        """Ingest cursors per account and stream."""
        return self._open().cursors

    @property
    def events(self) -> SqlEventRepository:
        """Loop events, once per (account, kind, key)."""
        return self._open().events

    @property
    def insights(self) -> SqlInsightRepository:
        """Insight aggregates of the users' live trades."""
        return self._open().insights

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
        self._repositories = _Repositories(self._connection)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        connection, self._connection = self._connection, None
        self._repositories = None
        if connection is None:
            return
        try:
            connection.rollback()
        finally:
            connection.close()

    def commit(self) -> None:
        """Commit the work so far; later work starts a new transaction."""
        self.connection.commit()

    def try_lock_user(self, user_id: str) -> bool:
        """Hold the user until this transaction ends (commit or rollback) so that concurrent workers
        never process it twice; False when another transaction holds it.

        PostgreSQL: a transaction-scoped advisory lock (it never waits). SQLite has a
        single writer and a single worker: always True.
        """
        return user_id in self.try_lock_users([user_id])

    def try_lock_users(self, user_ids: Sequence[str]) -> list[str]:
        """`try_lock_user` for many users in one statement; returns those now held, in order."""
        connection = self.connection
        if connection.dialect.name != "postgresql" or not user_ids:
            return list(dict.fromkeys(user_ids))
        keys = {user: user_lock_key(user) for user in user_ids}
        held = {key for key, ok in connection.execute(_TRY_LOCKS, {"keys": sorted(set(keys.values()))}) if ok}
        return [user for user in dict.fromkeys(user_ids) if keys[user] in held]

    def rollback(self) -> None:
        """Discard the work since the last commit."""
        self.connection.rollback()
        self._open().ensured.clear()  # what the rolled-back work created is gone


if TYPE_CHECKING:

    def _implements_port(engine: Engine) -> UnitOfWork:
        return SqlUnitOfWork(engine)
