"""The core hub's tables (and only here).

Domains nest (FOS recursion) through ``parent_id``. Risks and alerts have no table of
their own: they are the sequences of ``progress_events`` about one subject.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
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

SEVERITIES = ("info", "low", "medium", "high", "critical")


class Base(DeclarativeBase):
    metadata = hub_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


class Domain(RowIdentity, Base):
    __tablename__ = "domains"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("domains.id", ondelete="RESTRICT"), index=True
    )


class ManagedRepo(RowIdentity, Base):
    __tablename__ = "managed_repos"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str | None] = mapped_column(String(500))
    local_path: Mapped[str | None] = mapped_column(String(1000))
    domain_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("domains.id", ondelete="RESTRICT"), index=True
    )


class AgentMessage(RowIdentity, Base):
    __tablename__ = "agent_messages"
    __table_args__ = (
        CheckConstraint("recipient_kind IN ('domain', 'agent')", name="recipient_kind"),
        Index("ix_agent_messages_recipient_created", "recipient", "created_at"),
    )

    sender: Mapped[str] = mapped_column(String(200))
    recipient: Mapped[str] = mapped_column(String(200))
    recipient_kind: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # The first message of a conversation; a root message's thread_id is its own id.
    thread_id: Mapped[uuid.UUID] = mapped_column(index=True)
    in_reply_to_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_messages.id", ondelete="RESTRICT"), index=True
    )
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Capability(RowIdentity, Base):
    __tablename__ = "capabilities"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)

    domain_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("domains.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")


class CapabilityRequest(RowIdentity, Base):
    __tablename__ = "capability_requests"
    __table_args__ = (
        CheckConstraint(
            "status IN ('requested', 'accepted', 'in_progress', 'done', 'rejected', 'cancelled')",
            name="status",
        ),
    )

    capability_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("capabilities.id", ondelete="RESTRICT"), index=True
    )
    requester: Mapped[str] = mapped_column(String(200), index=True)
    title: Mapped[str] = mapped_column(String(300))
    details: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), index=True, default="requested")


class CapabilityRequestChange(Base):
    """One step of a request's lifecycle: the audit trail of who moved it where."""

    __tablename__ = "capability_request_changes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("capability_requests.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ThirdPartyService(RowIdentity, Base):
    __tablename__ = "third_party_services"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    vendor: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text, default="")
    data_categories: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    # ISO 3166-1 alpha-2 code of where the personal data is processed.
    processing_country: Mapped[str] = mapped_column(String(2))
    dpa_signed: Mapped[bool] = mapped_column(Boolean, default=False)
    website: Mapped[str | None] = mapped_column(String(500))


class TpscToolUsage(Base):
    """A tool (from an ingested manifest) uses a third-party service."""

    __tablename__ = "tpsc_tool_usages"

    tool: Mapped[str] = mapped_column(String(200), primary_key=True)
    service_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("third_party_services.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RepoIntegrationCheck(RowIdentity, Base):
    """The outcome of evaluating the integration rule set against a repo's local path."""

    __tablename__ = "repo_integration_checks"
    __table_args__ = (Index("ix_repo_integration_checks_repo_created", "repo_id", "created_at"),)

    repo_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("managed_repos.id", ondelete="CASCADE"))
    passed: Mapped[bool] = mapped_column(Boolean)
    # [{"rule": ..., "passed": ..., "detail": ...}, ...]
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument)


class ProgressEvent(RowIdentity, Base):
    __tablename__ = "progress_events"
    __table_args__ = (
        CheckConstraint(
            "severity IN ('info', 'low', 'medium', 'high', 'critical')", name="severity"
        ),
        Index("ix_progress_events_type_occurred", "event_type", "occurred_at"),
        Index("ix_progress_events_subject_occurred", "subject", "occurred_at"),
    )

    event_type: Mapped[str] = mapped_column(String(50))
    source_hub: Mapped[str] = mapped_column(String(50))
    # What the event is about, e.g. "ops:incident/INC-7" or "risk:identity-sso-delay".
    subject: Mapped[str] = mapped_column(String(300))
    domain_slug: Mapped[str | None] = mapped_column(String(64), index=True)
    severity: Mapped[str] = mapped_column(String(10), default="info")
    title: Mapped[str] = mapped_column(String(300), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by the emitting hub so a redelivered event is recorded once.
    event_key: Mapped[str | None] = mapped_column(String(200), unique=True)


# The kit's event tables (outbox, deliveries, inbox) in this hub's own database.
EVENT_TABLES = event_tables(Base.metadata)
