"""The NATS JetStream transport against a real nats-server (no mocks of NATS).

The consumer is a real in-memory inbox: it applies each event id once and a subject's
events in sequence order, answering NOT_YET for an event that arrives early.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerConfig

from subgraphs.core.kit.events.envelope import Event, Outcome
from subgraphs.core.kit.events.nats import (
    STREAM,
    NatsPublisher,
    NatsSubscriber,
    NatsUnavailable,
    ensure_stream,
    subject_of,
)
from tests.support import free_port

NATS_SERVER = (
    "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
) or shutil.which("nats-server")
pytestmark = pytest.mark.skipif(
    NATS_SERVER is None, reason="no nats-server binary (/usr/sbin/nats-server or on PATH)"
)

FAST = {"retry_delays_s": (0.05, 0.1, 0.2), "fetch_timeout_s": 0.2}
OPENED, RESOLVED, BUDGET = "incident_opened", "incident_resolved", "budget_threshold_crossed"


class Server:
    """A nats-server with JetStream on a loopback port, storing under ``store``."""

    def __init__(self, store: Path, port: int | None = None) -> None:
        self.store = store
        self.port = port or free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        assert NATS_SERVER is not None
        self.process = subprocess.Popen(
            [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nats-server on {self.port} did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("nats")).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def url(server: Server) -> AsyncIterator[str]:
    """The server's URL, with an empty stream and no consumers left by earlier tests."""
    nc = await admin(server.url)
    js = nc.jetstream()
    await ensure_stream(js)
    await js.purge_stream(STREAM)
    for info in await js.consumers_info(STREAM):
        await js.delete_consumer(STREAM, info.name)
    await nc.close()
    yield server.url


@pytest.fixture
async def publisher(url: str) -> AsyncIterator[NatsPublisher]:
    pub = await NatsPublisher.open(url, timeout_s=2)
    yield pub
    await pub.close()


async def admin(url: str) -> Client:
    """A plain connection for the test's own checks: fails at once rather than retrying."""
    return await nats.connect(url, allow_reconnect=False, connect_timeout=2)


class Inbox:
    """A consumer's inbox: applies each id once, each subject's events in order."""

    def __init__(self) -> None:
        self.applied: list[Event] = []
        self.ids: set[uuid.UUID] = set()
        self.last: dict[str, int] = defaultdict(int)
        self.deliveries: Counter[uuid.UUID] = Counter()
        self.outcomes: Counter[Outcome] = Counter()
        self.types: set[str] = set()

    async def receive(self, event: Event) -> Outcome:
        self.deliveries[event.id] += 1
        self.types.add(event.type)
        if event.id in self.ids:
            outcome = Outcome.DUPLICATE
        elif event.payload.get("poison"):
            outcome = Outcome.REJECTED
        elif event.sequence != self.last[event.subject] + 1:
            outcome = Outcome.NOT_YET
        else:
            self.ids.add(event.id)
            self.last[event.subject] = event.sequence
            self.applied.append(event)
            outcome = Outcome.APPLIED
        self.outcomes[outcome] += 1
        return outcome

    def sequences(self, subject: str) -> list[int]:
        return [e.sequence for e in self.applied if e.subject == subject]


def event(type_: str, subject: str, sequence: int, **payload: Any) -> Event:
    return Event(uuid.uuid4(), type_, "ops", subject, sequence, datetime.now(UTC), payload)


async def until(condition: Callable[[], bool], timeout_s: float = 5) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


class Running:
    """A subscriber's ``run`` as a background task."""

    def __init__(self, subscriber: NatsSubscriber) -> None:
        self.subscriber = subscriber
        self.task = asyncio.create_task(subscriber.run())

    async def close(self) -> None:
        await asyncio.wait_for(self.subscriber.close(), 5)
        await asyncio.wait_for(self.task, 5)


