"""The dev hub's tables (and only here).

Workplans are markdown files in users' repos; these tables hold what ``sync.py`` reads
from them (``source_path``, ``content_hash``, ``file_status``) next to what changes
through the API (task statuses, decisions recorded later, deployments, SBOMs). Rows
refer to what other hubs own by human key only — a domain by slug, a repo by name — so
the dev hub never needs another hub's row ids.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from subgraphs.core.kit.events.tables import event_tables
from subgraphs.core.kit.orm import (
    TYPE_ANNOTATION_MAP,
    JSONDocument,
    RowIdentity,
    UTCDateTime,
    hub_metadata,
    utcnow,
)

TASK_STATUSES = ("todo", "in_progress", "blocked", "done", "cancelled")
# Work that still has to happen: what a domain's open task count counts.
OPEN_TASK_STATUSES = ("todo", "in_progress", "blocked")
DECISION_SOURCES = ("file", "api")

KEY_LENGTH = 64  # human keys: CUST-WP-0025, CUST-WP-0025-T05, domain slugs
REPO_LENGTH = 200  # as core's managed_repos.name


class Base(DeclarativeBase):
    metadata = hub_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


class Topic(Base):
    __tablename__ = "topics"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(String(KEY_LENGTH), unique=True)
    title: Mapped[str] = mapped_column(String(300))


class Workplan(RowIdentity, Base):
    """One workplan file's front matter; the file is the source, ``sync`` the importer."""

    __tablename__ = "workplans"

    key: Mapped[str] = mapped_column(String(KEY_LENGTH), unique=True)
    type: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(300))
    domain_slug: Mapped[str] = mapped_column(String(KEY_LENGTH), index=True)
    repo: Mapped[str | None] = mapped_column(String(REPO_LENGTH), index=True)
    status: Mapped[str] = mapped_column(String(50))
    owner: Mapped[str | None] = mapped_column(String(200))
    topic_slug: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    # The front matter's own dates (days, no time), not the row's timestamps.
    created: Mapped[date | None] = mapped_column(Date)
    updated: Mapped[date | None] = mapped_column(Date)
    workstream_id: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    # Where it was imported from and the SHA-256 of those bytes: sync skips unchanged files.
    source_path: Mapped[str | None] = mapped_column(String(1000))
    content_hash: Mapped[str | None] = mapped_column(String(128))
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Phase(Base):
    __tablename__ = "phases"
    __table_args__ = (UniqueConstraint("workplan_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workplan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workplans.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    goal: Mapped[str | None] = mapped_column(Text)
    repos: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    # Phase numbers within the same workplan.
    depends_on: Mapped[list[int]] = mapped_column(JSONDocument, default=list)
    parallel_with: Mapped[list[int]] = mapped_column(JSONDocument, default=list)


class Task(RowIdentity, Base):
    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint(
            "status IN ('todo', 'in_progress', 'blocked', 'done', 'cancelled')", name="status"
        ),
        Index("ix_tasks_workplan_position", "workplan_id", "position"),
    )

    key: Mapped[str] = mapped_column(String(KEY_LENGTH), unique=True)
    workplan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workplans.id", ondelete="CASCADE"))
    phase_number: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), index=True, default="todo")
    priority: Mapped[str | None] = mapped_column(String(20))
    # The task's id in the system the workplan was first tracked in (state_hub_task_id).
    external_id: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    # Order within the workplan file.
    position: Mapped[int] = mapped_column(Integer, default=0)
    blocked_reason: Mapped[str | None] = mapped_column(Text)
    # The status a blocked task had before it was blocked, so unblocking resumes it.
    blocked_from: Mapped[str | None] = mapped_column(String(20))
    # The ops incident (its id) that blocked it through an ``incident_opened`` event
    # (``flows.py``): its ``incident_resolved`` unblocks the task only while this holds.
    blocked_by_incident: Mapped[str | None] = mapped_column(String(KEY_LENGTH), index=True)
    # The status the file had at the last sync; status != file_status: write it back.
    file_status: Mapped[str | None] = mapped_column(String(20))
    source_line: Mapped[int | None] = mapped_column(Integer)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TaskDependency(Base):
    """A task waits for another, named by key (it may live in another workplan)."""

    __tablename__ = "task_dependencies"

    task_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    depends_on_key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)


class TaskReference(Base):
    """A task mentions another workplan, e.g. ``NK-WP-0001`` (maybe of another repo)."""

    __tablename__ = "task_references"

    task_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    reference: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)


class Decision(Base):
    """A row of a workplan's Key Decisions table (``file``) or one recorded via the API."""

    __tablename__ = "decisions"
    __table_args__ = (CheckConstraint("source IN ('file', 'api')", name="source"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workplan_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("workplans.id", ondelete="CASCADE"), index=True
    )
    # Row of the file's table; None for decisions recorded through the API.
    position: Mapped[int | None] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(Text)
    choice: Mapped[str] = mapped_column(Text)
    rationale: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(10))
    recorded_by: Mapped[str | None] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Deployment(Base):
    __tablename__ = "deployments"
    __table_args__ = (Index("ix_deployments_service_deployed_at", "service", "deployed_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    service: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(100))
    repo: Mapped[str | None] = mapped_column(String(REPO_LENGTH), index=True)
    environment: Mapped[str] = mapped_column(String(50), default="production")
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    recorded_by: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)


class Sbom(Base):
    """The current SBOM of one repo: importing another replaces it."""

    __tablename__ = "sboms"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    repo: Mapped[str] = mapped_column(String(REPO_LENGTH), unique=True)
    format: Mapped[str] = mapped_column(String(20))
    spec_version: Mapped[str] = mapped_column(String(10))
    serial_number: Mapped[str | None] = mapped_column(String(200))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    component_count: Mapped[int] = mapped_column(Integer)


class SbomComponent(Base):
    __tablename__ = "sbom_components"
    __table_args__ = (Index("ix_sbom_components_sbom_position", "sbom_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    sbom_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sboms.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    version: Mapped[str | None] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(50))
    purl: Mapped[str | None] = mapped_column(String(1000))
    group: Mapped[str | None] = mapped_column(String(500))
    # SPDX ids or expressions, canonically spelled (sbom.py); empty when none is declared.
    licenses: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    position: Mapped[int] = mapped_column(Integer)


class ResourcePressure(Base):
    """A domain's budget for a period crossed a threshold (fin's ``budget_threshold_crossed``,
    T25): a signal on the domain's work, not a change of any task's status. One row per
    domain and period, updated as further thresholds are crossed."""

    __tablename__ = "resource_pressures"
    __table_args__ = (UniqueConstraint("domain_slug", "period"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    domain_slug: Mapped[str] = mapped_column(String(KEY_LENGTH), index=True)
    period: Mapped[str] = mapped_column(String(50))  # fin's, e.g. "2026-Q4"
    percent: Mapped[float] = mapped_column(Float)  # of the allocation spent
    threshold: Mapped[float] = mapped_column(Float)  # the last crossed, in percent
    # Amounts as fin's decimal strings ("1000.00"): never rounded through a float.
    allocated: Mapped[str | None] = mapped_column(String(50))
    spent: Mapped[str | None] = mapped_column(String(50))
    currency: Mapped[str | None] = mapped_column(String(10))
    # When ``threshold`` was crossed; ``updated_at`` when fin last said anything.
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# The kit's event tables (outbox, deliveries, inbox) in this hub's own database.
EVENT_TABLES = event_tables(Base.metadata)
