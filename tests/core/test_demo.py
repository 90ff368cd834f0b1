"""Demo data: realistic, loads on both backends, and a second load adds nothing."""

from __future__ import annotations

from subgraphs.core import demo
from subgraphs.core.app import HUB
from subgraphs.core.kit.cli import load_demo
from subgraphs.core.kit.settings import load_settings
from tests.support import LiveServer


async def test_demo_is_idempotent_and_realistic(core: LiveServer, core_database_url: str) -> None:
    settings = load_settings("core", env={"HUBGRAPH_CORE_DATABASE_URL": core_database_url})
    first = await load_demo(HUB, settings)
    assert first is not None
    assert first["domains"] == len(demo.DOMAINS) and first["events"] == len(demo.EVENTS)
    second = await load_demo(HUB, settings)
    assert second is not None
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
