"""Two relays of one hub over one database: each delivery goes out once.

Each relay has its own ``Database`` (its own engine and connection pool, as two
processes of the hub would), both over the ops hub's migrated database, sending to a
real consumer on a loopback port that records every receipt and applies events in
order per subject (answering "not yet" to one that comes early), as a hub's inbox does.

* 200 pending deliveries, two relays running: every event is received exactly once,
  in order per subject, and both relays did part of the work.
* A relay killed mid-pass (its task cancelled once it has claimed and started sending):
  the other takes over its claimed deliveries once their lease runs out, not before.

On SQLite and PostgreSQL (where the claims go through ``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from subgraphs.core.kit import migrations
from subgraphs.core.kit.database import Database
from subgraphs.core.kit.events.envelope import Event, Outcome
from subgraphs.core.kit.events.outbox import HubEvents
from subgraphs.core.kit.events.relay import DeliveryFailed, Relay
from subgraphs.core.kit.events.settings import EventSettings
from subgraphs.core.kit.events.tables import DELIVERED, PENDING
from tests.support import LiveServer

OPENED = "incident_opened"


def _settings(lease_s: float = 30.0) -> EventSettings:
    return EventSettings(
        subscriptions={"dev": frozenset({OPENED})},
        max_attempts=50,
        retry_base_s=0.01,
        retry_max_s=0.05,
        poll_s=0.05,
        lease_s=lease_s,
    )


@dataclass
class Receipts:
    """The consumer's side: every POST it received, and what it applied per subject."""

    delay_s: float = 0.002
    lock: threading.Lock = field(default_factory=threading.Lock)
    received: list[tuple[str, str, int, str]] = field(default_factory=list)  # id, subject, seq, by
    applied: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    first_at: float | None = None

    def app(self) -> Starlette:
        async def receive(request: Request) -> JSONResponse:
            event = Event.from_bytes(await request.body())
            await asyncio.sleep(self.delay_s)  # some work, so the relays overlap
            with self.lock:
                if self.first_at is None:
                    self.first_at = time.monotonic()
                self.received.append(
                    (str(event.id), event.subject, event.sequence, request.headers["x-relay"])
                )
                done = self.applied[event.subject]
                last = done[-1] if done else 0
                if event.sequence <= last:
                    return JSONResponse({"outcome": "duplicate"})
                if event.sequence != last + 1:
                    return JSONResponse({"outcome": "not_yet"}, status_code=409)
                done.append(event.sequence)
            return JSONResponse({"outcome": "applied"})

        return Starlette(routes=[Route("/events", receive, methods=["POST"])])


