"""SQLAlchemy Core tables of the store (the migrations, applied in order, create exactly these).

Money, prices, sizes and ratios are `ExactDecimal`; timestamps are `UTCDateTime`.
Primary keys are deterministic strings (see `keys`), so the same
inputs always give the same rows.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

from driftloop.adapters.db.types import ExactDecimal, JSONDocument, ScaledInt, Seconds, UTCDateTime
from driftloop.learning.aggregates import DECIMAL_FIELDS, FIELD_NAMES

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

EVENT_KEY = 500  # length of a loop event's idempotency key
ID = 128  # length of id columns (ours are deterministic and shorter; trade and run ids come from callers)


def _money(name: str, nullable: bool = True) -> Column[Decimal]:
    return Column(name, ExactDecimal(), nullable=nullable)


accounts = Table(
    "accounts",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("user_id", String(200), nullable=False),
    Column("venue", String(32), nullable=False),
    Column("sub_account", Integer, nullable=False),
    Column("monitoring_active", Boolean, nullable=False, server_default=false()),
    Column("monitoring_interval_s", Seconds(), nullable=True),  # float since 0002
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("user_id", "venue", "sub_account"),
)

replay_runs = Table(
    "replay_runs",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("parameters", JSONDocument(), nullable=False),
    Column("summary", JSONDocument(), nullable=False),
)

analyses = Table(
    "analyses",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("user_id", String(200), nullable=False),
    Column("run_id", String(ID), nullable=False, server_default=text("''")),
    Column("analysis_id", String(200), nullable=False),
    Column("timestamp", UTCDateTime(), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("timeframe", String(8), nullable=False),
    Column("prediction", String(16), nullable=False),
    _money("confidence", nullable=False),
    Column("recommendation", String(8), nullable=False),
    _money("entry_price"),
    _money("stop_loss", nullable=False),
    _money("take_profit", nullable=False),
    _money("target_price"),
    _money("leverage", nullable=False),
    _money("size_usd", nullable=False),
    Column("max_hold_minutes", Integer, nullable=True),
    Column("analyst", String(200), nullable=False),
    Column("reasoning", Text, nullable=False),
    Column("raw", JSONDocument(), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    UniqueConstraint("user_id", "run_id", "analysis_id"),
)

trades = Table(
    "trades",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("account_id", String(ID), ForeignKey("accounts.id"), nullable=False),
    Column("analysis_pk", String(ID), ForeignKey("analyses.id"), nullable=False),
    Column("run_id", String(ID), nullable=False, server_default=text("''")),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("symbol", String(32), nullable=False),
    Column("market_index", Integer, nullable=False),
    Column("side", String(8), nullable=True),
    _money("leverage", nullable=False),
    _money("size"),
    _money("entry_price"),
    _money("entry_notional"),
    _money("exit_price"),
    _money("stop_loss", nullable=False),
    _money("take_profit", nullable=False),
    _money("target_price", nullable=False),
    Column("exit_reason", String(16), nullable=True),
    Column("outcome", String(16), nullable=True),
    _money("pnl_usd"),
    _money("pnl_percent"),
    _money("roe_percent"),
    _money("actual_rr"),
    _money("fees_usd"),
    _money("funding_usd"),
    _money("price_pnl"),
    _money("slippage_bps"),
    _money("entry_slippage_bps"),
    _money("exit_slippage_bps"),
    _money("mae"),
    _money("mfe"),
    Column("opened_at", UTCDateTime(), nullable=True),
    Column("closed_at", UTCDateTime(), nullable=True),
    Column("drift_tx_id", String(128), nullable=True),
    Column("learning_data", JSONDocument(), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("analysis_pk"),
    Index(None, "account_id", "run_id", "status"),  # live (run "") trades of an account by status
    Index(None, "run_id"),
    Index(None, "closed_at"),
)

trade_orders = Table(
    "trade_orders",
    metadata,
    Column("trade_id", String(ID), ForeignKey("trades.id", ondelete="CASCADE"), nullable=False),
    Column("leg", String(16), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("venue_order_id", String(128), nullable=False),
    Column("user_order_id", Integer, nullable=False),
    _money("trigger_price"),
    Column("tx_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    PrimaryKeyConstraint("trade_id", "leg"),
)

fills = Table(
    "fills",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("trade_id", String(ID), ForeignKey("trades.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("venue", String(32), nullable=False),
    Column("account_id", String(ID), ForeignKey("accounts.id"), nullable=False),
    Column("market_index", Integer, nullable=False),
    Column("fill_id", String(200), nullable=False),
    Column("role", String(8), nullable=False),
    Column("leg", String(16), nullable=False),
    Column("cause", String(16), nullable=True),
    Column("side", String(8), nullable=False),
    _money("price", nullable=False),
    _money("size", nullable=False),
    _money("fee", nullable=False),
    _money("reference_price"),
    Column("order_id", String(128), nullable=True),
    Column("ts", UTCDateTime(), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    UniqueConstraint("venue", "account_id", "market_index", "fill_id", "role"),
    Index(None, "trade_id"),
)

funding_payments = Table(
    "funding_payments",
    metadata,
    Column("trade_id", String(ID), ForeignKey("trades.id", ondelete="CASCADE"), nullable=False),
    Column("payment_id", String(200), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("ts", UTCDateTime(), nullable=False),
    _money("rate", nullable=False),
    _money("amount", nullable=False),
    PrimaryKeyConstraint("trade_id", "payment_id"),
)

ai_learning_data = Table(
    "ai_learning_data",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("trade_id", String(ID), ForeignKey("trades.id", ondelete="CASCADE"), nullable=False),
    Column("analysis_pk", String(ID), ForeignKey("analyses.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("outcome", String(16), nullable=True),
    _money("actual_price"),
    Column("direction_correct", Boolean, nullable=True),
    _money("price_accuracy"),
    _money("accuracy_score"),
    _money("stated_probability"),
    _money("brier"),
    _money("calibrated_probability"),
    _money("calibrated_brier"),
    Column("feedback_data", JSONDocument(), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("trade_id"),
)

ingest_cursors = Table(
    "ingest_cursors",
    metadata,
    Column("account_id", String(ID), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("stream", String(64), nullable=False),
    Column("cursor", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("account_id", "stream"),
)

# The loop's findings (reconciliation, captures): once per (account, kind, key), read per user and kind.
loop_events = Table(
    "loop_events",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("account_id", String(ID), ForeignKey("accounts.id"), nullable=False),
    Column("user_id", String(200), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("key", String(EVENT_KEY), nullable=False),
    Column("trade_id", String(ID), nullable=True),
    Column("venue_ts", UTCDateTime(), nullable=True),
    Column("detail", JSONDocument(), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    UniqueConstraint("account_id", "kind", "key"),
    Index(None, "user_id", "kind"),
)


# Insight aggregates (since 0003): exact running sums per user, dimension and bucket of the user's
# live trades, maintained in the transaction that saves a trade (see learning.aggregates).
insight_buckets = Table(
    "insight_buckets",
    metadata,
    Column("user_id", String(200), nullable=False),
    Column("dimension", String(16), nullable=False),
    Column("bucket", String(64), nullable=False),
    *(
        Column(name, ScaledInt(), nullable=False)
        if name in DECIMAL_FIELDS
        else Column(name, BigInteger, nullable=False)
        for name in FIELD_NAMES
    ),
    PrimaryKeyConstraint("user_id", "dimension", "bucket"),
)

# The equity curve of a user's closed live trades in (closed_at, trade id) order, for drawdown.
insight_equity = Table(
    "insight_equity",
    metadata,
    Column("user_id", String(200), primary_key=True),
    _money("equity", nullable=False),
    _money("peak", nullable=False),
    _money("max_drawdown", nullable=False),
    Column("last_closed_at", UTCDateTime(), nullable=True),
    Column("last_trade_id", String(ID), nullable=True),
)
