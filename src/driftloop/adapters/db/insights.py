"""Insight aggregates in the store: kept in step with the trades, rebuilt from them, read in O(buckets).

`SqlTradeRepository` calls `facts_of` before and after it writes a chunk of
live trades and hands both to `apply_changes`, in the same transaction: the
buckets move by exactly the difference, so re-saves change nothing and a crash
loses nothing. Reading the facts back from the rows (rather than from the
`Trade` objects) makes the before/after pair comparable to the last digit.

Concurrency: every change for a user first locks the user's `insight_equity`
row (PostgreSQL ``FOR UPDATE``; SQLite has one writer), so concurrent writers
of one user's trades apply their changes one after another.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Text, cast, delete, select, text, tuple_

from driftloop.adapters.db.sql import chunks, insert_ignore, upsert
from driftloop.adapters.db.tables import (
    accounts,
    ai_learning_data,
    analyses,
    insight_buckets,
    insight_equity,
    trades,
)
from driftloop.adapters.db.types import scaled_text, text_scaled
from driftloop.domain.history import IMPORT_ANALYST
from driftloop.learning.aggregates import (
    DECIMAL_FIELDS,
    FIELD_NAMES,
    WIDTH,
    BucketKey,
    Equity,
    Sums,
    TradeFacts,
    aggregate,
    delta,
    equity_of,
    scaled,
    unscaled,
)

LIVE = ""

_FACT_COLUMNS = (
    trades.c.id,
    accounts.c.user_id,
    trades.c.status,
    trades.c.symbol,
    analyses.c.timeframe,
    trades.c.side,
    trades.c.leverage,
    analyses.c.confidence,
    analyses.c.timestamp,
    trades.c.opened_at,
    trades.c.outcome,
    trades.c.exit_reason,
    trades.c.closed_at,
    trades.c.pnl_usd,
    trades.c.pnl_percent,
    trades.c.actual_rr,
    trades.c.fees_usd,
    trades.c.funding_usd,
    trades.c.entry_notional,
    trades.c.slippage_bps,
    ai_learning_data.c.stated_probability,
    ai_learning_data.c.brier,
    ai_learning_data.c.calibrated_probability,
    ai_learning_data.c.calibrated_brier,
    ai_learning_data.c.direction_correct,
    ai_learning_data.c.accuracy_score,
    analyses.c.analyst,
)


def _facts_query(where: ColumnElement[bool]) -> Any:
    return _FACTS_SELECT.where(where)


_FACTS_SELECT = (  # built once: building it cost about as much as running it for a few trades
    select(*_FACT_COLUMNS)
    .select_from(
        trades.join(accounts, accounts.c.id == trades.c.account_id)
        .join(analyses, analyses.c.id == trades.c.analysis_pk)
        .outerjoin(ai_learning_data, ai_learning_data.c.trade_id == trades.c.id)
    )
    .where(trades.c.run_id == LIVE)
)


def _opt(value: Any) -> int | None:
    return None if value is None else scaled(value)


def _facts(row: Any) -> TradeFacts:
    entered: datetime = row.opened_at if row.opened_at is not None else row.timestamp
    return TradeFacts(
        trade_id=row.id,
        user_id=row.user_id,
        status=row.status,
        symbol=row.symbol,
        timeframe=row.timeframe,
        side=row.side,
        leverage=row.leverage,
        confidence=row.confidence,
        hour=entered.hour,
        outcome=row.outcome,
        exit_reason=row.exit_reason,
        closed_at=row.closed_at,
        pnl=_opt(row.pnl_usd) or 0,
        pnl_pct=_opt(row.pnl_percent) or 0,
        rr=_opt(row.actual_rr),
        fees=_opt(row.fees_usd) or 0,
        funding=_opt(row.funding_usd) or 0,
        notional=_opt(row.entry_notional) or 0,
        slippage=_opt(row.slippage_bps),
        stated=_opt(row.stated_probability),
        brier=_opt(row.brier),
        calibrated=_opt(row.calibrated_probability),
        calibrated_brier=_opt(row.calibrated_brier),
        direction_correct=row.direction_correct,
        accuracy=_opt(row.accuracy_score),
        forecast=row.analyst != IMPORT_ANALYST,
    )


def facts_of(connection: Connection, trade_ids: Sequence[str]) -> dict[str, TradeFacts]:
    """The stored facts of those of `trade_ids` that are live trades."""
    out: dict[str, TradeFacts] = {}
    for part in chunks(trade_ids):
        for row in connection.execute(_facts_query(trades.c.id.in_(list(part)))):
            out[row.id] = _facts(row)
    return out


def _user_facts(connection: Connection, user_id: str | None) -> Iterable[TradeFacts]:
    where = accounts.c.user_id == user_id if user_id is not None else trades.c.run_id == LIVE
    result = connection.execute(_facts_query(where).execution_options(yield_per=20_000))
    for row in result:
        yield _facts(row)


# ---------------------------------------------------------------- rows


def _bucket_row(user_id: str, key: BucketKey, sums: Sequence[int]) -> dict[str, Any]:
    row: dict[str, Any] = {"user_id": user_id, "dimension": key[0], "bucket": key[1]}
    row.update(zip(FIELD_NAMES, sums, strict=True))  # decimal sums are ScaledInt columns: ints as they are
    return row


def _equity_row(user_id: str, e: Equity) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "equity": unscaled(e.equity),
        "peak": unscaled(e.peak),
        "max_drawdown": unscaled(e.max_drawdown),
        "last_closed_at": e.last_closed_at,
        "last_trade_id": e.last_trade_id,
    }


def _equity(row: Any) -> Equity:
    return Equity(
        scaled(row.equity), scaled(row.peak), scaled(row.max_drawdown), row.last_closed_at, row.last_trade_id
    )


def lock_users(connection: Connection, user_ids: Iterable[str]) -> dict[str, Equity]:
    """Create missing equity rows, lock them (PostgreSQL ``FOR UPDATE``), and return their state.

    Call it before reading the facts of a write: then no other transaction can change those users'
    trades between the "before" read and the write, so the difference applied is exact.
    """
    users = sorted(set(user_ids))
    if not users:
        return {}
    insert_ignore(connection, insight_equity, [_equity_row(u, Equity()) for u in users])
    query = (
        select(insight_equity).where(insight_equity.c.user_id.in_(users)).order_by(insight_equity.c.user_id)
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    return {row.user_id: _equity(row) for row in connection.execute(query)}


def _closed_pnls(
    connection: Connection, user_ids: Sequence[str]
) -> dict[str, list[tuple[tuple[datetime, str], int]]]:
    """Each user's closed live trades as ((closed_at, id), pnl), one query per 500 users."""
    out: dict[str, list[tuple[tuple[datetime, str], int]]] = {user: [] for user in user_ids}
    for part in chunks(list(user_ids), 500):
        query = (
            select(accounts.c.user_id, trades.c.closed_at, trades.c.id, trades.c.pnl_usd)
            .join(accounts, accounts.c.id == trades.c.account_id)
            .where(
                accounts.c.user_id.in_(list(part)),
                trades.c.run_id == LIVE,
                trades.c.status == "CLOSED",
                trades.c.closed_at.is_not(None),
                trades.c.outcome.is_not(None),
            )
        )
        for r in connection.execute(query):
            out[r.user_id].append(((r.closed_at, r.id), _opt(r.pnl_usd) or 0))
    return out


