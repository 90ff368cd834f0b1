"""Demo data: loads on both backends, and a second load adds nothing."""

from __future__ import annotations

from subgraphs.core.kit.cli import load_demo
from subgraphs.core.kit.settings import load_settings
from subgraphs.dev import demo
from subgraphs.dev.app import HUB
from tests.support import LiveServer


async def test_demo_is_idempotent(dev: LiveServer, dev_database_url: str) -> None:
    settings = load_settings("dev", env={"HUBGRAPH_DEV_DATABASE_URL": dev_database_url})
    first = await load_demo(HUB, settings)
    assert first is not None
    assert first["deployments"] == len(demo.DEPLOYMENTS)
    assert first["decisions"] == len(demo.DECISIONS) and first["SBOMs"] == 1
    assert first["workplans"] == 1
    second = await load_demo(HUB, settings)
    assert second is not None and sum(second.values()) == 0

    data = dev.gql(
        """{
          deployments(service: "hub-core") { nodes { version environment } }
          decisions { nodes { decision source } }
          licenceSummary(repo: "hub-core") { licence category count }
        }"""
    )
    assert data["deployments"]["nodes"] == [
        {"version": "0.1.0", "environment": "production"},
        {"version": "0.1.0", "environment": "staging"},
    ]
    recorded = {n["decision"] for n in data["decisions"]["nodes"] if n["source"] == "API"}
    assert recorded == {decision for decision, _, _ in demo.DECISIONS}
    workplan = dev.gql("""{ workplan(id: "CUST-WP-0025") { title tasks { id status } } }""")[
        "workplan"
    ]
    assert workplan["title"].startswith("FOS Hub Bootstrap")
    statuses = {t["id"].rsplit("-", 1)[1]: t["status"] for t in workplan["tasks"]}
    assert len(statuses) == 26
    assert (statuses["T01"], statuses["T02"], statuses["T05"], statuses["T26"]) == (
        "BLOCKED",
        "DONE",
        "IN_PROGRESS",
        "TODO",
    )
    summary = {row["licence"]: (row["category"], row["count"]) for row in data["licenceSummary"]}
    assert summary["MIT"] == ("PERMISSIVE", 5)
    assert summary["LGPL-3.0-or-later"] == ("WEAK_COPYLEFT", 1)
