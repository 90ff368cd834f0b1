"""The three hubs' demo data through the gateway (embedded, the checked-in supergraph):
one page on a domain — its structure from core, its services and incidents from ops,
the tasks those incidents block from dev."""

from __future__ import annotations

from pathlib import Path

from tests.auth_support import TestIssuer
from tests.test_federation_hubs import hubs_behind_a_gateway


async def test_a_domain_s_services_incidents_and_blocked_work(
    tmp_path: Path, issuer: TestIssuer
) -> None:
    async with hubs_behind_a_gateway(tmp_path, issuer) as query:
        body = await query(
            """{
              domain(slug: "net-kingdom") {
                name
                services { namespace name health owner }
                openIncidents {
                  title severity status
                  services { name health domain { name } }
                  blocksTasks { id title status workplan { id } blockingIncidents { severity } }
                  timeline { author text }
                }
              }
              incidents(status: RESOLVED) { nodes { title services { name } } }
            }"""
        )
    assert "errors" not in body, body
    domain = body["data"]["domain"]
    assert domain["name"] == "NetKingdom"
    assert [(s["name"], s["health"]) for s in domain["services"]] == [
        ("keycloak", "RED"),
        ("privacyidea", "GREEN"),
    ]
    [incident] = domain["openIncidents"]
    assert (incident["severity"], incident["status"]) == ("SEV2", "INVESTIGATING")
    assert {s["name"]: s["health"] for s in incident["services"]} == {
        "keycloak": "RED",
        "longhorn": "AMBER",
    }
    assert {s["domain"]["name"] for s in incident["services"]} == {
        "NetKingdom",
        "Railiance Cluster",
    }
    tasks = {t["id"]: t for t in incident["blocksTasks"]}
    assert sorted(tasks) == ["CUST-WP-0025-T01", "CUST-WP-0025-T03"]
    assert tasks["CUST-WP-0025-T01"]["status"] == "BLOCKED"  # dev's own status, too
    assert tasks["CUST-WP-0025-T03"]["workplan"] == {"id": "CUST-WP-0025"}
    assert tasks["CUST-WP-0025-T03"]["blockingIncidents"] == [{"severity": "SEV2"}]
    assert incident["timeline"][0]["text"].startswith("opened as SEV2")
    resolved = body["data"]["incidents"]["nodes"]
    assert [i["title"] for i in resolved] == ["Wildcard certificate expired on the ingress"]
