"""Fin: spend by month and by service, budgets against allocations, a domain's runway
and token spend by model. One gateway query (fin, with ops for the services' names);
further pages of cost entries, if there are more than 500, by fin-only queries.

Amounts stay decimal strings with their currency. Sums are made per currency with
Decimal; no two currencies are ever added. HUBGRAPH_DASHBOARD_DOMAIN picks the runway's
domain (default custodian).
"""

from __future__ import annotations

import datetime
import os
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from graph import emit, query

MONEY = "{ amount currency }"
TOTALS = "{ amounts { amount currency } single { amount currency } }"

QUERY = f"""
query Fin($domain: String!) {{
  services(first: 500) {{
    nodes {{
      id name namespace domainSlug
      monthlyCost {{ month cost {TOTALS} }}
    }}
  }}
  costEntries(first: 500) {{
    totalCount
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ date amount {MONEY} vendor category serviceId domain }}
  }}
  costTotals {{ perCurrency {TOTALS} }}
  budgets {{
    domain period periodStart periodEnd
    allocated {MONEY} used {MONEY} usedPercent crossedThresholds
    spent {TOTALS} committed {TOTALS} notes
  }}
  budgetAlerts {{ kind domain period threshold usedPercent monthsRemaining message }}
  runway(domain: $domain) {{
    domain balance {MONEY} balanceAsOf monthlyBurn {MONEY}
    monthsRemaining exhaustedIn thresholdMonths belowThreshold notes
    projection {{ month opening {MONEY} spend {MONEY} closing {MONEY} }}
  }}
  tokenUsage {{ provider model tokensIn tokensOut requests pricedFromTable cost {TOTALS} }}
}}
"""

MORE_COST_ENTRIES = f"""
query MoreCostEntries($after: String) {{
  costEntries(first: 500, after: $after) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ date amount {MONEY} vendor category serviceId domain }}
  }}
}}
"""


def money(amount: Decimal, currency: str) -> dict[str, Any]:
    """A sum as the graph writes amounts (a decimal string), plus a number to plot."""
    return {"amount": str(amount), "currency": currency, "value": float(amount)}


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def cost_entries(first_page: dict[str, Any]) -> list[dict[str, Any]]:
    entries = list(first_page["nodes"])
    page = first_page["pageInfo"]
    while page["hasNextPage"]:
        more = query(MORE_COST_ENTRIES, {"after": page["endCursor"]})["costEntries"]
        entries += more["nodes"]
        page = more["pageInfo"]
    return entries


def spend_by_month(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cost entries summed per month and currency (never across currencies)."""
    sums: dict[tuple[str, str], Decimal] = {}
    for entry in entries:
        key = (entry["date"][:7], entry["amount"]["currency"])
        sums[key] = sums.get(key, Decimal(0)) + Decimal(entry["amount"]["amount"])
    return [{"month": month, **money(total, cur)} for (month, cur), total in sorted(sums.items())]


def spend_by_service(services: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each service's cost per month (Service.monthlyCost), one row per currency."""
    rows = []
    for service in services:
        for month in service["monthlyCost"] or []:
            for amount in month["cost"]["amounts"]:
                rows.append(
                    {
                        "service": service["name"],
                        "namespace": service["namespace"],
                        "domain": service["domainSlug"],
                        "month": month["month"],
                        **money(Decimal(amount["amount"]), amount["currency"]),
                    }
                )
    return rows


def current_budgets(budgets: list[dict[str, Any]], today: datetime.date) -> list[dict[str, Any]]:
    """Each domain's budget whose period contains today; its latest one otherwise."""
    chosen: dict[str, dict[str, Any]] = {}
    for budget in sorted(budgets, key=lambda b: b["periodStart"]):
        start = datetime.date.fromisoformat(budget["periodStart"])
        if start <= today or budget["domain"] not in chosen:
            chosen[budget["domain"]] = budget
    rows = []
    for domain, budget in sorted(chosen.items()):
        rows.append(
            {
                "domain": domain,
                "period": budget["period"],
                "allocated": money(
                    Decimal(budget["allocated"]["amount"]), budget["allocated"]["currency"]
                ),
                "used": money(Decimal(budget["used"]["amount"]), budget["used"]["currency"]),
                "usedPercent": budget["usedPercent"],
                "crossedThresholds": budget["crossedThresholds"],
                "spent": budget["spent"]["amounts"],
                "committed": budget["committed"]["amounts"],
                "notes": budget["notes"],
            }
        )
    return rows


def runway(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """The runway with one point per projected month, and the threshold drawn in money:
    thresholdMonths times the average projected monthly spend."""
    if data is None:
        return None
    projection = data["projection"]
    currency = data["balance"]["currency"]
    points = [
        {
            "month": month["month"],
            "opening": month["opening"],
            "spend": month["spend"],
            "closing": month["closing"],
            "value": float(Decimal(month["closing"]["amount"])),
        }
        for month in projection
    ]
    spends = [Decimal(m["spend"]["amount"]) for m in projection]
    average = sum(spends, Decimal(0)) / len(spends) if spends else Decimal(0)
    threshold = Decimal(data["thresholdMonths"]) * average
    return {
        **{k: v for k, v in data.items() if k != "projection"},
        "points": points,
        "averageSpend": money(cents(average), currency),
        "thresholdBalance": money(cents(threshold), currency),
    }


def main() -> None:
    domain = os.environ.get("HUBGRAPH_DASHBOARD_DOMAIN") or "custodian"
    data = query(QUERY, {"domain": domain})
    today = datetime.datetime.now(datetime.timezone.utc).date()  # noqa: UP017 (any python3)
    entries = cost_entries(data["costEntries"])
    emit(
        {
            "domain": domain,
            "today": today.isoformat(),
            "costEntryCount": data["costEntries"]["totalCount"],
            "spendByMonth": spend_by_month(entries),
            "spendByService": spend_by_service(data["services"]["nodes"]),
            "costTotals": data["costTotals"]["perCurrency"]["amounts"],
            "budgets": current_budgets(data["budgets"], today),
            "allBudgets": data["budgets"],
            "budgetAlerts": data["budgetAlerts"],
            "runway": runway(data["runway"]),
            "tokenUsage": [
                {
                    **usage,
                    "label": f"{usage['provider']} {usage['model']}",
                    "costs": [
                        money(Decimal(a["amount"]), a["currency"]) for a in usage["cost"]["amounts"]
                    ],
                }
                for usage in data["tokenUsage"]
            ],
        }
    )


if __name__ == "__main__":
    main()
