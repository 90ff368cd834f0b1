"""Currencies through GraphQL with a rate table configured ([hubs.fin.options] rates) and
thresholds of the hub's own: sums converted only where asked, naming the rates; a
missing rate is an error, never a silent sum."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from tests.auth_support import TestIssuer
from tests.fin.conftest import fin_app, fin_settings
from tests.fin.test_graphql import entry, seed
from tests.support import LiveServer, empty_tables

OPTIONS = {
    "rates": {"base": "EUR", "rates": {"USD": "0.92"}, "as_of": "2026-11-30"},
    "budget_thresholds": ["50", "90"],
}


@pytest.fixture
def rated(fin_database_url: str, issuer: TestIssuer, tmp_path: Path) -> Iterator[LiveServer]:
    from subgraphs.fin import models

    settings = fin_settings(fin_database_url, issuer, tmp_path, **OPTIONS)
    server = LiveServer(fin_app(settings, migrate_on_start=True), headers=issuer.headers("admin"))
    server.start()  # migrated now
    empty_tables(fin_database_url, models.Base.metadata)
    yield server
    server.stop()
    empty_tables(fin_database_url, models.Base.metadata)


def test_totals_are_converted_when_asked_and_name_their_rates(
    rated: LiveServer, fin_database_url: str
) -> None:
    seed(
        fin_database_url,
        [
            entry(date(2026, 7, 1), "100.00"),
            entry(date(2026, 7, 2), "50.00", currency="USD", vendor="Grafana Labs"),
            entry(date(2026, 7, 3), "10.00", currency="GBP", vendor="Fastly"),
        ],
    )
    query = """query($c: String) { costTotals(currency: $c) {
      converted { total { amount currency } rates { currency rate } } } }"""
    body = rated.result(query, {"c": "EUR"})
    # GBP has no rate: refused, naming it; nothing is summed silently.
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "GBP" in body["errors"][0]["message"]
    usd_only = rated.gql(
        """{ costTotals(vendor: "Grafana Labs", currency: "EUR") {
          converted { total { amount currency } rates { currency rate } base asOf } } }"""
    )["costTotals"]["converted"]
    # USD 50.00 at 0.92 = EUR 46.00.
    assert usd_only == {
        "total": {"amount": "46.00", "currency": "EUR"},
        "rates": [{"currency": "USD", "rate": "0.92"}],
        "base": "EUR",
        "asOf": "2026-11-30",
    }


def test_a_budget_uses_the_rates_and_the_hub_s_thresholds(
    rated: LiveServer, fin_database_url: str
) -> None:
    seed(
        fin_database_url,
        [
            entry(date(2026, 7, 1), "100.00"),
            entry(date(2026, 7, 2), "50.00", currency="USD"),
        ],
    )
    budget = rated.gql(
        """mutation { setBudget(input: {domain: "net-kingdom", period: "2026-Q3",
             allocated: "200", currency: "EUR"}) {
           used { amount currency } ratesUsed { currency rate } usedPercent crossedThresholds
           notes } }"""
    )["setBudget"]
    # 100 + 50 * 0.92 = 146.00 of 200 = 73%: past the hub's 50, short of its 90.
    assert budget == {
        "used": {"amount": "146.00", "currency": "EUR"},
        "ratesUsed": [{"currency": "USD", "rate": "0.92"}],
        "usedPercent": "73.00",
        "crossedThresholds": ["50"],
        "notes": [],
    }


def test_a_currency_without_a_rate_is_left_out_alone(
    rated: LiveServer, fin_database_url: str
) -> None:
    seed(
        fin_database_url,
        [
            entry(date(2026, 7, 1), "100.00"),
            entry(date(2026, 7, 2), "50.00", currency="USD"),
            entry(date(2026, 7, 3), "10.00", currency="GBP"),
        ],
    )
    budget = rated.gql(
        """mutation { setBudget(input: {domain: "net-kingdom", period: "2026-Q3",
             allocated: "200", currency: "EUR"}) {
           used { amount currency } ratesUsed { currency rate } usedPercent notes } }"""
    )["setBudget"]
    # The table has USD and no GBP: 100 + 50 x 0.92 = 146.00 (GBP 10 left out, named).
    # It left out the USD as well, whose rate it has: 100.00, "GBP, USD left out".
    assert budget == {
        "used": {"amount": "146.00", "currency": "EUR"},
        "ratesUsed": [{"currency": "USD", "rate": "0.92"}],
        "usedPercent": "73.00",
        "notes": [
            "spending in GBP left out: no rate into EUR (configure the fin hub's rate "
            "table to convert them)"
        ],
    }


def test_a_runway_counts_the_same_day_s_cash_in_every_currency(
    rated: LiveServer, fin_database_url: str
) -> None:
    seed(fin_database_url, [entry(date(2026, m, 10), "1000.00") for m in (4, 5, 6)])
    for amount, currency in (("3000", "EUR"), ("1000", "USD"), ("500", "GBP")):
        rated.gql(
            """mutation($a: Decimal!, $c: String!) { setBalance(input: {domain: "net-kingdom",
                 amount: $a, currency: $c, asOf: "2026-07-01"}) { id } }""",
            {"a": amount, "c": currency},
        )
    runway = rated.gql(
        """{ runway(domain: "net-kingdom") { balance { amount currency } monthsRemaining
             ratesUsed { currency rate } notes } }"""
    )["runway"]
    # EUR, set first: 3000 + USD 1000 x 0.92 = 3920.00 (GBP has no rate: left out, said
    # so); at 1000.00 a month, 3 + 920 / 1000 = 3.92 months. It used to be one of the
    # three balances alone (the one set last, GBP 500), the others dropped unsaid.
    assert runway == {
        "balance": {"amount": "3920.00", "currency": "EUR"},
        "monthsRemaining": "3.92",
        "ratesUsed": [{"currency": "USD", "rate": "0.92"}],
        "notes": [
            "balances in GBP left out: no rate into EUR (configure the fin hub's rate "
            "table to convert them)"
        ],
    }
