"""initial ops schema: services, probes and their results, incidents, runbooks, access
paths, operational debt, change records

Revision ID: 0001
Revises:
Create Date: 2026-12-03 08:00:00
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


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=4), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("opened_by", sa.String(length=200), nullable=True),
        sa.Column("opened_at", _time(), nullable=False),
        sa.Column("resolved_at", _time(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.CheckConstraint(
            "severity IN ('SEV1', 'SEV2', 'SEV3', 'SEV4')", name=op.f("ck_incidents_severity")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'investigating', 'mitigated', 'resolved')",
            name=op.f("ck_incidents_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_index(op.f("ix_incidents_opened_at"), "incidents", ["opened_at"])
    op.create_index(op.f("ix_incidents_status"), "incidents", ["status"])

    op.create_table(
        "services",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("namespace", sa.String(length=100), nullable=False),
        sa.Column("domain_slug", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("endpoints", _json(), nullable=False),
        sa.Column("health", sa.String(length=10), nullable=False),
        sa.Column("health_changed_at", _time(), nullable=True),
        sa.Column("last_seen", _time(), nullable=True),
        sa.Column("red_after", sa.Integer(), nullable=False),
        sa.Column("green_after", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.CheckConstraint(
            "health IN ('GREEN', 'AMBER', 'RED', 'UNKNOWN')", name=op.f("ck_services_health")
        ),
        sa.CheckConstraint(
            "red_after >= 1 AND green_after >= 1", name=op.f("ck_services_thresholds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("namespace", "name", name=op.f("uq_services_namespace_name")),
    )
    op.create_index(op.f("ix_services_domain_slug"), "services", ["domain_slug"])

    op.create_table(
        "access_paths",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("target", sa.String(length=1000), nullable=False),
        sa.Column("auth_method", sa.String(length=100), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("last_checked_at", _time(), nullable=True),
        sa.Column("last_detail", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.CheckConstraint("kind IN ('ssh', 'k8s', 'http')", name=op.f("ck_access_paths_kind")),
        sa.CheckConstraint(
            "status IN ('unknown', 'ok', 'failing')", name=op.f("ck_access_paths_status")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_access_paths_service_id_services"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_paths")),
        sa.UniqueConstraint("name", name=op.f("uq_access_paths_name")),
    )
    op.create_index(op.f("ix_access_paths_service_id"), "access_paths", ["service_id"])

    op.create_table(
        "change_records",
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("changed_at", _time(), nullable=False),
        sa.Column("changed_by", sa.String(length=200), nullable=False),
        sa.Column("rollback_path", sa.Text(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_change_records_service_id_services"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_records")),
    )
    op.create_index(op.f("ix_change_records_changed_at"), "change_records", ["changed_at"])
    op.create_index(op.f("ix_change_records_service_id"), "change_records", ["service_id"])

    op.create_table(
        "incident_services",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_services_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_incident_services_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", "service_id", name=op.f("pk_incident_services")),
    )
    op.create_index(op.f("ix_incident_services_service_id"), "incident_services", ["service_id"])

    op.create_table(
        "incident_tasks",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("task_key", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_tasks_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", "task_key", name=op.f("pk_incident_tasks")),
    )
    op.create_index(op.f("ix_incident_tasks_task_key"), "incident_tasks", ["task_key"])

    op.create_table(
        "operational_debts",
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("location", sa.String(length=1000), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.CheckConstraint(
            "severity IN ('low', 'medium', 'high', 'critical')",
            name=op.f("ck_operational_debts_severity"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_operational_debts_service_id_services"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operational_debts")),
    )
    op.create_index(op.f("ix_operational_debts_service_id"), "operational_debts", ["service_id"])

    op.create_table(
        "probes",
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("target", sa.String(length=1000), nullable=False),
        sa.Column("timeout_s", sa.Float(), nullable=False),
        sa.Column("expected_status", sa.Integer(), nullable=True),
        sa.Column("body_match", sa.Text(), nullable=True),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.CheckConstraint("kind IN ('http', 'tcp', 'tls', 'ssh')", name=op.f("ck_probes_kind")),
        sa.CheckConstraint("timeout_s > 0 AND interval_s > 0", name=op.f("ck_probes_timing")),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_probes_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_probes")),
    )
    op.create_index(op.f("ix_probes_service_id"), "probes", ["service_id"])

    op.create_table(
        "runbooks",
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("trigger_conditions", _json(), nullable=False),
        sa.Column("last_executed_at", _time(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_runbooks_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runbooks")),
        sa.UniqueConstraint("service_id", "title", name=op.f("uq_runbooks_service_id_title")),
    )
    op.create_index(op.f("ix_runbooks_service_id"), "runbooks", ["service_id"])

    op.create_table(
        "timeline_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_timeline_entries_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_entries")),
    )
    op.create_index("ix_timeline_entries_incident_at", "timeline_entries", ["incident_id", "at"])

    op.create_table(
        "probe_results",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("probe_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("cert_days_left", sa.Integer(), nullable=True),
        sa.Column("cert_issuer", sa.String(length=500), nullable=True),
        sa.Column("cert_subject", sa.String(length=500), nullable=True),
        sa.Column("banner", sa.String(length=500), nullable=True),
        sa.Column("checked_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["probe_id"],
            ["probes.id"],
            name=op.f("fk_probe_results_probe_id_probes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_probe_results_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_probe_results")),
    )
    op.create_index("ix_probe_results_probe_checked", "probe_results", ["probe_id", "checked_at"])
    op.create_index(
        "ix_probe_results_service_checked", "probe_results", ["service_id", "checked_at"]
    )

    op.create_table(
        "runbook_executions",
        sa.Column("runbook_id", sa.Uuid(), nullable=False),
        sa.Column("started_by", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("finished_at", _time(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.CheckConstraint(
            "status IN ('running', 'completed', 'failed')",
            name=op.f("ck_runbook_executions_status"),
        ),
        sa.ForeignKeyConstraint(
            ["runbook_id"],
            ["runbooks.id"],
            name=op.f("fk_runbook_executions_runbook_id_runbooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runbook_executions")),
    )
    op.create_index(op.f("ix_runbook_executions_runbook_id"), "runbook_executions", ["runbook_id"])

    op.create_table(
        "runbook_steps",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("runbook_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("action", _json(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('manual', 'probe', 'http')", name=op.f("ck_runbook_steps_kind")
        ),
        sa.ForeignKeyConstraint(
            ["runbook_id"],
            ["runbooks.id"],
            name=op.f("fk_runbook_steps_runbook_id_runbooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runbook_steps")),
        sa.UniqueConstraint(
            "runbook_id", "position", name=op.f("uq_runbook_steps_runbook_id_position")
        ),
    )
    op.create_table(
        "runbook_step_results",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("execution_id", sa.Uuid(), nullable=False),
        sa.Column("step_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("by", sa.String(length=200), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('confirmed', 'ok', 'failed')", name=op.f("ck_runbook_step_results_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["runbook_executions.id"],
            name=op.f("fk_runbook_step_results_execution_id_runbook_executions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["step_id"],
            ["runbook_steps.id"],
            name=op.f("fk_runbook_step_results_step_id_runbook_steps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runbook_step_results")),
    )
    op.create_index(
        "ix_runbook_step_results_execution_at", "runbook_step_results", ["execution_id", "at"]
    )


def downgrade() -> None:

    op.drop_index("ix_runbook_step_results_execution_at", table_name="runbook_step_results")
    op.drop_table("runbook_step_results")
    op.drop_table("runbook_steps")
    op.drop_index(op.f("ix_runbook_executions_runbook_id"), table_name="runbook_executions")

    op.drop_table("runbook_executions")

    op.drop_index("ix_probe_results_service_checked", table_name="probe_results")
    op.drop_index("ix_probe_results_probe_checked", table_name="probe_results")
    op.drop_table("probe_results")

    op.drop_index("ix_timeline_entries_incident_at", table_name="timeline_entries")
    op.drop_table("timeline_entries")
    op.drop_index(op.f("ix_runbooks_service_id"), table_name="runbooks")

    op.drop_table("runbooks")
    op.drop_index(op.f("ix_probes_service_id"), table_name="probes")

    op.drop_table("probes")
    op.drop_index(op.f("ix_operational_debts_service_id"), table_name="operational_debts")

    op.drop_table("operational_debts")
    op.drop_index(op.f("ix_incident_tasks_task_key"), table_name="incident_tasks")

    op.drop_table("incident_tasks")
    op.drop_index(op.f("ix_incident_services_service_id"), table_name="incident_services")

    op.drop_table("incident_services")
    op.drop_index(op.f("ix_change_records_service_id"), table_name="change_records")
    op.drop_index(op.f("ix_change_records_changed_at"), table_name="change_records")

    op.drop_table("change_records")
    op.drop_index(op.f("ix_access_paths_service_id"), table_name="access_paths")

    op.drop_table("access_paths")
    op.drop_index(op.f("ix_services_domain_slug"), table_name="services")

    op.drop_table("services")
    op.drop_index(op.f("ix_incidents_status"), table_name="incidents")
    op.drop_index(op.f("ix_incidents_opened_at"), table_name="incidents")

    op.drop_table("incidents")
