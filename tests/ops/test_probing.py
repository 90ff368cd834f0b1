"""Probing a service for real and what follows: health moves, one incident per outage, a
timeline entry on recovery, a bounded history — through ``probeService`` over HTTP and
through the scheduler the hub runs, against a loopback service that can be taken down."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from subgraphs.core.kit.database import Database
from subgraphs.ops.scheduler_wiring import build_scheduler, enabled
from tests.auth_support import TestIssuer
from tests.ops.conftest import ops_settings
from tests.support import LiveServer, count_rows

PROBE = """
mutation($id: ID!) {
  probeService(id: $id) { health lastSeen recentResults { ok statusCode detail } openIncidents { id } }
}
"""
INCIDENTS = """
{ incidents { totalCount nodes { title severity status openedBy
  services { name } timeline { author text } } } }
"""


class Switch:
    """A service that answers 200 or 503, as the test says."""

    def __init__(self) -> None:
        self.up = True

        async def health(_: Request) -> PlainTextResponse:
            return PlainTextResponse("ok" if self.up else "down", 200 if self.up else 503)

        self.server = LiveServer(Starlette(routes=[Route("/health", health)])).start()

    @property
    def url(self) -> str:
        return f"{self.server.url}/health"


@pytest.fixture(scope="module")
def switch() -> Iterator[Switch]:
    served = Switch()
    yield served
    served.server.stop()


@pytest.fixture
def probing_ops(
    ops: LiveServer,
    ops_database_url: str,
    issuer: TestIssuer,
    dev_server: LiveServer,
    tmp_path: Path,
) -> Iterator[LiveServer]:
    """The ops hub keeping three results per probe."""
    from subgraphs.ops.app import create_app

    settings = ops_settings(ops_database_url, issuer, tmp_path, dev_server.url, probe_history=3)
    server = LiveServer(create_app(settings), headers=issuer.headers("operator")).start()
    yield server
    server.stop()


def register(ops: LiveServer, target: str, name: str = "keycloak") -> str:
    data = ops.gql(
        """mutation($input: RegisterServiceInput!) { registerService(input: $input) { id } }""",
        {
            "input": {
                "name": name,
                "namespace": "railiance",
                "domain": "net-kingdom",
                "redAfter": 3,
                "greenAfter": 2,
                "probes": [{"kind": "HTTP", "target": target, "timeoutS": 5, "intervalS": 5}],
            }
        },
        headers=ops.headers,  # the operator holds hub:write too
    )
    return str(data["registerService"]["id"])


def test_an_outage_opens_one_incident_and_recovery_is_noted_not_resolved(
    probing_ops: LiveServer, switch: Switch, ops_database_url: str
) -> None:
    service = register(probing_ops, switch.url)

    def probe() -> dict[str, Any]:
        report: dict[str, Any] = probing_ops.gql(PROBE, {"id": service})["probeService"]
        return report

    switch.up = True
    first = probe()
    assert first["health"] == "GREEN" and first["lastSeen"] is not None
    assert first["recentResults"][0] == {
        "ok": True,
        "statusCode": 200,
        "detail": first["recentResults"][0]["detail"],
    }
    switch.up = False
    healths = [probe()["health"] for _ in range(5)]
    assert healths == ["AMBER", "AMBER", "RED", "RED", "RED"]
    incidents = probing_ops.gql(INCIDENTS)["incidents"]
    assert incidents["totalCount"] == 1  # one per outage, not one per failure
    [incident] = incidents["nodes"]
    assert incident["status"] == "OPEN" and incident["openedBy"] == "ops-hub"
    assert incident["title"] == "railiance/keycloak is down: 3 failed probes in a row"
    assert incident["services"] == [{"name": "keycloak"}]
    switch.up = True
    assert probe()["health"] == "RED"  # one good probe after an outage is not a recovery
    recovered = probe()
    assert recovered["health"] == "GREEN"
    assert len(recovered["openIncidents"]) == 1  # noted, not resolved
    [incident] = probing_ops.gql(INCIDENTS)["incidents"]["nodes"]
    assert incident["status"] == "OPEN"
    assert incident["timeline"][-1]["author"] == "ops-hub"
    assert "keycloak recovered: 2 probes in a row succeeded" in incident["timeline"][-1]["text"]
    # eight results recorded, three kept
    assert count_rows(ops_database_url, "probe_results") == 3
    assert len(recovered["recentResults"]) == 3


def test_probing_needs_the_operator_scope(
    ops: LiveServer, switch: Switch, issuer: TestIssuer, ops_database_url: str
) -> None:
    service = register(ops, switch.url)
    for user in ("reader", "writer"):
        error = ops.error(PROBE, {"id": service}, headers=issuer.headers(user))
        assert error["extensions"]["code"] == "FORBIDDEN"
    assert count_rows(ops_database_url, "probe_results") == 0
    missing = ops.error(PROBE, {"id": "00000000-0000-0000-0000-000000000000"})
    assert missing["extensions"]["code"] == "NOT_FOUND"


def test_the_scheduler_records_each_service_s_probes(
    ops: LiveServer,
    switch: Switch,
    ops_database_url: str,
    issuer: TestIssuer,
    dev_server: LiveServer,
    tmp_path: Path,
) -> None:
    switch.up = False
    service = register(ops, switch.url)
    register(ops, f"{switch.url}?second", name="privacyidea")
    settings = ops_settings(ops_database_url, issuer, tmp_path, dev_server.url)
    clock = [1000.0]

    async def run() -> None:
        db = Database(ops_database_url)
        try:
            # (no claims: they follow the database's clock, not this one; replicas:
            # test_scheduler_replicas.py)
            scheduler = build_scheduler(
                settings, db, claims=False, clock=lambda: clock[0], jitter_s=0
            )
            # the first tick schedules each probe's first run within its interval
            assert await scheduler.run_once() == []
            for _ in range(3):
                clock[0] += 10  # past every probe's 5 s interval
                ran = await scheduler.run_once()
                assert len(ran) == 2
        finally:
            await db.dispose()

    asyncio.run(run())
    assert count_rows(ops_database_url, "probe_results") == 6
    health = ops.gql(
        "query($id: ID!) { serviceHealth(id: $id) { health recentResults { ok } } }",
        {"id": service},
    )["serviceHealth"]
    assert health == {"health": "RED", "recentResults": [{"ok": False}] * 3}
    assert ops.gql("{ incidents { totalCount } }")["incidents"]["totalCount"] == 2


def test_the_scheduler_is_off_unless_turned_on(
    ops_database_url: str, issuer: TestIssuer, tmp_path: Path
) -> None:
    settings = ops_settings(ops_database_url, issuer, tmp_path, "http://127.0.0.1:9")
    assert not enabled(settings, env={})
    assert enabled(settings, env={"HUBGRAPH_OPS_PROBE_SCHEDULER": "1"})
    on = ops_settings(
        ops_database_url, issuer, tmp_path, "http://127.0.0.1:9", probe_scheduler=True
    )
    assert enabled(on, env={})
    assert not enabled(on, env={"HUBGRAPH_OPS_PROBE_SCHEDULER": "0"})


def test_a_hub_with_the_scheduler_on_probes_by_itself(
    ops: LiveServer,
    switch: Switch,
    ops_database_url: str,
    issuer: TestIssuer,
    dev_server: LiveServer,
    tmp_path: Path,
) -> None:
    """Started with the app (its lifespan), stopped with it."""
    import time

    from subgraphs.ops.app import create_app

    switch.up = True
    register(ops, switch.url)
    settings = ops_settings(
        ops_database_url, issuer, tmp_path, dev_server.url, probe_scheduler=True
    )
    server = LiveServer(create_app(settings)).start()
    try:
        deadline = time.monotonic() + 15  # the first run falls within the 5 s interval
        while count_rows(ops_database_url, "probe_results") == 0:
            assert time.monotonic() < deadline, "the scheduler never probed"
            time.sleep(0.2)
    finally:
        server.stop()
