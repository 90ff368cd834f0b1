"""The event tables, added to every hub's own metadata (so its migrations create them).

* ``event_outbox``: each event a hub emitted, written in the transaction of the change
  that caused it;
* ``event_deliveries``: one row per event and destination (a subscribing hub over HTTP,
  or ``nats`` for the JetStream stream): pending, delivered or dead, with its attempts;
  ``sequence`` is the destination's count of events for the subject, which it applies
  in that order; ``claimed_by`` / ``claimed_until``: the relay sending it now and until
  when its claim holds (replicas of a hub never send one delivery at once; a crashed
  relay's claim runs out and another takes the delivery);
* ``event_subjects``: per subject and destination, the last sequence handed out;
* ``event_inbox``: the events this hub applied (or refused), by id — written in the
  transaction of the reaction, so a redelivered event has no second effect;
* ``event_inbox_subjects``: per source and subject, the last sequence applied here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)

from subgraphs.core.kit.claims import CLAIMANT_LENGTH
from subgraphs.core.kit.orm import JSONDocument, UTCDateTime

SUBJECT_LENGTH = 300
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


@dataclass(frozen=True)
class EventTables:
    outbox: Table
    deliveries: Table
    subjects: Table
    inbox: Table
    inbox_subjects: Table


def event_tables(metadata: MetaData) -> EventTables:
    """The event tables of a hub, defined once on its ``metadata``."""
    if "event_outbox" in metadata.tables:
        t = metadata.tables
        return EventTables(
            t["event_outbox"],
            t["event_deliveries"],
            t["event_subjects"],
            t["event_inbox"],
            t["event_inbox_subjects"],
        )
    outbox = Table(
        "event_outbox",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("event_type", String(64), nullable=False),
        Column("subject", String(SUBJECT_LENGTH), nullable=False),
        Column("occurred_at", UTCDateTime, nullable=False, index=True),
        Column("payload", JSONDocument, nullable=False),
        Column("schema_version", Integer, nullable=False),
        # destination -> its sequence for this subject (what NATS consumers read)
        Column("sequences", JSONDocument, nullable=False),
    )
    deliveries = Table(
        "event_deliveries",
        metadata,
        Column(
            "event_id",
            Uuid,
            ForeignKey("event_outbox.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        Column("destination", String(32), primary_key=True),
        Column("subject", String(SUBJECT_LENGTH), nullable=False),
        Column("sequence", BigInteger, nullable=False),
        Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", UTCDateTime, nullable=False),
        Column("last_error", Text, nullable=True),
        Column("delivered_at", UTCDateTime, nullable=True),
        Column("claimed_by", String(CLAIMANT_LENGTH), nullable=True),
        Column("claimed_until", UTCDateTime, nullable=True),
        Index("ix_event_deliveries_due", "status", "next_attempt_at"),
        Index("ix_event_deliveries_order", "destination", "subject", "sequence"),
    )
    subjects = Table(
        "event_subjects",
        metadata,
        Column("subject", String(SUBJECT_LENGTH), primary_key=True),
        Column("destination", String(32), primary_key=True),
        Column("last_sequence", BigInteger, nullable=False),
    )
    inbox = Table(
        "event_inbox",
        metadata,
        Column("event_id", Uuid, primary_key=True),
        Column("event_type", String(64), nullable=False),
        Column("source", String(32), nullable=False),
        Column("subject", String(SUBJECT_LENGTH), nullable=False),
        Column("sequence", BigInteger, nullable=False),
        Column("applied_at", UTCDateTime, nullable=False),
    )
    inbox_subjects = Table(
        "event_inbox_subjects",
        metadata,
        Column("source", String(32), primary_key=True),
        Column("subject", String(SUBJECT_LENGTH), primary_key=True),
        Column("last_sequence", BigInteger, nullable=False),
    )
    return EventTables(outbox, deliveries, subjects, inbox, inbox_subjects)
