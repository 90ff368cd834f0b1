"""A hub's event metrics, read from its database at each scrape — so every process of the
hub reports the same figures, whichever one is asked — and exposed by
``prometheus_client`` (text format 0.0.4) through a collector of the figures read.

* ``hubgraph_events_deliveries{hub, status}``: deliveries pending, delivered or dead;
* ``hubgraph_events_oldest_pending_age_seconds{hub}``: how long the oldest pending event
  has waited (0 when none is pending): the figure to alert on;
* ``hubgraph_events_applied{hub}``: events this hub has applied (its inbox).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.events.outbox import HubEvents
from subgraphs.core.kit.events.relay import TAG
from subgraphs.core.kit.events.tables import DEAD, DELIVERED, PENDING

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


@dataclass(frozen=True, eq=False)  # a registry keys its collectors by identity
class EventFigures(Collector):
    """One reading of a hub's event tables, as Prometheus metric families."""

    hub: str
    deliveries: dict[str, int] = field(default_factory=dict)  # by status
    oldest_pending_age_s: float = 0.0
    applied: int = 0

    def collect(self) -> Iterator[Metric]:
        deliveries = GaugeMetricFamily(
            "hubgraph_events_deliveries", "Event deliveries by status.", labels=("hub", "status")
        )
        for status in (PENDING, DELIVERED, DEAD):
            deliveries.add_metric((self.hub, status), self.deliveries.get(status, 0))
        yield deliveries
        age = GaugeMetricFamily(
            "hubgraph_events_oldest_pending_age_seconds",
            "Age of the oldest pending event.",
            labels=("hub",),
        )
        age.add_metric((self.hub,), round(self.oldest_pending_age_s, 3))
        yield age
        applied = GaugeMetricFamily(
            "hubgraph_events_applied", "Events this hub has applied.", labels=("hub",)
        )
        applied.add_metric((self.hub,), self.applied)
        yield applied

    def exposition(self) -> bytes:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        return generate_latest(registry)


async def read_event_figures(events: HubEvents, db: Database) -> EventFigures:
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
    return EventFigures(events.hub, counts, age, int(applied or 0))


async def event_metrics(events: HubEvents, db: Database) -> str:
    """The hub's event metrics now, in the Prometheus text format."""
    return (await read_event_figures(events, db)).exposition().decode()
