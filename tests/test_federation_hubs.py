"""The project's own hubs, composed by our composer, queried through our gateway.

Every hub present runs in-process (embedded mode) on a real database; the query is
sent to the gateway over the checked-in schema/supergraph.graphql by a reader whose
token the gateway validates and forwards, and each hub validates again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.engine import Gateway
from identity.authenticate import Authenticator
from subgraphs import available_hubs, load_hub
from subgraphs.core.kit.app import create_hub_app
from subgraphs.core.kit.cli import load_demo
from subgraphs.core.kit.settings import load_settings
from tests.auth_support import TestIssuer

SUPERGRAPH = Path(__file__).resolve().parent.parent / "schema" / "supergraph.graphql"

Query = Callable[..., Awaitable[dict[str, Any]]]


@asynccontextmanager
async def hubs_behind_a_gateway(
    tmp_path: Path,
    issuer: TestIssuer,
    seeds: dict[str, Callable[[AsyncSession], Awaitable[Any]]] | None = None,
    user: str = "reader",
    apps: dict[str, Any] | None = None,
) -> AsyncIterator[Query]:
    """Every hub with its demo data (plus ``seeds[hub]``, run in one transaction), behind
    a gateway; yields a function sending a query as ``user`` (the reader: ``hub:read``).
    ``apps``, when given, is filled with the hubs' ASGI apps by name."""
    apps = {} if apps is None else apps
    databases = []
    for name in available_hubs():
        settings = load_settings(name, env={"HUBGRAPH_HOME": str(tmp_path), **issuer.env()})
        await load_demo(load_hub(name), settings)
        app = create_hub_app(load_hub(name), settings)
        databases.append(app.state.db)
        apps[name] = app
        if seeds and name in seeds:
            async with app.state.db.transaction() as session:
                await seeds[name](session)
    gateway = Gateway(SUPERGRAPH.read_text(), subgraph_apps=apps)
    authenticator = Authenticator(issuer.auth_settings())
    headers = issuer.headers(user)

    async def query(document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body, _ = await gateway.execute(
            document,
            variables,
            headers=headers,
            identity=await authenticator.authenticate(headers),
        )
        return body

    try:
        yield query
    finally:
        await authenticator.aclose()
        await gateway.close()
        for database in databases:
            await database.dispose()


async def test_a_domain_through_the_gateway_has_every_hubs_fields(
    tmp_path: Path, issuer: TestIssuer
) -> None:
    async with hubs_behind_a_gateway(tmp_path, issuer) as query:
        body = await query(
            """{
              domain(slug: "custodian") { slug name children { slug } repos { name } }
              domainSummary(slug: "net-kingdom") { activeAlerts { subject status } }
            }"""
        )
    assert "errors" not in body, body
    domain = body["data"]["domain"]
    assert domain["slug"] == "custodian" and domain["name"] == "The Custodian"
    assert {"net-kingdom", "railiance"} <= {c["slug"] for c in domain["children"]}
    assert {"hub-core", "the-custodian"} <= {r["name"] for r in domain["repos"]}
    assert body["data"]["domainSummary"]["activeAlerts"] == [
        {"subject": "alert:cert-expiry", "status": "ACKNOWLEDGED"}
    ]


async def _dev_work(session: AsyncSession) -> None:
    """Besides the dev demo (CUST-WP-0025 imported from its markdown file): a workplan
    of another core domain, through the dev hub's service functions."""
    from subgraphs.dev import service

    await service.create_workplan(
        session, key="NK-WP-0001", title="SSO platform", domain_slug="net-kingdom"
    )
    await service.add_task(
        session, workplan_key="NK-WP-0001", key="NK-WP-0001-T01", title="Keycloak", status="todo"
    )


async def test_a_domain_s_work_from_dev_joins_core(tmp_path: Path, issuer: TestIssuer) -> None:
    if "dev" not in available_hubs():
        pytest.skip("this installation has no dev hub")
    from subgraphs.dev.demo import SBOM

    async with hubs_behind_a_gateway(tmp_path, issuer, {"dev": _dev_work}) as query:
        body = await query(
            """{
              domain(slug: "custodian") {
                name
                openTaskCount
                workplans { id title tasks { id status } }
                tasks(status: BLOCKED) { id blockedReason }
                repos { name workplans { id } sbom { componentCount } }
                children { slug openTaskCount }
              }
              task(id: "NK-WP-0001-T01") { status workplan { domain { name parent { slug } } } }
            }"""
        )
    assert "errors" not in body, body
    domain = body["data"]["domain"]
    # The demo's CUST-WP-0025: 26 tasks, T02 and T04 done, the other 24 open.
    assert domain["name"] == "The Custodian" and domain["openTaskCount"] == 24
    [workplan] = domain["workplans"]
    assert workplan["id"] == "CUST-WP-0025"
    assert workplan["title"] == "FOS Hub Bootstrap — Identity, Hub Extraction, Ops Hub, Fin Hub"
    statuses = {t["id"]: t["status"] for t in workplan["tasks"]}
    assert len(statuses) == 26
    assert statuses["CUST-WP-0025-T01"] == "BLOCKED"
    assert statuses["CUST-WP-0025-T05"] == "IN_PROGRESS"
    assert statuses["CUST-WP-0025-T26"] == "TODO"
    assert domain["tasks"] == [
        {"id": "CUST-WP-0025-T01", "blockedReason": "Keycloak on k3s (NK-WP-0001) is late"}
    ]
    repos = {r["name"]: r for r in domain["repos"]}
    assert repos["the-custodian"]["workplans"] == [{"id": "CUST-WP-0025"}]
    # The dev demo imports hub-core's SBOM; core knows the repo by id, dev by name.
    assert repos["hub-core"] == {
        "name": "hub-core",
        "workplans": [],
        "sbom": {"componentCount": len(SBOM["components"])},
    }
    children = {c["slug"]: c["openTaskCount"] for c in domain["children"]}
    assert children["net-kingdom"] == 1 and children["railiance"] == 0
    assert body["data"]["task"] == {
        "status": "TODO",
        "workplan": {"domain": {"name": "NetKingdom", "parent": {"slug": "custodian"}}},
    }
