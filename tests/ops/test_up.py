"""``hubgraph up`` with the ops hub: an incident opened through the gateway is checked by
the ops hub with the dev hub — found through the settings every process shares, asked as
the ``ops-hub`` service account `up` configured — and the blocked tasks answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.up_support import StartUp, running_up

pytestmark = pytest.mark.slow

OPEN = """mutation { createIncident(input: {title: "Gateway TLS broken", severity: SEV3,
  blocksTasks: ["CUST-WP-0025-T06"]}) { blocksTasks { id title } } }"""
REFUSED = """mutation { createIncident(input: {title: "x", severity: SEV4,
  blocksTasks: ["CUST-WP-0025-T99"]}) { id } }"""
BLOCKED = """{ workplan(id: "CUST-WP-0025") { tasks { id blockingIncidents { title
  services { name health } } } } }"""


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[StartUp]:
    yield from running_up(tmp_path)


@pytest.mark.parametrize("mode", [[], ["--embedded"]], ids=["processes", "embedded"])
def test_up_blocks_dev_tasks_with_ops_incidents(start_up: StartUp, mode: list[str]) -> None:
    up = start_up("--demo", *mode)
    try:
        up.wait_until_announced()
        token = up.token()
        opened = up.post(OPEN, token).json()
        assert "errors" not in opened, (opened, up.output())
        assert opened["data"]["createIncident"]["blocksTasks"] == [
            {"id": "CUST-WP-0025-T06", "title": "Hub-core FastMCP base server"}
        ]
        refused = up.post(REFUSED, token).json()
        assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert "CUST-WP-0025-T99" in refused["errors"][0]["message"]
        body = up.post(BLOCKED, token).json()
        assert "errors" not in body, body
        blocked = {
            t["id"]: t["blockingIncidents"]
            for t in body["data"]["workplan"]["tasks"]
            if t["blockingIncidents"]
        }
        assert sorted(blocked) == ["CUST-WP-0025-T01", "CUST-WP-0025-T03", "CUST-WP-0025-T06"]
        health = {s["name"]: s["health"] for s in blocked["CUST-WP-0025-T01"][0]["services"]}
        assert health == {"keycloak": "RED", "longhorn": "AMBER"}
    finally:
        assert up.stop() == 0
