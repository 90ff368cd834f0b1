"""Fin's alerts with several processes of the hub on one database.

Fin has no periodic alert evaluation: ``signals.evaluate`` runs in the transaction of
each change that can move a domain's figures, under the domain's lock
(``pg_advisory_xact_lock`` on PostgreSQL, SQLite's write lock), and what was signalled
is recorded in ``threshold_signals`` in that same transaction. So whichever replica
makes a change signals it, and replicas changing one domain at once signal a crossing
once. Here: 6 changes at once, each through its own engine (its own pool, as six
processes would have), each enough to cross both lines (80 and 100 %) of the budget: one event.
"""

from __future__ import annotations

import asyncio
from datetime import date

from sqlalchemy import func, select

from subgraphs.core.kit.database import Database
from subgraphs.fin import service, signals
from subgraphs.fin.events import EVENTS
from tests.fin.test_event_flows import AS_OF, CONFIG, DOMAIN, cost

REPLICAS = 6


async def test_concurrent_changes_signal_a_crossing_once(
    fin_db: Database, fin_database_url: str
) -> None:
    async with fin_db.transaction() as session:
        await service.set_budget(
            session, domain_slug=DOMAIN, period="2026-Q3", allocated="1000", currency_code="EUR"
        )
        await signals.evaluate(session, CONFIG, AS_OF, domains=[DOMAIN])
    replicas = [Database(fin_database_url) for _ in range(REPLICAS)]

    async def change(db: Database, i: int) -> int:
        async with db.transaction() as session:
            session.add(cost(date(2026, 8, 1 + i), "1100"))
            await session.flush()
            return len(await signals.evaluate(session, CONFIG, AS_OF, domains=[DOMAIN]))

    try:
        emitted = await asyncio.gather(*(change(db, i) for i, db in enumerate(replicas)))
    finally:
        for db in replicas:
            await db.dispose()
    outbox = EVENTS.tables.outbox
    async with fin_db.session() as session:
        subjects = list(await session.scalars(select(outbox.c.subject)))
        thresholds = await session.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.event_type == signals.BUDGET)
        )
    # the first change crosses 80 and 100 at once: one event, for the higher line
    assert sorted(emitted) == [0] * (REPLICAS - 1) + [1]
    assert subjects == [f"budget:{DOMAIN}:2026-Q3"] and thresholds == 1
