"""Incidents over HTTP: their lifecycle, their timeline, and the dev tasks they block —
checked with a real dev hub, which ops asks as its own service account."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.auth_support import TestIssuer
from tests.dev.conftest import sample_work
from tests.ops.conftest import in_transaction
from tests.support import LiveServer, count_rows

SERVICE = """
mutation($name: String!) {
  registerService(input: {name: $name, namespace: "railiance", domain: "net-kingdom"}) { id }
}
"""
CREATE = """
mutation($input: CreateIncidentInput!) {
  createIncident(input: $input) {
    id title severity status openedBy resolvedAt
    services { name health }
    blockedTaskIds
    timeline { author text }
  }
}
"""
UPDATE = """
mutation($id: ID!, $input: UpdateIncidentInput!) {
  updateIncident(id: $id, input: $input) {
    status severity blockedTaskIds services { name } timeline { author text }
  }
}
"""
RESOLVE = """
mutation($id: ID!, $resolution: String) {
  resolveIncident(id: $id, resolution: $resolution) { status resolvedAt timeline { text } }
}
"""


@pytest.fixture
def tasks(dev: LiveServer, dev_database_url: str) -> None:
    """CUST-WP-0025-T01..T07 and NK-WP-0001-T01, T02 in the dev hub."""
    asyncio.run(in_transaction(dev_database_url, sample_work))


def service_id(ops: LiveServer, name: str = "keycloak") -> str:
    return str(ops.gql(SERVICE, {"name": name})["registerService"]["id"])


def create(ops: LiveServer, headers: dict[str, str] | None = None, **fields: Any) -> Any:
    payload = {"title": "Keycloak down", "severity": "SEV2", **fields}
    return ops.gql(CREATE, {"input": payload}, headers=headers)["createIncident"]


def test_an_incident_blocks_tasks_the_dev_hub_has(
    ops: LiveServer, tasks: None, issuer: TestIssuer
) -> None:
    keycloak = service_id(ops)
    incident = create(
        ops,
        services=[keycloak],
        blocksTasks=["CUST-WP-0025-T03", "CUST-WP-0025-T01", "CUST-WP-0025-T01"],
        headers=issuer.headers("operator"),
    )
    assert incident["status"] == "OPEN" and incident["severity"] == "SEV2"
    assert incident["blockedTaskIds"] == ["CUST-WP-0025-T01", "CUST-WP-0025-T03"]
    assert incident["services"] == [{"name": "keycloak", "health": "UNKNOWN"}]
    # who opened it is the token's subject, never something the input claims
    assert incident["openedBy"] == "operator"
    assert incident["timeline"] == [
        {"author": "operator", "text": "opened as SEV2: Keycloak down; affects keycloak"}
    ]
    blocked = ops.gql(
        """query($reps: [_Any!]!) { _entities(representations: $reps) {
             ... on Task { id blockingIncidents { title } } } }""",
        {
            "reps": [
                {"__typename": "Task", "id": "CUST-WP-0025-T01"},
                {"__typename": "Task", "id": "CUST-WP-0025-T02"},
            ]
        },
    )["_entities"]
    assert blocked == [
        {"id": "CUST-WP-0025-T01", "blockingIncidents": [{"title": "Keycloak down"}]},
        {"id": "CUST-WP-0025-T02", "blockingIncidents": []},
    ]


def test_a_task_the_dev_hub_does_not_have_is_refused_by_name(
    ops: LiveServer, tasks: None, ops_database_url: str
) -> None:
    payload = {
        "title": "Keycloak down",
        "severity": "SEV2",
        "blocksTasks": ["CUST-WP-0025-T01", "CUST-WP-0025-T99", "NOPE-1"],
    }
    error = ops.error(CREATE, {"input": payload})
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert "'CUST-WP-0025-T99'" in error["message"] and "'NOPE-1'" in error["message"]
    assert "CUST-WP-0025-T01" not in error["message"]
    assert error["extensions"]["missing"] == ["CUST-WP-0025-T99", "NOPE-1"]
    for table in ("incidents", "incident_tasks", "timeline_entries"):
        assert count_rows(ops_database_url, table) == 0
    incident = create(ops)
    added = ops.error(UPDATE, {"id": incident["id"], "input": {"addBlockedTasks": ["X-T1"]}})
    assert added["extensions"]["code"] == "NOT_FOUND" and "'X-T1'" in added["message"]
    assert count_rows(ops_database_url, "incident_tasks") == 0


def test_unknown_services_and_bad_input_write_nothing(
    ops: LiveServer, ops_database_url: str
) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    error = ops.error(
        CREATE, {"input": {"title": "x", "severity": "SEV1", "services": [missing, "bad"]}}
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert missing in error["message"]
    empty = ops.error(CREATE, {"input": {"title": " ", "severity": "SEV1"}})
    assert (
        empty["extensions"]["code"] == "BAD_USER_INPUT"
        and empty["extensions"]["argument"] == "title"
    )
    wrong = ops.result(CREATE, {"input": {"title": "x", "severity": "SEV5"}})
    assert wrong["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert count_rows(ops_database_url, "incidents") == 0


def test_the_lifecycle_is_validated_and_every_step_is_on_the_timeline(
    ops: LiveServer, issuer: TestIssuer, tasks: None
) -> None:
    incident = create(ops, services=[service_id(ops)])
    investigate = ops.gql(
        UPDATE,
        {
            "id": incident["id"],
            "input": {
                "status": "INVESTIGATING",
                "severity": "SEV1",
                "note": "pods crashloop",
                "addServices": [service_id(ops, "longhorn")],
                "addBlockedTasks": ["CUST-WP-0025-T05"],
            },
        },
    )["updateIncident"]
    assert investigate["status"] == "INVESTIGATING" and investigate["severity"] == "SEV1"
    assert investigate["blockedTaskIds"] == ["CUST-WP-0025-T05"]
    assert [s["name"] for s in investigate["services"]] == ["keycloak", "longhorn"]
    assert [e["text"] for e in investigate["timeline"][1:]] == [
        "status: investigating",
        "severity: SEV2 -> SEV1",
        "affects also longhorn",
        "blocks also CUST-WP-0025-T05",
        "pods crashloop",
    ]
    back = ops.error(UPDATE, {"id": incident["id"], "input": {"status": "OPEN"}})
    assert back["extensions"]["code"] == "INVALID_TRANSITION"
    assert back["extensions"]["allowed"] == ["mitigated", "resolved"]
    assert "mitigated, resolved" in back["message"]
    ops.gql(UPDATE, {"id": incident["id"], "input": {"status": "MITIGATED"}})
    resolved = ops.gql(RESOLVE, {"id": incident["id"], "resolution": "volume rebuilt"})
    assert resolved["resolveIncident"]["status"] == "RESOLVED"
    assert resolved["resolveIncident"]["resolvedAt"] is not None
    assert resolved["resolveIncident"]["timeline"][-1]["text"] == "resolved: volume rebuilt"
    again = ops.error(RESOLVE, {"id": incident["id"]})
    assert again["extensions"]["code"] == "INVALID_TRANSITION"
    assert "resolved is final" in again["message"]
    # a resolved incident blocks nothing any more
    blocking = ops.gql(
        '{ _entities(representations: [{__typename: "Task", id: "CUST-WP-0025-T05"}]) '
        "{ ... on Task { blockingIncidents { id } } } }"
    )
    assert blocking["_entities"] == [{"blockingIncidents": []}]
    listed = ops.gql("{ open: incidents(open: true) { totalCount } all: incidents { totalCount } }")
    assert listed == {"open": {"totalCount": 0}, "all": {"totalCount": 1}}


def test_incident_mutations_need_the_operator_scope(
    ops: LiveServer, issuer: TestIssuer, ops_database_url: str
) -> None:
    payload = {"input": {"title": "x", "severity": "SEV4"}}
    for user in ("reader", "writer"):
        error = ops.error(CREATE, payload, headers=issuer.headers(user))
        assert error["extensions"]["code"] == "FORBIDDEN", user
    assert count_rows(ops_database_url, "incidents") == 0
    assert create(ops, headers=issuer.headers("operator"))["status"] == "OPEN"


def test_without_the_dev_hub_an_incident_blocking_tasks_is_refused(
    ops_database_url: str, issuer: TestIssuer, tmp_path: Any, ops: LiveServer
) -> None:
    """A dev hub that does not answer: SERVICE_UNAVAILABLE, nothing written."""
    from subgraphs.ops.app import create_app
    from tests.ops.conftest import ops_settings
    from tests.support import free_port

    settings = ops_settings(ops_database_url, issuer, tmp_path, f"http://127.0.0.1:{free_port()}")
    server = LiveServer(create_app(settings), headers=issuer.headers("admin")).start()
    try:
        payload = {"title": "x", "severity": "SEV3", "blocksTasks": ["CUST-WP-0025-T01"]}
        error = server.error(CREATE, {"input": payload})
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert "did not answer" in error["message"]
        # without tasks to check, the dev hub is not needed
        assert server.gql(CREATE, {"input": {"title": "y", "severity": "SEV3"}})
    finally:
        server.stop()
    assert count_rows(ops_database_url, "incidents") == 1


def test_of_concurrent_resolutions_exactly_one_wins(ops: LiveServer, ops_database_url: str) -> None:
    """Eight operators resolve the same incident at once: one resolution, one timeline
    entry; the others are told why not (kit.transitions' compare-and-set)."""
    from concurrent.futures import ThreadPoolExecutor

    incident = create(ops)

    def resolve(n: int) -> dict[str, Any]:
        return ops.result(RESOLVE, {"id": incident["id"], "resolution": f"operator {n}"})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(resolve, range(8)))
    won = [a for a in answers if not a.get("errors")]
    lost = {a["errors"][0]["extensions"]["code"] for a in answers if a.get("errors")}
    assert len(won) == 1
    assert lost <= {"CONFLICT", "INVALID_TRANSITION", "SERVICE_UNAVAILABLE"}
    timeline = ops.gql(
        "query($id: ID!) { incident(id: $id) { status timeline { text } } }", {"id": incident["id"]}
    )["incident"]
    assert timeline["status"] == "RESOLVED"
    assert [e["text"] for e in timeline["timeline"] if e["text"].startswith("resolved")] == [
        won[0]["data"]["resolveIncident"]["timeline"][-1]["text"]
    ]
