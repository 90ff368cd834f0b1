"""fin -> dev and core (T25): a budget crossing its threshold and a runway falling below
its own are signalled once per crossing, in the transaction of the change.

On each backend, against the real migrated fin database: the events are counted in
the fin hub's own outbox (``event_outbox``), where the relay takes them from.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from subgraphs.core.kit.database import Database
from subgraphs.fin import ingest, models, service, signals
from subgraphs.fin.events import EVENTS
from subgraphs.fin.importers.attribution import Rule
from subgraphs.fin.importers.csv_costs import read_cost_csv
from subgraphs.fin.importers.mappings import PRESETS
from subgraphs.fin.reports import FinConfig
from tests.support import LiveServer

DOMAIN = "net-kingdom"
AS_OF = date(2026, 8, 15)  # in 2026-Q3; July and August have begun
CONFIG = FinConfig()  # thresholds 80 and 100
BUDGET, RUNWAY = "budget_threshold_crossed", "runway_below_threshold"


def cost(day: date, amount: str, *, domain: str = DOMAIN) -> models.CostEntry:
    digest = hashlib.sha256(f"{day}|{amount}|{domain}|{datetime.now(UTC)}".encode()).hexdigest()
    return models.CostEntry(
        date=day,
        amount=Decimal(amount),
        currency="EUR",
        vendor="hetzner",
        category="servers",
        domain_slug=domain,
        attribution="unattributed",
        source_file="test.csv",
        source_row=1,
        row_digest=digest,
    )


async def outbox(db: Database) -> list[dict[str, Any]]:
    table = EVENTS.tables.outbox
    async with db.session() as session:
        rows = await session.execute(
            select(table.c.event_type, table.c.subject, table.c.payload).order_by(
                table.c.occurred_at
            )
        )
        return [dict(r._mapping) for r in rows]


async def signalled(db: Database) -> list[tuple[str, str, str, str]]:
    async with db.session() as session:
        rows = await session.scalars(select(models.ThresholdSignal))
        return sorted((r.kind, r.domain_slug, r.period, r.threshold) for r in rows)


async def change(db: Database, *rows: Any, budget: str | None = None) -> list[Any]:
    """One transaction: rows added, the budget set, then the domain evaluated."""
    async with db.transaction() as session:
        session.add_all(rows)
        await session.flush()
        if budget is not None:
            await service.set_budget(
                session, domain_slug=DOMAIN, period="2026-Q3", allocated=budget, currency_code="EUR"
            )
        return await signals.evaluate(session, CONFIG, AS_OF, domains=[DOMAIN])


async def test_a_budget_crossing_emits_once_and_again_after_falling_back(
    fin_db: Database,
) -> None:
    assert await change(fin_db, cost(date(2026, 7, 3), "500.00"), budget="1000") == []
    # 500 + 350 of 1000: past 80%
    (event,) = await change(fin_db, cost(date(2026, 8, 2), "350.25"))
    assert (event.type, event.subject, event.source) == (
        BUDGET,
        "budget:net-kingdom:2026-Q3",
        "fin",
    )
    assert event.payload == {
        "domain": DOMAIN,
        "period": "2026-Q3",
        "allocated": "1000",
        "spent": "850.25",
        "committed": "0",
        "currency": "EUR",
        "percent": "85.03",
        "threshold": "80",
    }
    # evaluated again (a read, another change, the same figures): nothing new
    assert await change(fin_db) == []
    assert await change(fin_db, budget="1000") == []
    assert [e["subject"] for e in await outbox(fin_db)] == ["budget:net-kingdom:2026-Q3"]
    assert await signalled(fin_db) == [(BUDGET, DOMAIN, "2026-Q3", "80")]

    # more allocated: back below 80%, the record goes; less again: crossed again
    assert await change(fin_db, budget="2000") == []
    assert await signalled(fin_db) == []
    (again,) = await change(fin_db, budget="1000")
    assert again.payload["threshold"] == "80"

    # past 100% too: that line is signalled once more, with its own threshold
    (over,) = await change(fin_db, cost(date(2026, 8, 3), "200"))
    assert (over.payload["threshold"], over.payload["percent"]) == ("100", "105.03")
    assert await change(fin_db) == []
    # back between 80 and 100, then over 100 again: 100 is crossed again, 80 is not
    assert await change(fin_db, budget="1100") == []
    assert await signalled(fin_db) == [(BUDGET, DOMAIN, "2026-Q3", "80")]
    (over_again,) = await change(fin_db, budget="1000")
    assert over_again.payload["threshold"] == "100"
    assert [e["payload"]["threshold"] for e in await outbox(fin_db)] == ["80", "80", "100", "100"]


async def test_committed_spending_counts_and_budgets_of_other_periods_do_not(
    fin_db: Database,
) -> None:
    commitment = models.Commitment(
        kind="subscription",
        vendor="grafana",
        amount=Decimal("450"),
        currency="EUR",
        cadence="monthly",
        start_date=date(2026, 1, 1),
        domain_slug=DOMAIN,
    )
    async with fin_db.transaction() as session:
        await service.set_budget(
            session, domain_slug=DOMAIN, period="2026-Q2", allocated="10", currency_code="EUR"
        )
    # September is committed (450), not spent; July and August spent 0 here
    (event,) = await change(fin_db, commitment, budget="500")
    assert (event.payload["spent"], event.payload["committed"]) == ("0", "450")
    assert event.payload["percent"] == "90.00"
    assert [e["subject"] for e in await outbox(fin_db)] == ["budget:net-kingdom:2026-Q3"]


async def runway_change(db: Database, *rows: Any, balance: str | None = None) -> list[Any]:
    async with db.transaction() as session:
        session.add_all(rows)
        await session.flush()
        if balance is not None:
            await service.set_balance(
                session,
                domain_slug=DOMAIN,
                amount_value=balance,
                currency_code="EUR",
                as_of=date(2026, 8, 1),
                alert_below_months=6,
            )
        return await signals.evaluate(session, CONFIG, AS_OF, domains=[DOMAIN])


async def test_a_runway_below_its_threshold_emits_once_per_crossing(fin_db: Database) -> None:
    spending = [cost(date(2026, m, 10), "2000") for m in (5, 6, 7)]  # 2000 a month
    assert await runway_change(fin_db, *spending, balance="20000") == []  # 10 months
    (event,) = await runway_change(fin_db, balance="9000")  # 4.5 months, below 6
    assert (event.type, event.subject) == (RUNWAY, "runway:net-kingdom")
    assert event.payload == {
        "domain": DOMAIN,
        "months_remaining": "4.50",
        "threshold_months": "6",
        "balance": "9000",
        "monthly_burn": "2000",
        "currency": "EUR",
    }
    assert await runway_change(fin_db, balance="8000") == []  # still below: nothing new
    assert await runway_change(fin_db, balance="30000") == []  # recovered
    assert await signalled(fin_db) == []
    (again,) = await runway_change(fin_db, balance="4000")
    assert again.payload["months_remaining"] == "2.00"
    assert [e["event_type"] for e in await outbox(fin_db)] == [RUNWAY, RUNWAY]


async def test_a_failing_change_leaves_no_event_and_no_record(fin_db: Database) -> None:
    await change(fin_db, cost(date(2026, 7, 3), "500.00"), budget="1000")
    # The failure itself comes out (not an error of the outbox's rollback hook), and
    # nothing of the transaction is left.
    with pytest.raises(RuntimeError, match="the change fails"):
        async with fin_db.transaction() as session:
            session.add(cost(date(2026, 8, 2), "900"))
            await session.flush()
            assert len(await signals.evaluate(session, CONFIG, AS_OF, domains=[DOMAIN])) == 1
            raise RuntimeError("the change fails after the event was written")
    assert await outbox(fin_db) == []
    assert await signalled(fin_db) == []
    # the next change that does cross it signals it
    assert len(await change(fin_db, cost(date(2026, 8, 2), "900"))) == 1


# --- through the hub's mutations and the import ----------------------------------------


def _quarter(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


SET_BUDGET = """
mutation($input: SetBudgetInput!) { setBudget(input: $input) { period } }
"""


async def test_the_mutations_signal_in_their_transaction(
    fin: LiveServer, fin_database_url: str
) -> None:
    today = datetime.now(UTC).date()
    budget = {"domain": DOMAIN, "period": _quarter(today), "allocated": "1000", "currency": "EUR"}
    db = Database(fin_database_url)
    try:
        async with db.transaction() as session:
            session.add(cost(today, "900"))
        fin.gql(SET_BUDGET, {"input": budget})  # 90%: crossed
        fin.gql(SET_BUDGET, {"input": budget})  # still: nothing new
        # a mutation that fails writes nothing, events included
        assert fin.error(SET_BUDGET, {"input": {**budget, "currency": "EURO"}})
        assert fin.error(SET_BUDGET, {"input": {**budget, "allocated": "-5"}})
        events = await outbox(db)
    finally:
        await db.dispose()
    assert [(e["event_type"], e["subject"]) for e in events] == [
        (BUDGET, f"budget:{DOMAIN}:{_quarter(today)}")
    ]


async def test_an_import_signals_with_the_rows_it_stores(fin_db: Database, tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    csv = tmp_path / "costs.csv"
    csv.write_text(
        "date,amount,currency,vendor,category,service,resource\n"
        f"{today.isoformat()},850.00,EUR,Hetzner,server,,web-01\n"
    )
    rules = [Rule(vendor="Hetzner", resource="web-*", service=None, domain=DOMAIN)]

    async def nobody(ids: Any) -> Any:
        raise AssertionError("no service is named: ops is not asked")

    async with fin_db.transaction() as session:
        await service.set_budget(
            session,
            domain_slug=DOMAIN,
            period=_quarter(today),
            allocated="1000",
            currency_code="EUR",
        )
    added = []
    for _ in range(2):  # the second import adds nothing, so signals nothing
        report = await ingest.import_costs(
            fin_db,
            csv,
            lambda handle: read_cost_csv(handle, PRESETS["generic"]),
            rules=rules,
            services=nobody,
            config=CONFIG,
        )
        assert not report.rejected, report.problems
        added.append(report.added)
    assert added == [1, 0]
    found = await outbox(fin_db)
    assert [(e["event_type"], e["payload"]["spent"]) for e in found] == [(BUDGET, "850")]
    assert await signalled(fin_db) == [(BUDGET, DOMAIN, _quarter(today), "80")]
