"""Loop events; live-trade index; fractional monitoring intervals.

* `loop_events`: the loop's findings (reconciliation, captures), idempotent per
  (account, kind, key); read per user and kind.
* `trades`: the (account, status) index becomes (account, run, status), so a
  user's live (run "") trades by status never scan replay trades.
* `accounts.monitoring_interval_s` holds float seconds: DOUBLE PRECISION on
  PostgreSQL. SQLite keeps the INTEGER declaration (rebuilding `accounts` would
  fire the cascades of its foreign keys); its affinity stores fractions as REAL.

Revision ID: 0002
Revises: 0001
Create Date: 2024-07-01
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 128
EVENT_KEY = 500


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _is_postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    """Create `loop_events`, re-index live trades, widen the monitoring interval."""
    op.create_table(
        "loop_events",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("key", sa.String(EVENT_KEY), nullable=False),
        sa.Column("trade_id", sa.String(ID), nullable=True),
        sa.Column("venue_ts", _ts(), nullable=True),
        sa.Column("detail", _json(), nullable=False),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_loop_events"),
        sa.UniqueConstraint("account_id", "kind", "key", name="uq_loop_events_account_id_kind_key"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_loop_events_account_id_accounts"),
    )
    op.create_index("ix_loop_events_user_id_kind", "loop_events", ["user_id", "kind"])
    op.create_index("ix_trades_account_id_run_id_status", "trades", ["account_id", "run_id", "status"])
    op.drop_index("ix_trades_account_id_status", table_name="trades")
    if _is_postgres():
        op.alter_column(
            "accounts",
            "monitoring_interval_s",
            existing_type=sa.Integer(),
            type_=sa.Double(),
            existing_nullable=True,
        )


def downgrade() -> None:
    """Back to 0001: intervals are rounded to whole seconds, loop events are dropped."""
    if _is_postgres():
        op.alter_column(
            "accounts",
            "monitoring_interval_s",
            existing_type=sa.Double(),
            type_=sa.Integer(),
            existing_nullable=True,
            postgresql_using="round(monitoring_interval_s)::integer",
        )
    op.create_index("ix_trades_account_id_status", "trades", ["account_id", "status"])
    op.drop_index("ix_trades_account_id_run_id_status", table_name="trades")
    op.drop_index("ix_loop_events_user_id_kind", table_name="loop_events")
    op.drop_table("loop_events")
