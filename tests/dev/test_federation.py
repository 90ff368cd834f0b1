"""The dev subgraph's federation contract: keys, and batched entity resolution."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.dev import service
from tests.dev.conftest import Seed
from tests.support import LiveServer

ENTITIES = """
query($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Domain { slug openTaskCount workplans { id } tasks(status: TODO) { id } }
    ... on ManagedRepo { workplans { id } sbom { repo componentCount } }
    ... on Task { id status workplan { id } }
  }
}
"""


def _workplans(numbers: range, tasks_each: int = 3) -> Callable[[AsyncSession], Awaitable[None]]:
    """Workplan ``W<n>-WP-0001`` per number, each of its own domain (d<n>) and repo (r<n>),
    with a phase and ``tasks_each`` tasks (todo, done, blocked, ...) that wait for the first."""

    async def work(session: AsyncSession) -> None:
        for n in numbers:
            key = f"W{n:03d}-WP-0001"
            await service.create_workplan(
                session, key=key, title=key, domain_slug=f"d{n:03d}", repo=f"r{n:03d}"
            )
            await service.add_phase(session, workplan_key=key, number=1, title="p")
            for t in range(tasks_each):
                await service.add_task(
                    session,
                    workplan_key=key,
                    key=f"{key}-T{t:02d}",
                    title="t",
                    status=("todo", "done", "blocked")[t % 3],
                    phase_number=1,
                    depends_on=[f"{key}-T00"] if t else [],
                    references=["NK-WP-0001"],
                )

    return work


def test_sdl_declares_the_keys(dev: LiveServer) -> None:
    sdl = dev.gql("{ _service { sdl } }")["_service"]["sdl"]
    assert re.search(r'@link\(url: "https://specs\.apollo\.dev/federation/v2\.7"', sdl)
    assert re.search(r'type Task @key\(fields: "id"\)', sdl)
    assert re.search(r'type Domain @key\(fields: "slug"\) \{\n  slug: String!\n', sdl)
    # core keys ManagedRepo by id; this hub knows repos by name, which core resolves.
    assert re.search(
        r'type ManagedRepo @key\(fields: "name"\) \{\n  name: String! @external\n', sdl
    )
    union = re.search(r"union _Entity = (.+)", sdl)
    assert union and set(union.group(1).split(" | ")) == {"Domain", "ManagedRepo", "Task"}


def test_entities_of_every_type_resolve_in_batches(dev: LiveServer, seed: Seed) -> None:
    seed(_workplans(range(40)))
    dev.gql(
        'mutation { importSbom(repo: "r001", document: "{\\"bomFormat\\": \\"CycloneDX\\", \\"specVersion\\": \\"1.5\\"}") { id } }'
    )
    reps = [{"__typename": "Domain", "slug": f"d{n:03d}"} for n in range(40)]
    reps += [{"__typename": "Domain", "slug": "no-work-here"}]
    reps += [{"__typename": "ManagedRepo", "name": f"r{n:03d}"} for n in range(40)]
    reps += [{"__typename": "Task", "id": f"W{n:03d}-WP-0001-T01"} for n in range(40)]
    reps += [{"__typename": "Task", "id": "NO-SUCH-TASK"}]
    with dev.count_statements() as statements:
        entities = dev.gql(ENTITIES, {"reps": reps})["_entities"]
    assert entities[0] == {
        "slug": "d000",
        "openTaskCount": 2,
        "workplans": [{"id": "W000-WP-0001"}],
        "tasks": [{"id": "W000-WP-0001-T00"}],
    }
    assert entities[40] == {
        "slug": "no-work-here",
        "openTaskCount": 0,
        "workplans": [],
        "tasks": [],
    }
    assert entities[41] == {"workplans": [{"id": "W000-WP-0001"}], "sbom": None}
    assert entities[42]["sbom"] == {"repo": "r001", "componentCount": 0}
    assert entities[81] == {
        "id": "W000-WP-0001-T01",
        "status": "DONE",
        "workplan": {"id": "W000-WP-0001"},
    }
    assert entities[-1] is None
    # Domains: workplans, open counts, tasks. Repos: workplans, SBOMs. Tasks: the tasks,
    # then their workplans. 121 representations, 7 statements.
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == len(statements) == 7, statements


def test_entities_for_100_tasks_cost_one_statement(dev: LiveServer, seed: Seed) -> None:
    seed(_workplans(range(25), tasks_each=4))
    reps = [
        {"__typename": "Task", "id": f"W{n:03d}-WP-0001-T{t:02d}"}
        for n in range(25)
        for t in range(4)
    ]
    query = (
        "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Task { id title } } }"
    )
    with dev.count_statements() as statements:
        entities = dev.gql(query, {"reps": reps})["_entities"]
    assert [e["id"] for e in entities] == [r["id"] for r in reps]
    assert len(statements) == 1 and " IN " in statements[0].upper()


def test_nested_lists_cost_the_same_for_few_and_many_rows(dev: LiveServer, seed: Seed) -> None:
    query = """{
      workplans(first: 500) { nodes { id domain { slug } phases { number tasks { id } }
        tasks { id workplan { id } phase { number } dependsOn dependencies { id } references }
        decisions { id } } }
      tasks(first: 500) { nodes { id dependencies { status } references workplan { id } } }
    }"""
    seed(_workplans(range(2)))
    with dev.count_statements() as few:
        dev.gql(query)
    seed(_workplans(range(2, 32)))
    with dev.count_statements() as many:
        data = dev.gql(query)
    assert len(data["workplans"]["nodes"]) == 32 and len(data["tasks"]["nodes"]) == 96
    assert len(many) == len(few), (few, many)
