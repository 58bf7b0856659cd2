"""Alembic environment for driftloop.

The database URL comes from, in order: ``-x url=...``, the ``sqlalchemy.url``
config attribute or main option, the ``DRIFTLOOP_DATABASE_URL`` environment
variable, else ``sqlite:///driftloop.db``. A PostgreSQL schema can be targeted
with ``-x schema=...`` or the ``schema`` config attribute: it is created if
missing, used as ``search_path`` and holds the ``alembic_version`` table.
A caller may pass an open connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from driftloop.adapters.db.engine import make_engine, normalize_url, prepare_schema
from driftloop.adapters.db.tables import metadata

DEFAULT_URL = "sqlite:///driftloop.db"

config = context.config
if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    x_args = context.get_x_argument(as_dictionary=True)
    url = (
        x_args.get("url")
        or config.attributes.get("sqlalchemy.url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("DRIFTLOOP_DATABASE_URL")
    )
    return str(url or DEFAULT_URL)


def _schema() -> str | None:
    x_args = context.get_x_argument(as_dictionary=True)
    schema = x_args.get("schema") or config.attributes.get("schema")
    return str(schema) if schema else None


def _configure(connection: Connection, schema: str | None) -> None:
    is_postgres = connection.dialect.name == "postgresql"
    prepare_schema(connection, schema)
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema if is_postgres else None,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (``alembic upgrade head --sql``)."""
    context.configure(
        url=_database_url(),
        target_metadata=metadata,
        version_table_schema=_schema(),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations on a given connection, or on a fresh engine in one transaction."""
    schema = _schema()
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection, schema)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = _database_url()
    is_postgres = normalize_url(url).get_backend_name() == "postgresql"
    engine = make_engine(url, schema if is_postgres else None)
    try:
        with engine.begin() as conn:
            _configure(conn, schema)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
