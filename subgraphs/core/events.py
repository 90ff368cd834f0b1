"""The core hub's events: its outbox (emit in the transaction of the change) and the
handlers of the event types it consumes (kit/events/subscriptions.py).

Every handler writes to core's register through ``service.record_event`` with the
event's id as ``event_key``, so a second delivery has no second effect even outside the
inbox; an event that breaks a risk's or alert's lifecycle is refused for good (the
kit's ``InvalidTransition``, a ``HubError``).

* ``runway_below_threshold`` (fin, T25) raises a critical alert about the domain. It
  escalates to the top of the domain tree: recorded on the domain itself, it is part of
  the summary of every domain on the path from the root down to it (a summary covers
  its sub-domains), and it names that path and the root it was escalated to (title and
  payload). A domain core does not know still gets its alert, about no domain.
* ``risk_*`` and ``alert_*`` from any hub land in the register as they are: subject and
  source hub from the event, title, severity and domain from its payload.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core import models, service
from subgraphs.core.kit.event_types import ALERT_EVENTS, RISK_EVENTS, EventType
from subgraphs.core.kit.events.envelope import Event
from subgraphs.core.kit.events.inbox import Handler
from subgraphs.core.kit.events.outbox import HubEvents

EVENTS = HubEvents("core", models.EVENT_TABLES)

RUNWAY_SEVERITY = "critical"
DEFAULT_SEVERITY = {"risk": "medium", "alert": "high"}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


async def _domain(session: AsyncSession, payload: dict[str, Any]) -> models.Domain | None:
    """The core domain the payload names (``domain``, ``domainSlug`` or ``domain_slug``),
    if core has it."""
    for key in ("domain", "domainSlug", "domain_slug"):
        slug = _text(payload.get(key))
        if slug:
            return await service.find_domain(session, slug)
    return None


async def runway_below_threshold(session: AsyncSession, event: Event) -> None:
    payload = dict(event.payload)
    named = _text(payload.get("domain")) or event.subject.removeprefix("runway:")
    domain = await service.find_domain(session, named) if named else None
    path = [d.slug for d in await service.domain_path(session, domain)] if domain else []
    months = _text(payload.get("months_remaining")) or "?"
    threshold = _text(payload.get("threshold_months")) or "?"
    title = f"Runway of {named}: {months} months left, below its threshold of {threshold}"
    if len(path) > 1:
        title += f" (escalated to {path[0]})"
    await service.record_event(
        session,
        event_type=EventType.ALERT_RAISED,
        source_hub=event.source,
        # One alert per crossing: the register's alert of an earlier crossing may be
        # resolved (final) or still open, and this one is raised all the same.
        subject=f"{event.subject}:{event.id}",
        title=title,
        severity=RUNWAY_SEVERITY,
        domain_slug=domain.slug if domain else None,
        payload={
            **payload,
            "event_type": event.type,
            "event_subject": event.subject,
            "escalated_to": path[0] if path else None,
            "domain_path": path,
        },
        occurred_at=event.time,
        event_key=str(event.id),
    )


async def risk_or_alert(session: AsyncSession, event: Event) -> None:
    """A ``risk_*`` or ``alert_*`` event of any hub, into the register."""
    payload = dict(event.payload)
    kind = EventType(event.type)
    noun = "risk" if kind in RISK_EVENTS else "alert"
    severity = _text(payload.get("severity"))
    if not severity:  # a follow-up keeps the latest severity; a new one gets the default
        severity = (
            await session.scalar(
                select(models.ProgressEvent.severity)
                .where(
                    models.ProgressEvent.subject == event.subject,
                    models.ProgressEvent.event_type.in_(
                        [k.value for k in (RISK_EVENTS if noun == "risk" else ALERT_EVENTS)]
                    ),
                )
                .order_by(models.ProgressEvent.created_at.desc(), models.ProgressEvent.id.desc())
                .limit(1)
            )
            or DEFAULT_SEVERITY[noun]
        )
    title = _text(payload.get("title"))
    if not title and kind in (EventType.RISK_SURFACED, EventType.ALERT_RAISED):
        title = event.subject
    domain = await _domain(session, payload)
    await service.record_event(
        session,
        event_type=kind,
        source_hub=event.source,
        subject=event.subject,
        title=title,  # empty for a follow-up: its subject's first title is kept
        severity=severity,
        domain_slug=domain.slug if domain else None,
        payload=payload,
        occurred_at=event.time,
        event_key=str(event.id),
    )


HANDLERS: dict[str, Handler] = {
    EventType.RUNWAY_BELOW_THRESHOLD.value: runway_below_threshold,
    **{kind.value: risk_or_alert for kind in RISK_EVENTS | ALERT_EVENTS},
}
