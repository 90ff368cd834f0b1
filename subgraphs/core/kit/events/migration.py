"""The event tables' first migration, shared by every hub's ``0002`` revision.

A hub's migration calls ``create_event_tables()`` / ``drop_event_tables()``; what they
create is frozen here as version 1 of the tables (``tables.py`` is the model; the
migration test compares the two). A later change to the tables gets its own function
here and its own revision in every hub: ``add_delivery_claims()`` (version 2, the
relay's claim on a delivery, for replicas).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from subgraphs.core.kit.orm import UTCDateTime


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def create_event_tables() -> None:
    op.create_table(
        "event_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("occurred_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("sequences", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_outbox")),
    )
    op.create_index(
        op.f("ix_event_outbox_occurred_at"), "event_outbox", ["occurred_at"], unique=False
    )
    op.create_table(
        "event_deliveries",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("destination", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["event_outbox.id"],
            name=op.f("fk_event_deliveries_event_id_event_outbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", "destination", name=op.f("pk_event_deliveries")),
    )
    op.create_index(
        "ix_event_deliveries_due", "event_deliveries", ["status", "next_attempt_at"], unique=False
    )
    op.create_index(
        "ix_event_deliveries_order",
        "event_deliveries",
        ["destination", "subject", "sequence"],
        unique=False,
    )
    op.create_table(
        "event_subjects",
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("destination", sa.String(32), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "destination", name=op.f("pk_event_subjects")),
    )
    op.create_table(
        "event_inbox",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("applied_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_event_inbox")),
    )
    op.create_table(
        "event_inbox_subjects",
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", "subject", name=op.f("pk_event_inbox_subjects")),
    )


def drop_event_tables() -> None:
    op.drop_table("event_inbox_subjects")
    op.drop_table("event_inbox")
    op.drop_table("event_subjects")
    op.drop_index("ix_event_deliveries_order", table_name="event_deliveries")
    op.drop_index("ix_event_deliveries_due", table_name="event_deliveries")
    op.drop_table("event_deliveries")
    op.drop_index(op.f("ix_event_outbox_occurred_at"), table_name="event_outbox")
    op.drop_table("event_outbox")


def add_delivery_claims() -> None:
    """Version 2: ``event_deliveries.claimed_by`` / ``claimed_until`` (nullable: rows
    already there are unclaimed)."""
    with op.batch_alter_table("event_deliveries") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(120), nullable=True))
        batch.add_column(sa.Column("claimed_until", UTCDateTime(timezone=True), nullable=True))


def drop_delivery_claims() -> None:
    with op.batch_alter_table("event_deliveries") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
