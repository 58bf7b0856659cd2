"""Dialect-aware bulk statements: insert-or-ignore and change-only upserts (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Table, and_, func, or_
from sqlalchemy.dialects import postgresql, sqlite

Row = dict[str, Any]
T = TypeVar("T")

CHUNK = 2_000  # rows per statement batch; keeps IN lists and memory bounded


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _insert(connection: Connection, table: Table) -> Any:
    name = connection.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"the driftloop store supports SQLite and PostgreSQL, not {name}")


def insert_ignore(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (executemany), skipping any that conflict with an existing unique key."""
    if rows:
        connection.execute(_statement(connection, table, "ignore"), list(rows))


def insert_new(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> set[Any]:
    """Insert `rows`, skipping those that conflict with an existing unique key; returns the primary keys
    (single-column) of the rows inserted. One batched statement (RETURNING, not rowcount: psycopg
    reports -1 for an executemany)."""
    if not rows:
        return set()
    return set(connection.execute(_statement(connection, table, "new"), [dict(r) for r in rows]).scalars())


def _statement(connection: Connection, table: Table, kind: str) -> Any:
    """The insert-or-ignore statement of a table (`kind` "new": returning the inserted primary keys),
    built once per dialect: building it costs about as much as running it for a few rows."""
    cache_key = (connection.dialect.name, table, kind)
    stmt = _STATEMENTS.get(cache_key)
    if stmt is None:
        stmt = _insert(connection, table).on_conflict_do_nothing()
        if kind == "new":
            stmt = stmt.returning(next(iter(table.primary_key)))
        _STATEMENTS[cache_key] = stmt
    return stmt


_STATEMENTS: dict[tuple[str, Table, str], Any] = {}


def upsert(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key: Sequence[str],
    *,
    keep: Collection[str] = (),
    keep_if_null: Collection[str] = (),
    touch: str | None = None,
    unless: Callable[[Any], ColumnElement[bool]] | None = None,
) -> None:
    """Insert `rows`, or update the existing row with the same `key` only when a value differs.

    `keep` columns are written on insert only (e.g. `recorded_at`); `keep_if_null`
    columns keep the stored value when the new one is NULL; `touch` (e.g.
    `updated_at`) takes the new value only when something else changed, so an
    identical save leaves the row untouched. `unless(excluded)` is a condition (over
    the stored row and the proposed one, `excluded`) under which the stored row is kept.
    """
    if not rows:
        return
    cache_key = (
        connection.dialect.name,
        table,
        tuple(key),
        frozenset(keep),
        frozenset(keep_if_null),
        touch,
        unless,
    )
    stmt = _UPSERTS.get(cache_key)
    if stmt is None:  # building the statement costs more than running it: build once per shape
        stmt = _UPSERTS[cache_key] = _build_upsert(connection, table, key, keep, keep_if_null, touch, unless)
    connection.execute(stmt, list(rows))


_UPSERTS: dict[tuple[Any, ...], Any] = {}


def _build_upsert(
    connection: Connection,
    table: Table,
    key: Sequence[str],
    keep: Collection[str],
    keep_if_null: Collection[str],
    touch: str | None,
    unless: Callable[[Any], ColumnElement[bool]] | None,
) -> Any:
    stmt = _insert(connection, table)
    excluded = stmt.excluded
    skip = set(key) | set(keep) | ({touch} if touch else set())
    new_values: dict[str, ColumnElement[Any]] = {}
    for column in table.c:
        if column.name in skip:
            continue
        value: ColumnElement[Any] = excluded[column.name]
        if column.name in keep_if_null:
            value = func.coalesce(value, column, type_=column.type)
        new_values[column.name] = value
    changed = or_(*(table.c[name].is_distinct_from(value) for name, value in new_values.items()))
    set_: dict[str, Any] = dict(new_values)
    if touch:
        set_[touch] = excluded[touch]
    where = changed if unless is None else and_(changed, ~unless(excluded))
    return stmt.on_conflict_do_update(index_elements=list(key), set_=set_, where=where)


def distinct(values: Iterable[T]) -> list[T]:
    """`values` without repeats, first occurrence order."""
    return list(dict.fromkeys(values))
