"""How the ops hub reacts to other hubs' events (issue 17, the workplan's T17).

Each function is an inbox handler (``kit/events/inbox.py``), run in one transaction with
the record of the event: applied once, in order per subject. ``events.HANDLERS`` names
them by event type.

* ``deployment_recorded`` (dev): a ``ChangeRecord`` "deployed <service> <version> to
  <environment>", changed by whoever recorded the deployment (else "dev hub"), at its
  deployment time. The service is looked up by name: the dev hub knows services only by
  name, ops by namespace and name. When exactly one ops service has the name the change
  is linked to it; when none (or several, in different namespaces) has, the change is
  recorded all the same, linked to no service, and its summary says why: a deployment
  happened whatever ops' registry knows, and refusing it would lose it for good.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.events.envelope import Event
from subgraphs.core.kit.events.inbox import EventRejected
from subgraphs.ops import models

DEV_HUB = "dev hub"


def _text(payload: dict[str, Any], name: str) -> str | None:
    value = payload.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


async def deployment_recorded(session: AsyncSession, event: Event) -> None:
    payload = event.payload
    name, version = _text(payload, "service"), _text(payload, "version")
    if name is None or version is None:
        raise EventRejected(f"deployment_recorded {event.id} names no service or version")
    environment = _text(payload, "environment") or "production"
    changed_at = event.time
    if deployed := _text(payload, "deployed_at"):
        try:
            changed_at = datetime.fromisoformat(deployed)
        except ValueError:
            raise EventRejected(f"deployed_at {deployed!r} is not an ISO 8601 time") from None
        if changed_at.tzinfo is None:
            raise EventRejected(f"deployed_at {deployed!r} has no time zone")
    services = list(
        (
            await session.scalars(
                select(models.Service).where(models.Service.name == name).limit(2)
            )
        ).all()
    )
    summary = f"deployed {name} {version} to {environment}"
    if (repo := _text(payload, "repo")) is not None:
        summary += f" (repo {repo})"
    if not services:
        summary += f"; no service named {name!r} is registered in ops"
    elif len(services) > 1:
        summary += f"; several services are named {name!r} in ops, none linked"
    if (notes := _text(payload, "notes")) is not None:
        summary += f"\n\n{notes}"
    recorded_by = _text(payload, "recorded_by")
    session.add(
        models.ChangeRecord(
            summary=summary,
            changed_by=(recorded_by or DEV_HUB)[: models.NAME_LENGTH],
            changed_at=changed_at,
            service_id=services[0].id if len(services) == 1 else None,
        )
    )
    await session.flush()
