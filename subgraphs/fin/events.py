"""The fin hub's events: its outbox (emit in the transaction of the change) and the
handlers of the event types it consumes (kit/events/subscriptions.py)."""

from __future__ import annotations

from subgraphs.core.kit.events.inbox import Handler
from subgraphs.core.kit.events.outbox import HubEvents
from subgraphs.fin import models

EVENTS = HubEvents("fin", models.EVENT_TABLES)

HANDLERS: dict[str, Handler] = {}