class Sender:
    """A relay's transport: POST to the consumer, saying which relay sends."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name
        self.http = httpx.AsyncClient(timeout=10)
        self.entered = asyncio.Event()
        self.hang = False

    async def __call__(self, destination: str, event: Event) -> Outcome:
        self.entered.set()
        if self.hang:
            await asyncio.Event().wait()  # until cancelled: a relay that dies mid-send
        try:
            response = await self.http.post(
                f"{self.url}/events", content=event.to_bytes(), headers={"x-relay": self.name}
            )
        except httpx.HTTPError as exc:
            raise DeliveryFailed(str(exc)) from None
        if response.status_code == 409:
            return Outcome.NOT_YET
        if response.status_code != 200:
            raise DeliveryFailed(f"HTTP {response.status_code}")
        return Outcome.DUPLICATE if response.json()["outcome"] == "duplicate" else Outcome.APPLIED


@pytest.fixture
async def consumer() -> AsyncIterator[tuple[Receipts, LiveServer]]:
    receipts = Receipts()
    server = LiveServer(receipts.app()).start()
    try:
        yield receipts, server
    finally:
        server.stop()


async def _migrated(url: str) -> Database:
    from subgraphs.ops.app import HUB

    db = Database(url)
    await migrations.upgrade(HUB, db)
    return db


def _events(settings: EventSettings) -> HubEvents:
    from subgraphs.ops.app import HUB

    assert HUB.events is not None
    return HubEvents("ops", HUB.events.tables, settings)


async def _emit_many(events: HubEvents, db: Database, subjects: list[str]) -> None:
    async with db.transaction() as session:
        for subject in subjects:
            await events.emit(session, OPENED, subject, {"title": subject})


async def _statuses(events: HubEvents, db: Database) -> Counter[str]:
    d = events.tables.deliveries
    async with db.session() as session:
        rows = await session.execute(select(d.c.status, func.count()).group_by(d.c.status))
        return Counter({status: int(n) for status, n in rows.all()})


async def _until_delivered(events: HubEvents, db: Database, total: int, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while (await _statuses(events, db))[DELIVERED] < total:
        assert time.monotonic() < deadline, await _statuses(events, db)
        await asyncio.sleep(0.05)


# 150 subjects with one event each, 10 with five: 200 deliveries
SUBJECTS = [f"incident:single-{i}" for i in range(150)] + [
    f"incident:multi-{i}" for _ in range(5) for i in range(10)
]


async def test_two_relays_deliver_each_event_exactly_once(
    database_url: str, consumer: tuple[Receipts, LiveServer]
) -> None:
    receipts, server = consumer
    settings = _settings()
    dbs = [await _migrated(database_url), Database(database_url)]
    events = [_events(settings), _events(settings)]
    senders = [Sender(server.url, "a"), Sender(server.url, "b")]
    relays = [
        Relay(events[i], dbs[i], senders[i], name=f"relay-{senders[i].name}") for i in range(2)
    ]
    tasks: list[asyncio.Task[None]] = []
    try:
        await _emit_many(events[0], dbs[0], SUBJECTS)
        assert (await _statuses(events[0], dbs[0]))[PENDING] == 200
        tasks = [asyncio.create_task(relay.run()) for relay in relays]
        await _until_delivered(events[0], dbs[0], 200, limit_s=60)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sender in senders:
            await sender.http.aclose()
        for db in dbs:
            await db.dispose()
    sent = Counter(event_id for event_id, _, _, _ in receipts.received)
    assert len(sent) == 200
    assert [n for n in sent.values() if n > 1] == []  # none twice
    assert all(receipts.applied[s] == [1] for s in SUBJECTS[:150])
    assert all(receipts.applied[s] == [1, 2, 3, 4, 5] for s in SUBJECTS[150:160])
    by_relay = Counter(by for _, _, _, by in receipts.received)
    assert by_relay["a"] > 0 and by_relay["b"] > 0, by_relay  # the work was shared


async def test_a_dead_relays_claims_go_to_the_other_after_the_lease(
    database_url: str, consumer: tuple[Receipts, LiveServer]
) -> None:
    receipts, server = consumer
    lease_s = 1.5
    settings = _settings(lease_s)
    dbs = [await _migrated(database_url), Database(database_url)]
    events = [_events(settings), _events(settings)]
    dying, survivor = Sender(server.url, "dying"), Sender(server.url, "survivor")
    dying.hang = True
    subjects = [f"incident:crash-{i}" for i in range(20)]
    task: asyncio.Task[int] | None = None
    other: asyncio.Task[None] | None = None
    try:
        await _emit_many(events[0], dbs[0], subjects)
        # the first relay claims all 20, starts sending, and dies
        task = asyncio.create_task(Relay(events[0], dbs[0], dying, name="dying").deliver_due())
        await asyncio.wait_for(dying.entered.wait(), 10)
        claimed_at = time.monotonic()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        # the second finds them claimed, and takes them once the lease has run out
        other = asyncio.create_task(Relay(events[1], dbs[1], survivor, name="survivor").run())
        await _until_delivered(events[0], dbs[0], 20, limit_s=lease_s + 20)
        assert receipts.first_at is not None
        assert receipts.first_at - claimed_at >= lease_s - 0.2  # not before it ran out
    finally:
        if other is not None:
            other.cancel()
            await asyncio.gather(other, return_exceptions=True)
        for sender in (dying, survivor):
            await sender.http.aclose()
        for db in dbs:
            await db.dispose()
    assert sorted(s for _, s, _, _ in receipts.received) == sorted(subjects)
    assert {by for _, _, _, by in receipts.received} == {"survivor"}


async def test_a_late_result_of_a_lost_claim_is_not_written(
    database_url: str, consumer: tuple[Receipts, LiveServer]
) -> None:
    """A relay slower than its lease: another has taken the delivery over and settled
    it; the first one's result must not overwrite that."""
    receipts, server = consumer
    settings = _settings(lease_s=0.3)
    dbs = [await _migrated(database_url), Database(database_url)]
    events = [_events(settings), _events(settings)]
    slow_sender, fast_sender = Sender(server.url, "slow"), Sender(server.url, "fast")
    gate = asyncio.Event()

    async def slow(destination: str, event: Event) -> Outcome:
        await gate.wait()
        raise DeliveryFailed("too late anyway")

    try:
        await _emit_many(events[0], dbs[0], ["incident:late"])
        slow_relay = Relay(events[0], dbs[0], slow, name="slow")
        first = asyncio.create_task(slow_relay.deliver_due())
        await asyncio.sleep(0.5)  # its lease has run out
        fast = Relay(events[1], dbs[1], fast_sender, name="fast")
        assert await fast.deliver_due() == 1
        gate.set()
        assert await first == 1
        assert (await _statuses(events[0], dbs[0])) == Counter({DELIVERED: 1})
    finally:
        for sender in (slow_sender, fast_sender):
            await sender.http.aclose()
        for db in dbs:
            await db.dispose()
    assert [by for _, _, _, by in receipts.received] == ["fast"]


async def test_a_stopped_relay_hands_its_claims_back_at_once(
    database_url: str, consumer: tuple[Receipts, LiveServer]
) -> None:
    """Stopped (its ``run`` cancelled, as when the hub shuts down) rather than killed:
    its claims are released, so the other relay sends them without waiting for the
    lease (30 s here)."""
    receipts, server = consumer
    settings = _settings(lease_s=30)
    dbs = [await _migrated(database_url), Database(database_url)]
    events = [_events(settings), _events(settings)]
    stopping, survivor = Sender(server.url, "stopping"), Sender(server.url, "survivor")
    stopping.hang = True
    subjects = [f"incident:stop-{i}" for i in range(10)]
    other: asyncio.Task[None] | None = None
    try:
        await _emit_many(events[0], dbs[0], subjects)
        task = asyncio.create_task(Relay(events[0], dbs[0], stopping, name="stopping").run())
        await asyncio.wait_for(stopping.entered.wait(), 10)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        other = asyncio.create_task(Relay(events[1], dbs[1], survivor, name="survivor").run())
        await _until_delivered(events[0], dbs[0], 10, limit_s=10)
    finally:
        if other is not None:
            other.cancel()
            await asyncio.gather(other, return_exceptions=True)
        for sender in (stopping, survivor):
            await sender.http.aclose()
        for db in dbs:
            await db.dispose()
    assert sorted(s for _, s, _, _ in receipts.received) == sorted(subjects)
