"""Tasks' blocking incidents (this hub's part of "which tasks are blocked, by which
incident") through direct resolvers, with each task's reference waiting for the loads
of what is asked below it: the same answers, errors and statements as ever."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.ops import schema, service
from tests.auth_support import TestIssuer
from tests.ops.conftest import Seed
from tests.support import LiveServer

BLOCKED = """
query($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Task { id blockingIncidents { title severity status
      services { name namespace health domain { slug } } } }
  }
}
"""
TITLES_ONLY = """
query($reps: [_Any!]!) {
  _entities(representations: $reps) { ... on Task { id blockingIncidents { title } } }
}
"""
FRAGMENTS = """
query($reps: [_Any!]!) {
  _entities(representations: $reps) { ...T }
}
fragment T on Task { id ...B }
fragment B on Task { blockingIncidents { title severity status ...S } }
fragment S on Incident { services { name namespace health domain { slug } } }
"""


def _keys(n: int) -> list[str]:
    return [f"CHEAP-WP-0001-T{i:02d}" for i in range(n)]


async def _incidents(session: AsyncSession) -> None:
    """Four services; incident i (of 5) affects services i%4 and (i+1)%4 and blocks
    tasks 4i..4i+3; incident 0 blocks task 1 a second time, with SEV1 first."""
    ids = []
    for i in range(4):
        row = await service.register_service(
            session, name=f"svc{i}", namespace="cheap", domain_slug=f"dom{i % 2}"
        )
        ids.append(str(row.id))
    keys = _keys(20)
    for i in range(5):
        await service.create_incident(
            session,
            title=f"incident {i}",
            severity=("SEV2", "SEV3", "SEV4", "SEV2", "SEV3")[i],
            opened_by="test",
            service_ids=[ids[i % 4], ids[(i + 1) % 4]],
            blocks_tasks=keys[4 * i : 4 * i + 4],
        )
    await service.create_incident(
        session, title="worst", severity="SEV1", opened_by="test", blocks_tasks=[keys[1]]
    )


def _reps(keys: list[str]) -> dict[str, Any]:
    return {"reps": [{"__typename": "Task", "id": k} for k in keys]}


def test_blocked_tasks_answer_alike_in_one_statement_per_level(
    ops: LiveServer, ops_seed: Seed
) -> None:
    ops_seed(_incidents)
    # 20 blocked tasks, some twice over, and two no incident blocks
    reps = _reps([*_keys(20), "CHEAP-WP-0001-T01", "NOT-BLOCKED", "NOT-BLOCKED-EITHER"])
    with ops.count_statements() as statements:
        entities = ops.gql(BLOCKED, reps)["_entities"]
    # one statement for the incidents blocking the tasks, one for their services
    assert len(statements) == 2, statements
    assert len(entities) == 23
    assert entities[0] == {
        "id": "CHEAP-WP-0001-T00",
        "blockingIncidents": [
            {
                "title": "incident 0",
                "severity": "SEV2",
                "status": "OPEN",
                "services": [
                    {
                        "name": "svc0",
                        "namespace": "cheap",
                        "health": "UNKNOWN",
                        "domain": {"slug": "dom0"},
                    },
                    {
                        "name": "svc1",
                        "namespace": "cheap",
                        "health": "UNKNOWN",
                        "domain": {"slug": "dom1"},
                    },
                ],
            }
        ],
    }
    assert [i["title"] for i in entities[1]["blockingIncidents"]] == ["worst", "incident 0"]
    assert entities[1]["blockingIncidents"][0]["services"] == []
    assert entities[20] == entities[1]
    assert [i["title"] for i in entities[19]["blockingIncidents"]] == ["incident 4"]
    assert [s["name"] for s in entities[19]["blockingIncidents"][0]["services"]] == [
        "svc0",
        "svc1",
    ]
    assert entities[21:] == [
        {"id": "NOT-BLOCKED", "blockingIncidents": []},
        {"id": "NOT-BLOCKED-EITHER", "blockingIncidents": []},
    ]
    # the same through fragments
    with ops.count_statements() as again:
        assert ops.gql(FRAGMENTS, reps)["_entities"] == entities
    assert len(again) == 2, again


def test_what_is_not_asked_for_is_not_loaded(ops: LiveServer, ops_seed: Seed) -> None:
    ops_seed(_incidents)
    with ops.count_statements() as statements:
        entities = ops.gql(TITLES_ONLY, _reps(_keys(8)))["_entities"]
    assert len(statements) == 1, statements  # the incidents, not their services
    assert entities[4] == {
        "id": "CHEAP-WP-0001-T04",
        "blockingIncidents": [{"title": "incident 1"}],
    }
    query = "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Task { id } } }"
    with ops.count_statements() as statements:
        assert ops.gql(query, _reps(_keys(2)))["_entities"] == [
            {"id": "CHEAP-WP-0001-T00"},
            {"id": "CHEAP-WP-0001-T01"},
        ]
    assert statements == []
    skipped = (
        "query($reps: [_Any!]!, $no: Boolean!) { _entities(representations: $reps) {"
        " ... on Task { id blockingIncidents @include(if: $no) { title } } } }"
    )
    with ops.count_statements() as statements:
        ops.gql(skipped, {**_reps(_keys(2)), "no": False})
    assert statements == []


def test_a_caller_who_may_not_see_them_loads_nothing(
    ops: LiveServer, ops_seed: Seed, issuer: TestIssuer
) -> None:
    ops_seed(_incidents)
    with ops.count_statements() as statements:
        body = ops.result(BLOCKED, _reps(_keys(2)), anonymous=True)
    assert statements == []
    assert body["data"] == {"_entities": [None, None]}
    assert {(tuple(e["path"]), e["extensions"]["code"]) for e in body["errors"]} == {
        (("_entities", 0, "blockingIncidents"), "UNAUTHORIZED"),
        (("_entities", 1, "blockingIncidents"), "UNAUTHORIZED"),
    }
    with ops.count_statements() as statements:
        body = ops.result(BLOCKED, _reps(_keys(1)), headers=issuer.headers("nobody"))
    assert statements == []
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (["_entities", 0, "blockingIncidents"], "FORBIDDEN")
    ]


@pytest.mark.parametrize("failing", ["blocking_incidents", "affected_services"])
def test_a_failed_load_is_an_error_at_each_field_that_asks_for_it(
    ops: LiveServer, ops_seed: Seed, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    ops_seed(_incidents)

    async def broken(*_: Any) -> Any:
        raise RuntimeError("the database is gone")

    monkeypatch.setattr(service, failing, broken)
    with ops.count_statements():
        body = ops.result(BLOCKED, _reps(_keys(5)))
    paths = sorted(tuple(e["path"]) for e in body["errors"])
    messages = {e["message"] for e in body["errors"]}
    assert "the database is gone" not in str(body)  # a generic message, as for any bug
    assert len(messages) == 1
    if failing == "blocking_incidents":
        assert body["data"] == {"_entities": [None] * 5}
        assert paths == [("_entities", i, "blockingIncidents") for i in range(5)]
    else:
        # services are not null: one error nulls each task. Task 1's two incidents both
        # fail; which of the two is reported depends on the order the failures reach
        # graphql-core (with its incidents loaded beforehand: the first; else the one
        # whose key came first in the batch), as with the kit's prefetch.
        assert body["data"] == {"_entities": [None] * 5}
        at = [("_entities", i, "blockingIncidents", 0, "services") for i in range(5)]
        assert [p for p in paths if p[1] != 1] == [p for p in at if p[1] != 1]
        assert [p[:3] + p[4:] for p in paths if p[1] == 1] == [
            ("_entities", 1, "blockingIncidents", "services")
        ]


def test_each_task_waits_for_its_incidents_and_their_services(
    ops: LiveServer, ops_seed: Seed, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops_seed(_incidents)
    primed = schema._primed
    waited: list[bool] = []

    def spy(value: Any, first: Any, then: Any) -> Any:
        ready = primed(value, first, then)
        # once the task is ready, its incidents are loaded and (asked for) their services
        ready.add_done_callback(lambda _: waited.append(first.done() and then is not None))
        return ready

    monkeypatch.setattr(schema, "_primed", spy)
    ops.gql(BLOCKED, _reps(_keys(6)))
    assert waited == [True] * 6
    waited.clear()
    ops.gql(TITLES_ONLY, _reps(_keys(3)))
    assert waited == [False] * 3  # the incidents only: then is None
