"""The dev hub's side of the cross-hub flows (issue 17, T17 and T25), through the real
kit inbox on the dev hub's migrated database (SQLite and PostgreSQL):

* ops's ``incident_opened`` blocks the listed tasks (``task_blocked`` each) and its
  ``incident_resolved`` puts them back (``task_unblocked``), once however often the
  events arrive; unknown keys are skipped, tasks a person moved meanwhile left alone;
* fin's ``budget_threshold_crossed`` is resource pressure on the domain and its
  workplans, no task's status;
* ``recordDeployment`` writes ``deployment_recorded`` in its own transaction.

Effects are read back through the hub's GraphQL API and its outbox table.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.events.envelope import Event, Outcome
from subgraphs.core.kit.events.inbox import Inbox
from subgraphs.dev import service
from subgraphs.dev.events import EVENTS, HANDLERS
from subgraphs.dev.sync import sync_paths
from tests.support import LiveServer

T01, T02, T03, T04, T05 = (f"CUST-WP-0025-T0{n}" for n in range(1, 6))
INCIDENT = str(uuid.uuid4())
TASK = "query($id: ID!) { task(id: $id) { status blockedReason } }"


@pytest.fixture
async def db(dev: LiveServer, dev_database_url: str) -> AsyncIterator[Database]:
    """The dev hub's database (tables emptied by ``dev``)."""
    database = Database(dev_database_url)
    yield database
    await database.dispose()


@pytest.fixture
def inbox(db: Database) -> Inbox:
    return Inbox(EVENTS, db, HANDLERS)


def event(
    event_type: str, subject: str, payload: dict[str, Any], sequence: int = 1, source: str = "ops"
) -> Event:
    return Event(
        id=uuid.uuid4(),
        type=event_type,
        source=source,
        subject=subject,
        sequence=sequence,
        time=datetime.now(UTC),
        payload=payload,
    )


def incident(event_type: str, tasks: list[str], sequence: int = 1) -> Event:
    return event(
        event_type,
        f"incident:{INCIDENT}",
        {
            "incident_id": INCIDENT,
            "title": "Keycloak down",
            "severity": "SEV2",
            "status": "resolved" if event_type == "incident_resolved" else "open",
            "blocked_tasks": tasks,
        },
        sequence,
    )


def task(dev: LiveServer, key: str) -> dict[str, Any]:
    found: dict[str, Any] = dev.gql(TASK, {"id": key})["task"]
    return found


async def outbox(db: Database, event_type: str | None = None) -> list[tuple[str, str, Any]]:
    """(type, subject, payload) of each event the dev hub emitted, oldest first."""
    o = EVENTS.tables.outbox
    stmt = select(o.c.event_type, o.c.subject, o.c.payload).order_by(o.c.occurred_at)
    if event_type:
        stmt = stmt.where(o.c.event_type == event_type)
    async with db.session() as session:
        return [tuple(r) for r in (await session.execute(stmt)).all()]


# --- ops incidents ---------------------------------------------------------------------


async def test_an_incident_blocks_its_tasks_once_and_its_resolution_restores_them(
    dev: LiveServer, sample: None, db: Database, inbox: Inbox
) -> None:
    opened = incident("incident_opened", [T01, "NOPE-WP-0001-T01", T02])
    assert await inbox.receive(opened) is Outcome.APPLIED
    assert await inbox.receive(opened) is Outcome.DUPLICATE  # redelivered: no second effect
    for key in (T01, T02):
        blocked = task(dev, key)
        assert blocked["status"] == "BLOCKED"
        assert "Keycloak down" in blocked["blockedReason"] and INCIDENT in blocked["blockedReason"]
    # the unknown key is skipped, the others blocked all the same; one event per task
    assert [(s, p["previous_status"]) for _, s, p in await outbox(db, "task_blocked")] == [
        (f"task:{T01}", "in_progress"),
        (f"task:{T02}", "todo"),
    ]
    assert all(p["incident_id"] == INCIDENT for _, _, p in await outbox(db, "task_blocked"))

    resolved = incident("incident_resolved", [T01, "NOPE-WP-0001-T01", T02], sequence=2)
    assert await inbox.receive(resolved) is Outcome.APPLIED
    assert await inbox.receive(resolved) is Outcome.DUPLICATE
    assert task(dev, T01) == {"status": "IN_PROGRESS", "blockedReason": None}
    assert task(dev, T02) == {"status": "TODO", "blockedReason": None}
    unblocked = await outbox(db, "task_unblocked")
    assert [(s, p["status"], p["incident_id"]) for _, s, p in unblocked] == [
        (f"task:{T01}", "in_progress", INCIDENT),
        (f"task:{T02}", "todo", INCIDENT),
    ]


