"""Events between hubs over HTTP (kit/events): outbox, relay, /events, inbox.

Real pieces throughout: two hub databases (SQLite files, migrated), the ops hub's outbox
and relay sending as the ops service account (client credentials against the real test
issuer), and a consumer hub's real ``/events`` endpoint on a loopback port, validating
those tokens. The consumer's reaction to each event is itself an event in its own
outbox (``task_blocked``, one per event applied): counting those rows counts effects,
not deliveries.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.routing import Route, request_response

from subgraphs.core.kit import migrations
from subgraphs.core.kit.auth import AuthenticateRequests
from subgraphs.core.kit.database import Database
from subgraphs.core.kit.events.envelope import Event, Outcome
from subgraphs.core.kit.events.http import HttpTransport, events_endpoint
from subgraphs.core.kit.events.inbox import EventRejected, Inbox
from subgraphs.core.kit.events.outbox import HubEvents
from subgraphs.core.kit.events.relay import Relay, retry
from subgraphs.core.kit.events.settings import EventSettings
from subgraphs.core.kit.events.tables import DEAD, DELIVERED, PENDING
from subgraphs.core.kit.peers import PeerHubs
from tests.auth_support import SERVICE_SECRETS, TestIssuer
from tests.support import LiveServer

OPENED, RESOLVED = "incident_opened", "incident_resolved"
SETTINGS = EventSettings(
    subscriptions={"dev": frozenset({OPENED, RESOLVED})},
    max_attempts=3,
    retry_base_s=0.01,
    retry_max_s=0.02,
)


def _hub_events(hub: str) -> HubEvents:
    if hub == "ops":
        from subgraphs.ops.app import HUB
    else:
        from subgraphs.dev.app import HUB
    assert HUB.events is not None
    return HubEvents(hub, HUB.events.tables, SETTINGS)


async def _database(tmp: Path, hub: str) -> Database:
    if hub == "ops":
        from subgraphs.ops.app import HUB
    else:
        from subgraphs.dev.app import HUB
    db = Database(f"sqlite+aiosqlite:///{tmp / (hub + '.db')}")
    await migrations.upgrade(HUB, db)
    return db


class Consumer:
    """The dev side: a real /events endpoint and inbox; its effect is a task_blocked."""

    def __init__(self, db: Database, issuer: TestIssuer) -> None:
        from subgraphs.core.kit.auth import Authenticator

        self.events = _hub_events("dev")
        self.db = db
        self.refuse: set[str] = set()  # subjects whose events the handler refuses

        async def block(session: AsyncSession, event: Event) -> None:
            if event.subject in self.refuse:
                raise EventRejected(f"{event.subject} is refused")
            await self.events.emit(session, "task_blocked", f"effect:{event.id}")

        self.inbox = Inbox(self.events, db, {OPENED: block, RESOLVED: block})
        self.authenticator = Authenticator(issuer.auth_settings())
        endpoint = AuthenticateRequests(
            request_response(events_endpoint(self.inbox)), self.authenticator
        )
        self.server = LiveServer(Starlette(routes=[Route("/events", endpoint, methods=["POST"])]))

    async def effects(self) -> list[str]:
        outbox = self.events.tables.outbox
        async with self.db.session() as session:
            return list(await session.scalars(select(outbox.c.subject)))

    async def applied(self, subject: str) -> list[int]:
        inbox = self.events.tables.inbox
        async with self.db.session() as session:
            rows = await session.scalars(
                select(inbox.c.sequence)
                .where(inbox.c.subject == subject)
                .order_by(inbox.c.applied_at)
            )
            return list(rows)


Pair = tuple[Relay, "Consumer", Database]


@pytest.fixture
async def pair(
    tmp_path: Path, issuer: TestIssuer
) -> AsyncIterator[tuple[Relay, Consumer, Database]]:
    producer_db = await _database(tmp_path, "ops")
    consumer = Consumer(await _database(tmp_path, "dev"), issuer)
    consumer.server.start()
    auth = issuer.auth_settings(client_id="ops-hub", client_secret=SERVICE_SECRETS["ops-hub"])
    peers = PeerHubs(auth)
    producer = _hub_events("ops")
    relay = Relay(producer, producer_db, HttpTransport(peers, {"dev": consumer.server.url}))
    try:
        yield relay, consumer, producer_db
    finally:
        consumer.server.stop()
        await peers.aclose()
        await consumer.authenticator.aclose()
        await producer_db.dispose()
        await consumer.db.dispose()


async def _emit(relay: Relay, db: Database, event_type: str, subject: str) -> Event:
    async with db.transaction() as session:
        return await relay.events.emit(session, event_type, subject, {"title": subject})


async def _drain(relay: Relay, rounds: int = 50) -> None:
    for _ in range(rounds):
        if await relay.deliver_due():
            continue
        if not await _pending_due(relay):
            return
        await asyncio.sleep(0.02)  # a retry is not due yet
    raise AssertionError("deliveries still pending")


async def _pending_due(relay: Relay) -> int:
    d = relay.events.tables.deliveries
    async with relay.db.session() as session:
        return int(
            await session.scalar(select(func.count()).select_from(d).where(d.c.status == PENDING))
            or 0
        )


async def _statuses(relay: Relay) -> list[tuple[str, int, str | None]]:
    d = relay.events.tables.deliveries
    async with relay.db.session() as session:
        rows = await session.execute(select(d.c.status, d.c.attempts, d.c.last_error))
        return [tuple(r) for r in rows]


async def test_events_arrive_once_in_order_per_subject(pair: Pair) -> None:
    relay, consumer, db = pair
    emitted = [
        await _emit(relay, db, OPENED, "incident:a"),
        await _emit(relay, db, OPENED, "incident:b"),
        await _emit(relay, db, RESOLVED, "incident:a"),
    ]
    # what nobody subscribes to is kept in the outbox but has nowhere to go
    await _emit(relay, db, "change_recorded", "change:1")
    await _drain(relay)
    assert sorted(await consumer.effects()) == sorted(f"effect:{e.id}" for e in emitted)
    assert await consumer.applied("incident:a") == [1, 2]
    assert [s for s, _, _ in await _statuses(relay)] == [DELIVERED] * 3


async def test_a_redelivered_or_early_event_has_no_second_effect(
    pair: Pair, issuer: TestIssuer
) -> None:
    relay, consumer, db = pair
    first = await _emit(relay, db, OPENED, "incident:c")
    second = await _emit(relay, db, RESOLVED, "incident:c")
    async with _peers(issuer) as http:
        send = HttpTransport(http, {"dev": consumer.server.url})
        # the second before the first: not yet, nothing applied
        assert await send("dev", replace(second, sequence=2)) is Outcome.NOT_YET
        assert await consumer.effects() == []
        assert await send("dev", replace(first, sequence=1)) is Outcome.APPLIED
        assert await send("dev", replace(first, sequence=1)) is Outcome.DUPLICATE
        assert await send("dev", replace(second, sequence=2)) is Outcome.APPLIED
        assert await send("dev", replace(second, sequence=2)) is Outcome.DUPLICATE
    assert len(await consumer.effects()) == 2
    assert await consumer.applied("incident:c") == [1, 2]


class _peers:
    """A PeerHubs signed in as the ops service account, closed on exit."""

    def __init__(self, issuer: TestIssuer) -> None:
        self.peers = PeerHubs(
            issuer.auth_settings(client_id="ops-hub", client_secret=SERVICE_SECRETS["ops-hub"])
        )

    async def __aenter__(self) -> PeerHubs:
        return self.peers

    async def __aexit__(self, *_: object) -> None:
        await self.peers.aclose()


async def test_events_need_a_hub_service_account_and_a_known_type(
    pair: Pair, issuer: TestIssuer
) -> None:
    _relay, consumer, _db = pair
    event = Event(uuid.uuid4(), OPENED, "ops", "incident:d", 1, datetime.now(UTC), {})
    url = f"{consumer.server.url}/events"
    async with httpx.AsyncClient() as client:
        anonymous = await client.post(url, content=event.to_bytes())
        assert anonymous.status_code == 401 and "service-account" in anonymous.json()["reason"]
        forged = await client.post(
            url, content=event.to_bytes(), headers={"Authorization": "Bearer not.a.token"}
        )
        assert forged.status_code == 401
        person = await client.post(url, content=event.to_bytes(), headers=issuer.headers("admin"))
        assert person.status_code == 403
        async with _peers(issuer) as peers:
            unknown = await peers.http.post(
                url, content=event.to_bytes().replace(b"incident_opened", b"incident_exploded")
            )
            assert unknown.status_code == 422
            assert "unknown event type 'incident_exploded'" in unknown.json()["reason"]
            not_json = await peers.http.post(url, content=b"{")
            assert not_json.status_code == 422
            elsewhere = await peers.http.post(
                url,
                content=event.to_bytes().replace(b"incident_opened", b"budget_threshold_crossed"),
            )
            assert elsewhere.status_code == 422 and "does not consume" in elsewhere.json()["reason"]
    assert await consumer.effects() == []


async def test_a_refused_event_is_dead_at_once_and_can_be_retried(pair: Pair) -> None:
    relay, consumer, db = pair
    consumer.refuse.add("incident:e")
    poison = await _emit(relay, db, OPENED, "incident:e")
    await _drain(relay)
    assert await _statuses(relay) == [(DEAD, 1, "refused by dev")]
    consumer.refuse.clear()
    assert await retry(relay.events, db, poison.id) == 1
    await _drain(relay)
    assert await _statuses(relay) == [(DELIVERED, 0, "refused by dev")]
    assert await consumer.effects() == [f"effect:{poison.id}"]


async def test_a_consumer_that_is_down_is_retried_then_dead(pair: Pair) -> None:
    relay, consumer, db = pair
    consumer.server.stop()
    await _emit(relay, db, OPENED, "incident:f")
    await _drain(relay, rounds=200)
    [(status, attempts, error)] = await _statuses(relay)
    assert (status, attempts) == (DEAD, SETTINGS.max_attempts)
    assert error is not None and "dev unreachable" in error


async def test_metrics_count_deliveries_and_the_oldest_pending(pair: Pair) -> None:
    from subgraphs.core.kit.events.metrics import event_metrics

    relay, consumer, db = pair
    consumer.refuse.add("incident:g")
    await _emit(relay, db, OPENED, "incident:g")  # dead: refused
    await _emit(relay, db, OPENED, "incident:h")  # delivered
    await _drain(relay)
    await _emit(relay, db, OPENED, "incident:i")  # pending: not relayed yet
    await asyncio.sleep(0.05)
    lines = _samples(await event_metrics(relay.events, db))
    assert lines['hubgraph_events_deliveries{hub="ops",status="pending"}'] == 1
    assert lines['hubgraph_events_deliveries{hub="ops",status="delivered"}'] == 1
    assert lines['hubgraph_events_deliveries{hub="ops",status="dead"}'] == 1
    assert lines['hubgraph_events_oldest_pending_age_seconds{hub="ops"}'] >= 0.05
    consumer_lines = _samples(await event_metrics(consumer.events, consumer.db))
    assert consumer_lines['hubgraph_events_applied{hub="dev"}'] == 1


def _samples(text: str) -> dict[str, float]:
    return {
        name: float(value)
        for name, value in (line.rsplit(" ", 1) for line in text.splitlines())
        if not name.startswith("#")
    }


def test_a_hub_serves_its_event_metrics(core_server: LiveServer) -> None:
    response = core_server.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'hubgraph_events_deliveries{hub="core",status="dead"}' in response.text


async def test_an_emit_in_a_failed_transaction_leaves_nothing_and_its_error(pair: Pair) -> None:
    relay, _consumer, db = pair
    with pytest.raises(LookupError, match="the change failed"):
        async with db.transaction() as session:
            await relay.events.emit(session, OPENED, "incident:j")
            raise LookupError("the change failed")
    assert await _statuses(relay) == []
    with pytest.raises(ValueError, match="unknown event type 'incident_exploded'"):
        async with db.transaction() as session:
            await relay.events.emit(session, "incident_exploded", "incident:k")
    wake = asyncio.Event()
    relay.events.attach(wake)
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await relay.events.emit(session, OPENED, "incident:l")
            raise RuntimeError("no")
    assert not wake.is_set()  # a rolled-back emit wakes nobody
    async with db.transaction() as session:
        await relay.events.emit(session, OPENED, "incident:m")
    assert wake.is_set()  # a committed one wakes the relay


async def test_an_oversized_event_is_refused_unread(pair: Pair, issuer: TestIssuer) -> None:
    from subgraphs.core.kit.events.http import MAX_EVENT_BYTES

    _relay, consumer, _db = pair
    big = Event(
        uuid.uuid4(),
        OPENED,
        "ops",
        "incident:n",
        1,
        datetime.now(UTC),
        {"x": "y" * MAX_EVENT_BYTES},
    )
    async with _peers(issuer) as peers:
        response = await peers.http.post(f"{consumer.server.url}/events", content=big.to_bytes())
    assert response.status_code == 413 and "at most" in response.json()["reason"]
    assert await consumer.effects() == []


def test_bad_event_settings_are_configuration_errors() -> None:
    from subgraphs.core.kit.settings import ConfigError

    for env, said in (
        ({"HUBGRAPH_EVENTS_URL": "http://127.0.0.1:4222"}, "must be a nats:// URL"),
        ({"HUBGRAPH_EVENTS_SUBSCRIPTIONS": "ops"}, "expected HUB=TYPE,TYPE"),
        ({"HUBGRAPH_EVENTS_SUBSCRIPTIONS": "dev=incident_exploded"}, "unknown event type"),
        ({"HUBGRAPH_EVENTS_MAX_ATTEMPTS": "0"}, "must be at least 1"),
        ({"HUBGRAPH_EVENTS_RETRY_BASE_S": "soon"}, "must be a number of seconds"),
    ):
        with pytest.raises(ConfigError, match=said):
            EventSettings.from_env(env)
    custom = EventSettings.from_env({"HUBGRAPH_EVENTS_SUBSCRIPTIONS": "ops=deployment_recorded"})
    assert custom.destinations("deployment_recorded") == ["ops"]
    assert custom.destinations("incident_opened") == []
