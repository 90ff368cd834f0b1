"""initial fin schema: cost entries, token spend, budgets, commitments, balances

Revision ID: 0001
Revises:
Create Date: 2026-12-03 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import subgraphs.core.kit.orm


def _amount() -> sa.types.TypeEngine:
    # As fin.models.Amount: NUMERIC(18, 6), or whole millionths on SQLite.
    return sa.Numeric(precision=18, scale=6).with_variant(sa.BigInteger(), "sqlite")


def _time() -> subgraphs.core.kit.orm.UTCDateTime:
    return subgraphs.core.kit.orm.UTCDateTime(timezone=True)


revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "balances",
        sa.Column("domain_slug", sa.String(length=64), nullable=False),
        sa.Column("amount", _amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("alert_below_months", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.CheckConstraint("alert_below_months >= 0", name=op.f("ck_balances_alert_below_months")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_balances")),
        sa.UniqueConstraint(
            "domain_slug", "as_of", "currency", name=op.f("uq_balances_domain_slug_as_of_currency")
        ),
    )
    op.create_index(op.f("ix_balances_domain_slug"), "balances", ["domain_slug"])

    op.create_table(
        "budgets",
        sa.Column("domain_slug", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("allocated", _amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.CheckConstraint("allocated >= 0", name=op.f("ck_budgets_allocated")),
        sa.CheckConstraint("period_end > period_start", name=op.f("ck_budgets_period_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
        sa.UniqueConstraint("domain_slug", "period", name=op.f("uq_budgets_domain_slug_period")),
    )
    op.create_index(op.f("ix_budgets_domain_slug"), "budgets", ["domain_slug"])

    op.create_table(
        "commitments",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("vendor", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("amount", _amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("cadence", sa.String(length=10), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("service_id", sa.String(length=36), nullable=True),
        sa.Column("domain_slug", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.CheckConstraint(
            "cadence IN ('monthly', 'quarterly', 'yearly')", name=op.f("ck_commitments_cadence")
        ),
        sa.CheckConstraint(
            "kind IN ('subscription', 'contract', 'salary')", name=op.f("ck_commitments_kind")
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_commitments_amount")),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= start_date", name=op.f("ck_commitments_dates")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commitments")),
    )
    op.create_index(op.f("ix_commitments_domain_slug"), "commitments", ["domain_slug"])
    op.create_index(op.f("ix_commitments_service_id"), "commitments", ["service_id"])

    op.create_table(
        "cost_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("amount", _amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("vendor", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("service_id", sa.String(length=36), nullable=True),
        sa.Column("domain_slug", sa.String(length=64), nullable=True),
        sa.Column("resource", sa.String(length=200), nullable=True),
        sa.Column("attribution", sa.String(length=20), nullable=False),
        sa.Column("source_file", sa.String(length=500), nullable=False),
        sa.Column("source_row", sa.Integer(), nullable=False),
        sa.Column("row_digest", sa.String(length=64), nullable=False),
        sa.Column("imported_at", _time(), nullable=False),
        sa.CheckConstraint(
            "attribution IN ('service', 'rule', 'unattributed')",
            name=op.f("ck_cost_entries_attribution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_entries")),
        sa.UniqueConstraint("row_digest", name=op.f("uq_cost_entries_row_digest")),
    )
    op.create_index(op.f("ix_cost_entries_date"), "cost_entries", ["date"])
    op.create_index("ix_cost_entries_domain_date", "cost_entries", ["domain_slug", "date"])
    op.create_index("ix_cost_entries_service_date", "cost_entries", ["service_id", "date"])
    op.create_index(op.f("ix_cost_entries_vendor"), "cost_entries", ["vendor"])

    op.create_table(
        "token_spend",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("provider", sa.String(length=50), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("tokens_in", sa.BigInteger(), nullable=False),
        sa.Column("tokens_out", sa.BigInteger(), nullable=False),
        sa.Column("cost", _amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("cost_source", sa.String(length=20), nullable=False),
        sa.Column("session_id", sa.String(length=200), nullable=True),
        sa.Column("service_id", sa.String(length=36), nullable=True),
        sa.Column("domain_slug", sa.String(length=64), nullable=True),
        sa.Column("source_file", sa.String(length=500), nullable=False),
        sa.Column("source_row", sa.Integer(), nullable=False),
        sa.Column("row_digest", sa.String(length=64), nullable=False),
        sa.Column("imported_at", _time(), nullable=False),
        sa.CheckConstraint(
            "cost_source IN ('export', 'price_table')", name=op.f("ck_token_spend_cost_source")
        ),
        sa.CheckConstraint(
            "tokens_in >= 0 AND tokens_out >= 0", name=op.f("ck_token_spend_tokens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_spend")),
        sa.UniqueConstraint("row_digest", name=op.f("uq_token_spend_row_digest")),
    )
    op.create_index(op.f("ix_token_spend_at"), "token_spend", ["at"])
    op.create_index("ix_token_spend_domain_at", "token_spend", ["domain_slug", "at"])
    op.create_index("ix_token_spend_provider_model_at", "token_spend", ["provider", "model", "at"])
    op.create_index(op.f("ix_token_spend_service_id"), "token_spend", ["service_id"])
    op.create_index(op.f("ix_token_spend_session_id"), "token_spend", ["session_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_token_spend_session_id"), table_name="token_spend")
    op.drop_index(op.f("ix_token_spend_service_id"), table_name="token_spend")
    op.drop_index("ix_token_spend_provider_model_at", table_name="token_spend")
    op.drop_index("ix_token_spend_domain_at", table_name="token_spend")
    op.drop_index(op.f("ix_token_spend_at"), table_name="token_spend")

    op.drop_table("token_spend")
    op.drop_index(op.f("ix_cost_entries_vendor"), table_name="cost_entries")
    op.drop_index("ix_cost_entries_service_date", table_name="cost_entries")
    op.drop_index("ix_cost_entries_domain_date", table_name="cost_entries")
    op.drop_index(op.f("ix_cost_entries_date"), table_name="cost_entries")

    op.drop_table("cost_entries")
    op.drop_index(op.f("ix_commitments_service_id"), table_name="commitments")
    op.drop_index(op.f("ix_commitments_domain_slug"), table_name="commitments")

    op.drop_table("commitments")
    op.drop_index(op.f("ix_budgets_domain_slug"), table_name="budgets")

    op.drop_table("budgets")
    op.drop_index(op.f("ix_balances_domain_slug"), table_name="balances")

    op.drop_table("balances")