def _extended(state: Equity, before: Sequence[TradeFacts], after: Sequence[TradeFacts]) -> Equity | None:
    """The user's equity state after these changes when they only append closes after the last one
    (extended in place); None when it must be recomputed from the stored trades (out of order,
    corrections)."""
    old = {f.trade_id: (f.equity_key, f.pnl) for f in before if f.equity_key is not None}
    new = {f.trade_id: (f.equity_key, f.pnl) for f in after if f.equity_key is not None}
    if old == {k: v for k, v in new.items() if k in old} and old.keys() <= new.keys():
        appended = sorted((key, pnl) for tid, (key, pnl) in new.items() if tid not in old and key is not None)
        last = state.last_key
        if not appended:
            return state
        if last is None or appended[0][0] > last:
            return state.extend(appended)
    return None


def apply_changes(
    connection: Connection,
    before: Mapping[str, TradeFacts],
    after: Mapping[str, TradeFacts],
    equities: Mapping[str, Equity],
) -> None:
    """Move the aggregates of the users concerned by `after − before` (facts around one write made
    while `lock_users` held those users; `equities` is what it returned). A handful of statements
    whatever the number of users: one read and one write of the buckets, one write of the equities,
    one read of the closed trades of the users whose equity curve must be recomputed."""
    users = {f.user_id for f in before.values()} | {f.user_id for f in after.values()}
    if not users:
        return
    mine_before: dict[str, list[TradeFacts]] = defaultdict(list)
    mine_after: dict[str, list[TradeFacts]] = defaultdict(list)
    for f in before.values():
        mine_before[f.user_id].append(f)
    for f in after.values():
        mine_after[f.user_id].append(f)
    missing = sorted(users - equities.keys())
    states = {**equities, **lock_users(connection, missing)}
    updated: dict[str, Equity | None] = {
        user: _extended(states[user], mine_before[user], mine_after[user]) for user in sorted(users)
    }
    recompute = [user for user, state in updated.items() if state is None]
    for user, closes in _closed_pnls(connection, recompute).items():
        updated[user] = equity_of(closes)
    equity_rows = [
        _equity_row(user, state)
        for user, state in updated.items()
        if state is not None and state != states[user]
    ]
    upsert(connection, insight_equity, equity_rows, ["user_id"])
    _add_to_buckets(connection, delta(before.values(), after.values()))


