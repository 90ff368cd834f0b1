"""event tables: outbox, deliveries, subject sequences, inbox (kit/events)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

from subgraphs.core.kit.events.migration import create_event_tables, drop_event_tables

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_event_tables()


def downgrade() -> None:
    drop_event_tables()
