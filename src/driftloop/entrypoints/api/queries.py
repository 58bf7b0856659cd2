"""Read queries of the API over the store (SQLAlchemy Core over `adapters.db.tables`).

`list_trades` pages live trades newest first by (analysis time, trade id) with a keyset cursor:
one query selects the page's ids (limit + 1, to know whether there is a next page), then the
repository's loader reads those trades whole (four queries whatever the page size).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from driftloop.adapters.db.mapping import COMPLETE
from driftloop.adapters.db.reading import load_trades
from driftloop.adapters.db.tables import accounts, ai_learning_data, analyses, trades
from driftloop.domain.errors import InputError
from driftloop.domain.trade import Trade
from driftloop.entrypoints.presenters import iso, number

LIVE = ""


@dataclass(frozen=True, slots=True)
class TradeFilter:
    user_id: str | None = None
    symbol: str | None = None
    status: str | None = None
    outcome: str | None = None
    start: datetime | None = None  # analysis time ≥ start
    end: datetime | None = None  # analysis time < end


def encode_cursor(ts: datetime, trade_id: str) -> str:
    raw = json.dumps([ts.isoformat(), trade_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (analysis time, trade id) after which the next page starts; InputError if malformed."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts_text, trade_id = json.loads(raw)
        ts = datetime.fromisoformat(ts_text)
        if ts.tzinfo is None or not isinstance(trade_id, str) or not 0 < len(trade_id) <= 128:
            raise ValueError("bad cursor")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InputError("not a cursor returned by this API", field="cursor") from None
    return ts, trade_id


def list_trades(
    conn: Connection, where: TradeFilter, limit: int, cursor: str | None = None
) -> tuple[list[Trade], str | None]:
    """A page of live trades matching `where`, newest first, and the cursor of the next page."""
    ts_col = analyses.c.timestamp
    query = (
        select(trades.c.id, ts_col)
        .join(analyses, analyses.c.id == trades.c.analysis_pk)
        .where(trades.c.run_id == LIVE)
    )
    if where.user_id is not None:
        owned = select(accounts.c.id).where(accounts.c.user_id == where.user_id).scalar_subquery()
        query = query.where(trades.c.account_id.in_(owned))
    if where.symbol is not None:
        query = query.where(trades.c.symbol == where.symbol)
    if where.status is not None:
        query = query.where(trades.c.status == where.status)
    if where.outcome is not None:
        query = query.where(trades.c.outcome == where.outcome)
    if where.start is not None:
        query = query.where(ts_col >= where.start)
    if where.end is not None:
        query = query.where(ts_col < where.end)
    if cursor is not None:
        after_ts, after_id = decode_cursor(cursor)
        query = query.where(or_(ts_col < after_ts, and_(ts_col == after_ts, trades.c.id < after_id)))
    rows = conn.execute(query.order_by(ts_col.desc(), trades.c.id.desc()).limit(limit + 1)).all()
    page, more = rows[:limit], len(rows) > limit
    if not page:
        return [], None
    by_id = {t.id: t for t in load_trades(conn, trades.c.id.in_([r.id for r in page]))}
    found = [by_id[r.id] for r in page if r.id in by_id]
    last = page[-1]
    return found, encode_cursor(last.timestamp, last.id) if more else None


def get_live_trade(conn: Connection, trade_id: str) -> Trade | None:
    found = load_trades(conn, and_(trades.c.id == trade_id, trades.c.run_id == LIVE))
    return found[0] if found else None


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return number(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def learning_record(conn: Connection, trade_id: str) -> dict[str, Any] | None:
    """The trade's `ai_learning_data` row in camelCase (None for a skipped or failed trade)."""
    row = (
        conn.execute(select(ai_learning_data).where(ai_learning_data.c.trade_id == trade_id))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return {
        "status": row["status"],
        "outcome": row["outcome"],
        "actualPrice": _plain(row["actual_price"]),
        "directionCorrect": row["direction_correct"],
        "priceAccuracy": _plain(row["price_accuracy"]),
        "accuracyScore": _plain(row["accuracy_score"]),
        "statedProbability": _plain(row["stated_probability"]),
        "brier": _plain(row["brier"]),
        "calibratedProbability": _plain(row["calibrated_probability"]),
        "calibratedBrier": _plain(row["calibrated_brier"]),
        "feedbackData": _plain(row["feedback_data"]),
        "recordedAt": iso(row["recorded_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


def closed_forecasts(conn: Connection, user_id: str) -> list[tuple[Decimal, bool, Decimal | None]]:
    """(stated probability, won, Brier) of every closed live trade of the user (complete learning rows)."""
    query = (
        select(ai_learning_data.c.stated_probability, ai_learning_data.c.outcome, ai_learning_data.c.brier)
        .join(trades, trades.c.id == ai_learning_data.c.trade_id)
        .join(accounts, accounts.c.id == trades.c.account_id)
        .where(accounts.c.user_id == user_id, trades.c.run_id == LIVE, ai_learning_data.c.status == COMPLETE)
    )
    return [
        (row.stated_probability, row.outcome == "WIN", row.brier)
        for row in conn.execute(query)
        if row.stated_probability is not None
    ]
