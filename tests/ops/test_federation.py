"""The ops hub's federation surface: its own Service entity, dev's Task and core's Domain
extended — every list batched, so 500 representations cost one SQL statement per level."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.ops import service
from tests.support import LiveServer

ENTITIES = "query($reps: [_Any!]!) { _entities(representations: $reps) { %s } }"


async def many_incidents(session: AsyncSession) -> list[str]:
    """Ten services; 50 incidents, each affecting two services and blocking ten tasks
    (500 task keys in all); every tenth incident resolved."""
    services = [
        await service.register_service(
            session, name=f"svc-{i}", namespace="ns", domain_slug=f"domain-{i % 3}"
        )
        for i in range(10)
    ]
    for n in range(50):
        incident = await service.create_incident(
            session,
            title=f"incident {n:02}",
            severity=f"SEV{n % 4 + 1}",
            opened_by="test",
            service_ids=[str(services[n % 10].id), str(services[(n + 1) % 10].id)],
            blocks_tasks=[f"WP-{n:02}-T{t}" for t in range(10)],
        )
        if n % 10 == 0:
            await service.resolve_incident(session, str(incident.id), "test")
    return [str(s.id) for s in services]


def test_500_tasks_cost_one_statement_per_level(ops: LiveServer, ops_seed: Any) -> None:
    ops_seed(many_incidents)
    reps = [{"__typename": "Task", "id": f"WP-{n:02}-T{t}"} for n in range(50) for t in range(10)]
    selection = (
        "... on Task { id blockingIncidents { title severity "
        "services { name health domain { slug } } blocksTasks { id } } }"
    )
    with ops.count_statements() as statements:
        entities = ops.gql(ENTITIES % selection, {"reps": reps})["_entities"]
    assert len(entities) == 500
    # incidents (level 1), then their services and their tasks (level 2): one each
    assert len(statements) == 3, statements
    blocked = [e for e in entities if e["blockingIncidents"]]
    assert len(blocked) == 450  # the resolved incidents' tasks are not blocked any more
    first = next(e for e in entities if e["id"] == "WP-01-T3")
    assert first["blockingIncidents"][0]["title"] == "incident 01"
    assert [s["name"] for s in first["blockingIncidents"][0]["services"]] == ["svc-1", "svc-2"]
    assert len(first["blockingIncidents"][0]["blocksTasks"]) == 10


def test_services_and_domains_resolve_in_batches(ops: LiveServer, ops_seed: Any) -> None:
    ids = ops_seed(many_incidents)
    reps = [{"__typename": "Service", "id": i} for i in ids]
    reps.append({"__typename": "Service", "id": "00000000-0000-0000-0000-000000000000"})
    with ops.count_statements() as statements:
        services = ops.gql(
            ENTITIES % "... on Service { name probes { kind } openIncidents { title } }",
            {"reps": reps},
        )["_entities"]
    assert len(statements) == 3, statements  # services, probes, open incidents
    assert services[-1] is None and services[0]["name"] == "svc-0"
    # svc-2: incidents 1, 2, 11, 12, ... 42; most severe first (12 and 32 are SEV1)
    assert [i["title"] for i in services[2]["openIncidents"]][:2] == ["incident 12", "incident 32"]
    domains = [{"__typename": "Domain", "slug": f"domain-{i}"} for i in range(4)]
    with ops.count_statements() as statements:
        found = ops.gql(
            ENTITIES % "... on Domain { slug services { name } openIncidents { title } }",
            {"reps": domains},
        )["_entities"]
    assert len(statements) == 2, statements
    assert [s["name"] for s in found[0]["services"]] == ["svc-0", "svc-3", "svc-6", "svc-9"]
    assert found[3] == {"slug": "domain-3", "services": [], "openIncidents": []}
    # an incident affecting two services of a domain is listed once, most severe first
    titles = [i["title"] for i in found[0]["openIncidents"]]
    assert len(titles) == len(set(titles))
