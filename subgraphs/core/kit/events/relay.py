"""The relay: delivers a hub's pending events, in order per subject and destination.

One background task per hub process. It takes the due deliveries — for each subject
and destination only the lowest pending sequence, so a subject's events go out one
after another — hands each to its transport, and records the result:

* delivered (the consumer applied it, or had applied it before) -> ``delivered``;
* the consumer is not ready for it (an earlier event of the subject has not arrived)
  -> retried soon, without counting as a failure;
* refused for good (a poison event) -> ``dead`` at once;
* any failure (the consumer down, a 5xx, a timeout) -> retried after an exponential
  backoff with full jitter; after ``max_attempts`` failures -> ``dead``.

Dead deliveries stay visible (``undelivered``, ``/metrics``) until ``retry`` puts them
back. Deliveries run concurrently across subjects and destinations, never within one.

**Replicas.** Several processes of a hub (on one PostgreSQL database) each run a relay.
A relay claims what it takes: one statement marks the due deliveries ``claimed_by`` it
until ``now + lease_s`` by the database's clock (``UPDATE ... WHERE (event_id, destination) IN (SELECT ... FOR
UPDATE SKIP LOCKED) RETURNING``), so two relays never send the same delivery at once —
the other skips rows being claimed and passes over rows claimed and not yet run out.
Writing a result clears the claim, and only while it is still this relay's: a relay
that died mid-pass leaves its claims to run out, and another relay then takes those
deliveries (its consumers' inboxes make a resend a duplicate with no effect); a relay
that is stopped hands its unsettled claims back at once. SQLite
(one process) takes the same claims in a plain UPDATE under its write lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, select, tuple_, update

from subgraphs.core.kit.claims import claimant_name
from subgraphs.core.kit.database import Database
from subgraphs.core.kit.events.envelope import Event, Outcome
from subgraphs.core.kit.events.outbox import HubEvents
from subgraphs.core.kit.events.tables import DEAD, DELIVERED, PENDING

log = logging.getLogger("hubgraph.events")

BATCH = 100
RELEASE_TIMEOUT_S = 5.0  # how long a stopping relay tries to hand its claims back
NOT_YET_DELAY_S = 0.25
# Marks the relay's own reads in database logs (and lets tests that count a request's
# statements leave out what the relay reads meanwhile).
TAG = "/* hubgraph events relay */"


class DeliveryFailed(Exception):
    """A delivery that did not get through; retried (the message says what happened)."""


# destination, event -> what the consumer made of it (raises DeliveryFailed)
Transport = Callable[[str, Event], Awaitable[Outcome]]


@dataclass(frozen=True)
class Delivery:
    event: Event
    destination: str
    attempts: int


class Relay:
    def __init__(
        self, events: HubEvents, db: Database, transport: Transport, *, name: str | None = None
    ) -> None:
        self.events = events
        self.db = db
        self.transport = transport
        self.name = name or claimant_name(events.hub, "relay")  # in claimed_by
        self._results: list[tuple[Delivery, dict[str, Any]]] = []  # of the current pass

    async def run(self) -> None:
        """Deliver until cancelled. Idle, it sleeps until the earliest pending retry is
        due, an emit in this process wakes it, or ``poll_s`` has passed (events committed
        by another process: a replica, a command-line import, a process that died before
        delivering)."""
        wake = asyncio.Event()
        attached = self.events.attach(wake)
        try:
            await self._loop(wake)
        finally:
            self.events.detach(attached)
            # Stopped (the hub shutting down): what it had claimed and not settled is
            # handed back at once rather than when the lease runs out.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self.release()), RELEASE_TIMEOUT_S)

    async def release(self) -> int:
        """Hand back this relay's unsettled claims (another relay may send them now; a
        resend is a duplicate with no effect); how many."""
        d = self.events.tables.deliveries
        async with self.db.transaction() as session:
            result = await session.execute(
                update(d)
                .where(d.c.claimed_by == self.name, d.c.status == PENDING)
                .values(claimed_by=None, claimed_until=None)
                .prefix_with(TAG)
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def _loop(self, wake: asyncio.Event) -> None:
        settings = self.events.settings
        while True:
            wake.clear()  # before looking: a wake from now on is not lost
            try:
                if await self.deliver_due():
                    continue  # more may be due already
                due_in = await self._seconds_to_next_due()
                wait = settings.poll_s if due_in is None else min(due_in, settings.poll_s)
            except Exception:
                log.exception("event relay of %s failed; trying again", self.events.hub)
                wait = settings.poll_s
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await wake.wait()

    async def _seconds_to_next_due(self) -> float | None:
        """How long until the earliest delivery that can be taken is due (the first
        pending of its subject and destination, and no other relay's claim on it
        running); None if there is none."""
        d = self.events.tables.deliveries
        first = _first_pending(d)
        due_at = case(
            (d.c.claimed_until > d.c.next_attempt_at, d.c.claimed_until),
            else_=d.c.next_attempt_at,
        )
        query = (
            select(func.min(due_at))
            .join(first, _is_first(d, first))
            .where(d.c.status == PENDING)
            .prefix_with(TAG)
        )
        async with self.db.session() as session:
            earliest = await session.scalar(query)
        if earliest is None:
            return None
        if isinstance(earliest, str):  # SQLite hands an aggregate back as it is stored
            earliest = datetime.fromisoformat(earliest)
        if earliest.tzinfo is None:
            earliest = earliest.replace(tzinfo=UTC)
        return max(0.0, (earliest - datetime.now(UTC)).total_seconds())

    async def deliver_due(self) -> int:
        """One pass: deliver what is due now; how many deliveries were attempted."""
        due = await self._due()
        if due:
            # What each delivery came to is written for the whole pass in one transaction
            # (a crash before it only sends them again: the consumers' inboxes make that
            # a duplicate with no effect).
            self._results = []
            await asyncio.gather(*(self._deliver(d) for d in due))
            await self._write(self._results)
        return len(due)

    async def _due(self) -> list[Delivery]:
        """Claim what is due now (see the module's text) and return it."""
        t = self.events.tables
        d, o = t.deliveries, t.outbox
        now = datetime.now(UTC)
        lease = timedelta(seconds=self.events.settings.lease_s)
        # Claims are judged by the database's clock on PostgreSQL (relays on hosts whose
        # clocks differ agree on when a lease ran out); SQLite is one host.
        claim_now: Any = now if self.db.is_sqlite else func.statement_timestamp()
        first = _first_pending(d)
        candidates = (
            select(d.c.event_id, d.c.destination)
            .join(first, _is_first(d, first))
            .where(
                d.c.status == PENDING,
                d.c.next_attempt_at <= now,
                or_(d.c.claimed_until.is_(None), d.c.claimed_until <= claim_now),
            )
            .order_by(d.c.next_attempt_at)
            .limit(BATCH)
            # PostgreSQL: rows another relay is claiming right now are passed over, not
            # waited for (SQLite has no such clause, and one writer at a time anyway)
            .with_for_update(of=d, skip_locked=True)
        )
        claim = (
            update(d)
            .where(tuple_(d.c.event_id, d.c.destination).in_(candidates))
            .values(claimed_by=self.name, claimed_until=claim_now + lease)
            .returning(d.c.event_id, d.c.destination, d.c.attempts, d.c.next_attempt_at)
            .prefix_with(TAG)
        )
        # one statement: atomic on SQLite too (it takes the write lock for itself)
        async with self.db.transaction() as session:
            claimed = (await session.execute(claim)).all()
            if not claimed:
                return []
            ids = {row.event_id for row in claimed}
            events = {
                row["id"]: _event(self.events.hub, row)
                for row in (
                    await session.execute(select(o).where(o.c.id.in_(ids)).prefix_with(TAG))
                ).mappings()
            }
        return [
            Delivery(events[row.event_id], row.destination, row.attempts)
            for row in sorted(claimed, key=lambda row: row.next_attempt_at)
        ]

    async def _deliver(self, delivery: Delivery) -> None:
        event = delivery.event
        if delivery.destination != "nats":
            event = replace(event, sequence=event.sequence_for(delivery.destination))
        try:
            outcome = await self.transport(delivery.destination, event)
        except DeliveryFailed as exc:
            await self._failed(delivery, str(exc))
            return
        except Exception as exc:  # a bug in a transport must not stop the relay
            log.exception("delivering event %s failed unexpectedly", event.id)
            await self._failed(delivery, f"{type(exc).__name__}: {exc}")
            return
        if outcome in (Outcome.APPLIED, Outcome.DUPLICATE):
            await self._set(delivery, status=DELIVERED, delivered_at=datetime.now(UTC))
        elif outcome is Outcome.NOT_YET:
            later = datetime.now(UTC) + timedelta(seconds=NOT_YET_DELAY_S)
            await self._set(
                delivery, next_attempt_at=later, last_error="waiting for an earlier event"
            )
        else:
            log.warning("event %s refused by %s: dead", event.id, delivery.destination)
            await self._set(
                delivery,
                status=DEAD,
                attempts=delivery.attempts + 1,
                last_error=f"refused by {delivery.destination}",
            )

    async def _failed(self, delivery: Delivery, reason: str) -> None:
        settings = self.events.settings
        attempts = delivery.attempts + 1
        if attempts >= settings.max_attempts:
            log.warning(
                "event %s to %s dead after %d attempts: %s",
                delivery.event.id,
                delivery.destination,
                attempts,
                reason,
            )
            await self._set(delivery, status=DEAD, attempts=attempts, last_error=reason)
            return
        # full jitter: anywhere up to the exponential bound, so retries spread out
        bound = min(settings.retry_max_s, settings.retry_base_s * 2 ** (attempts - 1))
        later = datetime.now(UTC) + timedelta(seconds=random.uniform(0, bound))
        await self._set(delivery, attempts=attempts, next_attempt_at=later, last_error=reason)

    async def _set(self, delivery: Delivery, **values: Any) -> None:
        self._results.append((delivery, values))

    async def _write(self, results: list[tuple[Delivery, dict[str, Any]]]) -> None:
        d = self.events.tables.deliveries
        keys = [(delivery.event.id, delivery.destination) for delivery, _ in results]
        async with self.db.transaction() as session:
            # The pass's rows still ours: a claim that ran out and was taken by another
            # relay is that relay's to settle. Locked all at once and without waiting
            # (PostgreSQL): a row another transaction holds (deleted meanwhile, say) is
            # left as it is — it is sent again once the claim runs out — so this write
            # never waits in the middle of its rows, and never deadlocks with one.
            ours = {
                (row.event_id, row.destination)
                for row in await session.execute(
                    select(d.c.event_id, d.c.destination)
                    .where(
                        tuple_(d.c.event_id, d.c.destination).in_(keys),
                        d.c.status == PENDING,
                        d.c.claimed_by == self.name,
                    )
                    .with_for_update(skip_locked=True)
                    .prefix_with(TAG)
                )
            }
            # one statement per kind of outcome, sent with all its rows at once
            groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
            for delivery, values in results:
                if (delivery.event.id, delivery.destination) in ours:
                    groups[tuple(sorted(values))].append(
                        {"key_id": delivery.event.id, "key_to": delivery.destination, **values}
                    )
            for columns, rows in groups.items():
                await session.execute(
                    update(d)
                    .where(
                        d.c.event_id == bindparam("key_id"),
                        d.c.destination == bindparam("key_to"),
                        # again (SQLite reads before it takes the write lock)
                        d.c.status == PENDING,
                        d.c.claimed_by == self.name,
                    )
                    .values(
                        claimed_by=None,
                        claimed_until=None,
                        **{column: bindparam(column) for column in columns},
                    )
                    .prefix_with(TAG),
                    rows,
                )


def _first_pending(d: Any) -> Any:
    """Per subject and destination, the lowest pending sequence (claimed or not: the
    next one waits until it is settled)."""
    return (
        select(d.c.destination, d.c.subject, func.min(d.c.sequence).label("sequence"))
        .where(d.c.status == PENDING)
        .group_by(d.c.destination, d.c.subject)
        .subquery()
    )


def _is_first(d: Any, first: Any) -> Any:
    return and_(
        d.c.destination == first.c.destination,
        d.c.subject == first.c.subject,
        d.c.sequence == first.c.sequence,
    )


def _event(hub: str, row: Any) -> Event:
    return Event(
        id=row["id"],
        type=row["event_type"],
        source=hub,
        subject=row["subject"],
        sequence=1,
        time=row["occurred_at"],
        payload=row["payload"],
        schema_version=row["schema_version"],
        sequences=row["sequences"] or {},
    )


async def retry(events: HubEvents, db: Database, event_id: uuid.UUID) -> int:
    """Put an event's dead deliveries back to pending, due now; how many."""
    d = events.tables.deliveries
    async with db.transaction() as session:
        result = await session.execute(
            update(d)
            .where(d.c.event_id == event_id, d.c.status == DEAD)
            .values(
                status=PENDING,
                attempts=0,
                next_attempt_at=datetime.now(UTC),
                claimed_by=None,
                claimed_until=None,
            )
            .prefix_with(TAG)
        )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        events.wake_relays()
    return count
