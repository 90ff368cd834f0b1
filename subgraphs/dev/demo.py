"""Demo data for the dev hub: the work of CUST-WP-0025 and what shipped alongside it.

Idempotent: every row is looked up by what identifies it first, so a second run creates
nothing and returns zero counts. Everything goes through ``service.py`` (and the
workplan importer of ``sync.py``), so the demo data obeys the same rules as data
entered through the API.

Repos and domains are named as in the core hub's demo, so the gateway joins them.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.dev import models, service
from subgraphs.dev.sync import import_workplan
from subgraphs.dev.workplan_format import parse_workplan

T0 = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
WORKPLAN = "CUST-WP-0025"

DEPLOYMENTS = [
    # service, version, repo, environment, hours after T0, notes
    ("keycloak", "26.1.4", "net-kingdom", "production", 2, "SSO plane for every hub"),
    ("privacyidea", "3.11", "net-kingdom", "production", 3, "MFA behind Keycloak"),
    ("hub-core", "0.1.0", "hub-core", "staging", 30, None),
    ("hub-core", "0.1.0", "hub-core", "production", 52, "first release of the extracted core"),
    ("longhorn", "1.8.1", "railiance-cluster", "production", 70, None),
    ("ops-hub", "0.1.0", "ops-hub", "staging", 96, None),
]

DECISIONS = [
    # decision, choice, rationale (recorded after the workplan was written)
    (
        "Federation protocol between hubs",
        "GraphQL federation v2 with a Python gateway",
        "One typed graph for dashboards and agents; no maintained Python planner exists.",
    ),
    (
        "Default database per hub",
        "SQLite file per hub, PostgreSQL in production",
        "Runs anywhere with only Python; the same models and migrations on both.",
    ),
]

SBOM_REPO = "hub-core"
SBOM_SERIAL = "urn:uuid:5f0c2a8e-1d3b-4c6e-9a7f-0b1c2d3e4f50"


def _component(name: str, version: str, licence: str, group: str | None = None) -> dict:
    return {
        "type": "library",
        "name": name,
        "version": version,
        **({"group": group} if group else {}),
        "purl": f"pkg:pypi/{name}@{version}",
        "bom-ref": f"{name}@{version}",
        "licenses": [{"license": {"id": licence}}],
    }


SBOM = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.5",
    "serialNumber": SBOM_SERIAL,
    "version": 1,
    "metadata": {
        "timestamp": "2026-03-22T12:00:00Z",
        "component": {"type": "application", "name": "hub-core", "version": "0.1.0"},
    },
    "components": [
        _component("strawberry-graphql", "0.341.2", "MIT"),
        _component("graphql-core", "3.2.8", "MIT"),
        _component("starlette", "0.47.0", "BSD-3-Clause"),
        _component("sqlalchemy", "2.0.40", "MIT"),
        _component("alembic", "1.15.2", "MIT"),
        _component("asyncpg", "0.30.0", "Apache-2.0"),
        _component("pyjwt", "2.10.1", "MIT"),
        _component("certifi", "2025.1.31", "MPL-2.0"),
        _component("psycopg2", "2.9.10", "LGPL-3.0-or-later"),
    ],
}


DEMO_WORKPLANS = Path(__file__).resolve().parent / "demo_workplans"
# Where the work of CUST-WP-0025 stands in the demo (set once, when it is first imported).
PROGRESS = [
    # task, status, reason when blocked
    ("T02", "done", None),
    ("T04", "done", None),
    ("T05", "in_progress", None),
    ("T06", "in_progress", None),
    ("T01", "blocked", "Keycloak on k3s (NK-WP-0001) is late"),
]


async def _import_workplans(session: AsyncSession) -> int:
    """The demo's workplan files, imported; how many workplans were created."""
    created = 0
    for path in sorted(DEMO_WORKPLANS.glob("*.md")):
        content = path.read_bytes()
        parsed = parse_workplan(content.decode("utf-8"), path.name)
        if await service.find_workplan(session, parsed.key) is not None:
            continue
        await import_workplan(session, parsed, hashlib.sha256(content).hexdigest())
        workplan = await service.get_workplan(session, parsed.key)
        # Demo data comes from no file of the user's: nothing to write back to.
        workplan.source_path = None
        created += 1
        if parsed.key == WORKPLAN:
            for short, status, reason in PROGRESS:
                await service.update_task_status(
                    session, f"{WORKPLAN}-{short}", status, reason=reason
                )
    return created


async def load(session: AsyncSession) -> dict[str, int]:
    created: Counter[str] = Counter()
    created["workplans"] += await _import_workplans(session)
    for name, version, repo, environment, hours, notes in DEPLOYMENTS:
        exists = await session.scalar(
            select(models.Deployment.id).where(
                models.Deployment.service == name,
                models.Deployment.version == version,
                models.Deployment.environment == environment,
            )
        )
        if exists is None:
            await service.record_deployment(
                session,
                service=name,
                version=version,
                repo=repo,
                environment=environment,
                deployed_at=T0 + timedelta(hours=hours),
                notes=notes,
                recorded_by="demo",
            )
            created["deployments"] += 1
    workplan = await service.find_workplan(session, WORKPLAN)
    for decision, choice, rationale in DECISIONS:
        exists = await session.scalar(
            select(models.Decision.id).where(
                models.Decision.decision == decision, models.Decision.source == "api"
            )
        )
        if exists is None:
            await service.record_decision(
                session,
                workplan_key=workplan.key if workplan else None,
                decision=decision,
                choice=choice,
                rationale=rationale,
                recorded_by="demo",
            )
            created["decisions"] += 1
    current = await service.find_sbom(session, SBOM_REPO)
    if current is None or current.serial_number != SBOM_SERIAL:
        await service.import_sbom(session, repo=SBOM_REPO, document=orjson.dumps(SBOM))
        created["SBOMs"] += 1
    return dict(created)
