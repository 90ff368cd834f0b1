"""How the dev hub reacts to other hubs' events (issue 17, the workplan's T17 and T25).

Each function is an inbox handler (``kit/events/inbox.py``): it runs in one transaction
with the record of the event, so it is applied once, in order per subject, and any
events it emits commit with it. ``events.HANDLERS`` names them by event type.

* ``incident_opened`` (ops): each listed task that is ``todo`` or ``in_progress`` is
  blocked through ``service.block_task`` (the lifecycle applies), the incident as the
  reason; the task remembers its previous status (``blocked_from``) and the incident
  (``blocked_by_incident``), and a ``task_blocked`` is emitted. A key this hub does not
  know is skipped and logged, never a reason to refuse the event: the other tasks must
  still be blocked. A task already blocked (by a person or another incident), done or
  cancelled is left as it is (logged): the incident does not own its status.
* ``incident_updated`` (ops; not in ``events.HANDLERS`` since the default subscriptions
  do not send it to dev — see there to enable it): the listed tasks not yet blocked by the incident are blocked as
  above, those it blocked and no longer lists are released as below.
* ``incident_resolved`` (ops): every task this incident blocked that is still blocked by
  it goes back to the status it had (``service.unblock_task``) and a ``task_unblocked``
  is emitted. Which tasks is this hub's own record, not the event's list: tasks the
  incident stopped listing while open are released too, and a task a person moved
  meanwhile (its ``blocked_by_incident`` is cleared by any status change through the
  API, or by a status edited in its workplan file) is left alone.
* ``budget_threshold_crossed`` (fin): the domain's ``ResourcePressure`` for the period,
  created or updated; no task's status changes.

Status changes go through the service's lifecycle functions, so ``sync --write-back``
writes them into the workplan files like any other change made through the API
(``status != file_status``).

A concurrent change to the same task (CONFLICT) is transient: the handler raises a plain
error, nothing is committed, and the sender delivers the event again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.errors import Conflict
from subgraphs.core.kit.events.envelope import Event
from subgraphs.core.kit.events.inbox import EventRejected
from subgraphs.dev import models, service
from subgraphs.dev.events import EVENTS

log = logging.getLogger("hubgraph.events")

# What an incident may take a task from, and give it back to (service.TASK's steps).
BLOCKABLE = ("todo", "in_progress")


class TaskChangedMeanwhile(RuntimeError):
    """A task changed while the event was applied: retried, not refused."""


# --- ops incidents -------------------------------------------------------------------


def _incident(event: Event) -> tuple[str, str, list[str]]:
    """The incident's id, the reason to block its tasks with, the keys it lists."""
    payload = event.payload
    incident_id = payload.get("incident_id") or event.subject.removeprefix("incident:")
    if not isinstance(incident_id, str) or not incident_id or len(incident_id) > 64:
        raise EventRejected(f"{event.type} {event.id} names no incident")
    keys = payload.get("blocked_tasks", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise EventRejected(f"{event.type} {event.id}: blocked_tasks must be a list of task keys")
    title = str(payload.get("title") or "an incident")
    severity = payload.get("severity")
    graded = f" ({severity})" if severity else ""
    reason = f"ops incident{graded}: {title} [incident {incident_id}]"
    return incident_id, reason[:2000], list(dict.fromkeys(keys))


async def _block(
    session: AsyncSession, event: Event, incident_id: str, reason: str, keys: Sequence[str]
) -> None:
    unknown: list[str] = []
    left: list[str] = []
    for key in keys:
        task = await service.find_task(session, key)
        if task is None:
            unknown.append(key)
            continue
        if task.blocked_by_incident == incident_id and task.status == "blocked":
            continue  # blocked by it already
        if task.status not in BLOCKABLE:
            left.append(f"{key} ({task.status})")
            continue
        previous = task.status
        try:
            await service.block_task(session, key, reason, incident=incident_id)
        except Conflict as exc:
            raise TaskChangedMeanwhile(str(exc)) from exc
        await EVENTS.emit(
            session,
            "task_blocked",
            f"task:{key}",
            {
                "task": key,
                "incident_id": incident_id,
                "previous_status": previous,
                "reason": reason,
            },
        )
    if unknown:
        log.warning("%s %s: no task %s here; skipped", event.type, event.id, ", ".join(unknown))
    if left:
        log.info("%s %s: left as they are: %s", event.type, event.id, ", ".join(left))


async def _release(session: AsyncSession, incident_id: str, keep: Sequence[str] = ()) -> list[str]:
    """Unblock the tasks still blocked by the incident (but those in ``keep``)."""
    rows = await session.scalars(
        select(models.Task)
        .where(
            models.Task.blocked_by_incident == incident_id,
            models.Task.status == "blocked",
            models.Task.key.not_in(list(keep)),
        )
        .order_by(models.Task.key)
    )
    released: list[str] = []
    for task in list(rows):
        try:
            moved = await service.unblock_task(session, task.key)
        except Conflict as exc:
            raise TaskChangedMeanwhile(str(exc)) from exc
        await EVENTS.emit(
            session,
            "task_unblocked",
            f"task:{task.key}",
            {"task": task.key, "incident_id": incident_id, "status": moved.status},
        )
        released.append(task.key)
    return released


async def incident_opened(session: AsyncSession, event: Event) -> None:
    incident_id, reason, keys = _incident(event)
    await _block(session, event, incident_id, reason, keys)


async def incident_updated(session: AsyncSession, event: Event) -> None:
    incident_id, reason, keys = _incident(event)
    await _release(session, incident_id, keep=keys)
    await _block(session, event, incident_id, reason, keys)


async def incident_resolved(session: AsyncSession, event: Event) -> None:
    incident_id, _reason, _keys = _incident(event)
    await _release(session, incident_id)


# --- fin budgets ---------------------------------------------------------------------


def _number(payload: dict[str, Any], name: str, event: Event) -> float:
    """A number of the payload: JSON number, or a decimal string as fin sends its
    figures (exact decimals never travel as binary floats between hubs)."""
    value = payload.get(name)
    if isinstance(value, str):
        try:
            value = float(Decimal(value.strip()))
        except (InvalidOperation, ValueError):
            value = None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EventRejected(f"{event.type} {event.id}: {name} must be a number")
    return float(value)


def _text(payload: dict[str, Any], name: str, length: int) -> str | None:
    value = payload.get(name)
    return str(value)[:length] if value is not None and str(value).strip() else None


async def budget_threshold_crossed(session: AsyncSession, event: Event) -> None:
    payload = event.payload
    domain, period = payload.get("domain"), payload.get("period")
    if not isinstance(domain, str) or not domain or len(domain) > models.KEY_LENGTH:
        raise EventRejected(f"{event.type} {event.id} names no domain")
    if not isinstance(period, str) or not period or len(period) > 50:
        raise EventRejected(f"{event.type} {event.id} names no period")
    percent = _number(payload, "percent", event)
    threshold = _number(payload, "threshold", event)
    values = {
        "percent": percent,
        "threshold": threshold,
        "allocated": _text(payload, "allocated", 50),
        "spent": _text(payload, "spent", 50),
        "currency": _text(payload, "currency", 10),
        "updated_at": datetime.now(UTC),
    }
    row = await session.scalar(
        select(models.ResourcePressure).where(
            models.ResourcePressure.domain_slug == domain,
            models.ResourcePressure.period == period,
        )
    )
    if row is None:
        # ``since``: when the period's spending first crossed a threshold.
        session.add(
            models.ResourcePressure(domain_slug=domain, period=period, since=event.time, **values)
        )
    else:
        for name, value in values.items():
            setattr(row, name, value)
    await session.flush()