def subscribe(url: str, hub: str, types: list[str], receive: Any, **options: Any) -> Running:
    return Running(NatsSubscriber(url, hub, types, receive, **{**FAST, **options}))


async def test_published_events_are_applied_once_in_subject_order(
    url: str, publisher: NatsPublisher
) -> None:
    subjects = [f"incident:{uuid.uuid4()}" for _ in range(3)]
    for seq in range(1, 6):
        for subject in subjects:
            await publisher.publish(event(OPENED, subject, seq))
    inbox = Inbox()
    running = subscribe(url, "core", [OPENED], inbox.receive)
    await until(lambda: len(inbox.applied) == 15)
    await running.close()
    for subject in subjects:
        assert inbox.sequences(subject) == [1, 2, 3, 4, 5]
    assert set(inbox.deliveries.values()) == {1}


async def test_a_republished_event_is_stored_once(url: str, publisher: NatsPublisher) -> None:
    again = event(OPENED, "incident:1", 1)
    await publisher.publish(again)
    await publisher.publish(again)  # the relay crashed before marking it sent
    await publisher.publish(event(OPENED, "incident:1", 2))
    nc = await admin(url)
    info = await nc.jetstream().stream_info(STREAM)
    await nc.close()
    assert info.state.messages == 2
    inbox = Inbox()
    running = subscribe(url, "core", [OPENED], inbox.receive)
    await until(lambda: len(inbox.applied) == 2)
    await running.close()
    assert inbox.deliveries[again.id] == 1


