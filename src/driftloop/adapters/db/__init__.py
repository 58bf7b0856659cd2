"""SQL store: tables, exact column types, engine and migrations, repositories, unit of work."""

from driftloop.adapters.db.accounts import SqlAccountRepository, SqlCursorRepository
from driftloop.adapters.db.engine import make_engine, migrate
from driftloop.adapters.db.events import SqlEventRepository
from driftloop.adapters.db.repositories import SqlRunRepository, SqlTradeRepository
from driftloop.adapters.db.uow import SqlUnitOfWork

__all__ = [
    "SqlAccountRepository",
    "SqlCursorRepository",
    "SqlEventRepository",
    "SqlRunRepository",
    "SqlTradeRepository",
    "SqlUnitOfWork",
    "make_engine",
    "migrate",
]
