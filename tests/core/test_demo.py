"""Demo data: realistic, loads on both backends, and a second load adds nothing."""

from __future__ import annotations

from subgraphs.core import demo
from subgraphs.core.kit.database import Database
from subgraphs.core.kit.migrations import upgrade
from tests.support import LiveServer


async def _load(url: str) -> dict[str, int]:
    from subgraphs.core.app import HUB

    db = Database(url)
    try:
        await upgrade(HUB, db)
        async with db.transaction() as session:
            return await demo.load(session)
    finally:
        await db.dispose()


async def test_demo_is_idempotent_and_realistic(core: LiveServer, core_database_url: str) -> None:
    first = await _load(core_database_url)
    assert first["domains"] == len(demo.DOMAINS) and first["events"] == len(demo.EVENTS)
    second = await _load(core_database_url)
    assert sum(second.values()) == 0

    data = core.gql(
        """{
          domain(slug: "custodian") { children { slug } repos { name } }
          stateSummary { domains repos openRisks activeAlerts openCapabilityRequests }
          risks { subject status }
          alerts(status: RAISED) { subject }
          gdprReport { transfersOutsideEea { service { name } } missingDpa { service { name } } }
        }"""
    )
    assert {c["slug"] for c in data["domain"]["children"]} >= {"net-kingdom", "railiance"}
    assert {r["name"] for r in data["domain"]["repos"]} >= {"the-custodian", "hub-core"}
    assert data["stateSummary"]["domains"] == len(demo.DOMAINS)
    statuses = {r["subject"]: r["status"] for r in data["risks"]}
    assert statuses == {
        "risk:mega-hub": "OPEN",
        "risk:sso-delay": "ESCALATED",
        "risk:single-cluster": "MITIGATED",
    }
    assert data["stateSummary"]["openRisks"] == 2 and data["stateSummary"]["activeAlerts"] == 2
    assert data["alerts"] == [{"subject": "alert:longhorn-degraded"}]
    assert [p["service"]["name"] for p in data["gdprReport"]["missingDpa"]] == ["GitHub"]
