"""event flows: the incident that blocked a task, domains' resource pressure (issue 17)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import subgraphs.core.kit.orm

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time() -> subgraphs.core.kit.orm.UTCDateTime:
    return subgraphs.core.kit.orm.UTCDateTime(timezone=True)


def upgrade() -> None:
    # A nullable column: a plain ALTER TABLE on both backends, no table rebuild.
    op.add_column("tasks", sa.Column("blocked_by_incident", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_tasks_blocked_by_incident"), "tasks", ["blocked_by_incident"])

    op.create_table(
        "resource_pressures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("domain_slug", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=50), nullable=False),
        sa.Column("percent", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("allocated", sa.String(length=50), nullable=True),
        sa.Column("spent", sa.String(length=50), nullable=True),
        sa.Column("currency", sa.String(length=10), nullable=True),
        sa.Column("since", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_pressures")),
        sa.UniqueConstraint(
            "domain_slug", "period", name=op.f("uq_resource_pressures_domain_slug_period")
        ),
    )
    op.create_index(
        op.f("ix_resource_pressures_domain_slug"), "resource_pressures", ["domain_slug"]
    )


def downgrade() -> None:
    op.drop_table("resource_pressures")
    op.drop_index(op.f("ix_tasks_blocked_by_incident"), table_name="tasks")
    with op.batch_alter_table("tasks") as batch:  # SQLite rebuilds the table
        batch.drop_column("blocked_by_incident")