_FULL_KEY = tuple_(insight_buckets.c.user_id, insight_buckets.c.dimension, insight_buckets.c.bucket)
KEYS_PER_QUERY = 500


def _add_to_buckets(connection: Connection, changes: Mapping[str, Mapping[BucketKey, Sums]]) -> None:
    if connection.dialect.name == "postgresql":
        _add_in_sql(connection, changes)
    else:
        _add_read_write(connection, changes)


def _add_in_sql(connection: Connection, changes: Mapping[str, Mapping[BucketKey, Sums]]) -> None:
    """PostgreSQL adds NUMERIC exactly: one upsert of the changes (`stored + change`, no read); a bucket
    left with no trade (n = 0, hence every sum 0) is deleted.

    The rows go as one array literal per column (one statement for any number of buckets; building
    the text is several times cheaper than the driver adapting lists), decimals as exact `<int>e-18`."""
    keys = sorted((user, dim, bucket) for user, change in changes.items() for dim, bucket in change)
    for part in chunks(keys, ARRAY_ROWS):
        vectors = [changes[user][(dim, bucket)] for user, dim, bucket in part]
        params = {name: _text_array([key[i] for key in part]) for i, name in enumerate(_KEY_NAMES)}
        for i, name in enumerate(FIELD_NAMES):
            unit = "e-18" if name in DECIMAL_FIELDS else ""
            params[name] = "{" + ",".join(f"{v[i]}{unit}" if v[i] else "0" for v in vectors) + "}"
        connection.execute(_ADD_UPSERT, params)
    for users in chunks(sorted(changes), KEYS_PER_QUERY):
        emptied = insight_buckets.c.user_id.in_(list(users)) & (insight_buckets.c.n == 0)
        connection.execute(delete(insight_buckets).where(emptied))


