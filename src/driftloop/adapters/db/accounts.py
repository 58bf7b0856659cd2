"""SQL repositories for accounts (with their monitoring state) and ingest cursors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, select, update

from driftloop.adapters.db import keys, mapping
from driftloop.adapters.db.sql import chunks, distinct, insert_ignore, upsert
from driftloop.adapters.db.tables import accounts, ingest_cursors
from driftloop.domain.trade import AccountRef
from driftloop.services.ports import MonitoringState


def ensure_accounts(
    connection: Connection,
    refs: Iterable[AccountRef],
    created_at: datetime,
    known: set[AccountRef] | None = None,
) -> dict[AccountRef, str]:
    """Get-or-create the accounts of `refs` (insert, ignoring conflicts); returns each one's row id.

    Row ids are deterministic (`keys.account_id`), so nothing is read back. `known` holds the
    accounts this transaction already ensured (they are skipped, and the new ones added).
    """
    unique = distinct(refs)
    missing = unique if known is None else [ref for ref in unique if ref not in known]
    insert_ignore(connection, accounts, [mapping.account_row(ref, created_at) for ref in missing])
    if known is not None:
        known.update(missing)
    return {ref: keys.account_id(ref) for ref in unique}


class SqlAccountRepository:
    """Accounts are created on first use; a user exists once one of their accounts does.

    Monitoring state lives on the accounts: `set_monitoring` writes every account of
    the user, and `monitoring` reads it back per user.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def ensure(self, account: AccountRef, at: datetime) -> None:
        """Create the account unless it exists (safe against a concurrent creation)."""
        insert_ignore(self.connection, accounts, [mapping.account_row(account, at)])

    def user_exists(self, user_id: str) -> bool:
        query = select(accounts.c.id).where(accounts.c.user_id == user_id).limit(1)
        return self.connection.execute(query).first() is not None

    def accounts_of(self, user_id: str) -> list[AccountRef]:
        """The user's accounts by venue and sub-account."""
        query = (
            select(accounts.c.venue, accounts.c.sub_account)
            .where(accounts.c.user_id == user_id)
            .order_by(accounts.c.venue, accounts.c.sub_account)
        )
        return [AccountRef(user_id, row.venue, row.sub_account) for row in self.connection.execute(query)]

    def set_monitoring(self, user_id: str, active: bool, interval_seconds: float, at: datetime) -> None:
        """Store the state on every account of the user (a user without one gets `AccountRef(user_id)`)."""
        if not self.user_exists(user_id):
            self.ensure(AccountRef(user_id), at)
        self.connection.execute(
            update(accounts)
            .where(accounts.c.user_id == user_id)
            .values(monitoring_active=active, monitoring_interval_s=interval_seconds)
        )

    def monitoring(self, user_id: str | None = None) -> list[MonitoringState]:
        """One state per user whose monitoring was ever set (of one user if given), by user id: active
        when any account is, with the interval of an active account (else of any account with one)."""
        where = accounts.c.user_id == user_id if user_id is not None else accounts.c.user_id.is_not(None)
        return self._states(where)

    def keep_monitored(self, user_ids: Sequence[str], default_interval: float) -> None:
        """Every account of these users monitored (new sub-accounts too), at the interval each user
        already has, else `default_interval`: a statement per distinct interval, none for what is so."""
        users = sorted(set(user_ids))
        states: dict[str, MonitoringState] = {}
        for part in chunks(users, 500):
            states |= {s.user_id: s for s in self._states(accounts.c.user_id.in_(list(part)))}
        by_interval: dict[float, list[str]] = {}
        for user in users:
            state = states.get(user)
            by_interval.setdefault(state.interval_seconds if state else default_interval, []).append(user)
        for interval, group in by_interval.items():
            for part in chunks(group, 500):
                off = accounts.c.monitoring_active.is_not(True)
                stale = off | accounts.c.monitoring_interval_s.is_distinct_from(interval)
                self.connection.execute(
                    update(accounts)
                    .where(accounts.c.user_id.in_(list(part)), stale)
                    .values(monitoring_active=True, monitoring_interval_s=interval)
                )

    def _states(self, where: ColumnElement[bool]) -> list[MonitoringState]:
        query = (
            select(accounts.c.user_id, accounts.c.monitoring_active, accounts.c.monitoring_interval_s)
            .where(accounts.c.monitoring_interval_s.is_not(None), where)
            .order_by(
                accounts.c.user_id,
                accounts.c.monitoring_active.desc(),
                accounts.c.venue,
                accounts.c.sub_account,
            )
        )
        states: dict[str, MonitoringState] = {}
        for row in self.connection.execute(query):
            if row.user_id not in states:  # the first row per user is an active one if there is any
                states[row.user_id] = MonitoringState(
                    row.user_id, bool(row.monitoring_active), float(row.monitoring_interval_s)
                )
        return list(states.values())


class SqlCursorRepository:
    """Where each account's ingestion of a venue stream got to (`ingest_cursors`)."""

    def __init__(self, connection: Connection, known: set[AccountRef] | None = None) -> None:
        self.connection = connection
        self.known = known

    def get(self, account: AccountRef, stream: str) -> str | None:
        """The stored cursor, or None before the first `set`."""
        query = select(ingest_cursors.c.cursor).where(
            ingest_cursors.c.account_id == keys.account_id(account), ingest_cursors.c.stream == stream
        )
        cursor: str | None = self.connection.execute(query).scalar_one_or_none()
        return cursor

    def of_users(self, user_ids: Sequence[str], stream: str) -> dict[str, dict[AccountRef, str | None]]:
        """Every account of each of the users with its stored cursor (None before the first `set`), in
        one query per 500 users: a monitoring cycle over many users reads its state in one round trip."""
        out: dict[str, dict[AccountRef, str | None]] = {u: {} for u in user_ids}
        joined = accounts.outerjoin(
            ingest_cursors,
            (ingest_cursors.c.account_id == accounts.c.id) & (ingest_cursors.c.stream == stream),
        )
        for part in chunks(list(dict.fromkeys(user_ids)), 500):
            query = (
                select(accounts.c.user_id, accounts.c.venue, accounts.c.sub_account, ingest_cursors.c.cursor)
                .select_from(joined)
                .where(accounts.c.user_id.in_(part))
                .order_by(accounts.c.user_id, accounts.c.venue, accounts.c.sub_account)
            )
            for row in self.connection.execute(query):
                out[row.user_id][AccountRef(row.user_id, row.venue, row.sub_account)] = row.cursor
        return out

    def set(self, account: AccountRef, stream: str, cursor: str, at: datetime) -> None:
        """Store the cursor (creating the account on first use); call it in the transaction that
        stores the data read up to it, so both commit or neither does."""
        self.set_many({account: cursor}, stream, at)

    def set_many(self, cursors: Mapping[AccountRef, str], stream: str, at: datetime) -> None:
        """`set` for many accounts in one statement (a monitoring cycle's cursors)."""
        account_ids = ensure_accounts(self.connection, cursors, at, self.known)
        rows = [
            {"account_id": account_ids[account], "stream": stream, "cursor": cursor, "updated_at": at}
            for account, cursor in cursors.items()
        ]
        upsert(self.connection, ingest_cursors, rows, ["account_id", "stream"], touch="updated_at")
