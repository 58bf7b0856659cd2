"""SQL repositories for trades and replay runs (they never commit: the unit of work does)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, delete, or_, select

from driftloop.adapters.db import keys, mapping
from driftloop.adapters.db.accounts import ensure_accounts
from driftloop.adapters.db.insights import apply_changes, facts_of, lock_users
from driftloop.adapters.db.reading import load_trades
from driftloop.adapters.db.sql import Row, chunks, distinct, insert_ignore, upsert
from driftloop.adapters.db.tables import (
    accounts,
    ai_learning_data,
    analyses,
    fills,
    funding_payments,
    replay_runs,
    trade_orders,
)
from driftloop.adapters.db.tables import trades as trades_table
from driftloop.domain.model import TradeStatus
from driftloop.domain.trade import AccountRef, Trade
from driftloop.learning.aggregates import TradeFacts
from driftloop.services.ports import ReplayRun

LIVE = ""  # the run id of live trading
CLOSED = str(TradeStatus.CLOSED)


def _reopens(excluded: Any) -> ColumnElement[bool]:
    """A stored CLOSED trade would be saved as not CLOSED (a stale copy)."""
    return and_(trades_table.c.status == CLOSED, excluded.status != CLOSED)


def _uncompletes(excluded: Any) -> ColumnElement[bool]:
    """A stored COMPLETE learning row would go back to PENDING (a stale copy)."""
    return and_(ai_learning_data.c.status == mapping.COMPLETE, excluded.status != mapping.COMPLETE)


def _live_of(user_id: str, status: TradeStatus | None = None) -> ColumnElement[bool]:
    """The user's live trades (of one status if given), through the (account, run, status) index."""
    user_accounts = select(accounts.c.id).where(accounts.c.user_id == user_id).scalar_subquery()
    where = and_(trades_table.c.account_id.in_(user_accounts), trades_table.c.run_id == LIVE)
    return where if status is None else and_(where, trades_table.c.status == str(status))


def _closed(facts: TradeFacts | None) -> bool:
    return facts is not None and facts.status == CLOSED


