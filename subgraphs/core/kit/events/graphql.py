"""What a hub shows of its own outbox through GraphQL: deliveries not (yet) made, and
putting a dead one back.

Every hub has its own outbox, so the fields are named after the hub
(``devUndeliveredEvents``, ``retryDevEvent``): through the gateway one query reads every
hub's. ``UndeliveredEvent`` is the same value type in every hub (``@shareable``).
Reading needs ``hub:read``; retrying needs ``admin`` (it replays a side effect).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from subgraphs.core.kit.errors import BadUserInput, NotFound
from subgraphs.core.kit.events.outbox import HubEvents
from subgraphs.core.kit.events.relay import retry
from subgraphs.core.kit.events.tables import DEAD, PENDING

MAX_FIRST = 500


@strawberry.federation.type(
    shareable=True, description="An event a hub emitted that has not reached a destination."
)
class UndeliveredEvent:
    id: strawberry.ID
    type: str
    subject: str
    destination: str = strawberry.field(description="A hub (HTTP), or nats (the stream).")
    status: str = strawberry.field(description="pending (being retried) or dead.")
    attempts: int
    last_error: str | None
    occurred_at: datetime
    next_attempt_at: datetime


async def undelivered(
    events: HubEvents, db: Any, status: str | None, first: int
) -> list[UndeliveredEvent]:
    if status not in (None, PENDING, DEAD):
        raise BadUserInput(f"status is {PENDING} or {DEAD}, not {status!r}", argument="status")
    if not 1 <= first <= MAX_FIRST:
        raise BadUserInput(f"first is 1 to {MAX_FIRST}", argument="first")
    d, o = events.tables.deliveries, events.tables.outbox
    query = (
        select(d, o.c.event_type, o.c.occurred_at)
        .join(o, o.c.id == d.c.event_id)
        .where(d.c.status.in_([status] if status else [PENDING, DEAD]))
        .order_by(o.c.occurred_at, d.c.destination)
        .limit(first)
    )
    async with db.session() as session:
        rows = (await session.execute(query)).mappings().all()
    return [
        UndeliveredEvent(
            id=strawberry.ID(str(r["event_id"])),
            type=r["event_type"],
            subject=r["subject"],
            destination=r["destination"],
            status=r["status"],
            attempts=r["attempts"],
            last_error=r["last_error"],
            occurred_at=r["occurred_at"],
            next_attempt_at=r["next_attempt_at"],
        )
        for r in rows
    ]


def event_fields(events: HubEvents) -> tuple[type, type]:
    """A Query and a Mutation type holding the hub's two fields, to merge into its own."""
    hub = events.hub
    title = hub[:1].upper() + hub[1:]

    async def undelivered_events(
        info: Info,
        status: Annotated[
            str | None, strawberry.argument(description="pending or dead; both if not given.")
        ] = None,
        first: int = 50,
    ) -> list[UndeliveredEvent]:
        return await undelivered(events, info.context.db, status, first)

    async def retry_event(info: Info, id: strawberry.ID) -> int:
        try:
            event_id = uuid.UUID(str(id))
        except ValueError:
            raise BadUserInput(f"{id!r} is not an event id", argument="id") from None
        count = await retry(events, info.context.db, event_id)
        if not count:
            raise NotFound(f"event {id} has no dead delivery in the {hub} hub")
        return count

    query = strawberry.type(
        type(
            f"{title}EventsQuery",
            (),
            {
                "__annotations__": {"undelivered_events": list[UndeliveredEvent]},
                "undelivered_events": strawberry.federation.field(
                    resolver=undelivered_events,
                    name=f"{hub}UndeliveredEvents",
                    requires_scopes=[["hub:read"]],
                    description=f"Events the {hub} hub emitted that have not been "
                    "delivered: pending ones are being retried, dead ones wait for "
                    f"retry{title}Event.",
                ),
            },
        )
    )
    mutation = strawberry.type(
        type(
            f"{title}EventsMutation",
            (),
            {
                "__annotations__": {"retry_event": int},
                "retry_event": strawberry.federation.mutation(
                    resolver=retry_event,
                    name=f"retry{title}Event",
                    requires_scopes=[["admin"]],
                    description="Put a dead event back to be delivered again; how many "
                    "of its deliveries were put back.",
                ),
            },
        )
    )
    return query, mutation
