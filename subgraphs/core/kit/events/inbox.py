"""Applying an event exactly once, in order per subject.

``Inbox.receive(event)`` runs the hub's handler for the event's type in one
transaction with the record of its id, so a redelivered event finds the id and has no
second effect, and a crash before the commit leaves neither. A subject's events are
applied in their sequence: one that arrives before its predecessor is ``NOT_YET`` (the
sender retries), one already applied is ``DUPLICATE``.

A handler raising ``EventRejected`` (or a kit ``HubError``: the event names something
that does not exist, or a step that is not allowed) refuses the event for good; any
other exception is a transient failure, retried by the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.errors import HubError, Unavailable
from subgraphs.core.kit.events.envelope import Event, Outcome
from subgraphs.core.kit.events.outbox import HubEvents
from subgraphs.core.kit.transitions import lock_subject

log = logging.getLogger("hubgraph.events")

# A hub's reaction to one event, in the transaction that records it; it may emit events.
Handler = Callable[[AsyncSession, Event], Awaitable[None]]


class EventRejected(Exception):
    """The event can never be applied here (the message says why)."""


class Inbox:
    def __init__(self, events: HubEvents, db: Database, handlers: Mapping[str, Handler]) -> None:
        self.events = events
        self.db = db
        self.handlers = dict(handlers)
        # SQLite has one writer at a time, and a writer waiting for the lock sleeps in
        # SQLite's busy handler (up to 100 ms a turn): with many deliveries arriving at
        # once, taking turns here instead is several times faster.
        self._turns = asyncio.Lock() if db.is_sqlite else contextlib.nullcontext()

    def accepts(self, event_type: str) -> bool:
        return event_type in self.handlers

    async def receive(self, event: Event) -> Outcome:
        """Apply ``event`` once; what happened (``Outcome``)."""
        outcome, _reason = await self.receive_with_reason(event)
        return outcome

    async def receive_with_reason(self, event: Event) -> tuple[Outcome, str]:
        handler = self.handlers.get(event.type)
        if handler is None:
            return Outcome.REJECTED, f"{self.events.hub} does not consume {event.type}"
        t = self.events.tables
        sequence = event.sequence_for(self.events.hub)
        try:
            async with self._turns, self.db.transaction() as session:
                await lock_subject(session, "event_inbox", f"{event.source}\x00{event.subject}")
                if await session.scalar(
                    select(t.inbox.c.event_id).where(t.inbox.c.event_id == event.id)
                ):
                    return Outcome.DUPLICATE, "applied before"
                subjects = t.inbox_subjects
                last = await session.scalar(
                    select(subjects.c.last_sequence).where(
                        subjects.c.source == event.source, subjects.c.subject == event.subject
                    )
                )
                applied = int(last or 0)
                if sequence <= applied:
                    return (
                        Outcome.DUPLICATE,
                        f"sequence {sequence} of {event.subject} applied before",
                    )
                if sequence > applied + 1:
                    return (
                        Outcome.NOT_YET,
                        f"{event.subject}: sequence {sequence} waits for {applied + 1}",
                    )
                await handler(session, event)
                await session.execute(
                    insert(t.inbox).values(
                        event_id=event.id,
                        event_type=event.type,
                        source=event.source,
                        subject=event.subject,
                        sequence=sequence,
                        applied_at=datetime.now(UTC),
                    )
                )
                if last is None:
                    await session.execute(
                        insert(subjects).values(
                            source=event.source, subject=event.subject, last_sequence=sequence
                        )
                    )
                else:
                    await session.execute(
                        update(subjects)
                        .where(
                            subjects.c.source == event.source,
                            subjects.c.subject == event.subject,
                        )
                        .values(last_sequence=sequence)
                    )
        except (EventRejected, HubError) as exc:
            if isinstance(exc, Unavailable):
                raise  # something this hub needs is down: the sender retries
            log.warning("refused event %s (%s): %s", event.id, event.type, exc)
            return Outcome.REJECTED, str(exc)
        return Outcome.APPLIED, "applied"
