"""The fin hub's records and what is derived from them, on both backends: budgets,
commitments, balances, cost and token sums, burn rate, runway, alerts — exact decimals,
worked out by hand in the comments."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.errors import BadUserInput, NotFound
from subgraphs.fin import models, reports, service
from subgraphs.fin.money import RateTable

D = Decimal
KEYCLOAK = "7d0c5a3e-2a51-4f7e-9a57-0c6f7a1d2b01"
LONGHORN = "7d0c5a3e-2a51-4f7e-9a57-0c6f7a1d2b02"


def digest(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def cost(
    day: date,
    amount: str,
    *,
    currency: str = "EUR",
    vendor: str = "hetzner",
    service_id: str | None = KEYCLOAK,
    domain: str | None = "net-kingdom",
) -> models.CostEntry:
    return models.CostEntry(
        date=day,
        amount=D(amount),
        currency=currency,
        vendor=vendor,
        category="servers",
        service_id=service_id,
        domain_slug=domain,
        attribution="service" if service_id else "unattributed",
        source_file="test.csv",
        source_row=1,
        row_digest=digest(day, amount, currency, vendor, service_id, domain),
    )


def tokens(at: datetime, cost_amount: str, *, model: str = "claude-sonnet-4") -> models.TokenSpend:
    return models.TokenSpend(
        at=at,
        provider="anthropic",
        model=model,
        tokens_in=1000,
        tokens_out=250,
        cost=D(cost_amount),
        currency="EUR",
        cost_source="export",
        session_id="s-1",
        domain_slug="net-kingdom",
        source_file="usage.csv",
        source_row=1,
        row_digest=digest(at, cost_amount, model),
    )


async def test_amounts_are_exact_and_refused_beyond_six_places(fin_db: Database) -> None:
    async with fin_db.transaction() as s:
        s.add(cost(date(2026, 1, 5), "123456789012.123456"))  # >15 significant digits
        s.add(cost(date(2026, 1, 6), "0.000001"))
    async with fin_db.session() as s:
        total = await s.scalar(select(func.sum(models.CostEntry.amount)))
        assert total == D("123456789012.123457")
    with pytest.raises(BadUserInput, match="more than 6 decimal places"):
        service.amount("1.0000001")
    with pytest.raises(BadUserInput, match="too large"):
        service.amount("1000000000000")
    with pytest.raises(BadUserInput, match="float"):
        service.amount(0.1)  # type: ignore[arg-type]


async def test_budget_set_changed_listed_and_refused_on_bad_input(fin_db: Database) -> None:
    async with fin_db.transaction() as s:
        row = await service.set_budget(
            s, domain_slug="net-kingdom", period="2026-q3", allocated="1500.50", currency_code="eur"
        )
        assert (row.period, row.period_start, row.period_end) == (
            "2026-Q3",
            date(2026, 7, 1),
            date(2026, 10, 1),
        )
        again = await service.set_budget(
            s, domain_slug="net-kingdom", period="2026-Q3", allocated="1600", currency_code="EUR"
        )
        assert again.id == row.id
    for bad, argument in [
        ({"period": "2026-Q5"}, "period"),
        ({"allocated": "-1"}, "allocated"),
        ({"allocated": "1,000"}, "allocated"),
        ({"currency_code": "EURO"}, "currency"),
        ({"domain_slug": " "}, "domain"),
    ]:
        values = {
            "domain_slug": "custodian",
            "period": "2026-07",
            "allocated": "10",
            "currency_code": "EUR",
            **bad,
        }
        with pytest.raises(BadUserInput) as raised:
            async with fin_db.transaction() as s:
                await service.set_budget(s, **values)  # type: ignore[arg-type]
        assert raised.value.details["argument"] == argument
    async with fin_db.session() as s:
        budgets = await service.list_budgets(s)
        assert [(b.domain_slug, b.period, b.allocated, b.currency) for b in budgets] == [
            ("net-kingdom", "2026-Q3", D("1600.000000"), "EUR")
        ]
    with pytest.raises(NotFound):
        async with fin_db.transaction() as s:
            await service.delete_budget(s, "not-an-id")


async def test_commitments_checked_before_anything_is_written(fin_db: Database) -> None:
    good = service.CommitmentDefinition(
        kind="subscription",
        vendor="GitHub",
        amount="210",
        currency="USD",
        cadence="monthly",
        start=date(2026, 1, 1),
        domain_slug="custodian",
    )
    async with fin_db.transaction() as s:
        row = await service.create_commitment(s, good)
    for change, argument in [
        ({"kind": "lease"}, "kind"),
        ({"cadence": "weekly"}, "cadence"),
        ({"end": date(2025, 12, 31)}, "end"),
        ({"service_id": "keycloak"}, "service"),
        ({"amount": "12.5x"}, "amount"),
    ]:
        bad = service.CommitmentDefinition(**{**good.__dict__, **change})
        with pytest.raises(BadUserInput) as raised:
            async with fin_db.transaction() as s:
                await service.update_commitment(s, str(row.id), bad)
        assert raised.value.details["argument"] == argument
    async with fin_db.session() as s:
        (kept,) = await service.list_commitments(s)
        assert (kept.kind, kept.amount, kept.cadence, kept.end_date) == (
            "subscription",
            D("210.000000"),
            "monthly",
            None,
        )


async def test_cost_sums_per_currency_and_pages_newest_first(fin_db: Database) -> None:
    async with fin_db.transaction() as s:
        s.add_all(
            [
                cost(date(2026, 7, 3), "100.10"),
                cost(date(2026, 7, 20), "0.05"),
                cost(date(2026, 8, 1), "40", currency="USD", vendor="aws"),
                cost(date(2026, 9, 30), "19.85", service_id=LONGHORN, domain="railiance"),
                cost(date(2026, 10, 1), "999"),  # Q4: outside Q3
                cost(date(2026, 8, 2), "7.77", service_id=None, domain=None, vendor="misc"),
            ]
        )
    async with fin_db.session() as s:
        q3 = service.CostFilter(period="2026-Q3")
        totals = await service.cost_totals(s, q3)
        # EUR: 100.10 + 0.05 + 19.85 + 7.77 = 127.77; USD alone: 40
        assert totals.by_currency == {"EUR": D("127.77"), "USD": D("40")}
        by_service = await service.cost_of_services(
            s,
            [KEYCLOAK, LONGHORN, "00000000-0000-0000-0000-000000000000"],
            service.checked_period("2026-Q3"),
        )
        assert by_service[KEYCLOAK].by_currency == {"EUR": D("100.15"), "USD": D("40")}
        assert by_service[LONGHORN].by_currency == {"EUR": D("19.85")}
        assert len(by_service["00000000-0000-0000-0000-000000000000"]) == 0
        monthly = await service.monthly_cost_of_services(
            s, [KEYCLOAK], service.checked_period("2026-Q3")
        )
        assert {m: t.by_currency for m, t in monthly[KEYCLOAK].items()} == {
            "2026-07": {"EUR": D("100.15")},
            "2026-08": {"USD": D("40")},
            "2026-09": {},
        }
        first = await service.list_cost_entries(s, q3, first=2, after=None)
        assert first.total_count == 5
        assert [r.date for r in first.rows] == [date(2026, 9, 30), date(2026, 8, 2)]
        rest = await service.list_cost_entries(s, q3, first=10, after=first.cursors[-1])
        assert [r.date for r in rest.rows] == [
            date(2026, 8, 1),
            date(2026, 7, 20),
            date(2026, 7, 3),
        ]
        unattributed = await service.cost_totals(s, service.CostFilter(attribution="unattributed"))
        assert unattributed.by_currency == {"EUR": D("7.77")}


async def test_token_usage_by_model(fin_db: Database) -> None:
    async with fin_db.transaction() as s:
        s.add_all(
            [
                tokens(datetime(2026, 7, 1, 9, tzinfo=UTC), "0.012345"),
                tokens(datetime(2026, 7, 2, 9, tzinfo=UTC), "1.000001"),
                tokens(datetime(2026, 7, 2, 10, tzinfo=UTC), "3.5", model="claude-opus-4"),
            ]
        )
    async with fin_db.session() as s:
        usage = await service.token_usage(s, service.TokenFilter(period="2026-07"))
        assert [
            (u.model, u.tokens_in, u.tokens_out, u.requests, u.cost.by_currency) for u in usage
        ] == [
            ("claude-opus-4", 1000, 250, 1, {"EUR": D("3.5")}),
            ("claude-sonnet-4", 2000, 500, 2, {"EUR": D("1.012346")}),
        ]
        page = await service.list_token_spend(
            s, service.TokenFilter(model="claude-sonnet-4"), first=1, after=None
        )
        assert page.total_count == 2 and page.rows[0].cost == D("1.000001")


async def _domain_with_spend(s: AsyncSession) -> None:
    # net-kingdom spends EUR 1000.00 in each of April, May and June 2026 (servers) and
    # has a monthly EUR 300 contract from 2026-01 and a yearly EUR 1200 licence from July.
    for month in (4, 5, 6):
        s.add(cost(date(2026, month, 10), "1000.00"))
    await service.create_commitment(
        s,
        service.CommitmentDefinition(
            kind="contract", vendor="Hetzner", amount="300", currency="EUR",
            cadence="monthly", start=date(2026, 1, 1), domain_slug="net-kingdom",
        ),
    )  # fmt: skip
    await service.create_commitment(
        s,
        service.CommitmentDefinition(
            kind="subscription", vendor="Keycloak support", amount="1200", currency="EUR",
            cadence="yearly", start=date(2026, 7, 1), domain_slug="net-kingdom",
        ),
    )  # fmt: skip


async def test_budget_status_committed_spent_and_thresholds(fin_db: Database) -> None:
    async with fin_db.transaction() as s:
        await _domain_with_spend(s)
        await service.set_budget(
            s, domain_slug="net-kingdom", period="2026-Q2", allocated="3500", currency_code="EUR"
        )
        budget = await service.set_budget(
            s, domain_slug="net-kingdom", period="2026-Q3", allocated="1000", currency_code="EUR"
        )
        s.add(cost(date(2026, 7, 15), "500.00"))
    config = reports.FinConfig()
    async with fin_db.session() as s:
        q2, q3 = await reports.budget_statuses(
            s, await service.list_budgets(s), date(2026, 7, 20), config
        )
    # Q2, all past: spent 3000, committed 0 -> 3000 / 3500 = 85.714...% -> 80 crossed.
    assert q2.spent.by_currency == {"EUR": D("3000.00")}
    assert len(q2.committed) == 0
    assert q2.used_percent is not None
    assert q2.used_percent.quantize(D("0.0001")) == D("85.7143")
    assert [c.threshold for c in q2.crossed] == [D(80)]
    # Q3 on 20 July: spent 500 (July); August and September not begun, each committing
    # 300 + 1200/12 = 400 -> committed 800; used 1300 of 1000 = 130% -> 80 and 100.
    assert q3.budget.id == budget.id
    assert q3.spent.by_currency == {"EUR": D("500.00")}
    assert q3.committed.by_currency == {"EUR": D("800")}
    assert q3.used_percent == D("130")
    assert [c.threshold for c in q3.crossed] == [D(80), D(100)]


async def test_burn_rate_actual_and_projected(fin_db: Database) -> None:
    async with fin_db.transaction() as s:
        await _domain_with_spend(s)
    async with fin_db.session() as s:
        (burn,) = await reports.burn_rates(
            s, "net-kingdom", service.checked_period("2026-Q2"), date(2026, 11, 1)
        )
    # Actual: (1000 + 1000 + 1000) / 3 = 1000; projected for July: 300 + 1200/12 = 400.
    assert (burn.currency, burn.actual_monthly, burn.projected_monthly) == (
        "EUR",
        D("1000"),
        D("400"),
    )


async def test_runway_from_the_newest_balance(fin_db: Database) -> None:
    async with fin_db.transaction() as s:
        await _domain_with_spend(s)
        await service.set_balance(
            s, domain_slug="net-kingdom", amount_value="9000", currency_code="EUR",
            as_of=date(2026, 6, 1), alert_below_months=6,
        )  # fmt: skip
        await service.set_balance(
            s, domain_slug="net-kingdom", amount_value="4000", currency_code="EUR",
            as_of=date(2026, 7, 1), alert_below_months=6,
        )  # fmt: skip
    async with fin_db.session() as s:
        report = (await reports.runways(s, ["net-kingdom", "nobody"], reports.FinConfig()))[
            "net-kingdom"
        ]
        found = await reports.alerts(s, date(2026, 7, 1), reports.FinConfig())
    # Burn: April-June average 1000; July's commitments are 300 + 100 = 400, so 600 a
    # month is uncommitted and July on spends 600 + 400 = 1000. 4000 lasts exactly four
    # months (closing 0 after October is not below zero); November's opening 0 covers
    # nothing: 4 months remaining, below 6.
    assert report.balance.amount == D("4000")
    assert report.monthly_burn == D("1000")
    projection = report.runway.projection
    assert len(projection) == 24
    assert [(p.month, p.opening, p.spend, p.closing) for p in projection[:2]] == [
        (date(2026, 7, 1), D("4000"), D("1000"), D("3000")),
        (date(2026, 8, 1), D("3000"), D("1000"), D("2000")),
    ]
    assert report.runway.exhausted_in == date(2026, 11, 1)
    assert report.runway.months_remaining == D("4")
    assert report.runway.below_threshold
    assert [(a.kind, a.domain_slug, a.months_remaining) for a in found] == [
        ("runway_below_threshold", "net-kingdom", D("4"))
    ]


async def test_currencies_are_converted_only_with_a_rate_and_say_which(fin_db: Database) -> None:
    async with fin_db.transaction() as s:
        await service.set_budget(
            s, domain_slug="custodian", period="2026-07", allocated="100", currency_code="EUR"
        )
        s.add(cost(date(2026, 7, 2), "50", domain="custodian"))
        s.add(cost(date(2026, 7, 3), "40", currency="USD", domain="custodian"))
    plain = reports.FinConfig()
    rated = reports.FinConfig(rates=RateTable("EUR", {"USD": D("0.92")}))
    async with fin_db.session() as s:
        budgets = await service.list_budgets(s)
        (without,) = await reports.budget_statuses(s, budgets, date(2026, 7, 31), plain)
        (converted,) = await reports.budget_statuses(s, budgets, date(2026, 7, 31), rated)
    # Without a rate the USD 40 is left out (and said so): 50 of 100 = 50%.
    assert without.used.money.amount == D("50") and without.used_percent == D("50")
    assert without.notes == [
        "spending in USD left out: no rate into EUR (configure the fin hub's rate table to "
        "convert them)"
    ]
    # With USD at 0.92: 50 + 40 * 0.92 = 86.80 -> 86.8%, 80 crossed, rate named.
    assert converted.used.money.amount == D("86.80")
    assert converted.used.rates_used == {"USD": D("0.92")}
    assert [c.threshold for c in converted.crossed] == [D(80)]


def test_thresholds_and_rates_come_from_the_hub_options() -> None:
    config = reports.FinConfig.from_options(
        {"budget_thresholds": ["50", 90], "rates": {"base": "EUR", "rates": {"USD": "0.92"}}}
    )
    assert config.thresholds == (D(50), D(90))
    assert config.rates is not None and config.rates.rate("USD", "EUR") == D("0.92")
    with pytest.raises(Exception, match="budget_thresholds"):
        reports.FinConfig.from_options({"budget_thresholds": [0.8]})


async def test_year_quarter_and_month_budgets_starting_together_keep_their_own_spend(
    fin_db: Database,
) -> None:
    # Three budgets of one domain begin on 1 January 2026; their spend was keyed by
    # domain and first day only, so they all showed the spend of whichever came last.
    async with fin_db.transaction() as s:
        for period in ("2026", "2026-Q1", "2026-01"):
            await service.set_budget(
                s, domain_slug="net-kingdom", period=period, allocated="1000", currency_code="EUR"
            )
        s.add_all(
            [
                cost(date(2026, 1, 10), "100.00"),
                cost(date(2026, 2, 10), "20.00"),
                cost(date(2026, 4, 10), "3.00"),
            ]
        )
    async with fin_db.session() as s:
        statuses = await reports.budget_statuses(
            s, await service.list_budgets(s), date(2026, 12, 31), reports.FinConfig()
        )
    # 2026: 100 + 20 + 3 = 123; Q1: 100 + 20 = 120; January: 100.
    assert {st.budget.period: st.spent.by_currency for st in statuses} == {
        "2026": {"EUR": D("123.00")},
        "2026-Q1": {"EUR": D("120.00")},
        "2026-01": {"EUR": D("100.00")},
    }
    assert {st.budget.period: st.used_percent for st in statuses} == {
        "2026": D("12.3"),
        "2026-Q1": D("12"),
        "2026-01": D("10"),
    }


async def test_a_month_is_either_spent_or_committed_whatever_the_day_judged(
    fin_db: Database,
) -> None:
    # Q3 2026, allocated 1000: July and August are billed 400.00 each, and a monthly
    # contract of 300 runs all year.
    async with fin_db.transaction() as s:
        await service.set_budget(
            s, domain_slug="net-kingdom", period="2026-Q3", allocated="1000", currency_code="EUR"
        )
        s.add_all([cost(date(2026, 7, 5), "400.00"), cost(date(2026, 8, 5), "400.00")])
        await service.create_commitment(
            s,
            service.CommitmentDefinition(
                kind="contract", vendor="Hetzner", amount="300", currency="EUR",
                cadence="monthly", start=date(2026, 1, 1), domain_slug="net-kingdom",
            ),
        )  # fmt: skip

    async def judged(as_of: date) -> reports.BudgetStatus:
        async with fin_db.session() as s:
            (status,) = await reports.budget_statuses(
                s, await service.list_budgets(s), as_of, reports.FinConfig()
            )
        return status

    # On 20 July: July begun (spent 400), August and September not (committed 2 x 300).
    # August's 400 was counted as spent too: 800 + 600 = 140 % instead of 100 %.
    july = await judged(date(2026, 7, 20))
    assert july.spent.by_currency == {"EUR": D("400.00")}
    assert july.committed.by_currency == {"EUR": D("600")}
    assert july.used.money.amount == D("1000.00") and july.used_percent == D("100")
    # Before the quarter: nothing spent yet, all three months committed (900).
    june = await judged(date(2026, 6, 30))
    assert len(june.spent) == 0 and june.committed.by_currency == {"EUR": D("900")}
    assert june.used_percent == D("90")
    # After it: 800 spent, nothing committed.
    october = await judged(date(2026, 10, 1))
    assert october.spent.by_currency == {"EUR": D("800.00")} and len(october.committed) == 0
    # The alerts judged on 20 July say 100 %, not 140 %.
    async with fin_db.session() as s:
        (alert,) = await reports.alerts(s, date(2026, 7, 20), reports.FinConfig())
    assert (alert.threshold, alert.used_percent) == (D(100), D(100))
    assert "reach 100.00% of 1000 EUR" in alert.message


async def test_a_missing_rate_leaves_out_its_currency_alone(fin_db: Database) -> None:
    async with fin_db.transaction() as s:
        await service.set_budget(
            s, domain_slug="custodian", period="2026-07", allocated="100", currency_code="EUR"
        )
        s.add(cost(date(2026, 7, 2), "50", domain="custodian"))
        s.add(cost(date(2026, 7, 3), "40", currency="USD", domain="custodian"))
        s.add(cost(date(2026, 7, 4), "10", currency="GBP", domain="custodian"))
    rated = reports.FinConfig(rates=RateTable("EUR", {"USD": D("0.92")}))
    async with fin_db.session() as s:
        (status,) = await reports.budget_statuses(
            s, await service.list_budgets(s), date(2026, 7, 31), rated
        )
    # The table has USD, not GBP: 50 + 40 x 0.92 = 86.80 (the GBP 10 left out, named).
    # It used to leave out USD as well: 50, "GBP, USD left out".
    assert status.used.money.amount == D("86.80")
    assert status.used.rates_used == {"USD": D("0.92")}
    assert status.used.left_out == ["GBP"]
    assert status.notes == [
        "spending in GBP left out: no rate into EUR (configure the fin hub's rate table to "
        "convert them)"
    ]
    assert [c.threshold for c in status.crossed] == [D(80)]


async def _spends_1000_a_month_in_q2(s: AsyncSession) -> None:
    for month in (4, 5, 6):
        s.add(cost(date(2026, month, 10), "1000.00"))


async def test_a_short_projection_still_judges_the_balance_s_threshold(fin_db: Database) -> None:
    async with fin_db.transaction() as s:
        await _spends_1000_a_month_in_q2(s)
        await service.set_balance(
            s, domain_slug="net-kingdom", amount_value="4000", currency_code="EUR",
            as_of=date(2026, 7, 1), alert_below_months=6,
        )  # fmt: skip
    async with fin_db.session() as s:
        short = (await reports.runways(s, ["net-kingdom"], reports.FinConfig(), months=3))[
            "net-kingdom"
        ]
    # 4000 at 1000 a month: 4 months, below 6. Asked for 3 months, the threshold was cut
    # to 3 and the cash outlasted them: "not below", against the alert's "below 6".
    result = short.runway
    assert [m.month for m in result.projection] == [
        date(2026, 7, 1),
        date(2026, 8, 1),
        date(2026, 9, 1),
    ]
    assert result.horizon_months == 3
    assert result.threshold_months == D(6)
    assert result.months_remaining == D(4) and result.exhausted_in == date(2026, 11, 1)
    assert result.below_threshold is True


async def test_the_same_day_s_balances_in_other_currencies_count(fin_db: Database) -> None:
    async with fin_db.transaction() as s:
        await _spends_1000_a_month_in_q2(s)
        await service.set_balance(
            s, domain_slug="net-kingdom", amount_value="3000", currency_code="EUR",
            as_of=date(2026, 7, 1), alert_below_months=6,
        )  # fmt: skip
    async with fin_db.transaction() as s:
        await service.set_balance(
            s, domain_slug="net-kingdom", amount_value="1000", currency_code="USD",
            as_of=date(2026, 7, 1), alert_below_months=6,
        )  # fmt: skip
        await service.set_balance(  # an older one: superseded
            s, domain_slug="net-kingdom", amount_value="99999", currency_code="EUR",
            as_of=date(2026, 6, 1), alert_below_months=6,
        )  # fmt: skip
    plain = reports.FinConfig()
    rated = reports.FinConfig(rates=RateTable("EUR", {"USD": D("0.92")}))
    async with fin_db.session() as s:
        without = (await reports.runways(s, ["net-kingdom"], plain))["net-kingdom"]
        converted = (await reports.runways(s, ["net-kingdom"], rated))["net-kingdom"]
    # The runway is in EUR, the currency set first that day. Without a rate the USD 1000
    # is left out and said so (it used to be whichever balance was set last, the other
    # one dropped silently): 3000 at 1000 a month = 3 months.
    assert (without.balance.currency, without.cash) == ("EUR", D("3000"))
    assert without.runway.months_remaining == D(3)
    assert without.notes == [
        "balances in USD left out: no rate into EUR (configure the fin hub's rate table to "
        "convert them)"
    ]
    # With USD at 0.92: 3000 + 1000 x 0.92 = 3920, 3 + 920 / 1000 = 3.92 months.
    assert converted.cash == D("3920.00")
    assert converted.rates_used == {"USD": D("0.92")}
    assert converted.runway.months_remaining == D("3.92") and converted.notes == []


@pytest.mark.parametrize("as_of", [date(1, 2, 1), date(9999, 1, 1), date(9995, 2, 1)])
async def test_a_balance_needs_room_for_its_runway(fin_db: Database, as_of: date) -> None:
    # Three months before it (the burn) and 60 after (the longest projection) must be
    # dates: such a balance made every runway and budgetAlerts an internal error.
    with pytest.raises(BadUserInput, match="leaves no room for a runway") as raised:
        async with fin_db.transaction() as s:
            await service.set_balance(
                s, domain_slug="net-kingdom", amount_value="1", currency_code="EUR", as_of=as_of
            )
    assert raised.value.details["argument"] == "asOf"
    async with fin_db.session() as s:
        assert await service.list_balances(s) == []


async def test_token_spend_cursors_without_a_time_zone_are_bad_input(fin_db: Database) -> None:
    async with fin_db.transaction() as s:
        s.add_all(
            [
                tokens(datetime(2026, 7, 1, 9, tzinfo=UTC), "1"),
                tokens(datetime(2026, 7, 2, 9, tzinfo=UTC), "2"),
                cost(date(2026, 7, 3), "3"),
            ]
        )
    async with fin_db.session() as s:
        first = await service.list_token_spend(s, service.TokenFilter(), first=1, after=None)
        rest = await service.list_token_spend(
            s, service.TokenFilter(), first=5, after=first.cursors[-1]
        )
        assert [r.cost for r in [*first.rows, *rest.rows]] == [D("2"), D("1")]
        # A costEntries cursor (a day, no time) and a tampered one with a zoneless time
        # reached the database driver and came back as internal errors.
        entries = await service.list_cost_entries(s, service.CostFilter(), first=1, after=None)
        naive = base64.urlsafe_b64encode(
            orjson.dumps(["2026-07-02 09:00:00", str(first.rows[0].id)])
        ).decode()
        for cursor in (entries.cursors[-1], naive, "bm9wZQ=="):
            with pytest.raises(BadUserInput, match="invalid cursor") as raised:
                await service.list_token_spend(s, service.TokenFilter(), first=5, after=cursor)
            assert raised.value.details["argument"] == "after"
