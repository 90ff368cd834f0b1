"""Concurrent state transitions on one row: exactly one wins (issue 12).

A busy organisation (or an attacker replaying a request) sends the same lifecycle step,
or competing ones, many times at once. Before transitions were atomic the hubs read the
status, checked the step and wrote it without a lock: ten concurrent "accept"s on one
capability request were usually five times acknowledged and five times in its history,
and a task could end cancelled after it was reported done.

Each round here fires N = 20 concurrent mutations at one fresh row over real HTTP and
checks that exactly one is acknowledged, that every other one fails with CONFLICT (the
status changed under it) or INVALID_TRANSITION (it read the status the winner left),
and that the history holds exactly the winner's step; 50 rounds per lifecycle, on SQLite
and on PostgreSQL. Rounds alternate between one target for all and two competing targets
that exclude each other (accept / reject, done / cancelled, block / complete); tasks also
get rounds of N unblocks. Alerts also get rounds of acknowledge against resolve, which
do not exclude each other: there no step may be recorded twice. Two smaller cases: one
event delivered N times at once is stored once, and N concurrent first reads of a
message agree on its read time.

Which losing code a caller gets depends on timing: CONFLICT when it read the status
before the winner committed, INVALID_TRANSITION when after.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from subgraphs.core import models as core_models
from subgraphs.core import service as core_service
from subgraphs.core.kit.database import Database
from subgraphs.dev import service as dev_service
from tests.support import LiveServer

N = 20
ROUNDS = 50
LOSING_CODES = {"CONFLICT", "INVALID_TRANSITION"}
# Every attack on one backend stays well within this (they take a few seconds).
CEILING_S = 60

MOVE_REQUEST = """
mutation($id: ID!, $status: CapabilityRequestStatus!) {
  updateCapabilityRequestStatus(id: $id, status: $status, note: "storm") { status }
}
"""
ALL_REQUESTS = f"""
{{ capabilityRequests(first: {ROUNDS}) {{
  edges {{ node {{ id status history {{ fromStatus toStatus }} }} }} }} }}
"""
UPDATE_TASK = """
mutation($id: ID!, $status: TaskStatus!) { updateTaskStatus(id: $id, status: $status) {
  status statusChangedAt } }