def _text_array(values: Iterable[str]) -> str:
    """A PostgreSQL array literal of these strings (each quoted, `\\` and `"` escaped)."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


ARRAY_ROWS = 20_000
_KEY_NAMES = ("user_id", "dimension", "bucket")
_ARRAY_TYPES = dict.fromkeys(_KEY_NAMES, "text") | {
    name: "numeric" if name in DECIMAL_FIELDS else "bigint" for name in FIELD_NAMES
}
# (S608: the statements below are built from our own column names only; values are bound)
_ADD_UPSERT = text(
    f"INSERT INTO insight_buckets ({', '.join(_ARRAY_TYPES)}) "  # noqa: S608
    f"SELECT * FROM unnest({', '.join(f'CAST(:{n} AS {t}[])' for n, t in _ARRAY_TYPES.items())}) "
    "ON CONFLICT (user_id, dimension, bucket) DO UPDATE SET "
    + ", ".join(f"{n} = insight_buckets.{n} + excluded.{n}" for n in FIELD_NAMES)
)


_IS_DECIMAL = [name in DECIMAL_FIELDS for name in FIELD_NAMES]
_SQLITE_UPSERT = (
    f"INSERT INTO insight_buckets ({', '.join(_ARRAY_TYPES)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(_ARRAY_TYPES))}) "
    "ON CONFLICT (user_id, dimension, bucket) DO UPDATE SET "
    + ", ".join(f"{n} = excluded.{n}" for n in FIELD_NAMES)
)


def _as_stored(sums: Sums) -> list[Any]:
    """Sums as SQLite stores them: counts as integers, decimals as their 18-place text."""
    return [scaled_text(v) if d else v for v, d in zip(sums, _IS_DECIMAL, strict=True)]


def _sqlite_select(keys: int) -> str:
    """The stored buckets of `keys` (user, dimension, bucket) triples, as plain driver rows."""
    wanted = ", ".join(["(?, ?, ?)"] * keys)
    return (
        f"SELECT {', '.join(_ARRAY_TYPES)} FROM insight_buckets "  # noqa: S608
        f"WHERE (user_id, dimension, bucket) IN (VALUES {wanted})"
    )


def _add_read_write(connection: Connection, changes: Mapping[str, Mapping[BucketKey, Sums]]) -> None:
    """SQLite keeps the decimals as text, which it cannot add exactly: read the buckets, add in Python,
    write them back (the user's lock, and SQLite's single writer, keep others out meanwhile)."""
    keys = sorted((user, dim, bucket) for user, change in changes.items() for dim, bucket in change)
    stored: dict[tuple[str, str, str], Sums] = {}
    for part in chunks(keys, KEYS_PER_QUERY):
        found = connection.exec_driver_sql(_sqlite_select(len(part)), tuple(v for key in part for v in key))
        for user, dim, bucket, *sums in found.fetchall():
            stored[(user, dim, bucket)] = [
                text_scaled(v) if d else v for v, d in zip(sums, _IS_DECIMAL, strict=True)
            ]
    rows: list[tuple[Any, ...]] = []
    emptied = []
    for key in keys:
        user, dim, bucket = key
        change = changes[user][(dim, bucket)]
        total = [a + b for a, b in zip(stored.get(key, [0] * WIDTH), change, strict=True)]
        if any(total):
            rows.append((user, dim, bucket, *_as_stored(total)))
        elif key in stored:
            emptied.append(key)
    if rows:  # plain tuples through the driver: binding 29 columns per row through SQLAlchemy costs more
        connection.exec_driver_sql(_SQLITE_UPSERT, rows)
    for part in chunks(emptied, KEYS_PER_QUERY):
        connection.execute(delete(insight_buckets).where(_FULL_KEY.in_(list(part))))


def rebuild_insights(connection: Connection, user_id: str | None = None) -> int:
    """Recompute the aggregates of one user (or of everyone) from the stored trades; returns trades read."""
    facts = list(_user_facts(connection, user_id))
    for table in (insight_buckets, insight_equity):
        query = delete(table)
        if user_id is not None:
            query = query.where(table.c.user_id == user_id)
        connection.execute(query)
    per_user = aggregate(facts)
    closes: dict[str, list[tuple[tuple[datetime, str], int]]] = defaultdict(list)
    for f in facts:
        if f.equity_key is not None:
            closes[f.user_id].append((f.equity_key, f.pnl))
    users = sorted({f.user_id for f in facts})
    insert_ignore(connection, insight_equity, [_equity_row(u, equity_of(closes[u])) for u in users])
    rows = [
        _bucket_row(u, key, sums) for u, buckets in per_user.items() for key, sums in sorted(buckets.items())
    ]
    for part in chunks(rows):
        insert_ignore(connection, insight_buckets, part)
    return len(facts)


def _read_sums(connection: Connection, where: ColumnElement[bool]) -> dict[tuple[str, str, str], Sums]:
    """(user, dimension, bucket) → sums of the bucket rows matching `where`."""
    query = select(
        insight_buckets.c.user_id, insight_buckets.c.dimension, insight_buckets.c.bucket, *_AS_READ
    )
    out: dict[tuple[str, str, str], Sums] = {}
    for row in connection.execute(query.where(where)):
        sums = list(row[3:])
        for i in _DECIMAL_INDEXES:
            sums[i] = text_scaled(sums[i])
        out[(row[0], row[1], row[2])] = sums
    return out


# The decimal sums are read as their text (PostgreSQL prints NUMERIC(38, 18) with 18 places, SQLite keeps
# that text): straight to integers, without making a Decimal of each (the driver would).
_AS_READ = [
    cast(insight_buckets.c[name], Text).label(name) if name in DECIMAL_FIELDS else insight_buckets.c[name]
    for name in FIELD_NAMES
]
_DECIMAL_INDEXES = [i for i, name in enumerate(FIELD_NAMES) if name in DECIMAL_FIELDS]


def read_insights(connection: Connection, user_id: str) -> tuple[dict[BucketKey, Sums], Equity | None]:
    """A user's buckets and equity state (a few hundred rows whatever the number of trades)."""
    found_rows = _read_sums(connection, insight_buckets.c.user_id == user_id)
    buckets = {(dim, bucket): sums for (_, dim, bucket), sums in found_rows.items()}
    found = connection.execute(select(insight_equity).where(insight_equity.c.user_id == user_id)).first()
    return buckets, (_equity(found) if found is not None else None)


class SqlInsightRepository:
    """`services.ports.InsightRepository` on one unit's connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def read(self, user_id: str) -> tuple[dict[BucketKey, Sums], Equity | None]:
        return read_insights(self.connection, user_id)

    def closed_count(self, user_id: str) -> int:
        query = select(insight_buckets.c.n).where(
            insight_buckets.c.user_id == user_id,
            insight_buckets.c.dimension == "status",
            insight_buckets.c.bucket == "CLOSED",
        )
        return int(self.connection.execute(query).scalar_one_or_none() or 0)

    def rebuild(self, user_id: str | None = None) -> int:
        return rebuild_insights(self.connection, user_id)
