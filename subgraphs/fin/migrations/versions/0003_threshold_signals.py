"""threshold signals: the budget and runway lines already signalled to other hubs

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import subgraphs.core.kit.orm

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "threshold_signals",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("domain_slug", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("threshold", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column(
            "signalled_at", subgraphs.core.kit.orm.UTCDateTime(timezone=True), nullable=False
        ),
        sa.CheckConstraint(
            "kind IN ('budget_threshold_crossed', 'runway_below_threshold')",
            name=op.f("ck_threshold_signals_kind"),
        ),
        sa.PrimaryKeyConstraint("kind", "domain_slug", "period", name=op.f("pk_threshold_signals")),
    )


def downgrade() -> None:
    op.drop_table("threshold_signals")