class SqlTradeRepository:
    """Trades with their account, analysis, orders, fills, funding and learning record.

    Writes are idempotent: accounts and analyses are get-or-create by natural key,
    fills and funding payments are inserted once (duplicates on the venue's
    identity are ignored, and a save never deletes any), trades, orders and
    learning rows are upserted and only rewritten when a value changed
    (`updated_at` moves only then). A trade grows over several saves (OPEN with
    its entry fill, then more fills and funding, then CLOSED with its outcome);
    a stale copy of a CLOSED trade never reopens it: saving it adds only fills
    and funding payments the store lacks.
    """

    def __init__(self, connection: Connection, known: set[AccountRef] | None = None) -> None:
        self.connection = connection
        self.known = known  # accounts this transaction already ensured

    def save(self, trade: Trade, recorded_at: datetime) -> None:
        """Insert or update one trade and everything it carries."""
        self.save_many([trade], recorded_at)

    def save_many(self, trades: Iterable[Trade], recorded_at: datetime) -> None:
        """Insert or update many trades with batched (executemany) statements.

        Raises `mapping.InconsistentTradeError` when a trade's side, size or entry
        price contradicts its outcome.
        """
        batch = list(trades)
        if not batch:
            return
        account_ids = self.ensure_accounts([t.account for t in batch], recorded_at)
        for part in chunks(batch):
            self._save_chunk(part, account_ids, recorded_at)

    def ensure_accounts(self, refs: Iterable[AccountRef], created_at: datetime) -> dict[AccountRef, str]:
        """Get-or-create the accounts of `refs`; returns each one's row id."""
        return ensure_accounts(self.connection, refs, created_at, self.known)

    def _closed_already(self, part: Sequence[Trade]) -> set[str]:
        """Ids of trades in `part` saved as not CLOSED whose stored row is CLOSED."""
        ids = [t.id for t in part if t.status is not TradeStatus.CLOSED]
        if not ids:
            return set()
        query = select(trades_table.c.id).where(trades_table.c.id.in_(ids), trades_table.c.status == CLOSED)
        return set(self.connection.execute(query).scalars())

    def _save_chunk(self, part: Sequence[Trade], account_ids: dict[AccountRef, str], at: datetime) -> None:
        live = [t for t in part if t.run_id == LIVE]
        if not live:
            self._write_chunk(part, account_ids, at)
            return
        # the insight aggregates move by exactly what this write changes: the users are locked first,
        # so no concurrent write of theirs falls between the two reads
        equities = lock_users(self.connection, {t.account.user_id for t in live})
        live_ids = [t.id for t in live]
        before = facts_of(self.connection, live_ids)
        stale = None
        if len(live) == len(part):  # the stored statuses are in the facts: no query for them
            stale = {t.id for t in part if t.status is not TradeStatus.CLOSED and _closed(before.get(t.id))}
        self._write_chunk(part, account_ids, at, stale, stored=before.keys())
        apply_changes(self.connection, before, facts_of(self.connection, live_ids), equities)

    def _write_chunk(
        self,
        part: Sequence[Trade],
        account_ids: dict[AccountRef, str],
        at: datetime,
        stale: set[str] | None = None,
        stored: Collection[str] = (),
    ) -> None:
        """Write a chunk. `stale`: the ids of those saved as not CLOSED whose stored row is (read if
        None); `stored`: ids of trades known to be stored, whose analysis row is then stored too (an
        analysis is written once and never changed: not sent again)."""
        if stale is None:
            stale = self._closed_already(part)
        trade_rows: list[Row] = []
        analysis_rows: list[Row] = []
        order_rows: list[Row] = []
        fill_rows: list[Row] = []
        funding_rows: list[Row] = []
        learning_rows: list[Row] = []
        unlearned: list[str] = []
        for trade in part:
            account_id = account_ids[trade.account]
            if trade.id not in stored:
                analysis_rows.append(mapping.analysis_row(trade, at))
            fill_rows.extend(mapping.fill_rows(trade, account_id, at))
            funding_rows.extend(mapping.funding_rows(trade))
            if trade.id in stale:
                continue
            trade_rows.append(mapping.trade_row(trade, account_id, at))
            order_rows.extend(mapping.order_rows(trade))
            learning = mapping.learning_row(trade, at)
            if learning is None:
                unlearned.append(trade.id)
            else:
                learning_rows.append(learning)
        conn = self.connection
        insert_ignore(conn, analyses, analysis_rows)
        upsert(
            conn, trades_table, trade_rows, ["id"], keep=["recorded_at"], touch="updated_at", unless=_reopens
        )
        upsert(conn, trade_orders, order_rows, ["trade_id", "leg"])
        insert_ignore(conn, fills, fill_rows)
        insert_ignore(conn, funding_payments, funding_rows)
        upsert(
            conn,
            ai_learning_data,
            learning_rows,
            ["trade_id"],
            keep=["id", "recorded_at"],
            keep_if_null=["calibrated_probability", "calibrated_brier"],
            touch="updated_at",
            unless=_uncompletes,
        )
        if unlearned:
            conn.execute(delete(ai_learning_data).where(ai_learning_data.c.trade_id.in_(unlearned)))

    def get(self, trade_id: str) -> Trade | None:
        """The whole trade, or None."""
        found = load_trades(self.connection, trades_table.c.id == trade_id)
        return found[0] if found else None

    def list_for_run(self, run_id: str) -> list[Trade]:
        """Every trade of a replay run ('' = live trading), by analysis time."""
        return load_trades(self.connection, trades_table.c.run_id == run_id)

    def find_live(self, user_id: str, analysis_id: str) -> Trade | None:
        """The live trade made from this analysis of this user, if any (one unique-key lookup)."""
        analysis_pk = keys.analysis_pk(user_id, LIVE, analysis_id)
        found = load_trades(self.connection, trades_table.c.analysis_pk == analysis_pk)
        return found[0] if found else None

    def find_live_many(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Trade]:
        """`find_live` for many (user, analysis id) pairs: those found, by pair (one query if none is)."""
        found: dict[tuple[str, str], Trade] = {}
        for part in chunks(distinct(pairs), 500):
            pks = [keys.analysis_pk(user, LIVE, analysis_id) for user, analysis_id in part]
            for trade in load_trades(self.connection, trades_table.c.analysis_pk.in_(pks)):
                found[(trade.account.user_id, trade.analysis.id)] = trade
        return found

    def open_trades(self, user_id: str, account: AccountRef | None = None) -> list[Trade]:
        """The user's live OPEN trades (of one account if given), oldest analysis first."""
        if account is None:
            return self.live_trades(user_id, TradeStatus.OPEN)
        return load_trades(self.connection, self._live_open([keys.account_id(account)]))

    def open_trades_of(self, scope: Mapping[AccountRef, Collection[int] | None]) -> list[Trade]:
        """The live OPEN trades of these accounts, each in its markets (None: all of them), oldest
        analysis first per account: a few queries per 500 accounts, whatever the number of trades, and
        only the trades asked for are loaded (a first narrow query finds them)."""
        whole = [keys.account_id(a) for a, markets in scope.items() if markets is None]
        wanted = {(keys.account_id(a), m) for a, markets in scope.items() if markets for m in markets}
        found: list[Trade] = []
        for part in chunks(whole, 500):
            found += load_trades(self.connection, self._live_open(part))
        scoped = sorted({account_id for account_id, _ in wanted})
        for part in chunks(scoped, 500):
            mine = set(part)
            markets = sorted({m for account_id, m in wanted if account_id in mine})
            narrow = select(trades_table.c.id, trades_table.c.account_id, trades_table.c.market_index).where(
                self._live_open(part), trades_table.c.market_index.in_(markets)
            )
            ids = [r.id for r in self.connection.execute(narrow) if (r.account_id, r.market_index) in wanted]
            loaded: list[Trade] = []
            for some in chunks(ids, 500):
                loaded += load_trades(self.connection, trades_table.c.id.in_(list(some)))
            found += sorted(loaded, key=lambda t: (t.analysis.timestamp, t.analysis.id, t.id))
        return found

    @staticmethod
    def _live_open(account_ids: Sequence[str]) -> ColumnElement[bool]:
        return and_(
            trades_table.c.account_id.in_(list(account_ids)),
            trades_table.c.run_id == LIVE,
            trades_table.c.status == str(TradeStatus.OPEN),
        )

    def order_owners(
        self, orders: Mapping[AccountRef, Sequence[str]]
    ) -> dict[AccountRef, dict[str, TradeStatus]]:
        """For each account, those of its venue order ids that are ours: the status of their trade
        (one query per 500 accounts)."""
        out: dict[AccountRef, dict[str, TradeStatus]] = {account: {} for account in orders}
        by_id = {keys.account_id(account): account for account, ids in orders.items() if ids}
        for part in chunks(sorted(by_id), 500):
            wanted = sorted({oid for account_id in part for oid in orders[by_id[account_id]]})
            query = (
                select(trades_table.c.account_id, trade_orders.c.venue_order_id, trades_table.c.status)
                .join(trades_table, trades_table.c.id == trade_orders.c.trade_id)
                .where(trades_table.c.account_id.in_(list(part)), trade_orders.c.venue_order_id.in_(wanted))
            )
            for row in self.connection.execute(query):
                account = by_id[row.account_id]
                if row.venue_order_id in orders[account]:
                    out[account][row.venue_order_id] = TradeStatus(row.status)
        return out

    def placement_state(
        self, user_id: str, analysis_id: str, account: AccountRef, market_index: int
    ) -> tuple[bool, str | None]:
        """Before placing: whether a live trade of this analysis exists, and the id of the live OPEN
        trade holding that market on that account if any (one query over two unique/indexed keys)."""
        analysis_pk = keys.analysis_pk(user_id, LIVE, analysis_id)
        holds = and_(self._live_open([keys.account_id(account)]), trades_table.c.market_index == market_index)
        query = select(trades_table.c.id, trades_table.c.analysis_pk, holds.label("holds")).where(
            or_(trades_table.c.analysis_pk == analysis_pk, holds)
        )
        mine, holder = False, None
        for row in self.connection.execute(query):
            mine = mine or row.analysis_pk == analysis_pk
            if row.holds and holder is None:
                holder = row.id
        return mine, holder

    def closed_since(self, user_id: str, since: datetime | None) -> tuple[list[Trade], datetime | None]:
        """The user's CLOSED live trades last written at or after `since` (all if None), and the latest
        such write time (for the next call)."""
        where = _live_of(user_id, TradeStatus.CLOSED)
        if since is not None:
            where = and_(where, trades_table.c.updated_at >= since)
        rows = self.connection.execute(
            select(trades_table.c.id, trades_table.c.updated_at).where(where)
        ).all()
        if not rows:
            return [], None
        found = [
            t
            for part in chunks([r.id for r in rows])
            for t in load_trades(self.connection, trades_table.c.id.in_(list(part)))
        ]
        return found, max(r.updated_at for r in rows)

    def live_trades(self, user_id: str, status: TradeStatus | None = None) -> list[Trade]:
        """The user's live trades (of one status if given), oldest analysis first.

        Uses the (account, run, status) index of `trades`; four queries whatever the count.
        """
        return load_trades(self.connection, _live_of(user_id, status))


class SqlRunRepository:
    """Replay runs: parameters and summary, keyed by the deterministic run id."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def save(self, run: ReplayRun) -> None:
        """Insert the run, or update its parameters and summary (its `created_at` stays the first one)."""
        row = {
            "id": run.id,
            "created_at": run.created_at,
            "parameters": run.parameters,
            "summary": run.summary,
        }
        upsert(self.connection, replay_runs, [row], ["id"], keep=["created_at"])

    def get(self, run_id: str) -> ReplayRun | None:
        """The run, or None."""
        row = self.connection.execute(select(replay_runs).where(replay_runs.c.id == run_id)).first()
        if row is None:
            return None
        return ReplayRun(id=row.id, created_at=row.created_at, parameters=row.parameters, summary=row.summary)
