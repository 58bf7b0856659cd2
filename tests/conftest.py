"""Database fixtures shared by every test suite.

`db_url` runs a test on SQLite (a fresh file per test) and, when
``DRIFTLOOP_TEST_DATABASE_URL`` is set, on PostgreSQL too. PostgreSQL tests of one
session share a private schema ``dl_test_<uuid>`` (named in the URL's
``search_path`` option, so the URL is self-contained), emptied after each test
and dropped with CASCADE at the end; parallel runs never touch each other's tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text

from driftloop.adapters.db.engine import make_engine, migrate, normalize_url

PG_ENV = "DRIFTLOOP_TEST_DATABASE_URL"
PG_SKIP_REASON = "DRIFTLOOP_TEST_DATABASE_URL not set: PostgreSQL tests skipped"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def url_with_schema(url: str, schema: str) -> str:
    """`url` whose connections use `schema` as their search path (libpq ``options``)."""
    parsed = normalize_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return parsed.render_as_string(hide_password=False)


def _truncate_all(url: str, schema: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            names = (
                conn.execute(
                    text(
                        "SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = :schema AND table_type = 'BASE TABLE' "
                        "AND table_name <> 'alembic_version'"
                    ),
                    {"schema": schema},
                )
                .scalars()
                .all()
            )
            if names:
                conn.execute(text("SET LOCAL lock_timeout = '10s'"))
                tables = ", ".join(f'"{schema}"."{name}"' for name in names)
                conn.execute(text(f"TRUNCATE {tables} CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[tuple[str, str]]:
    """(URL, schema) of this session's private PostgreSQL schema; skipped without the env var."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP_REASON)
    schema = f"dl_test_{uuid.uuid4().hex}"
    admin = make_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield url_with_schema(base, schema), schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL: a fresh SQLite file, or this session's PostgreSQL schema (emptied after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'driftloop.db'}"
        return
    url, schema = request.getfixturevalue("postgres_schema")
    try:
        yield url
    finally:
        _truncate_all(url, schema)


@pytest.fixture
def db_backend(db_url: str) -> str:
    """'sqlite' or 'postgresql'."""
    return normalize_url(db_url).get_backend_name()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on `db_url`, migrated to head."""
    eng = make_engine(db_url)
    migrate(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements `engine` runs from here to the end of the test (clear it to start counting)."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)
