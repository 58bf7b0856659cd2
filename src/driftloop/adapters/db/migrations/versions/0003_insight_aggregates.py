"""Insight aggregates: exact running sums per user, dimension and bucket, and each user's equity curve.

The tables are filled from the trades already stored (a rebuild), so an
upgraded database answers insights at once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 128
# The sum columns as of this revision: (name, decimal?) — frozen here, not imported, so that later
# changes to the live code cannot change what this migration creates.
FIELDS: tuple[tuple[str, bool], ...] = (
    ("n", False),
    ("wins", False),
    ("losses", False),
    ("pnl", True),
    ("gross_profit", True),
    ("gross_loss", True),
    ("pnl_pct", True),
    ("pnl_pct_sq", True),
    ("down_sq", True),
    ("r_n", False),
    ("r_sum", True),
    ("fees", True),
    ("funding_paid", True),
    ("funding_received", True),
    ("notional", True),
    ("slip_n", False),
    ("slip_sum", True),
    ("stated_sum", True),
    ("brier_sum", True),
    ("cal_n", False),
    ("cal_sum", True),
    ("cal_brier_sum", True),
    ("cal_stated_brier_sum", True),
    ("direction_n", False),
    ("accuracy_sum", True),
    ("ai_n", False),
)


def _decimal() -> sa.types.TypeEngine[Any]:
    return sa.Numeric(38, 18).with_variant(sa.String(), "sqlite")


def upgrade() -> None:
    """Create `insight_buckets` and `insight_equity`, then fill them from the stored live trades."""
    op.create_table(
        "insight_buckets",
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("dimension", sa.String(16), nullable=False),
        sa.Column("bucket", sa.String(64), nullable=False),
        *(
            sa.Column(name, _decimal() if exact else sa.BigInteger(), nullable=False)
            for name, exact in FIELDS
        ),
        sa.PrimaryKeyConstraint("user_id", "dimension", "bucket", name="pk_insight_buckets"),
    )
    op.create_table(
        "insight_equity",
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("equity", _decimal(), nullable=False),
        sa.Column("peak", _decimal(), nullable=False),
        sa.Column("max_drawdown", _decimal(), nullable=False),
        sa.Column("last_closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_trade_id", sa.String(ID), nullable=True),
        sa.PrimaryKeyConstraint("user_id", name="pk_insight_equity"),
    )
    from driftloop.adapters.db.insights import rebuild_insights

    rebuild_insights(op.get_bind())


def downgrade() -> None:
    """Back to 0002: the aggregates are dropped (they can always be rebuilt from the trades)."""
    op.drop_table("insight_equity")
    op.drop_table("insight_buckets")
