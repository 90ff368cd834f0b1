"""Tasks' nested fields through direct resolvers and converting loaders, loaded by the
list that returns the tasks before graphql-core gets to them: the same answers, errors
and statements, however the fields are asked for."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from subgraphs.core.kit.loaders import Loaders
from subgraphs.core.kit.resolvers import settled
from subgraphs.dev import models, schema
from tests.dev.conftest import Seed
from tests.dev.test_federation import _workplans
from tests.support import LiveServer

NESTED = (
    "id title status workplan { id } phase { number title } dependsOn"
    " dependencies { id status } references"
)
BY_WORKPLAN = f'{{ workplan(id: "W001-WP-0001") {{ id tasks {{ {NESTED} }} }} }}'


def _tasks_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    if "workplan" in answer:
        return list(answer["workplan"]["tasks"])
    tasks = answer["tasks"]
    return [e["node"] for e in tasks["edges"]] if "edges" in tasks else list(tasks["nodes"])


def test_a_workplans_tasks_answer_alike_in_one_statement_per_field(
    dev: LiveServer, seed: Seed
) -> None:
    seed(_workplans(range(3), tasks_each=4))
    with dev.count_statements() as statements:
        tasks = _tasks_of(dev.gql(BY_WORKPLAN))
    # the workplan, its tasks, then one each for workplans, phases, dependencies,
    # the tasks depended on and references
    assert len(statements) == 7, statements
    assert [t["id"] for t in tasks] == [f"W001-WP-0001-T{i:02d}" for i in range(4)]
    assert tasks[1] == {
        "id": "W001-WP-0001-T01",
        "title": "t",
        "status": "DONE",
        "workplan": {"id": "W001-WP-0001"},
        "phase": {"number": 1, "title": "p"},
        "dependsOn": ["W001-WP-0001-T00"],
        "dependencies": [{"id": "W001-WP-0001-T00", "status": "TODO"}],
        "references": ["NK-WP-0001"],
    }
    assert tasks[0]["dependsOn"] == [] and tasks[0]["dependencies"] == []
    # a phase's tasks, the tasks page as nodes, edges and fragments: the same
    shapes = [
        f'{{ workplan(id: "W001-WP-0001") {{ phases {{ tasks {{ {NESTED} }} }} }} }}',
        f'{{ tasks(workplan: "W001-WP-0001") {{ nodes {{ {NESTED} }} }} }}',
        f'{{ tasks(workplan: "W001-WP-0001") {{ edges {{ node {{ {NESTED} }} }} }} }}',
        '{ tasks(workplan: "W001-WP-0001") { nodes { ...T } } }'
        f" fragment T on Task {{ {NESTED} }}",
    ]
    for query in shapes:
        with dev.count_statements() as again:
            answer = dev.gql(query)
        if "workplan" in answer:
            [phase] = answer["workplan"]["phases"]
            assert phase["tasks"] == tasks, query
            assert len(again) == 7, (query, again)  # the phases (Task.phase's load)
        else:
            assert _tasks_of(answer) == tasks, query
            assert len(again) == 8, (query, again)  # the count and the page, then the six


def test_what_is_not_asked_for_is_not_loaded(dev: LiveServer, seed: Seed) -> None:
    seed(_workplans(range(2), tasks_each=3))
    # the dev hub's part of "which tasks are blocked, by which incident"
    with dev.count_statements() as statements:
        answer = dev.gql(
            '{ workplan(id: "W000-WP-0001") { id tasks { __typename id title status } } }'
        )
    assert len(statements) == 2, statements
    assert [t["status"] for t in answer["workplan"]["tasks"]] == ["TODO", "DONE", "BLOCKED"]
    skipped = (
        'query($no: Boolean!) { workplan(id: "W000-WP-0001") { tasks {'
        " id dependsOn @include(if: $no) references @skip(if: true) } } }"
    )
    with dev.count_statements() as statements:
        answer = dev.gql(skipped, {"no": False})
    assert len(statements) == 2, statements
    assert answer["workplan"]["tasks"][2] == {"id": "W000-WP-0001-T02"}
    filtered = '{ workplan(id: "W000-WP-0001") { tasks(status: BLOCKED) { id dependsOn } } }'
    assert dev.gql(filtered)["workplan"]["tasks"] == [
        {"id": "W000-WP-0001-T02", "dependsOn": ["W000-WP-0001-T00"]}
    ]


def test_task_entities_and_their_fields(dev: LiveServer, seed: Seed) -> None:
    seed(_workplans(range(2), tasks_each=3))
    query = (
        "query($reps: [_Any!]!) { _entities(representations: $reps) {"
        f" ... on Task {{ {NESTED} }} }} }}"
    )
    keys = ["W000-WP-0001-T02", "NO-SUCH-TASK", "W001-WP-0001-T00"]
    with dev.count_statements() as statements:
        entities = dev.gql(query, {"reps": [{"__typename": "Task", "id": k} for k in keys]})
    # the tasks, then one each for workplans, phases, dependencies, the tasks depended
    # on and references
    assert len(statements) == 6, statements
    assert entities["_entities"][1] is None
    assert entities["_entities"][0]["dependencies"] == [
        {"id": "W000-WP-0001-T00", "status": "TODO"}
    ]
    assert entities["_entities"][2]["workplan"] == {"id": "W001-WP-0001"}


@pytest.mark.parametrize("failing", [models.TaskDependency, models.TaskReference])
def test_a_failed_load_is_an_error_at_the_field(
    dev: LiveServer, seed: Seed, monkeypatch: pytest.MonkeyPatch, failing: type
) -> None:
    seed(_workplans(range(1), tasks_each=2))
    rows = Loaders._rows

    async def broken(self: Loaders, model: type, *args: Any, **kwargs: Any) -> Any:
        if model is failing:
            raise RuntimeError("the database is gone")
        return await rows(self, model, *args, **kwargs)

    monkeypatch.setattr(Loaders, "_rows", broken)
    field = "dependsOn" if failing is models.TaskDependency else "references"
    for query in (
        f'{{ task(id: "W000-WP-0001-T01") {{ id {field} }} }}',
        f'{{ workplan(id: "W000-WP-0001") {{ tasks {{ id {field} }} }} }}',
    ):
        body = dev.result(query)
        [error] = body["errors"]
        assert "the database is gone" not in error["message"]
        if query.startswith("{ task("):
            assert body["data"] == {"task": None}
            assert error["path"] == ["task", field]
        else:  # the first task's error nulls the workplan (its tasks are not null)
            assert body["data"] == {"workplan": None}
            assert error["path"] == ["workplan", "tasks", 0, field]
    if failing is models.TaskDependency:  # dependencies wait for dependsOn's load
        body = dev.result('{ task(id: "W000-WP-0001-T01") { id dependencies { id } } }')
        [error] = body["errors"]
        assert body["data"] == {"task": None} and error["path"] == ["task", "dependencies"]


def test_the_list_loads_its_tasks_fields_before_graphql_core_gets_to_them(
    dev: LiveServer, seed: Seed, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(_workplans(range(2), tasks_each=3))
    prefetch = schema.prefetch
    calls: list[tuple[str, int, dict[str, bool]]] = []

    async def spy(info: Any, type_: type, sources: Any, fields: set[str]) -> None:
        await prefetch(info, type_, sources, fields)
        # each field now resolves to its value in place (the kit answers a settled
        # future with its value), not to a future to wait for
        done = {
            name: all(not asyncio.isfuture(settled(getattr(type_, name)(s, info))) for s in sources)
            for name in ("workplan", "phase", "depends_on", "dependencies", "references")
        }
        calls.append((type_.__name__, len(sources), done))

    monkeypatch.setattr(schema, "prefetch", spy)
    dev.gql(BY_WORKPLAN.replace("W001", "W000"))
    assert calls == [("Task", 3, dict.fromkeys(calls[0][2], True))]
