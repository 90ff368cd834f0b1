"""event deliveries claimed by one relay at a time (kit/events, for replicas)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 17:00:00
"""

from collections.abc import Sequence

from subgraphs.core.kit.events.migration import add_delivery_claims, drop_delivery_claims

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_delivery_claims()


def downgrade() -> None:
    drop_delivery_claims()
