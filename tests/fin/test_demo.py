"""The fin demo: a believable year, loaded idempotently, telling its two stories — one
domain past 80% of this quarter's budget, one whose runway is below its threshold."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from subgraphs.core.kit.database import Database
from subgraphs.fin import demo, reports, service


@pytest.mark.parametrize("today", [date(2026, 10, 1), date(2026, 12, 3), date(2027, 3, 31)])
async def test_the_demo_loads_once_and_raises_its_two_alerts(fin_db: Database, today: date) -> None:
    async with fin_db.transaction() as s:
        first = await demo.load(s, today)
    async with fin_db.transaction() as s:
        second = await demo.load(s, today)
    # 12 services and one unattributed line a month, 3 models a month, for 12 months.
    assert first == {
        "cost_entries": 156,
        "token_spend": 36,
        "commitments": 6,
        "budgets": 20 if today.month in (1, 4, 7, 10) else 16,
        "balances": 4,
    }
    assert set(second.values()) == {0}
    async with fin_db.session() as s:
        alerts = await reports.alerts(s, today, reports.FinConfig())
        spend = await service.cost_totals(s, service.CostFilter(attribution="unattributed"))
    assert [(a.kind, a.domain_slug) for a in alerts] == [
        ("budget_threshold_crossed", "railiance-cluster"),
        ("runway_below_threshold", "custodian"),
    ]
    budget, runway = alerts
    assert budget.threshold == Decimal(80) and budget.used_percent is not None
    assert Decimal(80) <= budget.used_percent < Decimal(100)
    # 12000 / (3500 + 76) months: the salary and GitHub are the custodian's burn.
    assert runway.months_remaining is not None
    assert runway.months_remaining.quantize(Decimal("0.01")) == Decimal("3.36")
    # Traffic no service owns stays visible: 6.43 a month for twelve months.
    assert spend.by_currency == {"EUR": Decimal("77.16")}


def test_the_demo_books_costs_to_the_ops_demo_s_services() -> None:
    """Each hub derives the demo services' ids itself (no hub imports another); both must
    give the same id to every service fin bills."""
    from subgraphs.ops import demo as ops_demo

    ops_services = {(s[0], s[1]): s[2] for s in ops_demo.SERVICES}
    for namespace, name, domain, *_ in demo.SERVICE_COSTS:
        assert ops_services[(namespace, name)] == domain  # the same owning domain
        assert demo.demo_service_id(namespace, name) == str(
            ops_demo.demo_service_id(namespace, name)
        )
    assert {(n, s) for n, s, *_ in demo.SERVICE_COSTS} == set(ops_services)
