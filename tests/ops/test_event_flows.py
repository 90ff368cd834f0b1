"""The ops hub's side of the cross-hub flows (issue 17, T17), on its migrated database
(SQLite and PostgreSQL) with a real dev hub next to it:

* dev's ``deployment_recorded``, through the real kit inbox, is one change record
  however often it arrives, linked to the service of that name when ops has one;
* incidents that block dev tasks are ``incident_opened`` / ``incident_updated`` /
  ``incident_resolved`` in ops's outbox, written with the change (a failing mutation
  leaves none).

The dev hub's reaction is tests/dev/test_event_flows.py; the hubs as processes, relay and
all, are tests/test_events_end_to_end.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.events.envelope import Event, Outcome
from subgraphs.core.kit.events.inbox import Inbox
from subgraphs.ops import service
from subgraphs.ops.events import EVENTS, HANDLERS
from tests.dev.conftest import sample_work
from tests.ops.conftest import in_transaction
from tests.support import LiveServer

T01, T02, T03 = "CUST-WP-0025-T01", "CUST-WP-0025-T02", "CUST-WP-0025-T03"
CHANGES = "{ changes { nodes { summary changedAt changedBy service { name } } } }"
CREATE = """mutation($input: CreateIncidentInput!) { createIncident(input: $input) { id } }"""
UPDATE = """mutation($id: ID!, $input: UpdateIncidentInput!) {
  updateIncident(id: $id, input: $input) { id } }"""
RESOLVE = 'mutation($id: ID!) { resolveIncident(id: $id, resolution: "restarted") { id } }'


@pytest.fixture
async def db(ops: LiveServer, ops_database_url: str) -> AsyncIterator[Database]:
    """The ops hub's database (tables emptied by ``ops``)."""
    database = Database(ops_database_url)
    yield database
    await database.dispose()


@pytest.fixture
def tasks(dev: LiveServer, dev_database_url: str) -> None:
    """CUST-WP-0025-T01..T07 and NK-WP-0001-T01, T02 in the dev hub."""
    asyncio.run(in_transaction(dev_database_url, sample_work))


async def outbox(db: Database) -> list[tuple[str, str, Any]]:
    """(type, subject, payload) of each event the ops hub emitted, oldest first."""
    o = EVENTS.tables.outbox
    stmt = select(o.c.event_type, o.c.subject, o.c.payload).order_by(o.c.occurred_at)
    async with db.session() as session:
        return [tuple(r) for r in (await session.execute(stmt)).all()]


def deployment(service_name: str, **payload: Any) -> Event:
    deployment_id = str(uuid.uuid4())
    return Event(
        id=uuid.uuid4(),
        type="deployment_recorded",
        source="dev",
        subject=f"deployment:{deployment_id}",
        sequence=1,
        time=datetime.now(UTC),
        payload={
            "deployment_id": deployment_id,
            "service": service_name,
            "version": "26.0.1",
            "environment": "production",
            "repo": "net-kingdom",
            "deployed_at": "2026-12-01T10:00:00+00:00",
            "notes": None,
            "recorded_by": "alice",
            **payload,
        },
    )


# --- dev -> ops: deployments --------------------------------------------------------------


async def test_a_deployment_becomes_one_change_record_of_its_service(
    ops: LiveServer, db: Database
) -> None:
    ops.gql(
        'mutation { registerService(input: {name: "keycloak", namespace: "railiance", '
        'domain: "net-kingdom"}) { id } }'
    )
    inbox = Inbox(EVENTS, db, HANDLERS)
    event = deployment("keycloak", notes="realm export first")
    assert await inbox.receive(event) is Outcome.APPLIED
    assert await inbox.receive(event) is Outcome.DUPLICATE  # redelivered: no second record
    [change] = ops.gql(CHANGES)["changes"]["nodes"]
    assert change["summary"] == (
        "deployed keycloak 26.0.1 to production (repo net-kingdom)\n\nrealm export first"
    )
    assert change["changedBy"] == "alice"
    assert datetime.fromisoformat(change["changedAt"]) == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert change["service"] == {"name": "keycloak"}


async def test_a_deployment_of_a_service_ops_does_not_know_is_recorded_unlinked(
    ops: LiveServer, db: Database
) -> None:
    inbox = Inbox(EVENTS, db, HANDLERS)
    event = deployment("grafana", recorded_by=None, environment="staging", repo=None)
    assert await inbox.receive(event) is Outcome.APPLIED
    [change] = ops.gql(CHANGES)["changes"]["nodes"]
    assert change["summary"] == (
        "deployed grafana 26.0.1 to staging; no service named 'grafana' is registered in ops"
    )
    assert change["changedBy"] == "dev hub" and change["service"] is None


