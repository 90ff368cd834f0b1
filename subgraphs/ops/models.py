"""The ops hub's tables (and only here).

Rows refer to what other hubs own by human key only — a domain by slug, a dev task by
its key (``CUST-WP-0025-T05``) — so the ops hub never needs another hub's row ids.
Statuses and kinds are plain strings held to their values by check constraints; the
service layer validates them first, so a client sees a clear error, never a constraint.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from subgraphs.core.kit.claims import CLAIMANT_LENGTH
from subgraphs.core.kit.events.tables import event_tables
from subgraphs.core.kit.orm import (
    TYPE_ANNOTATION_MAP,
    JSONDocument,
    RowIdentity,
    UTCDateTime,
    hub_metadata,
    utcnow,
)

HEALTHS = ("GREEN", "AMBER", "RED", "UNKNOWN")
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
INCIDENT_STATUSES = ("open", "investigating", "mitigated", "resolved")
OPEN_INCIDENT_STATUSES = ("open", "investigating", "mitigated")
PROBE_KINDS = ("http", "tcp", "tls", "ssh")
ACCESS_KINDS = ("ssh", "k8s", "http")
ACCESS_STATUSES = ("unknown", "ok", "failing")
STEP_KINDS = ("manual", "probe", "http")
STEP_OUTCOMES = ("confirmed", "ok", "failed")
EXECUTION_STATUSES = ("running", "completed", "failed")
DEBT_SEVERITIES = ("low", "medium", "high", "critical")

KEY_LENGTH = 64  # human keys of other hubs: domain slugs, CUST-WP-0025-T05
NAME_LENGTH = 200
TARGET_LENGTH = 1000


def _one_of(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name)


class Base(DeclarativeBase):
    metadata = hub_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


class Service(RowIdentity, Base):
    """A running service: where it is, who owns it, and how healthy the probes say it is."""

    __tablename__ = "services"
    __table_args__ = (
        UniqueConstraint("namespace", "name"),
        _one_of("health", HEALTHS, "health"),
        CheckConstraint("red_after >= 1 AND green_after >= 1", name="thresholds"),
    )

    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    namespace: Mapped[str] = mapped_column(String(100))
    domain_slug: Mapped[str] = mapped_column(String(KEY_LENGTH), index=True)
    owner: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    endpoints: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    health: Mapped[str] = mapped_column(String(10), default="UNKNOWN")
    health_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last time a probe reached it.
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Consecutive failures that make it RED (and open an incident), successes GREEN.
    red_after: Mapped[int] = mapped_column(Integer, default=3)
    green_after: Mapped[int] = mapped_column(Integer, default=2)


class Probe(RowIdentity, Base):
    """One check of a service, run by the scheduler every ``interval_s`` seconds."""

    __tablename__ = "probes"
    __table_args__ = (
        _one_of("kind", PROBE_KINDS, "kind"),
        CheckConstraint("timeout_s > 0 AND interval_s > 0", name="timing"),
    )

    service_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(String(TARGET_LENGTH))
    timeout_s: Mapped[float] = mapped_column(Float, default=5.0)
    expected_status: Mapped[int | None] = mapped_column(Integer)
    body_match: Mapped[str | None] = mapped_column(Text)
    interval_s: Mapped[int] = mapped_column(Integer, default=60)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class ProbeClaim(Base):
    """Which replica of the hub ran a probe last, and when the probe's next interval
    starts: a replica runs a probe only by claiming its interval here
    (``probe_records.claim_run``), so replicas never probe a target twice in one."""

    __tablename__ = "probe_claims"

    probe_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("probes.id", ondelete="CASCADE"), primary_key=True
    )
    next_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str] = mapped_column(String(CLAIMANT_LENGTH))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProbeResult(Base):
    """What one run of a probe found; only the newest few per probe are kept."""

    __tablename__ = "probe_results"
    __table_args__ = (
        Index("ix_probe_results_probe_checked", "probe_id", "checked_at"),
        Index("ix_probe_results_service_checked", "service_id", "checked_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    probe_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("probes.id", ondelete="CASCADE"))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    ok: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text, default="")
    status_code: Mapped[int | None] = mapped_column(Integer)
    cert_days_left: Mapped[int | None] = mapped_column(Integer)
    cert_issuer: Mapped[str | None] = mapped_column(String(500))
    cert_subject: Mapped[str | None] = mapped_column(String(500))
    banner: Mapped[str | None] = mapped_column(String(500))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Incident(RowIdentity, Base):
    """Something is wrong in production; it moves open -> investigating -> mitigated ->
    resolved (``service.INCIDENT``)."""

    __tablename__ = "incidents"
    __table_args__ = (
        _one_of("severity", SEVERITIES, "severity"),
        _one_of("status", INCIDENT_STATUSES, "status"),
    )

    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    opened_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IncidentService(Base):
    """A service an incident affects."""

    __tablename__ = "incident_services"

    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    service_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class IncidentTask(Base):
    """A dev task (by its key) that cannot proceed while the incident lasts."""

    __tablename__ = "incident_tasks"

    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    task_key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True, index=True)


class TimelineEntry(Base):
    """Who did or saw what, when, during an incident."""

    __tablename__ = "timeline_entries"
    __table_args__ = (Index("ix_timeline_entries_incident_at", "incident_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    author: Mapped[str] = mapped_column(String(NAME_LENGTH))
    text: Mapped[str] = mapped_column(Text)


class Runbook(RowIdentity, Base):
    """What to do about a service when its trigger conditions hold."""

    __tablename__ = "runbooks"
    __table_args__ = (UniqueConstraint("service_id", "title"),)

    service_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    trigger_conditions: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    last_executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RunbookStep(Base):
    """One step: manual (a person confirms it with a note) or automated (a probe or an
    HTTP call, described by ``action``). The hub never runs shell commands."""

    __tablename__ = "runbook_steps"
    __table_args__ = (
        UniqueConstraint("runbook_id", "position"),
        _one_of("kind", STEP_KINDS, "kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    runbook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runbooks.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(10))
    instructions: Mapped[str] = mapped_column(Text, default="")
    # probe: {"kind", "target", "timeout_s", "expected_status", "body_match"};
    # http: {"url", "expected_status", "timeout_s"}; manual: {}.
    action: Mapped[dict[str, object]] = mapped_column(JSONDocument, default=dict)


class RunbookExecution(RowIdentity, Base):
    """One run of a runbook, step by step."""

    __tablename__ = "runbook_executions"
    __table_args__ = (_one_of("status", EXECUTION_STATUSES, "status"),)

    runbook_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("runbooks.id", ondelete="CASCADE"), index=True
    )
    started_by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    status: Mapped[str] = mapped_column(String(20), default="running")
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RunbookStepResult(Base):
    """The audit trail of an execution: each step's outcome, who did it, when, and why."""

    __tablename__ = "runbook_step_results"
    __table_args__ = (
        Index("ix_runbook_step_results_execution_at", "execution_id", "at"),
        _one_of("outcome", STEP_OUTCOMES, "outcome"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    execution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("runbook_executions.id", ondelete="CASCADE")
    )
    step_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runbook_steps.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="")
    by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccessPath(RowIdentity, Base):
    """How operators reach something: an SSH tunnel, a Kubernetes API, an HTTP console."""

    __tablename__ = "access_paths"
    __table_args__ = (
        UniqueConstraint("name"),
        _one_of("kind", ACCESS_KINDS, "kind"),
        _one_of("status", ACCESS_STATUSES, "status"),
    )

    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    kind: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(String(TARGET_LENGTH))
    auth_method: Mapped[str] = mapped_column(String(100))
    service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("services.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(10), default="unknown")
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_detail: Mapped[str] = mapped_column(Text, default="")


class OperationalDebt(RowIdentity, Base):
    """Something in production known to be worse than it should be."""

    __tablename__ = "operational_debts"
    __table_args__ = (_one_of("severity", DEBT_SEVERITIES, "severity"),)

    title: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(10))
    location: Mapped[str] = mapped_column(String(TARGET_LENGTH))
    owner: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("services.id", ondelete="SET NULL"), index=True
    )


class ChangeRecord(RowIdentity, Base):
    """A change made to production, and how to undo it."""

    __tablename__ = "change_records"

    summary: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    changed_by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    rollback_path: Mapped[str] = mapped_column(Text, default="")
    service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("services.id", ondelete="SET NULL"), index=True
    )


# The kit's event tables (outbox, deliveries, inbox) in this hub's own database.
EVENT_TABLES = event_tables(Base.metadata)
