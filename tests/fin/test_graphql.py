"""The fin hub's GraphQL over real HTTP with real tokens: budgets, commitments, balances,
costs and tokens, burn, runway and alerts; errors with codes and nothing written; access
(``fin:read`` to read any money, ``fin:write`` to change it)."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from subgraphs.core.kit.database import Database
from subgraphs.fin import models
from tests.auth_support import TestIssuer
from tests.support import LiveServer, count_rows

KEYCLOAK = "7d0c5a3e-2a51-4f7e-9a57-0c6f7a1d2b01"

SET_BUDGET = """
mutation($input: SetBudgetInput!) {
  setBudget(input: $input) {
    id domain period periodStart periodEnd allocated { amount currency }
    spent { amounts { amount currency } } committed { single { amount currency } }
    used { amount currency } usedPercent crossedThresholds notes
  }
}"""


def seed(url: str, rows: list[Any]) -> None:
    async def run() -> None:
        db = Database(url)
        try:
            async with db.transaction() as s:
                s.add_all(rows)
        finally:
            await db.dispose()

    asyncio.run(run())


def entry(day: date, amount: str, currency: str = "EUR", **extra: Any) -> models.CostEntry:
    values: dict[str, Any] = {
        "vendor": "Hetzner",
        "category": "servers",
        "service_id": KEYCLOAK,
        "domain_slug": "net-kingdom",
        "attribution": "service",
        **extra,
    }
    return models.CostEntry(
        date=day,
        amount=Decimal(amount),
        currency=currency,
        source_file="bill.csv",
        source_row=1,
        row_digest=hashlib.sha256(f"{day}{amount}{currency}{values}".encode()).hexdigest(),
        **values,
    )


def test_a_budget_is_set_changed_and_derived(fin: LiveServer, fin_database_url: str) -> None:
    seed(fin_database_url, [entry(date(2026, 7, 3), "412.5"), entry(date(2026, 8, 3), "87.5")])
    data = fin.gql(
        SET_BUDGET,
        {
            "input": {
                "domain": "net-kingdom",
                "period": "2026-Q3",
                "allocated": "600.00",
                "currency": "EUR",
            }
        },
    )["setBudget"]
    assert data["period"] == "2026-Q3"
    assert (data["periodStart"], data["periodEnd"]) == ("2026-07-01", "2026-10-01")
    assert data["allocated"] == {"amount": "600.00", "currency": "EUR"}
    assert data["spent"]["amounts"] == [{"amount": "500.00", "currency": "EUR"}]
    assert data["committed"]["single"] is None  # no commitments
    # 500 of 600: 83.33...% -> the 80% threshold (the period is past: nothing committed).
    assert data["used"] == {"amount": "500.00", "currency": "EUR"}
    assert data["usedPercent"] == "83.33"
    assert data["crossedThresholds"] == ["80"]
    again = fin.gql(
        SET_BUDGET,
        {
            "input": {
                "domain": "net-kingdom",
                "period": "2026-q3",
                "allocated": "1000",
                "currency": "EUR",
            }
        },
    )["setBudget"]
    assert again["id"] == data["id"] and again["usedPercent"] == "50.00"
    listed = fin.gql('{ budgets(domain: "net-kingdom") { period allocated { amount } } }')
    assert listed["budgets"] == [{"period": "2026-Q3", "allocated": {"amount": "1000.00"}}]


@pytest.mark.parametrize(
    ("change", "argument"),
    [
        ({"period": "Q3-2026"}, "period"),
        ({"allocated": "-5"}, "allocated"),
        ({"currency": "XYZ"}, "currency"),
    ],
)
def test_bad_budget_input_is_refused_with_a_code_and_nothing_written(
    fin: LiveServer, fin_database_url: str, change: dict[str, str], argument: str
) -> None:
    values = {"domain": "net-kingdom", "period": "2026-Q3", "allocated": "600", "currency": "EUR"}
    error = fin.error(SET_BUDGET, {"input": {**values, **change}})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == argument
    assert count_rows(fin_database_url, "budgets") == 0


def test_floats_are_refused_as_amounts(fin: LiveServer, fin_database_url: str) -> None:
    body = fin.result(
        SET_BUDGET,
        {"input": {"domain": "d", "period": "2026", "allocated": 600.1, "currency": "EUR"}},
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "float" in body["errors"][0]["message"]
    assert count_rows(fin_database_url, "budgets") == 0


def test_commitments_balances_burn_and_runway(fin: LiveServer, fin_database_url: str) -> None:
    # April-June 2026: 1000.00 a month; a monthly contract of 300 and a yearly 1200 from
    # July (100 a month); 4000.00 in the bank on 1 July.
    seed(fin_database_url, [entry(date(2026, m, 10), "1000.00") for m in (4, 5, 6)])
    create = """
    mutation($input: CommitmentInput!) {
      createCommitment(input: $input) { id kind cadence amount { amount currency }
        monthlyAmount { amount } start end serviceId domain }
    }"""
    contract = fin.gql(
        create,
        {"input": {"kind": "CONTRACT", "vendor": "Hetzner", "amount": "300", "currency": "EUR",
                   "cadence": "MONTHLY", "start": "2026-01-01", "domain": "net-kingdom",
                   "serviceId": KEYCLOAK}},
    )["createCommitment"]  # fmt: skip
    assert contract["amount"] == {"amount": "300.00", "currency": "EUR"}
    assert contract["serviceId"] == KEYCLOAK and contract["end"] is None
    yearly = fin.gql(
        create,
        {"input": {"kind": "SUBSCRIPTION", "vendor": "Keycloak support", "amount": "1200",
                   "currency": "EUR", "cadence": "YEARLY", "start": "2026-07-01",
                   "domain": "net-kingdom"}},
    )["createCommitment"]  # fmt: skip
    assert yearly["monthlyAmount"] == {"amount": "100.00"}
    fin.gql(
        """mutation { setBalance(input: {domain: "net-kingdom", amount: "4000", currency: "EUR",
             asOf: "2026-07-01", alertBelowMonths: 6}) { id } }"""
    )
    burn = fin.gql(
        '{ burnRate(domain: "net-kingdom", period: "2026-Q2", asOf: "2026-12-01") '
        "{ currency actualMonthly { amount } projectedMonthly { amount } monthsAveraged "
        "projectedMonth } }"
    )["burnRate"]
    # (1000 * 3) / 3 = 1000 actual; July's commitments 300 + 1200 / 12 = 400 projected.
    assert burn == [
        {"currency": "EUR", "actualMonthly": {"amount": "1000.00"},
         "projectedMonthly": {"amount": "400.00"}, "monthsAveraged": 3,
         "projectedMonth": "2026-07"}
    ]  # fmt: skip
    runway = fin.gql(
        '{ runway(domain: "net-kingdom") { balance { amount } balanceAsOf monthlyBurn { amount }'
        " monthsRemaining exhaustedIn thresholdMonths belowThreshold"
        " projection { month opening { amount } spend { amount } closing { amount } } } }"
    )["runway"]
    # 4000 at 1000 a month: four months, exhausted in November; below six.
    assert runway["monthlyBurn"] == {"amount": "1000.00"}
    assert (runway["monthsRemaining"], runway["exhaustedIn"]) == ("4.00", "2026-11")
    assert runway["belowThreshold"] is True and runway["thresholdMonths"] == "6"
    assert len(runway["projection"]) == 24
    assert runway["projection"][3] == {
        "month": "2026-10",
        "opening": {"amount": "1000.00"},
        "spend": {"amount": "1000.00"},
        "closing": {"amount": "0.00"},
    }
    ended = fin.gql(
        'mutation($id: ID!) { endCommitment(id: $id, end: "2026-09-30") { end } }',
        {"id": contract["id"]},
    )
    assert ended["endCommitment"]["end"] == "2026-09-30"
    alerts = fin.gql(
        '{ budgetAlerts(asOf: "2026-07-01") { kind domain monthsRemaining message } }'
    )["budgetAlerts"]
    # From October the contract is gone: 700 a month; 4000 - 3 * 1000 = 1000 opens
    # October, 300 closes it, 300 of November's 700 -> 4 + 3/7 = 4.43 months.
    assert [(a["kind"], a["domain"], a["monthsRemaining"]) for a in alerts] == [
        ("RUNWAY_BELOW_THRESHOLD", "net-kingdom", "4.43")
    ]
    error = fin.error(
        'mutation($id: ID!) { endCommitment(id: $id, end: "2025-01-01") { end } }',
        {"id": contract["id"]},
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_cost_entries_filtered_and_paged_and_totals_per_currency(
    fin: LiveServer, fin_database_url: str
) -> None:
    seed(
        fin_database_url,
        [
            entry(date(2026, 7, 1), "10.10"),
            entry(date(2026, 7, 2), "20.20"),
            entry(date(2026, 7, 3), "30", currency="USD", vendor="Grafana Labs"),
            entry(date(2026, 10, 1), "99"),
            entry(date(2026, 7, 4), "1.11", service_id=None, domain_slug=None,
                  attribution="unattributed"),
        ],
    )  # fmt: skip
    page = """
    query($after: String) {
      costEntries(period: "2026-Q3", first: 2, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } nodes { date amount { amount currency } }
      }
    }"""
    first = fin.gql(page)["costEntries"]
    assert first["totalCount"] == 4
    assert [n["date"] for n in first["nodes"]] == ["2026-07-04", "2026-07-03"]
    rest = fin.gql(page, {"after": first["pageInfo"]["endCursor"]})["costEntries"]
    assert [n["date"] for n in rest["nodes"]] == ["2026-07-02", "2026-07-01"]
    assert rest["pageInfo"]["hasNextPage"] is False
    totals = fin.gql(
        '{ costTotals(period: "2026-Q3") { perCurrency { amounts { amount currency } single { amount } }'
        " converted { total { amount } } } }"
    )["costTotals"]
    # EUR 10.10 + 20.20 + 1.11 = 31.41; USD 30 kept apart.
    assert totals["perCurrency"] == {
        "amounts": [{"amount": "31.41", "currency": "EUR"}, {"amount": "30.00", "currency": "USD"}],
        "single": None,
    }
    assert totals["converted"] is None
    error = fin.error(
        '{ costTotals(period: "2026-Q3", currency: "EUR") { converted { total { amount } } } }'
    )
    assert error["extensions"]["code"] == "NOT_CONFIGURED"
    vendor = fin.gql(
        '{ costTotals(vendor: "Grafana Labs") { perCurrency { single { amount currency } } } }'
    )
    assert vendor["costTotals"]["perCurrency"]["single"] == {"amount": "30.00", "currency": "USD"}
    unattributed = fin.gql(
        "{ costEntries(attribution: UNATTRIBUTED) { nodes { amount { amount } serviceId } } }"
    )["costEntries"]["nodes"]
    assert unattributed == [{"amount": {"amount": "1.11"}, "serviceId": None}]
    bad = fin.error('{ costEntries(after: "bm9wZQ==") { totalCount } }')
    assert bad["extensions"]["code"] == "BAD_USER_INPUT"


def test_token_spend_and_usage_by_model(fin: LiveServer, fin_database_url: str) -> None:
    def spend(hour: int, model: str, cost: str, source: str = "export") -> models.TokenSpend:
        return models.TokenSpend(
            at=datetime(2026, 7, 1, hour, tzinfo=UTC), provider="anthropic", model=model,
            tokens_in=1_000_000, tokens_out=100_000, cost=Decimal(cost), currency="USD",
            cost_source=source, session_id=f"s-{hour % 2}", source_file="usage.json",
            source_row=hour, row_digest=hashlib.sha256(f"{hour}{model}".encode()).hexdigest(),
        )  # fmt: skip

    seed(
        fin_database_url,
        [
            spend(1, "claude-sonnet-4", "4.500000"),
            spend(2, "claude-sonnet-4", "4.500001", "price_table"),
            spend(3, "claude-opus-4", "22.5"),
        ],
    )
    usage = fin.gql(
        '{ tokenUsage(period: "2026-07") { provider model tokensIn tokensOut requests'
        " cost { single { amount currency } } pricedFromTable } }"
    )["tokenUsage"]
    assert usage == [
        {"provider": "anthropic", "model": "claude-opus-4", "tokensIn": 3 * 0 + 1_000_000,
         "tokensOut": 100_000, "requests": 1, "cost": {"single": {"amount": "22.50", "currency": "USD"}},
         "pricedFromTable": 0},
        {"provider": "anthropic", "model": "claude-sonnet-4", "tokensIn": 2_000_000,
         "tokensOut": 200_000, "requests": 2,
         "cost": {"single": {"amount": "9.000001", "currency": "USD"}}, "pricedFromTable": 1},
    ]  # fmt: skip
    by_session = fin.gql(
        '{ tokenSpend(sessionId: "s-1") { totalCount nodes { model costSource cost { amount } } } }'
    )["tokenSpend"]
    assert by_session["totalCount"] == 2
    assert by_session["nodes"][0] == {
        "model": "claude-opus-4",
        "costSource": "EXPORT",
        "cost": {"amount": "22.50"},
    }


def test_money_needs_fin_read_and_changes_fin_write(
    fin: LiveServer, issuer: TestIssuer, fin_database_url: str
) -> None:
    query = "{ budgets { id } }"
    anonymous = fin.result(query, anonymous=True)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHORIZED"
    reader = fin.result(query, headers=issuer.headers("reader"))
    assert reader["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert fin.gql(query, headers=issuer.headers("finreader")) == {"budgets": []}
    mutation = SET_BUDGET
    variables = {"input": {"domain": "d", "period": "2026", "allocated": "1", "currency": "EUR"}}
    denied = fin.result(mutation, variables, headers=issuer.headers("finreader"))
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert count_rows(fin_database_url, "budgets") == 0
    written = fin.gql(mutation, variables, headers=issuer.headers("finwriter"))
    assert written["setBudget"]["allocated"] == {"amount": "1.00", "currency": "EUR"}


def test_judged_figures_are_never_shown_across_their_threshold(
    fin: LiveServer, fin_database_url: str
) -> None:
    # net-kingdom: 1000.00 a month in April-June, 999.96 in July; custodian: 1.00 in July.
    seed(
        fin_database_url,
        [
            *(entry(date(2026, m, 10), "1000.00") for m in (4, 5, 6)),
            entry(date(2026, 7, 10), "999.96"),
            entry(date(2026, 7, 11), "1.00", domain_slug="custodian", service_id=None),
        ],
    )
    for domain, allocated in (("net-kingdom", "1000"), ("custodian", "800")):
        fin.gql(
            SET_BUDGET,
            {"input": {"domain": domain, "period": "2026-Q3", "allocated": allocated,
                       "currency": "EUR"}},
        )  # fmt: skip
    fin.gql(
        """mutation { setBalance(input: {domain: "net-kingdom", amount: "5999.99",
             currency: "EUR", asOf: "2026-07-01", alertBelowMonths: 6}) { id } }"""
    )
    budgets = fin.gql(
        '{ budgets(period: "2026-Q3", asOf: "2026-09-30") { domain usedPercent '
        "crossedThresholds } }"
    )["budgets"]
    # 999.96 of 1000.00 = 99.996 %: the 100 % threshold is not reached, and "100.00"
    # (as it was shown) said it was. 1.00 of 800.00 = 0.125 % -> 0.13, half up as money
    # is rounded (it was half even: 0.12).
    assert budgets == [
        {"domain": "custodian", "usedPercent": "0.13", "crossedThresholds": []},
        {"domain": "net-kingdom", "usedPercent": "99.99", "crossedThresholds": ["80"]},
    ]
    alerts = fin.gql(
        '{ budgetAlerts(asOf: "2026-09-30") { kind domain usedPercent monthsRemaining '
        "threshold message } }"
    )["budgetAlerts"]
    # The runway: 5999.99 at 1000.00 a month = 5 + 999.99 / 1000.00 = 5.99999 months,
    # below 6; shown as 5.99 (it was "6.00" months, and "6.0" in the message).
    assert alerts == [
        {"kind": "BUDGET_THRESHOLD_CROSSED", "domain": "net-kingdom", "usedPercent": "99.99",
         "monthsRemaining": None, "threshold": "80",
         "message": "net-kingdom 2026-Q3: spent and committed reach 99.99% of 1000 EUR "
                    "(threshold 80%)"},
        {"kind": "RUNWAY_BELOW_THRESHOLD", "domain": "net-kingdom", "usedPercent": None,
         "monthsRemaining": "5.99", "threshold": "6",
         "message": "net-kingdom: runway of 5.99 months, below its threshold of 6 months"},
    ]  # fmt: skip
    # Asked for three months only, the runway still judges its threshold of six (it
    # was cut to three, and five-odd months were "not below").
    runway = fin.gql(
        '{ runway(domain: "net-kingdom", months: 3) { monthsRemaining exhaustedIn '
        "thresholdMonths belowThreshold projection { month } } }"
    )["runway"]
    assert runway == {
        "monthsRemaining": "5.99",
        "exhaustedIn": "2026-12",
        "thresholdMonths": "6",
        "belowThreshold": True,
        "projection": [{"month": "2026-07"}, {"month": "2026-08"}, {"month": "2026-09"}],
    }


@pytest.mark.parametrize(
    ("query", "argument"),
    [
        ('{ costEntries(period: "9999-12") { totalCount } }', "period"),
        ('{ budgets(period: "9999") { id } }', "period"),
        ('{ burnRate(domain: "net-kingdom", period: "9999-Q4") { currency } }', "period"),
        (
            'mutation { setBudget(input: {domain: "d", period: "9999", allocated: "1", '
            'currency: "EUR"}) { id } }',
            "period",
        ),
        (
            'mutation { setBalance(input: {domain: "d", amount: "1", currency: "EUR", '
            'asOf: "9999-06-01"}) { id } }',
            "asOf",
        ),
    ],
)
def test_dates_at_the_end_of_time_are_bad_input_not_internal_errors(
    fin: LiveServer, fin_database_url: str, query: str, argument: str
) -> None:
    error = fin.error(query)
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["argument"] == argument
    assert count_rows(fin_database_url, "budgets") == 0
    assert count_rows(fin_database_url, "balances") == 0


def test_a_cost_entry_cursor_is_bad_input_for_token_spend(
    fin: LiveServer, fin_database_url: str
) -> None:
    seed(fin_database_url, [entry(date(2026, 7, 1), "1.00")])
    cursor = fin.gql("{ costEntries { pageInfo { endCursor } } }")["costEntries"]["pageInfo"][
        "endCursor"
    ]
    error = fin.error("query($c: String) { tokenSpend(after: $c) { totalCount } }", {"c": cursor})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "after"
