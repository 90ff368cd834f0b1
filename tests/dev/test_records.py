"""Decisions and deployments through HTTP: recording, listing, filters, pagination."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.orm import utcnow
from subgraphs.dev import models, service
from tests.dev.conftest import Seed
from tests.support import LiveServer, count_rows

RECORD_DECISION = """
mutation($input: RecordDecisionInput!) {
  recordDecision(input: $input) { id decision choice rationale source recordedBy recordedAt workplan { id } }
}
"""
RECORD_DEPLOYMENT = """
mutation($input: RecordDeploymentInput!) {
  recordDeployment(input: $input) { id service version repo environment deployedAt recordedBy notes }
}
"""


async def _file_decisions(session: AsyncSession) -> None:
    """Two rows of CUST-WP-0025's Key Decisions table, as sync stores them."""

    workplan = await service.create_workplan(
        session, key="CUST-WP-0025", title="FOS Hub Bootstrap", domain_slug="custodian"
    )
    for position, (decision, choice) in enumerate(
        [("Hub-core packaging", "Separate package"), ("Ops Hub location", "New repo")]
    ):
        session.add(
            models.Decision(
                workplan_id=workplan.id,
                position=position,
                decision=decision,
                choice=choice,
                rationale="",
                source="file",
                recorded_at=utcnow(),
            )
        )


def test_record_decisions_with_and_without_a_workplan(dev: LiveServer, seed: Seed) -> None:
    seed(_file_decisions)
    recorded = dev.gql(
        RECORD_DECISION,
        {
            "input": {
                "workplan": "CUST-WP-0025",
                "decision": "Gateway language",
                "choice": "Python",
                "rationale": "  One language for hubs and gateway.  ",
            }
        },
    )["recordDecision"]
    assert recorded["source"] == "API" and recorded["workplan"] == {"id": "CUST-WP-0025"}
    assert recorded["rationale"] == "One language for hubs and gateway."
    # Recorded by the caller the token names, not by anything the input claims.
    assert recorded["recordedBy"] == "admin"
    loose = dev.gql(RECORD_DECISION, {"input": {"decision": "Default port", "choice": "8001"}})[
        "recordDecision"
    ]
    assert loose["workplan"] is None and loose["rationale"] == ""

    workplan = dev.gql('{ workplan(id: "CUST-WP-0025") { decisions { decision source } } }')
    assert workplan["workplan"]["decisions"] == [
        {"decision": "Hub-core packaging", "source": "FILE"},
        {"decision": "Ops Hub location", "source": "FILE"},
        {"decision": "Gateway language", "source": "API"},
    ]
    newest_first = dev.gql("{ decisions { totalCount nodes { decision } } }")["decisions"]
    assert newest_first["totalCount"] == 4
    assert [n["decision"] for n in newest_first["nodes"]][:2] == [
        "Default port",
        "Gateway language",
    ]
    of_workplan = dev.gql('{ decisions(workplan: "CUST-WP-0025") { totalCount } }')
    assert of_workplan["decisions"]["totalCount"] == 3


def test_decisions_pagination(dev: LiveServer) -> None:
    for n in range(5):
        dev.gql(RECORD_DECISION, {"input": {"decision": f"d{n}", "choice": "c"}})
    query = "query($after: String) { decisions(first: 2, after: $after) { pageInfo { hasNextPage endCursor } nodes { decision } } }"
    seen, after = [], None
    while True:
        page = dev.gql(query, {"after": after})["decisions"]
        seen += [n["decision"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["d4", "d3", "d2", "d1", "d0"]


def test_a_bad_decision_is_refused_and_stores_nothing(
    dev: LiveServer, dev_database_url: str
) -> None:
    error = dev.error(RECORD_DECISION, {"input": {"decision": " ", "choice": "c"}})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "decision"}
    error = dev.error(
        RECORD_DECISION, {"input": {"decision": "d", "choice": "c", "workplan": "NO-WP-0000"}}
    )
    assert error["extensions"] == {"code": "NOT_FOUND", "argument": "workplan"}
    assert count_rows(dev_database_url, "decisions") == 0


def test_record_and_list_deployments(dev: LiveServer) -> None:
    rows = [
        ("keycloak", "26.1.4", "net-kingdom", "production", "2026-03-20T10:00:00Z"),
        ("hub-core", "0.1.0", "hub-core", "staging", "2026-03-21T10:00:00+02:00"),
        ("hub-core", "0.1.0", "hub-core", "production", "2026-03-22T10:00:00Z"),
        ("hub-core", "0.1.1", "hub-core", "production", "2026-03-23T10:00:00Z"),
    ]
    for service_name, version, repo, environment, at in rows:
        dev.gql(
            RECORD_DEPLOYMENT,
            {
                "input": {
                    "service": service_name,
                    "version": version,
                    "repo": repo,
                    "environment": environment,
                    "deployedAt": at,
                }
            },
        )
    now = dev.gql(
        RECORD_DEPLOYMENT,
        {"input": {"service": "ops-hub", "version": "0.1.0", "notes": "first cut"}},
    )["recordDeployment"]
    assert now["environment"] == "production" and now["repo"] is None
    assert now["recordedBy"] == "admin" and now["notes"] == "first cut"
    assert now["deployedAt"].endswith("+00:00")

    everything = dev.gql("{ deployments { totalCount nodes { service version deployedAt } } }")
    assert everything["deployments"]["totalCount"] == 5
    assert [n["service"] for n in everything["deployments"]["nodes"]] == [
        "ops-hub",
        "hub-core",
        "hub-core",
        "hub-core",
        "keycloak",
    ]
    # Stored in UTC whatever offset it came with.
    assert everything["deployments"]["nodes"][3]["deployedAt"] == "2026-03-21T08:00:00+00:00"
    hub_core = dev.gql('{ deployments(service: "hub-core") { nodes { version } } }')
    assert [n["version"] for n in hub_core["deployments"]["nodes"]] == ["0.1.1", "0.1.0", "0.1.0"]
    of_repo = dev.gql('{ deployments(repo: "net-kingdom") { nodes { service } } }')
    assert of_repo["deployments"]["nodes"] == [{"service": "keycloak"}]
    staging = dev.gql('{ deployments(environment: "staging") { totalCount } }')
    assert staging["deployments"]["totalCount"] == 1
    query = "query($after: String) { deployments(first: 2, after: $after) { pageInfo { hasNextPage endCursor } nodes { version service } } }"
    first = dev.gql(query)["deployments"]
    second = dev.gql(query, {"after": first["pageInfo"]["endCursor"]})["deployments"]
    assert first["nodes"] + second["nodes"] == [
        {"service": n["service"], "version": n["version"]}
        for n in everything["deployments"]["nodes"][:4]
    ]


def test_a_bad_deployment_is_refused(dev: LiveServer, dev_database_url: str) -> None:
    for bad, argument in (
        ({"service": "", "version": "1"}, "service"),
        ({"service": "s", "version": "  "}, "version"),
        ({"service": "s", "version": "1", "environment": ""}, "environment"),
        ({"service": "s", "version": "1", "deployedAt": "2026-03-20T10:00:00"}, "deployedAt"),
    ):
        error = dev.error(RECORD_DEPLOYMENT, {"input": bad})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}
    assert count_rows(dev_database_url, "deployments") == 0
