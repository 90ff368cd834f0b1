"""Emitting an event: rows written in the caller's transaction, delivered later.

``HubEvents.emit(session, type, subject, payload)`` inside the transaction that makes
the change: the event exists exactly when the change does. Each destination gets a
delivery row with its own sequence for the subject (a hub subscribed to some of a
subject's event types counts only those), taken under the subject's lock so two
transactions never hand out the same number. The relay (``relay.py``) is woken after
the commit.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.event_types import parse_event_type
from subgraphs.core.kit.events.envelope import SCHEMA_VERSION, Event
from subgraphs.core.kit.events.settings import NATS, EventSettings
from subgraphs.core.kit.events.tables import PENDING, SUBJECT_LENGTH, EventTables
from subgraphs.core.kit.transitions import lock_subject


class HubEvents:
    """One hub's events: its tables, its settings, the wake-up of its relay."""

    def __init__(
        self, hub: str, tables: EventTables, settings: EventSettings | None = None
    ) -> None:
        self.hub = hub
        self.tables = tables
        self._settings = settings
        # The running relays of this hub in this process, each woken after a commit that
        # emitted something: (its loop, its event) — an asyncio.Event belongs to one loop.
        self._relays: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def attach(self, wake: asyncio.Event) -> tuple[asyncio.AbstractEventLoop, asyncio.Event]:
        """Have ``wake`` set whenever an event is committed; for a relay, in its loop."""
        entry = (asyncio.get_running_loop(), wake)
        self._relays.add(entry)
        return entry

    def detach(self, entry: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
        self._relays.discard(entry)

    def wake_relays(self) -> None:
        for loop, wake in list(self._relays):
            if loop.is_closed():
                self._relays.discard((loop, wake))
                continue
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                wake.set()
            else:
                loop.call_soon_threadsafe(wake.set)

    @property
    def settings(self) -> EventSettings:
        if self._settings is None:
            self._settings = EventSettings.from_env()
        return self._settings

    def configure(self, settings: EventSettings) -> None:
        self._settings = settings

    async def lock(self, session: AsyncSession, subject: str) -> None:
        """Hold ``subject``'s event lock until the transaction ends (``emit`` takes the
        same): for reading what was emitted about it and emitting after, which two
        concurrent transactions must not both do from the same reading."""
        await lock_subject(session, "event_subject", subject)

    async def emit(
        self,
        session: AsyncSession,
        event_type: str,
        subject: str,
        payload: Mapping[str, Any] | None = None,
        *,
        occurred_at: datetime | None = None,
    ) -> Event:
        """Record an event in ``session``'s transaction; ValueError for an unknown type
        or a bad subject. Returns the event as it will travel (NATS form)."""
        kind = parse_event_type(event_type).value
        if not subject or len(subject) > SUBJECT_LENGTH:
            raise ValueError(f"an event subject is 1 to {SUBJECT_LENGTH} characters")
        settings = self.settings
        destinations = settings.destinations(kind)
        # The sequences each subscriber counts (over NATS, the event carries them all).
        counted = settings.subscribers(kind) if settings.nats_url else destinations
        sequences: dict[str, int] = {}
        if counted:
            await self.lock(session, subject)
            for hub in counted:
                sequences[hub] = await self._next_sequence(session, subject, hub)
        event = Event(
            id=uuid.uuid4(),
            type=kind,
            source=self.hub,
            subject=subject,
            sequence=1,
            time=(occurred_at or datetime.now(UTC)).astimezone(UTC),
            payload=dict(payload or {}),
            sequences=sequences,
        )
        t = self.tables
        await session.execute(
            insert(t.outbox).values(
                id=event.id,
                event_type=kind,
                subject=subject,
                occurred_at=event.time,
                payload=event.payload,
                schema_version=SCHEMA_VERSION,
                sequences=sequences,
            )
        )
        now = datetime.now(UTC)
        for destination in destinations:
            await session.execute(
                insert(t.deliveries).values(
                    event_id=event.id,
                    destination=destination,
                    subject=subject,
                    sequence=0 if destination == NATS else sequences[destination],
                    status=PENDING,
                    attempts=0,
                    next_attempt_at=now,
                )
            )
        if destinations:
            _wake_after_commit(session, self.wake_relays)
        return event

    async def _next_sequence(self, session: AsyncSession, subject: str, hub: str) -> int:
        t = self.tables.subjects
        last = await session.scalar(
            select(t.c.last_sequence).where(t.c.subject == subject, t.c.destination == hub)
        )
        if last is None:
            await session.execute(
                insert(t).values(subject=subject, destination=hub, last_sequence=1)
            )
            return 1
        await session.execute(
            update(t)
            .where(t.c.subject == subject, t.c.destination == hub)
            .values(last_sequence=last + 1)
        )
        return int(last) + 1


def _wake_after_commit(session: AsyncSession, wake: Callable[[], None]) -> None:
    """Wake the relay once the transaction commits (not before: it would find nothing)."""
    from sqlalchemy import event as sa_event

    sync_session = session.sync_session
    if sync_session.info.get("events_wake"):
        return
    sync_session.info["events_wake"] = True

    def committed(_: object) -> None:
        sync_session.info.pop("events_wake", None)
        wake()

    def rolled_back(*_: object) -> None:  # (session, previous transaction)
        sync_session.info.pop("events_wake", None)

    sa_event.listen(sync_session, "after_commit", committed, once=True)
    sa_event.listen(sync_session, "after_soft_rollback", rolled_back, once=True)
