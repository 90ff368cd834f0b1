"""Who may do what on the dev hub, over HTTP, with real tokens from a real issuer.

Everything the dev hub knows needs ``hub:read`` — also the fields it adds to core's
public ``Domain`` and ``ManagedRepo`` — and every mutation ``hub:write``. A refused
mutation changes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.auth_support import TestIssuer
from tests.support import LiveServer, count_rows

READS = [
    ("workplans", "{ workplans { totalCount } }"),
    ("workplan", '{ workplan(id: "CUST-WP-0025") { id } }'),
    ("tasks", "{ tasks { totalCount } }"),
    ("task", '{ task(id: "CUST-WP-0025-T01") { id } }'),
    ("decisions", "{ decisions { totalCount } }"),
    ("deployments", "{ deployments { totalCount } }"),
    ("sbom", '{ sbom(repo: "hub-core") { id } }'),
    ("licenceSummary", '{ licenceSummary(repo: "hub-core") { licence } }'),
]
MUTATIONS = [
    (
        "updateTaskStatus",
        'mutation { updateTaskStatus(id: "CUST-WP-0025-T01", status: DONE) { id } }',
    ),
    ("blockTask", 'mutation { blockTask(id: "CUST-WP-0025-T01", reason: "r") { id } }'),
    ("unblockTask", 'mutation { unblockTask(id: "CUST-WP-0025-T05") { id } }'),
    ("completeTask", 'mutation { completeTask(id: "CUST-WP-0025-T01") { id } }'),
    ("recordDecision", 'mutation { recordDecision(input: {decision: "d", choice: "c"}) { id } }'),
    (
        "recordDeployment",
        'mutation { recordDeployment(input: {service: "s", version: "1"}) { id } }',
    ),
    ("importSbom", 'mutation { importSbom(repo: "r", document: "{}") { id } }'),
]
ENTITY_FIELDS = """
query($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Domain { slug openTaskCount }
    ... on ManagedRepo { sbom { id } }
  }
}
"""


def as_caller(issuer: TestIssuer, caller: str) -> dict[str, Any]:
    return {"anonymous": True} if caller == "anonymous" else {"headers": issuer.headers(caller)}


@pytest.mark.usefixtures("sample")
@pytest.mark.parametrize(("field", "query"), READS)
@pytest.mark.parametrize(
    ("caller", "code"), [("anonymous", "UNAUTHORIZED"), ("nobody", "FORBIDDEN")]
)
def test_reading_needs_hub_read(
    dev: LiveServer, issuer: TestIssuer, field: str, query: str, caller: str, code: str
) -> None:
    body = dev.result(query, **as_caller(issuer, caller))
    # A nullable field is null, a non-null one nulls the whole response.
    assert body["data"] in (None, {field: None})
    [error] = body["errors"]
    assert error["extensions"]["code"] == code and error["path"] == [field]
    expected = "requires authentication" if code == "UNAUTHORIZED" else "requires scope hub:read"
    assert error["message"] == f"Query.{field} {expected}"


@pytest.mark.usefixtures("sample")
def test_a_reader_reads(dev: LiveServer, issuer: TestIssuer) -> None:
    data = dev.gql(
        '{ tasks(domain: "custodian") { totalCount } workplan(id: "NK-WP-0001") { id } }',
        headers=issuer.headers("reader"),
    )
    assert data == {"tasks": {"totalCount": 7}, "workplan": {"id": "NK-WP-0001"}}


@pytest.mark.usefixtures("sample")
@pytest.mark.parametrize(("field", "mutation"), MUTATIONS)
@pytest.mark.parametrize(
    ("caller", "code"),
    [("anonymous", "UNAUTHORIZED"), ("nobody", "FORBIDDEN"), ("reader", "FORBIDDEN")],
)
def test_mutations_need_hub_write(
    dev: LiveServer,
    dev_database_url: str,
    issuer: TestIssuer,
    field: str,
    mutation: str,
    caller: str,
    code: str,
) -> None:
    tables = ("tasks", "decisions", "deployments", "sboms")
    before = {t: count_rows(dev_database_url, t) for t in tables}
    body = dev.result(mutation, **as_caller(issuer, caller))
    [error] = body["errors"]
    assert error["extensions"]["code"] == code and error["path"] == [field]
    assert f"Mutation.{field} requires" in error["message"]
    assert {t: count_rows(dev_database_url, t) for t in tables} == before
    statuses = dev.gql('{ tasks(workplan: "CUST-WP-0025") { nodes { status } } }')
    assert [n["status"] for n in statuses["tasks"]["nodes"]][:5] == [
        "IN_PROGRESS",
        "TODO",
        "TODO",
        "DONE",
        "BLOCKED",
    ]


@pytest.mark.usefixtures("sample")
def test_a_writer_writes(dev: LiveServer, issuer: TestIssuer) -> None:
    data = dev.gql(
        'mutation { completeTask(id: "CUST-WP-0025-T01") { status } }',
        headers=issuer.headers("writer"),
    )
    assert data == {"completeTask": {"status": "DONE"}}


@pytest.mark.usefixtures("sample")
def test_fields_added_to_core_entities_need_hub_read(dev: LiveServer, issuer: TestIssuer) -> None:
    reps = [
        {"__typename": "Domain", "slug": "custodian"},
        {"__typename": "ManagedRepo", "name": "hub-core"},
    ]
    body = dev.result(ENTITY_FIELDS, {"reps": reps}, anonymous=True)
    # The entities themselves are public (core's directory); what dev adds is not.
    assert body["data"] == {"_entities": [None, {"sbom": None}]}
    codes = {(tuple(e["path"]), e["extensions"]["code"]) for e in body["errors"]}
    assert codes == {
        (("_entities", 0, "openTaskCount"), "UNAUTHORIZED"),
        (("_entities", 1, "sbom"), "UNAUTHORIZED"),
    }
    allowed = dev.gql(ENTITY_FIELDS, {"reps": reps}, headers=issuer.headers("reader"))
    assert allowed["_entities"] == [{"slug": "custodian", "openTaskCount": 5}, {"sbom": None}]


@pytest.mark.usefixtures("sample")
def test_task_entities_need_hub_read(dev: LiveServer, issuer: TestIssuer) -> None:
    query = "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Task { id } } }"
    reps = [{"__typename": "Task", "id": "CUST-WP-0025-T01"}]
    body = dev.result(query, {"reps": reps}, headers=issuer.headers("nobody"))
    [error] = body["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN" and error["path"] == ["_entities", 0]
