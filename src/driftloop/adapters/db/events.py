"""SQL repository for loop events: facts recorded once per (account, kind, key)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from driftloop.adapters.db import keys
from driftloop.adapters.db.accounts import ensure_accounts
from driftloop.adapters.db.sql import insert_new
from driftloop.adapters.db.tables import EVENT_KEY, accounts, loop_events
from driftloop.domain.events import EventKind, LoopEvent
from driftloop.domain.trade import AccountRef


class SqlEventRepository:
    """`loop_events`: recording an event twice keeps the first one (its detail and time)."""

    def __init__(self, connection: Connection, known: set[AccountRef] | None = None) -> None:
        self.connection = connection
        self.known = known  # accounts this transaction already ensured

    def record(self, event: LoopEvent) -> bool:
        """Store the event unless one with its (account, kind, key) exists; True when it is new.

        The account is created on first use. Raises `ValueError` for a key longer than
        500 characters (PostgreSQL would refuse it, SQLite would not).
        """
        return self.record_many([event])[0]

    def record_many(self, events: Sequence[LoopEvent]) -> list[bool]:
        """`record` for many events in one statement (a cycle's events); each one's "new?" in order."""
        for event in events:
            if len(event.key) > EVENT_KEY:
                raise ValueError(f"event key longer than {EVENT_KEY} characters: {event.key[:60]}...")
        if not events:
            return []
        first_seen = {e.account: e.recorded_at for e in reversed(events)}
        account_ids: dict[AccountRef, str] = {}
        for account, at in first_seen.items():  # created at its first event; known ones cost nothing
            account_ids |= ensure_accounts(self.connection, [account], at, self.known)
        rows: dict[str, dict[str, object]] = {}
        for event in events:
            account_id, kind = account_ids[event.account], str(event.kind)
            pk = keys.event_pk(account_id, kind, event.key)
            rows.setdefault(pk, {
                "id": pk,
                "account_id": account_id,
                "user_id": event.account.user_id,
                "kind": kind,
                "key": event.key,
                "trade_id": event.trade_id,
                "venue_ts": event.venue_ts,
                "detail": event.detail,
                "recorded_at": event.recorded_at,
            })  # fmt: skip
        inserted = insert_new(self.connection, loop_events, list(rows.values()))
        out, claimed = [], set()
        for event in events:  # a repeat within the batch is not new either
            pk = keys.event_pk(account_ids[event.account], str(event.kind), event.key)
            out.append(pk in inserted and pk not in claimed)
            claimed.add(pk)
        return out

    def for_user(self, user_id: str, kind: str | None = None) -> list[LoopEvent]:
        """The user's events (of one kind if given), in the order they were recorded."""
        query = (
            select(loop_events, accounts.c.venue, accounts.c.sub_account)
            .join(accounts, accounts.c.id == loop_events.c.account_id)
            .where(loop_events.c.user_id == user_id)
            .order_by(loop_events.c.recorded_at, loop_events.c.kind, loop_events.c.key, loop_events.c.id)
        )
        if kind is not None:
            query = query.where(loop_events.c.kind == str(kind))
        return [
            LoopEvent(
                kind=EventKind(row.kind),
                account=AccountRef(user_id, row.venue, row.sub_account),
                key=row.key,
                recorded_at=row.recorded_at,
                trade_id=row.trade_id,
                venue_ts=row.venue_ts,
                detail=row.detail,
            )
            for row in self.connection.execute(query)
        ]
