"""initial dev schema: topics, workplans, phases, tasks, decisions, deployments, SBOMs

Revision ID: 0001
Revises:
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import subgraphs.core.kit.orm

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:
    # As kit.orm.JSONDocument: JSONB on PostgreSQL, JSON text elsewhere.
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time() -> subgraphs.core.kit.orm.UTCDateTime:
    return subgraphs.core.kit.orm.UTCDateTime(timezone=True)


def _row_identity() -> list[sa.Column]:
    # kit.orm.RowIdentity's columns.
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
    ]


def _cascade_to(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "topics",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topics")),
        sa.UniqueConstraint("slug", name=op.f("uq_topics_slug")),
    )

    op.create_table(
        "workplans",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("domain_slug", sa.String(length=64), nullable=False),
        sa.Column("repo", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("topic_slug", sa.String(length=64), nullable=True),
        sa.Column("created", sa.Date(), nullable=True),
        sa.Column("updated", sa.Date(), nullable=True),
        sa.Column("workstream_id", sa.String(length=64), nullable=True),
        sa.Column("source_path", sa.String(length=1000), nullable=True),
        sa.Column("content_hash", sa.String(length=128), nullable=True),
        sa.Column("synced_at", _time(), nullable=True),
        *_row_identity(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workplans")),
        sa.UniqueConstraint("key", name=op.f("uq_workplans_key")),
    )
    op.create_index(op.f("ix_workplans_domain_slug"), "workplans", ["domain_slug"])
    op.create_index(op.f("ix_workplans_repo"), "workplans", ["repo"])

    op.create_table(
        "phases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workplan_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("goal", sa.Text(), nullable=True),
        sa.Column("repos", _json(), nullable=False),
        sa.Column("depends_on", _json(), nullable=False),
        sa.Column("parallel_with", _json(), nullable=False),
        _cascade_to("phases", "workplan_id", "workplans"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phases")),
        sa.UniqueConstraint("workplan_id", "number", name=op.f("uq_phases_workplan_id_number")),
    )

    op.create_table(
        "tasks",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("workplan_id", sa.Uuid(), nullable=False),
        sa.Column("phase_number", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.String(length=20), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("blocked_reason", sa.Text(), nullable=True),
        sa.Column("blocked_from", sa.String(length=20), nullable=True),
        sa.Column("file_status", sa.String(length=20), nullable=True),
        sa.Column("source_line", sa.Integer(), nullable=True),
        sa.Column("status_changed_at", _time(), nullable=True),
        *_row_identity(),
        sa.CheckConstraint(
            "status IN ('todo', 'in_progress', 'blocked', 'done', 'cancelled')",
            name=op.f("ck_tasks_status"),
        ),
        _cascade_to("tasks", "workplan_id", "workplans"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint("key", name=op.f("uq_tasks_key")),
    )
    op.create_index(op.f("ix_tasks_status"), "tasks", ["status"])
    op.create_index("ix_tasks_workplan_position", "tasks", ["workplan_id", "position"])

    op.create_table(
        "task_dependencies",
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("depends_on_key", sa.String(length=64), nullable=False),
        _cascade_to("task_dependencies", "task_id", "tasks"),
        sa.PrimaryKeyConstraint("task_id", "depends_on_key", name=op.f("pk_task_dependencies")),
    )

    op.create_table(
        "task_references",
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        _cascade_to("task_references", "task_id", "tasks"),
        sa.PrimaryKeyConstraint("task_id", "reference", name=op.f("pk_task_references")),
    )

    op.create_table(
        "decisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workplan_id", sa.Uuid(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("choice", sa.Text(), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=True),
        sa.Column("recorded_at", _time(), nullable=False),
        sa.CheckConstraint("source IN ('file', 'api')", name=op.f("ck_decisions_source")),
        _cascade_to("decisions", "workplan_id", "workplans"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    op.create_index(op.f("ix_decisions_workplan_id"), "decisions", ["workplan_id"])
    op.create_index(op.f("ix_decisions_recorded_at"), "decisions", ["recorded_at"])

    op.create_table(
        "deployments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("repo", sa.String(length=200), nullable=True),
        sa.Column("environment", sa.String(length=50), nullable=False),
        sa.Column("deployed_at", _time(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
    )
    op.create_index(op.f("ix_deployments_repo"), "deployments", ["repo"])
    op.create_index(op.f("ix_deployments_deployed_at"), "deployments", ["deployed_at"])
    op.create_index("ix_deployments_service_deployed_at", "deployments", ["service", "deployed_at"])

    op.create_table(
        "sboms",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("repo", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("spec_version", sa.String(length=10), nullable=False),
        sa.Column("serial_number", sa.String(length=200), nullable=True),
        sa.Column("imported_at", _time(), nullable=False),
        sa.Column("component_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sboms")),
        sa.UniqueConstraint("repo", name=op.f("uq_sboms_repo")),
    )

    op.create_table(
        "sbom_components",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sbom_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("version", sa.String(length=200), nullable=True),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("purl", sa.String(length=1000), nullable=True),
        sa.Column("group", sa.String(length=500), nullable=True),
        sa.Column("licenses", _json(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _cascade_to("sbom_components", "sbom_id", "sboms"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sbom_components")),
    )
    op.create_index("ix_sbom_components_sbom_position", "sbom_components", ["sbom_id", "position"])


def downgrade() -> None:
    # Children first; dropping a table drops its indexes on both backends.
    for table in (
        "sbom_components",
        "sboms",
        "deployments",
        "decisions",
        "task_references",
        "task_dependencies",
        "tasks",
        "phases",
        "workplans",
        "topics",
    ):
        op.drop_table(table)