async def test_tasks_added_to_an_open_incident_are_blocked_and_those_taken_off_released(
    dev: LiveServer, sample: None, inbox: Inbox
) -> None:
    assert await inbox.receive(incident("incident_opened", [T02])) is Outcome.APPLIED
    updated = incident("incident_updated", [T03], sequence=2)  # T02 off it, T03 on it
    assert await inbox.receive(updated) is Outcome.APPLIED
    assert task(dev, T02) == {"status": "TODO", "blockedReason": None}
    assert task(dev, T03)["status"] == "BLOCKED"
    assert await inbox.receive(incident("incident_resolved", [T03], 3)) is Outcome.APPLIED
    assert task(dev, T03)["status"] != "BLOCKED"


async def test_resolved_before_opened_waits_for_it(
    dev: LiveServer, sample: None, inbox: Inbox
) -> None:
    resolved = incident("incident_resolved", [T02], sequence=2)
    assert await inbox.receive(resolved) is Outcome.NOT_YET
    assert task(dev, T02)["status"] == "TODO"
    assert await inbox.receive(incident("incident_opened", [T02])) is Outcome.APPLIED
    assert await inbox.receive(resolved) is Outcome.APPLIED
    assert task(dev, T02)["status"] == "TODO"


async def test_what_a_person_changed_meanwhile_is_left_alone(
    dev: LiveServer, sample: None, db: Database, inbox: Inbox
) -> None:
    # T04 is done and T05 already blocked (by a person): the incident takes neither
    before = task(dev, T05)
    assert await inbox.receive(incident("incident_opened", [T01, T02, T03, T04, T05])) is (
        Outcome.APPLIED
    )
    assert task(dev, T04)["status"] == "DONE"
    assert task(dev, T05) == before
    assert [s for _, s, _ in await outbox(db, "task_blocked")] == [
        f"task:{k}" for k in (T01, T02, T03)
    ]
    # meanwhile a person unblocks T02 and blocks it again for a reason of their own, and
    # moves T03 on
    dev.gql("mutation($id: ID!) { unblockTask(id: $id) { status } }", {"id": T02})
    dev.gql(
        'mutation($id: ID!) { blockTask(id: $id, reason: "waiting for the vendor") { status } }',
        {"id": T02},
    )
    dev.gql(
        "mutation($id: ID!) { updateTaskStatus(id: $id, status: CANCELLED) { status } }",
        {"id": T03},
    )

    assert await inbox.receive(incident("incident_resolved", [T01, T02, T03], 2)) is (
        Outcome.APPLIED
    )
    assert task(dev, T01)["status"] == "IN_PROGRESS"  # the incident's own: restored
    assert task(dev, T02) == {"status": "BLOCKED", "blockedReason": "waiting for the vendor"}
    assert task(dev, T03)["status"] == "CANCELLED"
    assert task(dev, T05) == before
    assert [s for _, s, _ in await outbox(db, "task_unblocked")] == [f"task:{T01}"]


async def test_a_malformed_incident_event_is_refused_with_nothing_applied(
    dev: LiveServer, sample: None, db: Database, inbox: Inbox
) -> None:
    bad = event("incident_opened", f"incident:{INCIDENT}", {"blocked_tasks": T01})
    assert await inbox.receive(bad) is Outcome.REJECTED
    assert task(dev, T01)["status"] == "IN_PROGRESS"
    assert await outbox(db) == []


FIXTURE = (
    Path(__file__).resolve().parent / "fixtures" / "workplans" / "CUST-WP-0025-fos-hub-bootstrap.md"
)


async def test_write_back_carries_the_incident_into_the_workplan_file(
    dev: LiveServer, db: Database, inbox: Inbox, tmp_path: Path
) -> None:
    path = tmp_path / FIXTURE.name
    shutil.copy(FIXTURE, path)
    await sync_paths(db, [tmp_path])
    assert await inbox.receive(incident("incident_opened", [T05])) is Outcome.APPLIED
    report = await sync_paths(db, [tmp_path], write_back=True)
    assert [f.outcome for f in report.files] == ["unchanged", "written"]  # read, then written
    assert "id: CUST-WP-0025-T05\nstatus: blocked" in path.read_text()

    assert await inbox.receive(incident("incident_resolved", [T05], 2)) is Outcome.APPLIED
    await sync_paths(db, [tmp_path], write_back=True)
    assert "id: CUST-WP-0025-T05\nstatus: todo" in path.read_text()


async def test_a_status_edited_in_the_file_takes_the_task_from_the_incident(
    dev: LiveServer, db: Database, inbox: Inbox, tmp_path: Path
) -> None:
    path = tmp_path / FIXTURE.name
    shutil.copy(FIXTURE, path)
    await sync_paths(db, [tmp_path])
    assert await inbox.receive(incident("incident_opened", [T05])) is Outcome.APPLIED
    await sync_paths(db, [tmp_path], write_back=True)
    # a person sets it in progress, then blocked again, in the file
    for status in ("in_progress", "blocked"):
        text = path.read_text()
        path.write_text(
            text.replace("id: CUST-WP-0025-T05\nstatus: ", "id: CUST-WP-0025-T05\nstatus: X", 1)
            .replace("status: Xblocked", f"status: {status}")
            .replace("status: Xin_progress", f"status: {status}")
        )
        await sync_paths(db, [tmp_path])
    assert task(dev, T05)["status"] == "BLOCKED"
    assert await inbox.receive(incident("incident_resolved", [T05], 2)) is Outcome.APPLIED
    assert task(dev, T05)["status"] == "BLOCKED"  # the person's block, not the incident's


