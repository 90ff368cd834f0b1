"""A hub's events while it serves: the relay, and over NATS its durable consumer.

Entered by the kit's app once the database is migrated, left when the app stops
(the tasks are cancelled; what they had not delivered stays pending in the outbox, and
a consumer's unacknowledged messages are redelivered by JetStream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.events.envelope import Event, Outcome
from subgraphs.core.kit.events.http import HttpTransport
from subgraphs.core.kit.events.inbox import Inbox
from subgraphs.core.kit.events.outbox import HubEvents
from subgraphs.core.kit.events.relay import DeliveryFailed, Relay
from subgraphs.core.kit.peers import PeerHubs

if TYPE_CHECKING:
    from subgraphs.core.kit.events.nats import NatsPublisher

log = logging.getLogger("hubgraph.events")


@contextlib.asynccontextmanager
async def event_runtime(
    events: HubEvents, db: Database, peers: PeerHubs, inbox: Inbox
) -> AsyncIterator[Relay]:
    settings = events.settings
    tasks: list[asyncio.Task[None]] = []
    opened: list[NatsPublisher] = []
    if settings.nats_url is None:
        relay = Relay(events, db, HttpTransport(peers))
    else:
        from subgraphs.core.kit.events.nats import NatsSubscriber

        url = settings.nats_url  # connected on first use: NATS may start later

        async def publish(_destination: str, event: Event) -> Outcome:
            try:
                if not opened:
                    from subgraphs.core.kit.events.nats import NatsPublisher

                    opened.append(await NatsPublisher.open(url))
                await opened[0].publish(event)
            except Exception as exc:
                raise DeliveryFailed(f"NATS: {type(exc).__name__}: {exc}") from None
            return Outcome.APPLIED  # stored by JetStream: the consumers take it from there

        relay = Relay(events, db, publish)
        # what this hub is subscribed to and has a handler for (a type it handles but is
        # not subscribed to is not counted for it by producers: taking it would stall)
        types = sorted(set(inbox.handlers) & settings.subscriptions.get(events.hub, frozenset()))
        if types:
            subscriber = NatsSubscriber(settings.nats_url, events.hub, types, inbox.receive)
            tasks.append(asyncio.create_task(subscriber.run(), name=f"{events.hub}-events-in"))
    tasks.append(asyncio.create_task(relay.run(), name=f"{events.hub}-events-out"))
    try:
        yield relay
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for publisher in opened:
            with contextlib.suppress(Exception):
                await publisher.close()
