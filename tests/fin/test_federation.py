"""The fin hub's federation surface: ops's Service and core's Domain extended with money,
batched (a few statements per level whatever the number of representations), and guarded
by ``fin:read`` at the hub and at the gateway."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from subgraphs.fin import models
from subgraphs.fin.calculations import Period
from tests.auth_support import TestIssuer
from tests.fin.test_graphql import seed
from tests.support import LiveServer

ENTITIES = "query($reps: [_Any!]!) { _entities(representations: $reps) { %s } }"


def service_ids(count: int) -> list[str]:
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"svc-{i}")) for i in range(count)]


def many_costs(url: str, ids: list[str]) -> None:
    """Each service costs (i + 1).50 EUR on the 1st of July, August and September 2026,
    in the domain domain-(i % 5); budgets and balances for the five domains."""
    rows: list[Any] = []
    for i, sid in enumerate(ids):
        for month in (7, 8, 9):
            rows.append(
                models.CostEntry(
                    date=date(2026, month, 1), amount=Decimal(f"{i + 1}.50"), currency="EUR",
                    vendor="Hetzner", category="servers", service_id=sid,
                    domain_slug=f"domain-{i % 5}", attribution="service", source_file="t",
                    source_row=i, row_digest=hashlib.sha256(f"{sid}{month}".encode()).hexdigest(),
                )
            )  # fmt: skip
    for d in range(5):
        rows.append(
            models.Budget(
                domain_slug=f"domain-{d}", period="2026-Q3", period_start=date(2026, 7, 1),
                period_end=date(2026, 10, 1), allocated=Decimal(1000), currency="EUR",
            )
        )  # fmt: skip
        rows.append(
            models.Balance(
                domain_slug=f"domain-{d}", amount=Decimal(5000), currency="EUR",
                as_of=date(2026, 10, 1), alert_below_months=6,
            )
        )  # fmt: skip
    seed(url, rows)


def test_200_services_cost_one_statement_per_field(fin: LiveServer, fin_database_url: str) -> None:
    ids = service_ids(200)
    many_costs(fin_database_url, ids)
    reps = [{"__typename": "Service", "id": i} for i in [*ids, "not-a-uuid"]]
    selection = (
        '... on Service { id cost(period: "2026-Q3") { single { amount currency } } '
        'monthlyCost(period: "2026-Q3") { month cost { amounts { amount } } } }'
    )
    with fin.count_statements() as statements:
        entities = fin.gql(ENTITIES % selection, {"reps": reps})["_entities"]
    assert len(statements) == 2, statements  # cost, monthly cost
    assert len(entities) == 201
    # svc-3: 4.50 in each of the three months.
    assert entities[3]["cost"]["single"] == {"amount": "13.50", "currency": "EUR"}
    assert entities[3]["monthlyCost"] == [
        {"month": "2026-07", "cost": {"amounts": [{"amount": "4.50"}]}},
        {"month": "2026-08", "cost": {"amounts": [{"amount": "4.50"}]}},
        {"month": "2026-09", "cost": {"amounts": [{"amount": "4.50"}]}},
    ]
    assert entities[-1]["cost"]["single"] is None  # nothing is booked to it


def test_domains_budget_and_runway_in_batches(fin: LiveServer, fin_database_url: str) -> None:
    many_costs(fin_database_url, service_ids(200))
    reps = [{"__typename": "Domain", "slug": f"domain-{d}"} for d in range(6)]
    selection = (
        '... on Domain { slug budget(period: "2026-Q3") { allocated { amount } '
        "spent { single { amount } } usedPercent crossedThresholds } "
        "runway(months: 24) { monthlyBurn { amount } monthsRemaining belowThreshold } }"
    )
    with fin.count_statements() as statements:
        domains = fin.gql(ENTITIES % selection, {"reps": reps})["_entities"]
    # budgets, their spend (costs, tokens) and commitments; balances, spend (costs,
    # tokens) and commitments for the runways
    assert len(statements) == 8, statements
    # domain-0 has services 0, 5, ..., 195: 40 services costing sum(i + 1.5) a month =
    # 40 * 1.5 + (0 + 5 + ... + 195) = 60 + 3900 = 3960 a month, 11880 in the quarter.
    zero = domains[0]
    assert zero["budget"]["spent"]["single"] == {"amount": "11880.00"}
    assert zero["budget"]["usedPercent"] == "1188.00"
    assert zero["budget"]["crossedThresholds"] == ["80", "100"]
    # 5000 at 3960 a month: 1 + 1040 / 3960 = 1.26 months.
    assert zero["runway"] == {
        "monthlyBurn": {"amount": "3960.00"},
        "monthsRemaining": "1.26",
        "belowThreshold": True,
    }
    assert domains[5] == {"slug": "domain-5", "budget": None, "runway": None}


async def test_hub_readers_see_services_without_their_cost(
    tmp_path: Path, issuer: TestIssuer
) -> None:
    from tests.test_federation_hubs import hubs_behind_a_gateway

    quarter = str(Period.containing(datetime.now(UTC).date(), "quarter"))
    document = """query($q: String!) {
      domain(slug: "railiance-cluster") {
        services { name health cost(period: $q) { single { amount currency } } }
        budget(period: $q) { allocated { amount } }
      }
    }"""
    async with hubs_behind_a_gateway(tmp_path / "reader", issuer) as query:
        body = await query(document, {"q": quarter})
    services = body["data"]["domain"]["services"]
    assert [s["name"] for s in services] == ["cert-manager", "longhorn", "traefik"]
    assert all(s["cost"] is None for s in services)
    assert body["data"]["domain"]["budget"] is None
    # Each money field is null with FORBIDDEN (three services' cost, the budget); the
    # services themselves come from ops as for anyone with hub:read.
    denied = sorted((e["path"][-1], e["extensions"]["code"]) for e in body["errors"])
    assert denied == [("budget", "FORBIDDEN")] + [("cost", "FORBIDDEN")] * 3
    async with hubs_behind_a_gateway(tmp_path / "fin", issuer, user="finreader") as query:
        body = await query(document, {"q": quarter})
    assert "errors" not in body, body
    costs = {s["name"]: s["cost"]["single"] for s in body["data"]["domain"]["services"]}
    assert set(costs) == {"cert-manager", "longhorn", "traefik"}
    assert all(c is not None and c["currency"] == "EUR" for c in costs.values())
    assert body["data"]["domain"]["budget"] == {"allocated": {"amount": "1350.00"}}


def test_the_money_fields_default_to_the_current_period(
    fin: LiveServer, fin_database_url: str
) -> None:
    """Without arguments: cost and budget of the current quarter, monthly cost of the
    current year, a 24-month runway — the same answers as those periods given."""
    ids = service_ids(3)
    many_costs(fin_database_url, ids)
    today = datetime.now(UTC).date()
    quarter, year = Period.containing(today, "quarter"), Period.containing(today, "year")
    implicit = (
        "... on Service { cost { amounts { amount } } monthlyCost { month cost { amounts { amount } } } } "
        "... on Domain { budget { period } runway { projection { month } } }"
    )  # fmt: skip
    explicit = (
        f'... on Service {{ cost(period: "{quarter}") {{ amounts {{ amount }} }} '
        f'monthlyCost(period: "{year}") {{ month cost {{ amounts {{ amount }} }} }} }} '
        f'... on Domain {{ budget(period: "{quarter}") {{ period }} '
        "runway(months: 24) { projection { month } } }"
    )
    reps = [*({"__typename": "Service", "id": i} for i in ids)]
    reps.append({"__typename": "Domain", "slug": "domain-0"})
    found = fin.gql(ENTITIES % implicit, {"reps": reps})["_entities"]
    assert found == fin.gql(ENTITIES % explicit, {"reps": reps})["_entities"]
    assert [m["month"] for m in found[0]["monthlyCost"]] == [
        f"{today.year}-{m:02d}" for m in range(1, 13)
    ]
    assert len(found[-1]["runway"]["projection"]) == 24


async def test_the_domain_page_through_the_gateway_is_batched(
    tmp_path: Path, issuer: TestIssuer
) -> None:
    """Every domain's page (services with health and money, budget, runway, open work)
    costs each hub as many statements as one domain's: one ``_entities`` request per hub
    and level, answered in batches."""
    from sqlalchemy import event

    from tests.test_federation_hubs import hubs_behind_a_gateway

    page = """
      slug services { name health cost(period: $q) { single { amount } }
                      monthlyCost(period: $q) { month } }
      budget(period: $q) { usedPercent } runway { monthsRemaining } openTaskCount
    """
    quarter = str(Period.containing(datetime.now(UTC).date(), "quarter"))
    apps: dict[str, Any] = {}
    counts: dict[str, int] = {}

    def counter(hub: str) -> Any:
        def record(*_: Any) -> None:
            counts[hub] = counts.get(hub, 0) + 1

        return record

    async with hubs_behind_a_gateway(tmp_path, issuer, user="finreader", apps=apps) as query:
        for hub, app in apps.items():
            event.listen(app.state.db.engine.sync_engine, "before_cursor_execute", counter(hub))
        one_domain = 'query($q: String!) { domain(slug: "railiance-cluster") {' + page + "} }"
        one = await query(one_domain, {"q": quarter})
        for_one, counts = counts, {}
        every_domain = "query($q: String!) { domains(first: 100) { nodes {" + page + "} } }"
        every = await query(every_domain, {"q": quarter})
    assert "errors" not in one and "errors" not in every, (one, every)
    nodes = every["data"]["domains"]["nodes"]
    assert len(nodes) > 5 and sum(len(n["services"]) for n in nodes) >= 12
    assert counts["fin"] == for_one["fin"] and counts["ops"] == for_one["ops"], (for_one, counts)
    assert for_one["fin"] <= 10, for_one  # cost, monthly cost, budget and runway inputs
