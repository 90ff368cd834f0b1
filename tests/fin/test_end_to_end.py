"""One page on a domain, one query: every service with its health (ops), its cost this
quarter and per month (fin), and the domain's budget, runway and open work (dev) —
through the gateway, with core, dev, ops, fin and the gateway each a real process
(``hubgraph <hub> serve``, ``hubgraph gateway serve``) on loopback, on SQLite and on
PostgreSQL, over the four hubs' demo data.

The demo's year ends with the current month, so the expectations are worked out here
from its bills (``subgraphs/fin/demo.py``) for today's quarter, by hand's rule: a
service's bill in month ``i`` of the year (0 = eleven months ago) is its first bill plus
``i`` times its growth.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from subgraphs.fin.calculations import Period, format_month, month_start
from tests.auth_support import SERVICE_SECRETS, TestIssuer
from tests.ops.test_end_to_end import ask, process
from tests.support import free_port, postgres_database

pytestmark = pytest.mark.slow

HUBS = ("core", "dev", "ops", "fin")
PAGE = """
query DomainPage($slug: String!, $quarter: String!) {
  domain(slug: $slug) {
    name
    services {
      name health
      cost(period: $quarter) { amounts { amount currency } }
      monthlyCost(period: $quarter) { month cost { amounts { amount currency } } }
    }
    budget(period: $quarter) {
      allocated { amount currency } spent { amounts { amount currency } } usedPercent
    }
    runway(months: 24) { balance { amount currency } monthsRemaining thresholdMonths belowThreshold }
    openTaskCount
    tasks(status: IN_PROGRESS) { id }
  }
}
"""
# The custodian's hub services: (first month's bill, monthly growth), EUR.
CUSTODIAN_BILLS = {
    "core-hub": ("38.08", "0"),
    "dev-hub": ("38.08", "0"),
    "hub-gateway": ("64.26", "1.00"),
    "ops-hub": ("38.08", "0"),
}


@contextlib.contextmanager
def database_urls(backend: str, home: Path) -> Iterator[dict[str, str]]:
    if backend == "sqlite":
        yield {hub: f"sqlite+aiosqlite:///{home / (hub + '.db')}" for hub in HUBS}
        return
    with contextlib.ExitStack() as stack:
        yield {hub: stack.enter_context(postgres_database()) for hub in HUBS}


@pytest.fixture
def gateway(backend: str, issuer: TestIssuer, tmp_path: Path) -> Iterator[str]:
    """The four hubs migrated with their demo data (``hubgraph migrate``, ``hubgraph <hub>
    demo``), served, and the gateway over them; yields its URL."""
    ports = {hub: free_port() for hub in (*HUBS, "gateway")}
    with database_urls(backend, tmp_path) as urls, contextlib.ExitStack() as stack:
        env = {
            "HUBGRAPH_HOME": str(tmp_path),
            "HUBGRAPH_LOG_LEVEL": "warning",
            **issuer.env(),
            **{f"HUBGRAPH_{hub.upper()}_DATABASE_URL": urls[hub] for hub in HUBS},
            **{f"HUBGRAPH_{hub.upper()}_PORT": str(ports[hub]) for hub in HUBS},
        }
        for args in (["migrate"], *([hub, "demo"] for hub in HUBS)):
            done = subprocess.run(
                [sys.executable, "-m", "hubgraph", *args],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
        for hub in HUBS:
            own: dict[str, str] = {}
            if f"{hub}-hub" in SERVICE_SECRETS:  # fin serves without calling other hubs
                own = {
                    "HUBGRAPH_AUTH_CLIENT_ID": f"{hub}-hub",
                    "HUBGRAPH_AUTH_CLIENT_SECRET": SERVICE_SECRETS[f"{hub}-hub"],
                }
            url = f"http://127.0.0.1:{ports[hub]}"
            stack.enter_context(
                process([hub, "serve"], {**env, **own}, f"{url}/readyz", tmp_path / f"{hub}.log")
            )
        subgraphs = [f"--subgraph={hub}=http://127.0.0.1:{ports[hub]}/graphql" for hub in HUBS]
        gateway_url = f"http://127.0.0.1:{ports['gateway']}"
        args = ["gateway", "serve", *subgraphs, "--port", str(ports["gateway"])]
        stack.enter_context(process(args, env, f"{gateway_url}/healthz", tmp_path / "gateway.log"))
        yield f"{gateway_url}/graphql"


def bill(first: str, growth: str, month: date, today: date) -> Decimal:
    index = 11 - ((today.year - month.year) * 12 + today.month - month.month)
    return Decimal(first) + Decimal(growth) * index


def test_a_domain_s_services_health_cost_budget_runway_and_work_in_one_query(
    gateway: str, issuer: TestIssuer
) -> None:
    today = datetime.now(UTC).date()
    quarter = Period.containing(today, "quarter")
    body = ask(
        gateway,
        PAGE,
        {"slug": "custodian", "quarter": str(quarter)},
        issuer.token("finreader"),  # hub:read and fin:read
    )
    assert "errors" not in body, body
    domain = body["data"]["domain"]
    assert domain["name"] == "The Custodian"
    services = {s["name"]: s for s in domain["services"]}
    assert sorted(services) == ["core-hub", "dev-hub", "hub-gateway", "ops-hub"]
    assert {s["health"] for s in services.values()} == {"GREEN"}
    billed = [m for m in quarter.months() if m <= month_start(today)]
    total = Decimal(0)
    for name, (first, growth) in CUSTODIAN_BILLS.items():
        expected = sum((bill(first, growth, m, today) for m in billed), Decimal(0))
        total += expected
        assert services[name]["cost"]["amounts"] == [
            {"amount": f"{expected:.2f}", "currency": "EUR"}
        ], name
        months = services[name]["monthlyCost"]
        assert [m["month"] for m in months] == [format_month(m) for m in quarter.months()]
        for month, shown in zip(quarter.months(), months, strict=True):
            wanted = (
                [{"amount": f"{bill(first, growth, month, today):.2f}", "currency": "EUR"}]
                if month in billed
                else []
            )
            assert shown["cost"]["amounts"] == wanted, (name, month)
    budget = domain["budget"]
    assert budget["allocated"] == {"amount": "15000.00", "currency": "EUR"}
    # What the domain spent in EUR is exactly what its services cost (its token spend
    # is in USD, kept apart).
    spent = {a["currency"]: a["amount"] for a in budget["spent"]["amounts"]}
    assert spent["EUR"] == f"{total:.2f}" and "USD" in spent
    assert Decimal(budget["usedPercent"]) < 80
    # 12000.00 on the first of the month; the salary (3500) and GitHub (76) commit 3576
    # a month, more than the services' bills, so 12000 / 3576 = 3.356 months: below 6.
    assert domain["runway"] == {
        "balance": {"amount": "12000.00", "currency": "EUR"},
        "monthsRemaining": "3.36",
        "thresholdMonths": "6",
        "belowThreshold": True,
    }
    assert domain["openTaskCount"] == 24  # CUST-WP-0025 not done yet (the dev demo)
    assert isinstance(domain["tasks"], list)
