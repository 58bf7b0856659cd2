"""Engine construction and programmatic migrations.

`make_engine` normalises URLs (``postgresql://`` → psycopg 3), tunes SQLite for a
single-writer app (foreign keys, WAL, busy timeout) and pins a PostgreSQL
schema through ``search_path``. `migrate` runs ``alembic upgrade head`` with the
migrations shipped inside the package.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SCHEMA_OPTION = "driftloop_schema"  # execution option carrying the engine's schema
SQLITE_BUSY_TIMEOUT_MS = 5_000

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def normalize_url(url: str | URL) -> URL:
    """Parse `url`; plain ``postgresql://``/``postgres://`` URLs use the psycopg 3 driver."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def check_schema_name(schema: str) -> str:
    """Return `schema` if it is a plain SQL identifier (it is interpolated into DDL), else raise."""
    if not _IDENTIFIER.match(schema):
        raise ValueError(f"invalid schema name {schema!r}: use letters, digits and underscores")
    return schema


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def make_engine(url: str, schema: str | None = None, **kwargs: Any) -> Engine:
    """Create an engine for `url`.

    SQLite: foreign keys on, WAL journal, busy timeout. PostgreSQL: psycopg 3 and,
    when `schema` is given, ``search_path`` set to it on every connection (the
    schema itself is created by `migrate`). Extra `kwargs` go to `create_engine`.
    """
    parsed = normalize_url(url)
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        if schema is not None:
            connect_args = dict(kwargs.pop("connect_args", {}))
            connect_args["options"] = f"-csearch_path={check_schema_name(schema)}"
            kwargs["connect_args"] = connect_args
            options[SCHEMA_OPTION] = schema
    elif schema is not None:
        raise ValueError(f"schemas are only supported on PostgreSQL, not {parsed.get_backend_name()}")
    engine = create_engine(parsed, execution_options=options or None, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def engine_schema(engine: Engine) -> str | None:
    """The PostgreSQL schema `engine` was made for by `make_engine`, if any."""
    schema = engine.get_execution_options().get(SCHEMA_OPTION)
    return schema if isinstance(schema, str) else None


def prepare_schema(connection: Connection, schema: str | None) -> None:
    """On PostgreSQL: serialise concurrent migrations of one schema (a transaction-scoped advisory
    lock), create `schema` if missing and make it this transaction's search path."""
    if connection.dialect.name != "postgresql":
        return
    lock = text(
        "SELECT pg_advisory_xact_lock(hashtext("
        "'driftloop-migrate:' || COALESCE(CAST(:name AS text), current_schema())))"
    )
    connection.execute(lock, {"name": schema})
    if schema is None:
        return
    name = check_schema_name(schema)
    # Look first: CREATE SCHEMA IF NOT EXISTS still needs the CREATE privilege on the database.
    found = text("SELECT 1 FROM pg_namespace WHERE nspname = :name")
    if connection.execute(found, {"name": name}).first() is None:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    connection.execute(text(f'SET LOCAL search_path TO "{name}"'))


def alembic_config(url: str | None = None, schema: str | None = None) -> Config:
    """An Alembic `Config` pointing at the packaged migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.attributes["sqlalchemy.url"] = url
    if schema is not None:
        config.attributes["schema"] = schema
    return config


def _run_alembic(engine_or_url: Engine | str, schema: str | None, action: str, revision: str) -> None:
    from alembic import command

    engine = make_engine(engine_or_url, schema) if isinstance(engine_or_url, str) else engine_or_url
    schema = schema if schema is not None else engine_schema(engine)
    try:
        with engine.begin() as connection:
            config = alembic_config(schema=schema)
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()


def migrate(engine_or_url: Engine | str, schema: str | None = None, revision: str = "head") -> None:
    """Upgrade the database to `revision` (default head); running it again changes nothing.

    On PostgreSQL this runs in one transaction (DDL is transactional there).

    `schema` (PostgreSQL) defaults to the one given to `make_engine`; it is created if missing.
    """
    _run_alembic(engine_or_url, schema, "upgrade", revision)


def downgrade(engine_or_url: Engine | str, schema: str | None = None, revision: str = "base") -> None:
    """Downgrade the database to `revision` (default base: drop every table)."""
    _run_alembic(engine_or_url, schema, "downgrade", revision)