async def test_a_deployment_event_without_a_service_is_refused(
    ops: LiveServer, db: Database
) -> None:
    inbox = Inbox(EVENTS, db, HANDLERS)
    assert await inbox.receive(deployment(" ")) is Outcome.REJECTED
    assert await inbox.receive(deployment("keycloak", deployed_at="yesterday")) is (
        Outcome.REJECTED
    )
    assert ops.gql(CHANGES)["changes"]["nodes"] == []


# --- ops -> dev: incidents ----------------------------------------------------------------


async def test_an_incident_blocking_tasks_is_announced_updated_and_resolved(
    ops: LiveServer, tasks: None, db: Database
) -> None:
    created = ops.gql(
        CREATE, {"input": {"title": "Keycloak down", "severity": "SEV2", "blocksTasks": [T02, T01]}}
    )["createIncident"]
    subject = f"incident:{created['id']}"
    ops.gql(UPDATE, {"id": created["id"], "input": {"addBlockedTasks": [T03]}})
    ops.gql(UPDATE, {"id": created["id"], "input": {"removeBlockedTasks": [T01]}})
    ops.gql(UPDATE, {"id": created["id"], "input": {"note": "looking"}})  # no task changes
    ops.gql(RESOLVE, {"id": created["id"]})
    events = await outbox(db)
    assert [(t, s) for t, s, _ in events] == [
        ("incident_opened", subject),
        ("incident_updated", subject),
        ("incident_updated", subject),
        ("incident_resolved", subject),
    ]
    opened, added, removed, resolved = (p for _, _, p in events)
    assert opened == {
        "incident_id": created["id"],
        "title": "Keycloak down",
        "severity": "SEV2",
        "status": "open",
        "blocked_tasks": [T01, T02],
    }
    assert (added["blocked_tasks"], added["added"], added["removed"]) == (
        [T01, T02, T03],
        [T03],
        [],
    )
    assert (removed["blocked_tasks"], removed["removed"]) == ([T02, T03], [T01])
    assert resolved["status"] == "resolved" and resolved["blocked_tasks"] == [T02, T03]
    assert resolved["resolved_at"]


async def test_an_incident_is_announced_when_it_first_blocks_tasks(
    ops: LiveServer, tasks: None, db: Database
) -> None:
    # blocking nothing (as the probes' incidents): nothing to tell
    quiet = ops.gql(CREATE, {"input": {"title": "Disk full", "severity": "SEV3"}})
    ops.gql(RESOLVE, {"id": quiet["createIncident"]["id"]})
    assert await outbox(db) == []
    later = ops.gql(CREATE, {"input": {"title": "Slow DNS", "severity": "SEV4"}})["createIncident"]
    ops.gql(UPDATE, {"id": later["id"], "input": {"status": "INVESTIGATING"}})
    assert await outbox(db) == []
    ops.gql(UPDATE, {"id": later["id"], "input": {"addBlockedTasks": [T01]}})
    ops.gql(UPDATE, {"id": later["id"], "input": {"removeBlockedTasks": [T01]}})
    # resolved through updateIncident, with no task left: dev must still release T01
    ops.gql(UPDATE, {"id": later["id"], "input": {"status": "RESOLVED"}})
    assert [(t, p["blocked_tasks"]) for t, _, p in await outbox(db)] == [
        ("incident_opened", [T01]),
        ("incident_updated", []),
        ("incident_resolved", []),
    ]


async def test_a_failing_change_leaves_no_event(ops: LiveServer, tasks: None, db: Database) -> None:
    missing = str(uuid.uuid4())
    ops.error(
        CREATE,
        {"input": {"title": "X", "severity": "SEV2", "blocksTasks": [T01], "services": [missing]}},
    )
    ops.error(
        CREATE, {"input": {"title": "X", "severity": "SEV2", "blocksTasks": ["NOPE-WP-0001-T01"]}}
    )
    created = ops.gql(CREATE, {"input": {"title": "Y", "severity": "SEV2"}})["createIncident"]
    ops.gql(RESOLVE, {"id": created["id"]})
    # resolved is final: adding tasks to it now is refused with the status step
    ops.error(UPDATE, {"id": created["id"], "input": {"status": "OPEN", "addBlockedTasks": [T01]}})
    assert await outbox(db) == []


async def test_a_transaction_failing_after_the_incident_leaves_no_event(
    ops: LiveServer, db: Database
) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await service.create_incident(
                session, title="Z", severity="SEV2", opened_by="test", blocks_tasks=[T01]
            )
            assert len(await outbox_in(session)) == 1  # written, in this transaction
            raise RuntimeError("the rest of the transaction failed")
    assert await outbox(db) == []
    assert ops.gql("{ incidents { nodes { id } } }")["incidents"]["nodes"] == []


async def outbox_in(session: Any) -> list[Any]:
    o = EVENTS.tables.outbox
    return list((await session.execute(select(o.c.id))).all())
