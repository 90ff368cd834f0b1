"""The event as it travels between hubs, and its JSON form.

An event is immutable once emitted. ``sequence`` is the producer's count of events for
the event's subject (1, 2, ...) as the receiving hub sees them: a consumer applies a
subject's events in that order whatever order they arrive in (``inbox``). Over HTTP
each destination is sent its own ``sequence``; over NATS one message serves every
subscriber, so ``sequences`` carries each subscribing hub's (``sequence_for``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from subgraphs.core.kit.event_types import parse_event_type

SCHEMA_VERSION = 1
HUBS = ("core", "dev", "ops", "fin")


class InvalidEvent(ValueError):
    """An event that is not well formed (the message says what is wrong)."""


@dataclass(frozen=True)
class Event:
    id: uuid.UUID
    type: str  # a canonical event type (kit/event_types.py)
    source: str  # the hub that emitted it
    subject: str  # what it is about, e.g. "incident:<uuid>", "task:CUST-WP-0025-T17"
    sequence: int  # the producer's count of events for this subject, from 1
    time: datetime  # when it happened (UTC)
    payload: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    sequences: Mapping[str, int] = field(default_factory=dict)  # hub -> its sequence

    def sequence_for(self, hub: str) -> int:
        """The sequence ``hub`` applies this event at."""
        return self.sequences.get(hub, self.sequence)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "sequence": self.sequence,
            "time": self.time.astimezone(UTC).isoformat(),
            "schemaVersion": self.schema_version,
            "payload": self.payload,
            **({"sequences": dict(self.sequences)} if self.sequences else {}),
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_json())

    @classmethod
    def from_json(cls, data: object) -> Event:
        """The event in ``data`` (a decoded JSON object); InvalidEvent if it is not one."""
        if not isinstance(data, dict):
            raise InvalidEvent("an event is a JSON object")
        missing = [
            k
            for k in ("id", "type", "source", "subject", "sequence", "time", "payload")
            if k not in data
        ]
        if missing:
            raise InvalidEvent(f"the event lacks {', '.join(missing)}")
        try:
            event_id = uuid.UUID(str(data["id"]))
        except ValueError:
            raise InvalidEvent(f"id {data['id']!r} is not a UUID") from None
        try:
            event_type = parse_event_type(str(data["type"])).value
        except ValueError as exc:
            raise InvalidEvent(str(exc)) from None
        source = data["source"]
        if source not in HUBS:
            raise InvalidEvent(f"source {source!r} is not a hub ({', '.join(HUBS)})")
        subject = data["subject"]
        if not isinstance(subject, str) or not subject or len(subject) > 300:
            raise InvalidEvent("subject must be a non-empty string of at most 300 characters")
        sequence = data["sequence"]
        if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
            raise InvalidEvent("sequence must be a positive integer")
        try:
            time = datetime.fromisoformat(str(data["time"]))
        except ValueError:
            raise InvalidEvent(f"time {data['time']!r} is not an ISO 8601 time") from None
        if time.tzinfo is None:
            raise InvalidEvent("time must include a time zone")
        payload = data["payload"]
        if not isinstance(payload, dict):
            raise InvalidEvent("payload must be a JSON object")
        version = data.get("schemaVersion", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise InvalidEvent(f"schema version {version!r} is not {SCHEMA_VERSION}")
        sequences = data.get("sequences", {})
        if not isinstance(sequences, dict) or not all(
            isinstance(h, str) and isinstance(n, int) and not isinstance(n, bool) and n >= 1
            for h, n in sequences.items()
        ):
            raise InvalidEvent("sequences must map hub names to positive integers")
        return cls(
            event_id,
            event_type,
            source,
            subject,
            sequence,
            time.astimezone(UTC),
            payload,
            sequences=sequences,
        )

    @classmethod
    def from_bytes(cls, body: bytes) -> Event:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidEvent(f"the body is not JSON: {exc}") from None
        return cls.from_json(data)


class Outcome(StrEnum):
    """What a consumer made of one delivery of an event (``inbox.Inbox.receive``)."""

    APPLIED = "applied"  # its reaction is committed with its id in the inbox
    DUPLICATE = "duplicate"  # applied before: nothing done again
    NOT_YET = "not_yet"  # an earlier event of its subject has not been applied: retry later
    REJECTED = "rejected"  # it can never be applied (a poison message): do not retry