"""
BLOCK_TASK = """
mutation($id: ID!) { blockTask(id: $id, reason: "storm") { status statusChangedAt } }
"""
COMPLETE_TASK = "mutation($id: ID!) { completeTask(id: $id) { status statusChangedAt } }"
UNBLOCK_TASK = "mutation($id: ID!) { unblockTask(id: $id) { status statusChangedAt } }"
ALL_TASKS = f"""
{{ tasks(workplan: "STORM-WP-0001", first: {ROUNDS}) {{ nodes {{ id status statusChangedAt }} }} }}
"""
ACKNOWLEDGE = """
mutation($subject: String!) { acknowledgeAlert(subject: $subject, by: "storm") { status } }
"""
RESOLVE = """
mutation($subject: String!) { resolveAlert(subject: $subject, by: "storm") { status } }
"""

Call = tuple[str, dict[str, Any]]


@pytest.fixture
async def client_of() -> AsyncIterator[Any]:
    """An async HTTP client per live hub, sending the hub's admin credentials."""
    clients: list[httpx.AsyncClient] = []

    def make(server: LiveServer) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=N, max_keepalive_connections=N)
        client = httpx.AsyncClient(
            base_url=server.url, headers=server.headers, timeout=30, limits=limits
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def storm(client: httpx.AsyncClient, calls: list[Call]) -> list[dict[str, Any]]:
    """Send every call at once; their response bodies, in order."""
    responses = await asyncio.gather(
        *(client.post("/graphql", json={"query": q, "variables": v}) for q, v in calls)
    )
    for response in responses:
        # A busy database must never surface as an HTTP failure or a masked 500.
        assert response.status_code == 200, response.text
    return [response.json() for response in responses]


def outcome(body: dict[str, Any]) -> str:
    if not body.get("errors"):
        return "won"
    code: str = body["errors"][0]["extensions"]["code"]
    return code


def one_winner(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """The data of the one acknowledged call; every other one lost for a stated reason."""
    outcomes = [outcome(body) for body in bodies]
    assert outcomes.count("won") == 1, Counter(outcomes)
    assert set(outcomes) - {"won"} <= LOSING_CODES, Counter(outcomes)
    data: dict[str, Any] = next(body["data"] for body in bodies if not body.get("errors"))
    return data


def alternate(round_: int, first: Call, second: Call) -> list[Call]:
    """Even rounds: N times ``first``; odd rounds: ``first`` and ``second`` interleaved."""
    if round_ % 2 == 0:
        return [first] * N
    return [first, second] * (N // 2)


async def seed(url: str, work: Any) -> Any:
    db = Database(url)
    try:
        async with db.transaction() as session:
            return await work(session)
    finally:
        await db.dispose()


# --- capability requests (core) --------------------------------------------------------------


async def capability_requests(session: Any) -> list[str]:
    await core_service.register_domain(session, slug="storm", name="Storm")
    capability = await core_service.register_capability(
        session, domain_slug="storm", name="Shelter"
    )
    requests = [
        await core_service.request_capability(
            session, capability_id=str(capability.id), requester="crowd", title=f"Round {n}"
        )
        for n in range(ROUNDS)
    ]
    return [str(request.id) for request in requests]


async def test_capability_request_steps_have_one_winner(
    core: LiveServer, core_database_url: str, client_of: Any
) -> None:
    """N accepts, or accepts and rejects: one step made, one step in the history."""
    ids = await seed(core_database_url, capability_requests)
    client = client_of(core)
    started = time.monotonic()
    winners = {}
    for round_, request_id in enumerate(ids):
        accept: Call = (MOVE_REQUEST, {"id": request_id, "status": "ACCEPTED"})
        reject: Call = (MOVE_REQUEST, {"id": request_id, "status": "REJECTED"})
        won = one_winner(await storm(client, alternate(round_, accept, reject)))
        winners[request_id] = won["updateCapabilityRequestStatus"]["status"]
    assert time.monotonic() - started < CEILING_S
    (body,) = await storm(client, [(ALL_REQUESTS, {})])
    requests = {
        edge["node"]["id"]: edge["node"] for edge in body["data"]["capabilityRequests"]["edges"]
    }
    assert requests == {
        request_id: {
            "id": request_id,
            "status": status,
            "history": [
                {"fromStatus": None, "toStatus": "REQUESTED"},
                {"fromStatus": "REQUESTED", "toStatus": status},
            ],
        }
        for request_id, status in winners.items()
    }


# --- tasks (dev) -----------------------------------------------------------------------------


def task_key(round_: int) -> str:
    return f"STORM-WP-0001-T{round_:02d}"


# What each round does, by round number modulo 5: the status its task starts in, and the
# calls (all alike, or two competing ones interleaved) that storm it.
def task_round(round_: int) -> tuple[str, list[Call]]:
    key = {"id": task_key(round_)}
    done: Call = (UPDATE_TASK, {**key, "status": "DONE"})
    cancel: Call = (UPDATE_TASK, {**key, "status": "CANCELLED"})
    kind = round_ % 5
    if kind == 0:
        return "todo", [done] * N
    if kind == 1:
        return "todo", [done, cancel] * (N // 2)
    if kind == 2:
        return "todo", [(BLOCK_TASK, key), (COMPLETE_TASK, key)] * (N // 2)
    if kind == 3:
        return "blocked", [(UNBLOCK_TASK, key)] * N
    return "in_progress", [cancel, done] * (N // 2)


async def storm_tasks(session: Any) -> None:
    await dev_service.create_workplan(
        session, key="STORM-WP-0001", title="Storm", domain_slug="storm"
    )
    for round_ in range(ROUNDS):
        status, _ = task_round(round_)
        await dev_service.add_task(
            session, workplan_key="STORM-WP-0001", key=task_key(round_), title="T", status=status
        )


async def test_task_steps_have_one_winner(
    dev: LiveServer, dev_database_url: str, client_of: Any
) -> None:
    """Done / cancelled / blocked / unblocked at once: one step, and nothing after it.

    Tasks keep no history table; that no second step was written shows in the task,
    which keeps the winner's status and the very time the winner reported.
    """
    await seed(dev_database_url, storm_tasks)
    client = client_of(dev)
    started = time.monotonic()
    winners = {}
    for round_ in range(ROUNDS):
        _, calls = task_round(round_)
        (won,) = one_winner(await storm(client, calls)).values()
        winners[task_key(round_)] = won
    assert time.monotonic() - started < CEILING_S
    (body,) = await storm(client, [(ALL_TASKS, {})])
    tasks = {node.pop("id"): node for node in body["data"]["tasks"]["nodes"]}
    assert tasks == winners


# --- alerts (core) ---------------------------------------------------------------------------


def alert_subjects() -> list[str]:
    return [f"alert:storm-{n:02d}" for n in range(ROUNDS)]


async def raised_alerts(session: Any) -> None:
    for subject in alert_subjects():
        await core_service.record_event(
            session, event_type="alert_raised", source_hub="ops", subject=subject
        )


async def alert_steps(url: str) -> dict[str, list[str]]:
    """Each subject's recorded event types, in the order they were recorded."""
    db = Database(url)
    try:
        async with db.session() as session:
            rows = await session.execute(
                select(core_models.ProgressEvent.subject, core_models.ProgressEvent.event_type)
                .where(core_models.ProgressEvent.subject.in_(alert_subjects()))
                .order_by(*core_service.RECORDED_ORDER)
            )
            steps: dict[str, list[str]] = {}
            for subject, event_type in rows:
                steps.setdefault(subject, []).append(event_type)
            return steps
    finally:
        await db.dispose()


async def test_alert_steps_have_one_winner(
    core: LiveServer, core_database_url: str, client_of: Any
) -> None:
    """N acknowledgements, or N resolutions, of one raised alert: one is recorded.

    In every fourth round half acknowledge and half resolve. Those do not exclude each
    other (an acknowledged alert may still be resolved), so there either one resolution
    wins, or one acknowledgement and then one resolution: never a step twice.
    """
    await seed(core_database_url, raised_alerts)
    client = client_of(core)
    started = time.monotonic()
    expected: dict[str, list[str]] = {}
    for round_, subject in enumerate(alert_subjects()):
        acknowledge: Call = (ACKNOWLEDGE, {"subject": subject})
        resolve: Call = (RESOLVE, {"subject": subject})
        if round_ % 4 == 3:
            calls = [acknowledge, resolve] * (N // 2)
            bodies = await storm(client, calls)
            outcomes = [outcome(body) for body in bodies]
            assert set(outcomes) - {"won"} <= LOSING_CODES, Counter(outcomes)
            won = Counter(
                query for (query, _), o in zip(calls, outcomes, strict=True) if o == "won"
            )
            assert won[RESOLVE] == 1 and won[ACKNOWLEDGE] <= 1, won
            steps = ["alert_acknowledged"] * won[ACKNOWLEDGE] + ["alert_resolved"]
        else:
            step = resolve if round_ % 4 == 1 else acknowledge
            one_winner(await storm(client, [step] * N))
            steps = ["alert_resolved" if step is resolve else "alert_acknowledged"]
        expected[subject] = ["alert_raised", *steps]
    assert time.monotonic() - started < CEILING_S
    assert await alert_steps(core_database_url) == expected


async def test_one_event_delivered_many_times_at_once_is_recorded_once(
    core: LiveServer, client_of: Any
) -> None:
    """A relay retrying one delivery: every copy answers with the one stored event."""
    record = """
    mutation($input: RecordEventInput!) { recordEvent(input: $input) { id eventType } }
    """
    event = {
        "eventType": "risk_surfaced",
        "sourceHub": "ops",
        "subject": f"risk:{uuid.uuid4()}",
        "eventKey": f"ops:storm:{uuid.uuid4()}",
    }
    bodies = await storm(client_of(core), [(record, {"input": event})] * N)
    assert all(outcome(body) == "won" for body in bodies), Counter(map(outcome, bodies))
    assert len({body["data"]["recordEvent"]["id"] for body in bodies}) == 1


async def test_a_message_read_many_times_at_once_keeps_its_first_read_time(
    core: LiveServer, core_database_url: str, client_of: Any
) -> None:
    async def message(session: Any) -> str:
        sent = await core_service.send_message(
            session, sender="a", subject="s", body="b", to_agent="crowd"
        )
        return str(sent.id)

    message_id = await seed(core_database_url, message)
    read = "mutation($id: ID!) { markMessageRead(id: $id) { readAt } }"
    bodies = await storm(client_of(core), [(read, {"id": message_id})] * N)
    assert all(outcome(body) == "won" for body in bodies), Counter(map(outcome, bodies))
    assert len({body["data"]["markMessageRead"]["readAt"] for body in bodies}) == 1


async def test_a_refused_alert_step_names_the_allowed_ones(
    core: LiveServer, core_database_url: str, client_of: Any
) -> None:
    await seed(core_database_url, raised_alerts)
    subject = alert_subjects()[0]
    client = client_of(core)
    await storm(client, [(ACKNOWLEDGE, {"subject": subject})])
    (body,) = await storm(client, [(ACKNOWLEDGE, {"subject": subject})])
    error = body["errors"][0]
    assert error["extensions"]["code"] == "INVALID_TRANSITION"
    assert error["extensions"]["allowed"] == ["alert_resolved"]
    assert error["message"] == (
        f"alert_acknowledged is not allowed: alert {subject!r} is acknowledged "
        "(allowed: alert_resolved)"
    )