# --- fin budgets -----------------------------------------------------------------------

PRESSURE = "resourcePressure { domain period percentUsed threshold allocated spent currency since }"


def budget(percent: float | str, threshold: int | str, spent: str, sequence: int = 1) -> Event:
    return event(
        "budget_threshold_crossed",
        "budget:custodian:2026-Q4",
        {
            "domain": "custodian",
            "period": "2026-Q4",
            "allocated": "1000.00",
            "spent": spent,
            "currency": "EUR",
            "percent": percent,
            "threshold": threshold,
        },
        sequence,
        source="fin",
    )


async def test_a_crossed_budget_threshold_is_pressure_on_the_domains_work(
    dev: LiveServer, sample: None, inbox: Inbox
) -> None:
    domains = (
        'query { _entities(representations: [{__typename: "Domain", slug: "%s"}]) '
        "{ ... on Domain { %s } } }"
    )
    workplan = 'query { workplan(id: "%s") { %s tasks { status } } }'
    assert dev.gql(domains % ("custodian", PRESSURE))["_entities"] == [{"resourcePressure": None}]
    statuses = dev.gql(workplan % ("CUST-WP-0025", PRESSURE))["workplan"]["tasks"]

    first = budget(85.0, 80, "850.00")
    assert await inbox.receive(first) is Outcome.APPLIED
    assert await inbox.receive(first) is Outcome.DUPLICATE
    pressure = dev.gql(domains % ("custodian", PRESSURE))["_entities"][0]["resourcePressure"]
    since = pressure.pop("since")
    assert pressure == {
        "domain": "custodian",
        "period": "2026-Q4",
        "percentUsed": 85.0,
        "threshold": 80.0,
        "allocated": "1000.00",
        "spent": "850.00",
        "currency": "EUR",
    }
    assert datetime.fromisoformat(since) == first.time

    # a higher threshold later: the same signal, updated; still since the first crossing
    # (with its figures as fin sends them: decimal strings)
    assert await inbox.receive(budget("101.50", "100", "1015.00", sequence=2)) is Outcome.APPLIED
    on_workplan = dev.gql(workplan % ("CUST-WP-0025", PRESSURE))["workplan"]
    assert on_workplan["resourcePressure"]["percentUsed"] == 101.5
    assert on_workplan["resourcePressure"]["threshold"] == 100.0
    assert datetime.fromisoformat(on_workplan["resourcePressure"]["since"]) == first.time
    assert on_workplan["tasks"] == statuses  # a signal, not a status change
    # another domain, and a workplan of it, feel none of it
    assert dev.gql(domains % ("net-kingdom", PRESSURE))["_entities"] == [{"resourcePressure": None}]
    assert dev.gql(workplan % ("NK-WP-0001", PRESSURE))["workplan"]["resourcePressure"] is None


async def test_a_budget_event_without_numbers_is_refused(dev: LiveServer, inbox: Inbox) -> None:
    bad = budget(85.0, 80, "850.00")
    bad.payload["percent"] = "85%"
    assert await inbox.receive(bad) is Outcome.REJECTED


# --- deployments -----------------------------------------------------------------------


async def test_a_recorded_deployment_is_an_event_of_the_same_transaction(
    dev: LiveServer, db: Database
) -> None:
    recorded = dev.gql(
        """mutation { recordDeployment(input: {service: "keycloak", version: "26.0.1",
             repo: "net-kingdom", environment: "staging", deployedAt: "2026-12-01T10:00:00Z",
             notes: "realm export first"}) { id } }"""
    )["recordDeployment"]
    [(event_type, subject, payload)] = await outbox(db)
    assert (event_type, subject) == ("deployment_recorded", f"deployment:{recorded['id']}")
    assert payload == {
        "deployment_id": recorded["id"],
        "service": "keycloak",
        "version": "26.0.1",
        "environment": "staging",
        "repo": "net-kingdom",
        "deployed_at": "2026-12-01T10:00:00+00:00",
        "notes": "realm export first",
        "recorded_by": "admin",
    }

    # a mutation that fails leaves no event
    dev.error('mutation { recordDeployment(input: {service: " ", version: "1"}) { id } }')
    assert len(await outbox(db)) == 1


async def test_a_transaction_failing_after_the_deployment_leaves_no_event(
    dev: LiveServer, db: Database
) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await service.record_deployment(session, service="grafana", version="11")
            assert len(await outbox_in(session)) == 1  # written, in this transaction
            raise RuntimeError("the rest of the transaction failed")
    assert await outbox(db) == []
    assert dev.gql("{ deployments { nodes { service } } }")["deployments"]["nodes"] == []


async def outbox_in(session: Any) -> list[Any]:
    o = EVENTS.tables.outbox
    return list((await session.execute(select(o.c.id))).all())
