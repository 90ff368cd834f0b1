"""One domain across all hubs, from one gateway query: core (sub-domains, repos, risks,
alerts), dev (workplans, open tasks), ops (services, open incidents) and fin (budget,
runway, budget alerts). HUBGRAPH_DASHBOARD_DOMAIN picks it (default custodian)."""

from __future__ import annotations

import os

from graph import emit, fail, query

MONEY = "{ amount currency }"

QUERY = f"""
query Domain($slug: String!) {{
  domain(slug: $slug) {{
    slug name description
    parent {{ slug name }}
    children {{ slug name }}
    repos {{ name }}
    workplans {{ id title status }}
    openTaskCount
    resourcePressure {{ period percentUsed threshold allocated spent currency }}
    services {{ name namespace health cost {{ amounts {MONEY} }} }}
    openIncidents {{ title severity status openedAt }}
    budget {{
      period allocated {MONEY} used {MONEY} usedPercent crossedThresholds notes
      spent {{ amounts {MONEY} }}
    }}
    runway {{
      balance {MONEY} balanceAsOf monthlyBurn {MONEY}
      monthsRemaining exhaustedIn thresholdMonths belowThreshold notes
    }}
  }}
  domainSummary(slug: $slug) {{
    subdomains {{
      slug name
      parent {{ slug }}
      openTaskCount
      services {{ name namespace health }}
      openIncidents {{ title severity }}
      budget {{ period usedPercent allocated {MONEY} used {MONEY} }}
      runway {{ monthsRemaining thresholdMonths belowThreshold }}
    }}
    openRisks {{ title severity status domainSlug sourceHub updatedAt }}
    activeAlerts {{ title severity status domainSlug sourceHub updatedAt }}
    latestActivityAt
  }}
  budgetAlerts(domain: $slug) {{ kind domain period message }}
}}
"""


def main() -> None:
    slug = os.environ.get("HUBGRAPH_DASHBOARD_DOMAIN") or "custodian"
    data = query(QUERY, {"slug": slug})
    if data["domain"] is None:
        fail(f"no domain {slug!r} in the graph (HUBGRAPH_DASHBOARD_DOMAIN)")
    emit({**data["domain"], **data["domainSummary"], "budgetAlerts": data["budgetAlerts"]})


if __name__ == "__main__":
    main()
