"""SQL repository for loop events: facts recorded once per (account, kind, key)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from driftloop.adapters.db import keys
from driftloop.adapters.db.accounts import ensure_accounts
from driftloop.adapters.db.sql import chunks, insert_new
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
        return self.for_users([user_id], None if kind is None else [kind])

    def for_users(self, user_ids: Sequence[str], kinds: Sequence[str] | None = None) -> list[LoopEvent]:
        """The events of these users (of these kinds if given), in the order they were recorded
        (one query per 500 users)."""
        found: list[tuple[tuple[Any, ...], LoopEvent]] = []
        for part in chunks(sorted(set(user_ids)), 500):
            query = (
                select(loop_events, accounts.c.venue, accounts.c.sub_account)
                .join(accounts, accounts.c.id == loop_events.c.account_id)
                .where(loop_events.c.user_id.in_(list(part)))
            )
            if kinds is not None:
                query = query.where(loop_events.c.kind.in_([str(k) for k in kinds]))
            for row in self.connection.execute(query):
                event = LoopEvent(
                    kind=EventKind(row.kind),
                    account=AccountRef(row.user_id, row.venue, row.sub_account),
                    key=row.key,
                    recorded_at=row.recorded_at,
                    trade_id=row.trade_id,
                    venue_ts=row.venue_ts,
                    detail=row.detail,
                )
                found.append(((row.recorded_at, row.kind, row.key, row.id), event))
        found.sort(key=lambda item: item[0])
        return [event for _, event in found]
