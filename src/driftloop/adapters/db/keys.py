"""Deterministic surrogate keys: every row id is a function of its natural key.

Anything that writes these tables must derive ids with these functions, so a
replayed or re-ingested fact lands on the same row (crash-safety by natural keys).
"""

from __future__ import annotations

from datetime import datetime

from driftloop.domain.ids import stable_id
from driftloop.domain.model import Fill, FundingPayment
from driftloop.domain.trade import AccountRef

_TS_PREFIX = "ts:"


def account_id(account: AccountRef) -> str:
    """Id of the `accounts` row of (user, venue, sub-account)."""
    return stable_id("acct", account.user_id, account.venue, str(account.sub_account), length=32)


def analysis_pk(user_id: str, run_id: str, analysis_id: str) -> str:
    """Id of the `analyses` row of one external analysis id, per user and run ('' = live)."""
    return stable_id("an", user_id, run_id, analysis_id, length=32)


def fill_pk(venue: str, account: str, fill: Fill) -> str:
    """Id of the `fills` row: the venue's fill identity (market, fill id, our role)."""
    return stable_id("fill", venue, account, str(fill.market_index), fill.fill_id, fill.role, length=32)


def learning_pk(trade_id: str) -> str:
    """Id of a trade's `ai_learning_data` row."""
    return stable_id("ld", trade_id, length=32)


def funding_key(payment: FundingPayment) -> str:
    """Stored `payment_id`: the venue's id, or the settlement time when it has none."""
    return payment.payment_id or _TS_PREFIX + payment.ts.isoformat()


def funding_id_from_key(key: str, ts: datetime) -> str:
    """Inverse of `funding_key`: '' again for a payment keyed by its time."""
    return "" if key == _TS_PREFIX + ts.isoformat() else key


def event_pk(account: str, kind: str, key: str) -> str:
    """Id of a `loop_events` row: the event's idempotency key within (account, kind)."""
    return stable_id("ev", account, kind, key, length=32)
