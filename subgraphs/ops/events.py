"""The ops hub's events: its outbox (emit in the transaction of the change) and the
handlers of the event types it consumes (kit/events/subscriptions.py).

It emits ``incident_opened`` / ``incident_updated`` / ``incident_resolved`` for
incidents that block dev tasks (``service.py``). What it does with other hubs' events is
``flows.py``.
"""

from __future__ import annotations

from subgraphs.core.kit.events.inbox import Handler
from subgraphs.core.kit.events.outbox import HubEvents
from subgraphs.ops import flows, models

EVENTS = HubEvents("ops", models.EVENT_TABLES)

HANDLERS: dict[str, Handler] = {
    # dev -> ops (T17): a deployment becomes a change record
    "deployment_recorded": flows.deployment_recorded,
}
