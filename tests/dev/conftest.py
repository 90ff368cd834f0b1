"""Seeding the dev hub under test: workplans and tasks through its service functions.

Workplans have no create mutation (their source is the markdown files ``sync`` imports),
so tests put them in with ``service.create_workplan`` / ``add_phase`` / ``add_task`` in
one transaction on the hub's own database, then talk HTTP to the hub as clients do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.database import Database
from subgraphs.dev import service
from tests.support import LiveServer

T = TypeVar("T")
Seed = Callable[[Callable[[AsyncSession], Awaitable[Any]]], Any]


async def in_transaction(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    db = Database(url)
    try:
        async with db.transaction() as session:
            return await work(session)
    finally:
        await db.dispose()


@pytest.fixture
def seed(dev: LiveServer, dev_database_url: str) -> Seed:
    """Run ``work(session)`` in one committed transaction on the dev hub's database."""

    def run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        return asyncio.run(in_transaction(dev_database_url, work))

    return run


# Two workplans of two domains, as CUST-WP-0025 and NK-WP-0001 look:
# key, title, status, priority, phase, depends on, references
CUSTODIAN_TASKS = [
    (
        "CUST-WP-0025-T01",
        "Keycloak + privacyIDEA on k3s",
        "in_progress",
        "high",
        1,
        [],
        ["NK-WP-0001"],
    ),
    ("CUST-WP-0025-T02", "Local identity bootstrap", "todo", "high", 1, [], ["NK-WP-0002"]),
    (
        "CUST-WP-0025-T03",
        "IAM Profile integration test",
        "todo",
        "medium",
        1,
        ["CUST-WP-0025-T01"],
        [],
    ),
    ("CUST-WP-0025-T04", "IAM Profile specification", "done", "medium", 1, [], []),
    ("CUST-WP-0025-T05", "Create hub-core package", "blocked", "high", 2, ["CUST-WP-0025-T04"], []),
    ("CUST-WP-0025-T06", "Rename state-hub to dev-hub", "todo", "low", 2, ["CUST-WP-0025-T04"], []),
    ("CUST-WP-0025-T07", "Retire the old tracker", "cancelled", None, None, [], []),
]
NETKINGDOM_TASKS = [
    ("NK-WP-0001-T01", "Deploy Keycloak", "done", "high", 1, [], []),
    (
        "NK-WP-0001-T02",
        "Deploy privacyIDEA",
        "todo",
        "medium",
        1,
        ["NK-WP-0001-T01", "OPS-WP-0001-T09"],
        [],
    ),
]


async def sample_work(session: AsyncSession) -> None:
    """CUST-WP-0025 (custodian, the-custodian; two phases, seven tasks) and NK-WP-0001
    (net-kingdom, net-kingdom; two tasks)."""
    await service.create_workplan(
        session,
        key="CUST-WP-0025",
        title="FOS Hub Bootstrap",
        domain_slug="custodian",
        repo="the-custodian",
        owner="custodian",
        topic_slug="custodian",
        workstream_id="293a74fe-a85a-4ad6-8933-23d52a72fe8b",
    )
    await service.add_phase(
        session,
        workplan_key="CUST-WP-0025",
        number=1,
        title="Identity Infrastructure",
        goal="One SSO plane for every hub.",
        repos=["net-kingdom", "railiance-cluster"],
        parallel_with=[2],
    )
    await service.add_phase(
        session,
        workplan_key="CUST-WP-0025",
        number=2,
        title="Hub Extraction",
        repos=["the-custodian", "hub-core"],
        parallel_with=[1],
    )
    await service.create_workplan(
        session,
        key="NK-WP-0001",
        title="SSO platform",
        domain_slug="net-kingdom",
        repo="net-kingdom",
        status="done",
    )
    await service.add_phase(session, workplan_key="NK-WP-0001", number=1, title="Deploy")
    for workplan, tasks in (("CUST-WP-0025", CUSTODIAN_TASKS), ("NK-WP-0001", NETKINGDOM_TASKS)):
        for key, title, status, priority, phase, depends_on, references in tasks:
            await service.add_task(
                session,
                workplan_key=workplan,
                key=key,
                title=title,
                status=status,
                priority=priority,
                phase_number=phase,
                description=f"Do **{title}**.",
                depends_on=depends_on,
                references=references,
            )


@pytest.fixture
def sample(seed: Seed) -> None:
    seed(sample_work)
