"""The hand-written Alembic migrations build exactly `tables.metadata`, and downgrade cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from driftloop.adapters.db import engine as db_engine
from driftloop.adapters.db.engine import downgrade, make_engine, migrate
from driftloop.adapters.db.tables import metadata

ROOT = Path(__file__).resolve().parents[2]


def schema_of(engine: Engine) -> dict[str, set[str]]:
    """Table name → column names, without Alembic's version table."""
    with engine.connect() as conn:
        inspector = inspect(conn)
        return {
            name: {column["name"] for column in inspector.get_columns(name)}
            for name in inspector.get_table_names()
            if name != "alembic_version"
        }


def expected_schema() -> dict[str, set[str]]:
    return {table.name: {column.name for column in table.columns} for table in metadata.sorted_tables}


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    from driftloop.adapters.db.engine import MIGRATIONS_DIR

    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine)
        assert schema_of(engine) == expected_schema()
        assert current_revision(engine) == head_revision()
        migrate(engine)  # idempotent
        assert current_revision(engine) == head_revision()
        downgrade(engine, revision="base")
        assert schema_of(engine) == {}
        assert current_revision(engine) is None
        migrate(engine)
        assert schema_of(engine) == expected_schema()
    finally:
        engine.dispose()


def test_migrated_schema_matches_metadata(engine: Engine) -> None:
    """No difference at all: tables, columns, types, nullability, indexes, unique constraints."""
    with engine.connect() as conn:
        options = {"compare_type": True, "compare_server_default": True}
        context = MigrationContext.configure(conn, opts=options)
        assert compare_metadata(context, metadata) == []


def test_migrate_accepts_a_url(db_url: str) -> None:
    migrate(db_url)
    migrate(db_url)
    engine = make_engine(db_url)
    try:
        assert schema_of(engine) == expected_schema()
    finally:
        engine.dispose()


def test_migrations_are_packaged_next_to_the_module() -> None:
    folder = db_engine.MIGRATIONS_DIR
    assert folder == Path(db_engine.__file__).resolve().parent / "migrations"
    assert (folder / "env.py").is_file()
    assert (folder / "versions" / "0001_initial.py").is_file()


def test_alembic_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    alembic = [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "-x", f"url={url}"]
    for args in (["upgrade", "head"], ["downgrade", "base"], ["upgrade", "head"]):
        subprocess.run([*alembic, *args], cwd=ROOT, check=True, capture_output=True)
    engine = make_engine(url)
    try:
        assert schema_of(engine) == expected_schema()
    finally:
        engine.dispose()


@pytest.mark.parametrize("schema", ["bad-name", "x; DROP TABLE trades", ""])
def test_schema_names_are_checked(schema: str) -> None:
    with pytest.raises(ValueError, match="schema"):
        make_engine("postgresql://user@localhost/db", schema)
