"""A hub's event metrics, in the Prometheus text format, read from its database at each
scrape — so every process of the hub reports the same figures, whichever one is asked.

* ``hubgraph_events_deliveries{hub, status}``: deliveries pending, delivered or dead;
* ``hubgraph_events_oldest_pending_age_seconds{hub}``: how long the oldest pending event
  has waited (0 when none is pending): the figure to alert on;
* ``hubgraph_events_applied{hub}``: events this hub has applied (its inbox).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.events.outbox import HubEvents
from subgraphs.core.kit.events.relay import TAG
from subgraphs.core.kit.events.tables import DEAD, DELIVERED, PENDING


async def event_metrics(events: HubEvents, db: Database) -> str:
    t = events.tables
    d, o = t.deliveries, t.outbox
    async with db.session() as session:
        counts: dict[str, int] = dict(
            (
                await session.execute(
                    select(d.c.status, func.count()).group_by(d.c.status).prefix_with(TAG)
                )
            ).all()
        )
        oldest = await session.scalar(
            select(func.min(o.c.occurred_at))
            .join(d, d.c.event_id == o.c.id)
            .where(d.c.status == PENDING)
            .prefix_with(TAG)
        )
        applied = await session.scalar(select(func.count()).select_from(t.inbox).prefix_with(TAG))
    age = 0.0
    if oldest is not None:
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        age = max(0.0, (datetime.now(UTC) - oldest).total_seconds())
    hub = events.hub
    lines = [
        "# HELP hubgraph_events_deliveries Event deliveries by status.",
        "# TYPE hubgraph_events_deliveries gauge",
        *(
            f'hubgraph_events_deliveries{{hub="{hub}",status="{status}"}} {counts.get(status, 0)}'
            for status in (PENDING, DELIVERED, DEAD)
        ),
        "# HELP hubgraph_events_oldest_pending_age_seconds Age of the oldest pending event.",
        "# TYPE hubgraph_events_oldest_pending_age_seconds gauge",
        f'hubgraph_events_oldest_pending_age_seconds{{hub="{hub}"}} {age:.3f}',
        "# HELP hubgraph_events_applied Events this hub has applied.",
        "# TYPE hubgraph_events_applied gauge",
        f'hubgraph_events_applied{{hub="{hub}"}} {applied or 0}',
    ]
    return "\n".join(lines) + "\n"