async def test_a_restarted_hub_resumes_where_it_stopped(url: str, publisher: NatsPublisher) -> None:
    events = [event(OPENED, f"incident:{i % 4}", i // 4 + 1) for i in range(40)]
    for e in events:
        await publisher.publish(e)
    inbox = Inbox()  # the hub's database: it outlives the process
    first: list[Running] = []

    async def stop_after_15(e: Event) -> Outcome:
        outcome = await inbox.receive(e)
        if len(inbox.applied) == 15:
            # Stop while the rest of the fetched batch is still in hand.
            stopping = asyncio.create_task(first[0].subscriber.close())
            await asyncio.sleep(0)
            assert not stopping.done()
        return outcome

    first.append(subscribe(url, "core", [OPENED], stop_after_15))
    await asyncio.wait_for(first[0].task, 5)
    assert len(inbox.applied) == 15

    second = subscribe(url, "core", [OPENED], inbox.receive)
    await until(lambda: len(inbox.applied) == 40)
    await second.close()
    assert sorted(e.id for e in inbox.applied) == sorted(e.id for e in events)
    # The durable consumer resumed after the 15 acknowledged: none came again.
    assert inbox.outcomes[Outcome.DUPLICATE] == 0


async def test_a_crashed_hub_gets_unacknowledged_events_again_and_applies_them_once(
    url: str, publisher: NatsPublisher
) -> None:
    events = [event(OPENED, "incident:crash", i) for i in range(1, 21)]
    for e in events:
        await publisher.publish(e)
    inbox = Inbox()

    async def crash_after_5(e: Event) -> Outcome:
        outcome = await inbox.receive(e)
        if len(inbox.applied) == 5:
            raise asyncio.CancelledError  # killed after applying, before acking
        return outcome

    crashed = subscribe(url, "core", [OPENED], crash_after_5, ack_wait_s=1)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(crashed.task, 5)

    restarted = subscribe(url, "core", [OPENED], inbox.receive, ack_wait_s=1)
    await until(lambda: len(inbox.applied) == 20)
    await restarted.close()
    assert inbox.sequences("incident:crash") == list(range(1, 21))
    # The fifth was applied but never acknowledged: it came back and was recognised.
    assert inbox.outcomes[Outcome.DUPLICATE] >= 1
    assert inbox.deliveries[events[4].id] >= 2


async def test_an_early_event_is_redelivered_until_its_predecessor_is_applied(
    url: str, publisher: NatsPublisher
) -> None:
    first, second = event(OPENED, "incident:x", 1), event(RESOLVED, "incident:x", 2)
    await publisher.publish(second)
    inbox = Inbox()
    running = subscribe(url, "core", [OPENED, RESOLVED], inbox.receive)
    await until(lambda: inbox.deliveries[second.id] >= 2)
    assert inbox.applied == []
    await publisher.publish(first)
    await until(lambda: len(inbox.applied) == 2)
    await running.close()
    assert inbox.sequences("incident:x") == [1, 2]


async def test_poison_messages_are_reported_dead_and_later_events_flow(
    url: str, publisher: NatsPublisher
) -> None:
    nc = await admin(url)
    await nc.jetstream().publish(subject_of(OPENED), b"{not json")
    misplaced = event(BUDGET, "budget:m", 1)  # a valid event on another type's subject
    await nc.jetstream().publish(subject_of(OPENED), misplaced.to_bytes())
    await nc.close()
    rejected = event(OPENED, "incident:p", 1, poison=True)
    orphan = event(OPENED, "incident:orphan", 7)  # its predecessors never come
    await publisher.publish(rejected)
    await publisher.publish(orphan)
    dead: list[tuple[Event | bytes, str]] = []

    async def on_dead(what: Event | bytes, reason: str) -> None:
        dead.append((what, reason))

    inbox = Inbox()
    running = subscribe(url, "core", [OPENED], inbox.receive, max_deliver=3, on_dead=on_dead)
    await until(lambda: len(dead) == 4)
    later = event(OPENED, "incident:later", 1)
    await publisher.publish(later)
    await until(lambda: len(inbox.applied) == 1)
    await asyncio.sleep(0.3)  # nothing of the dead comes back
    await running.close()

    reasons = {(w.id if isinstance(w, Event) else w): r for w, r in dead}
    assert reasons[b"{not json"].startswith("invalid event")
    assert reasons[misplaced.id] == f"a {BUDGET} event on {subject_of(OPENED)}"
    assert misplaced.id not in inbox.deliveries
    assert reasons[rejected.id] == "rejected by the consumer"
    assert "after 3 deliveries" in reasons[orphan.id]
    assert inbox.deliveries[rejected.id] == 1
    assert inbox.deliveries[orphan.id] == 3
    assert inbox.applied == [later]


async def test_a_failing_receive_is_retried(url: str, publisher: NatsPublisher) -> None:
    inbox = Inbox()
    calls: list[int] = []

    async def flaky(e: Event) -> Outcome:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("database briefly unavailable")
        return await inbox.receive(e)

    await publisher.publish(event(OPENED, "incident:f", 1))
    running = subscribe(url, "core", [OPENED], flaky)
    await until(lambda: len(inbox.applied) == 1)
    await running.close()
    assert len(calls) == 3


async def test_a_hub_receives_only_its_types(url: str, publisher: NatsPublisher) -> None:
    for i in range(1, 4):
        await publisher.publish(event(OPENED, f"incident:{i}", 1))
        await publisher.publish(event(BUDGET, f"budget:{i}", 1))
    ops, fin = Inbox(), Inbox()
    running = [
        subscribe(url, "ops", [OPENED], ops.receive),
        subscribe(url, "fin", [BUDGET], fin.receive),
    ]
    await until(lambda: len(ops.applied) == 3 and len(fin.applied) == 3)
    await asyncio.sleep(0.3)
    for r in running:
        await r.close()
    assert ops.types == {OPENED}
    assert fin.types == {BUDGET}
    # The filtering is the server's: the consumers themselves see only those subjects.
    nc = await admin(url)
    infos = await nc.jetstream().consumers_info(STREAM)
    await nc.close()
    seen = [s for i in infos for s in i.config.filter_subjects or [str(i.config.filter_subject)]]
    assert sorted(seen) == [subject_of(BUDGET), subject_of(OPENED)]


async def test_a_changed_subscription_updates_the_existing_consumer(
    url: str, publisher: NatsPublisher
) -> None:
    subscriber = NatsSubscriber(url, "core", [OPENED, RESOLVED], Inbox().receive)
    nc = await admin(url)
    js = nc.jetstream()
    version = nc.connected_server_version
    existing = next(iter(subscriber.consumers((version.major, version.minor))))
    # The consumer as an earlier configuration of the hub left it: reading another type.
    await js.add_consumer(
        STREAM, ConsumerConfig(durable_name=existing, filter_subject=subject_of(BUDGET))
    )
    await publisher.publish(event(BUDGET, "budget:1", 1))
    await publisher.publish(event(OPENED, "incident:1", 1))
    await publisher.publish(event(RESOLVED, "incident:1", 2))
    inbox = Inbox()
    running = subscribe(url, "core", [OPENED, RESOLVED], inbox.receive)
    await until(lambda: len(inbox.applied) == 2)
    await asyncio.sleep(0.3)
    await running.close()
    assert inbox.types == {OPENED, RESOLVED}
    info = await js.consumer_info(STREAM, existing)
    await nc.close()
    assert subject_of(BUDGET) not in (info.config.filter_subjects or [info.config.filter_subject])


@pytest.fixture
def short_lived(tmp_path: Path) -> Iterator[Server]:
    other = Server(tmp_path / "store").start()
    try:
        yield other
    finally:
        other.stop()


async def test_publishing_while_the_server_is_down_fails_clearly(short_lived: Server) -> None:
    pub = await NatsPublisher.open(short_lived.url, timeout_s=1)
    try:
        await pub.publish(event(OPENED, "incident:1", 1))
        short_lived.stop()
        started = time.monotonic()
        with pytest.raises(NatsUnavailable, match="did not store"):
            await pub.publish(event(OPENED, "incident:1", 2))
        assert time.monotonic() - started < 3
    finally:
        await pub.close()
    with pytest.raises(NatsUnavailable, match="cannot connect"):
        await NatsPublisher.open(short_lived.url, timeout_s=1)


async def test_a_subscriber_carries_on_after_a_server_restart(short_lived: Server) -> None:
    pub = await NatsPublisher.open(short_lived.url, timeout_s=2)
    inbox = Inbox()
    running = subscribe(short_lived.url, "core", [OPENED], inbox.receive)
    try:
        await pub.publish(event(OPENED, "incident:r", 1))
        await until(lambda: len(inbox.applied) == 1)
        short_lived.stop()
        short_lived.start()  # same port, same storage: the stream and consumer survive
        # The publisher reconnects on its own; like the relay, retry until it is back.
        deadline = time.monotonic() + 8
        while True:
            try:
                await pub.publish(event(OPENED, "incident:r", 2))
                break
            except NatsUnavailable:
                assert time.monotonic() < deadline
        await until(lambda: len(inbox.applied) == 2, timeout_s=8)
    finally:
        await running.close()
        await pub.close()
    assert inbox.sequences("incident:r") == [1, 2]


async def test_a_subscriber_waiting_for_a_first_connection_can_be_closed() -> None:
    subscriber = NatsSubscriber(
        f"nats://127.0.0.1:{free_port()}", "core", [OPENED], Inbox().receive
    )
    task = asyncio.create_task(subscriber.run())
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await subscriber.close(timeout_s=0.5)
    assert time.monotonic() - started < 2
    assert task.done()


def test_subject_and_validation() -> None:
    assert subject_of(OPENED) == "hubgraph.events.incident_opened"
    with pytest.raises(ValueError, match="hub name"):
        NatsSubscriber("nats://127.0.0.1:1", "a.b", [OPENED], Inbox().receive)
    with pytest.raises(ValueError, match="unknown event type"):
        NatsSubscriber("nats://127.0.0.1:1", "core", ["nope"], Inbox().receive)
