"""Workplans and phases through HTTP: lookups, filters, nested fields, pagination."""

from __future__ import annotations

import pytest

from tests.support import LiveServer

pytestmark = pytest.mark.usefixtures("sample")


def test_a_workplan_with_its_phases_tasks_and_front_matter(dev: LiveServer) -> None:
    workplan = dev.gql(
        """{
          workplan(id: "CUST-WP-0025") {
            id uuid type title domainSlug domain { slug } repo status owner topicSlug
            workstreamId created updated sourcePath syncedAt
            phases { number title goal repos dependsOn parallelWith tasks { id } }
            tasks { id }
            todo: tasks(status: TODO) { id }
          }
        }"""
    )["workplan"]
    assert len(workplan.pop("uuid")) == 36
    assert workplan == {
        "id": "CUST-WP-0025",
        "type": "workplan",
        "title": "FOS Hub Bootstrap",
        "domainSlug": "custodian",
        "domain": {"slug": "custodian"},
        "repo": "the-custodian",
        "status": "active",
        "owner": "custodian",
        "topicSlug": "custodian",
        "workstreamId": "293a74fe-a85a-4ad6-8933-23d52a72fe8b",
        "created": None,
        "updated": None,
        "sourcePath": None,
        "syncedAt": None,
        "phases": [
            {
                "number": 1,
                "title": "Identity Infrastructure",
                "goal": "One SSO plane for every hub.",
                "repos": ["net-kingdom", "railiance-cluster"],
                "dependsOn": [],
                "parallelWith": [2],
                "tasks": [{"id": f"CUST-WP-0025-T0{n}"} for n in (1, 2, 3, 4)],
            },
            {
                "number": 2,
                "title": "Hub Extraction",
                "goal": None,
                "repos": ["the-custodian", "hub-core"],
                "dependsOn": [],
                "parallelWith": [1],
                "tasks": [{"id": "CUST-WP-0025-T05"}, {"id": "CUST-WP-0025-T06"}],
            },
        ],
        "tasks": [{"id": f"CUST-WP-0025-T0{n}"} for n in range(1, 8)],
        "todo": [{"id": f"CUST-WP-0025-T0{n}"} for n in (2, 3, 6)],
    }


def test_an_unknown_workplan_is_null(dev: LiveServer) -> None:
    assert dev.gql('{ workplan(id: "NO-WP-0000") { id } }') == {"workplan": None}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ("", ["CUST-WP-0025", "NK-WP-0001"]),
        ('(domain: "custodian")', ["CUST-WP-0025"]),
        ('(domain: "railiance")', []),
        ('(status: "done")', ["NK-WP-0001"]),
        ('(repo: "net-kingdom")', ["NK-WP-0001"]),
        ('(domain: "custodian", status: "done")', []),
    ],
)
def test_workplans_filter(dev: LiveServer, arguments: str, expected: list[str]) -> None:
    page = dev.gql(f"{{ workplans{arguments} {{ totalCount nodes {{ id }} }} }}")["workplans"]
    assert page == {"totalCount": len(expected), "nodes": [{"id": key} for key in expected]}


def test_workplans_pagination(dev: LiveServer) -> None:
    query = "query($after: String) { workplans(first: 1, after: $after) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor } nodes { id } } }"
    first = dev.gql(query)["workplans"]
    assert first["totalCount"] == 2 and first["nodes"] == [{"id": "CUST-WP-0025"}]
    assert first["pageInfo"]["hasNextPage"] and not first["pageInfo"]["hasPreviousPage"]
    second = dev.gql(query, {"after": first["pageInfo"]["endCursor"]})["workplans"]
    assert second["nodes"] == [{"id": "NK-WP-0001"}]
    assert not second["pageInfo"]["hasNextPage"] and second["pageInfo"]["hasPreviousPage"]
    error = dev.error('{ workplans(after: "garbage") { totalCount } }')
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_task_belongs_to_its_workplan_and_phase(dev: LiveServer) -> None:
    task = dev.gql(
        '{ task(id: "CUST-WP-0025-T05") { workplan { id } phase { number title } phaseNumber } }'
    )["task"]
    assert task == {
        "workplan": {"id": "CUST-WP-0025"},
        "phase": {"number": 2, "title": "Hub Extraction"},
        "phaseNumber": 2,
    }
    unphased = dev.gql('{ task(id: "CUST-WP-0025-T07") { phase { number } } }')["task"]
    assert unphased == {"phase": None}
