"""probe claims: a probe's run claimed per interval, so replicas never run it twice in one

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 17:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import subgraphs.core.kit.orm

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time() -> subgraphs.core.kit.orm.UTCDateTime:
    return subgraphs.core.kit.orm.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "probe_claims",
        sa.Column("probe_id", sa.Uuid(), nullable=False),
        sa.Column("next_due_at", _time(), nullable=False),
        sa.Column("claimed_by", sa.String(length=120), nullable=False),
        sa.Column("claimed_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["probe_id"],
            ["probes.id"],
            name=op.f("fk_probe_claims_probe_id_probes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("probe_id", name=op.f("pk_probe_claims")),
    )


def downgrade() -> None:
    op.drop_table("probe_claims")
