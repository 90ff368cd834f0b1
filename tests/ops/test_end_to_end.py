"""Which tasks are blocked, and by which incident — one query through the gateway, with
core, dev, ops and the gateway each a real process (`hubgraph <hub> serve`, `hubgraph
gateway serve`) on loopback, on SQLite and on PostgreSQL.

The hubs trust the suite's issuer and hold their own service accounts: an incident
opened through the gateway is checked by the ops hub with the dev hub over HTTP, as the
``ops-hub`` account.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from subgraphs import load_hub
from subgraphs.core.kit.cli import load_demo
from subgraphs.core.kit.settings import load_settings
from tests.auth_support import SERVICE_SECRETS, TestIssuer
from tests.support import free_port, postgres_database, wait_until_up

# Starts every hub and a gateway as processes: the slow loop, as tests/conftest.py says.
pytestmark = pytest.mark.slow

HUBS = ("core", "dev", "ops")
BLOCKED = """
query Blocked($workplan: ID!) {
  workplan(id: $workplan) {
    id
    tasks {
      id title status
      blockingIncidents {
        title severity status
        services { name namespace health lastSeen domain { slug name } }
      }
    }
  }
}
"""
CREATE = """
mutation Open($input: CreateIncidentInput!) {
  createIncident(input: $input) { title blocksTasks { id title } }
}
"""


@contextlib.contextmanager
def database_urls(backend: str, home: Path) -> Iterator[dict[str, str]]:
    if backend == "sqlite":
        yield {hub: f"sqlite+aiosqlite:///{home / (hub + '.db')}" for hub in HUBS}
        return
    with postgres_database() as core, postgres_database() as dev, postgres_database() as ops:
        yield {"core": core, "dev": dev, "ops": ops}


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str], ready: str, log: Path) -> Iterator[None]:
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "hubgraph", *args],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        try:
            wait_until_up(ready, child)
        except AssertionError:
            raise AssertionError(f"{args}: {log.read_text()}") from None
        yield
    finally:
        child.terminate()
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@pytest.fixture
def gateway(backend: str, issuer: TestIssuer, tmp_path: Path) -> Iterator[str]:
    """The hubs with their demo data, then the gateway over them; yields its URL."""
    ports = {hub: free_port() for hub in (*HUBS, "gateway")}
    with database_urls(backend, tmp_path) as urls, contextlib.ExitStack() as stack:
        env = {
            "HUBGRAPH_HOME": str(tmp_path),
            "HUBGRAPH_LOG_LEVEL": "warning",
            **issuer.env(),
            **{f"HUBGRAPH_{hub.upper()}_DATABASE_URL": urls[hub] for hub in HUBS},
            **{f"HUBGRAPH_{hub.upper()}_PORT": str(ports[hub]) for hub in HUBS},
        }
        for hub in HUBS:
            settings = load_settings(hub, env=env)
            asyncio.run(load_demo(load_hub(hub), settings))
        for hub in HUBS:
            account = f"{hub}-hub"
            own = {
                "HUBGRAPH_AUTH_CLIENT_ID": account,
                "HUBGRAPH_AUTH_CLIENT_SECRET": SERVICE_SECRETS[account],
            }
            url = f"http://127.0.0.1:{ports[hub]}"
            stack.enter_context(
                process([hub, "serve"], {**env, **own}, f"{url}/readyz", tmp_path / f"{hub}.log")
            )
        subgraphs = [f"--subgraph={hub}=http://127.0.0.1:{ports[hub]}/graphql" for hub in HUBS]
        gateway_url = f"http://127.0.0.1:{ports['gateway']}"
        args = ["gateway", "serve", *subgraphs, "--port", str(ports["gateway"])]
        stack.enter_context(process(args, env, f"{gateway_url}/healthz", tmp_path / "gateway.log"))
        yield f"{gateway_url}/graphql"


def ask(url: str, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    response = httpx.post(
        url,
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_every_blocked_task_with_its_incidents_and_their_services_in_one_query(
    gateway: str, issuer: TestIssuer
) -> None:
    opened = ask(
        gateway,
        CREATE,
        {
            "input": {
                "title": "Dev hub migrations stuck",
                "severity": "SEV3",
                "blocksTasks": ["CUST-WP-0025-T05"],
            }
        },
        issuer.token("operator"),
    )
    assert "errors" not in opened, opened
    assert opened["data"]["createIncident"]["blocksTasks"] == [
        {"id": "CUST-WP-0025-T05", "title": "Create hub-core package"}
    ]
    refused = ask(
        gateway,
        CREATE,
        {"input": {"title": "x", "severity": "SEV4", "blocksTasks": ["CUST-WP-0025-T77"]}},
        issuer.token("operator"),
    )
    assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert "CUST-WP-0025-T77" in refused["errors"][0]["message"]

    body = ask(gateway, BLOCKED, {"workplan": "CUST-WP-0025"}, issuer.token("reader"))
    assert "errors" not in body, body
    tasks = body["data"]["workplan"]["tasks"]
    blocked = {t["id"]: t for t in tasks if t["blockingIncidents"]}
    assert sorted(blocked) == ["CUST-WP-0025-T01", "CUST-WP-0025-T03", "CUST-WP-0025-T05"]
    [keycloak_down] = blocked["CUST-WP-0025-T01"]["blockingIncidents"]
    assert keycloak_down["severity"] == "SEV2" and keycloak_down["status"] == "INVESTIGATING"
    services = {s["name"]: s for s in keycloak_down["services"]}
    assert services["keycloak"]["health"] == "RED"
    assert services["longhorn"]["health"] == "AMBER"
    # core answers the domains of the services ops names
    assert services["keycloak"]["domain"] == {"slug": "net-kingdom", "name": "NetKingdom"}
    assert blocked["CUST-WP-0025-T03"]["blockingIncidents"] == [keycloak_down]
    assert blocked["CUST-WP-0025-T05"]["blockingIncidents"][0]["services"] == []
    # the resolved incident blocks nothing; tasks no incident names have none
    assert len(tasks) > len(blocked)
