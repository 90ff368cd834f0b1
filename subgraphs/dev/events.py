"""The dev hub's events: its outbox (emit in the transaction of the change) and the
handlers of the event types it consumes (kit/events/subscriptions.py).

It emits ``deployment_recorded`` (``service.record_deployment``) and ``task_blocked`` /
``task_unblocked`` (``flows.py``, as ops incidents block and release tasks). What it does
with other hubs' events is ``flows.py``.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.events.envelope import Event
from subgraphs.core.kit.events.inbox import Handler
from subgraphs.core.kit.events.outbox import HubEvents
from subgraphs.dev import models

EVENTS = HubEvents("dev", models.EVENT_TABLES)


def _flow(name: str) -> Handler:
    """The handler ``flows.<name>``, imported when first called: ``flows`` uses the
    service, which emits through ``EVENTS`` (so this module cannot import it first)."""

    async def handle(session: AsyncSession, event: Event) -> None:
        from subgraphs.dev import flows

        await getattr(flows, name)(session, event)

    handle.__name__ = name
    return handle


HANDLERS: dict[str, Handler] = {
    "incident_opened": _flow("incident_opened"),
    # tasks added to an open incident are blocked, tasks taken off it released
    "incident_updated": _flow("incident_updated"),
    "incident_resolved": _flow("incident_resolved"),
    "budget_threshold_crossed": _flow("budget_threshold_crossed"),
}
