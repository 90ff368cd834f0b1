"""The ops hub's domain logic for its registry and its incidents: plain async functions
over a session. No GraphQL and no HTTP here.

Functions validate their input and raise the kit's ``HubError`` subclasses; one that
raises has changed nothing, because callers run each mutation in one transaction.
Incident statuses move through a declared lifecycle (``INCIDENT``), each step atomic
(``kit.transitions``). Which dev tasks exist is not this module's business: callers
check task keys with the dev hub first (``dev_tasks.py``) and pass only known ones.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.errors import BadUserInput, Conflict, NotFound
from subgraphs.core.kit.orm import utcnow
from subgraphs.core.kit.pagination import Page, paginate
from subgraphs.core.kit.transitions import Lifecycle, transition
from subgraphs.ops import models
from subgraphs.ops.events import EVENTS

# open -> investigating -> mitigated -> resolved. A false alarm is resolved at once; a
# mitigation that does not hold goes back to investigating; resolved is final (a
# recurrence is a new incident, so each keeps its own timeline).
INCIDENT = Lifecycle(
    "incident",
    {
        "open": ("investigating", "mitigated", "resolved"),
        "investigating": ("mitigated", "resolved"),
        "mitigated": ("investigating", "resolved"),
        "resolved": (),
    },
)
MAX_ENDPOINTS = 20
MAX_LINKS = 200  # services affected by, or tasks blocked by, one incident


# --- input checks --------------------------------------------------------------------


def required(value: str | None, argument: str, max_length: int) -> str:
    text = (value or "").strip()
    if not text:
        raise BadUserInput(f"{argument} must not be empty", argument=argument)
    if len(text) > max_length:
        raise BadUserInput(f"{argument} is longer than {max_length} characters", argument=argument)
    return text


def optional(value: str | None, argument: str, max_length: int) -> str | None:
    return required(value, argument, max_length) if value and value.strip() else None


def one_of(value: str, allowed: Sequence[str], argument: str) -> str:
    if value not in allowed:
        raise BadUserInput(
            f"{argument} must be one of {', '.join(allowed)}, not {value!r}", argument=argument
        )
    return value


def row_id(value: str, noun: str, argument: str = "id") -> uuid.UUID:
    """A row id as given by a client; NOT_FOUND (naming it) when it cannot be one."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"no {noun} {value!r}", argument=argument) from None


def endpoint(value: str, argument: str = "endpoints") -> str:
    """An absolute http(s) URL or a host:port with a port in 1..65535."""
    text = required(value, argument, models.TARGET_LENGTH)
    try:
        parts = urlsplit(text if "://" in text else f"tcp://{text}")
        port = parts.port
    except ValueError as exc:
        raise BadUserInput(
            f"{argument}: {text!r} is not a URL or host:port ({exc})", argument=argument
        ) from None
    if parts.scheme not in ("http", "https", "tcp") or not parts.hostname:
        raise BadUserInput(
            f"{argument}: {text!r} is neither an http(s) URL nor a host:port", argument=argument
        )
    if parts.scheme == "tcp" and port is None:
        raise BadUserInput(f"{argument}: {text!r} has no port", argument=argument)
    if port is not None and not 1 <= port <= 65535:
        raise BadUserInput(
            f"{argument}: {text!r}: port {port} is not in 1-65535", argument=argument
        )
    return text


def threshold(value: int, argument: str) -> int:
    if value < 1:
        raise BadUserInput(f"{argument} must be at least 1, not {value}", argument=argument)
    if value > 100:
        raise BadUserInput(f"{argument} must be at most 100, not {value}", argument=argument)
    return value


# --- services ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeDefinition:
    """A probe as a client describes it, before it is checked (``check_probe``)."""

    kind: str
    target: str
    timeout_s: float = 5.0
    expected_status: int | None = 200
    body_match: str | None = None
    interval_s: int = 60


def check_probe(definition: ProbeDefinition, argument: str = "probes") -> ProbeDefinition:
    """The definition if ``probes.validate_spec`` accepts it; BAD_USER_INPUT saying why."""
    from subgraphs.ops.probes import ProbeSpec, validate_spec

    one_of(definition.kind, models.PROBE_KINDS, f"{argument}.kind")
    if definition.interval_s < 5 or definition.interval_s > 86_400:
        raise BadUserInput(
            f"{argument}.intervalS must be between 5 and 86400 seconds, not {definition.interval_s}",
            argument=argument,
        )
    try:
        spec = validate_spec(
            ProbeSpec(
                kind=definition.kind,  # type: ignore[arg-type]
                target=definition.target.strip(),
                timeout_s=definition.timeout_s,
                expected_status=definition.expected_status,
                body_match=definition.body_match,
            )
        )
    except ValueError as exc:
        raise BadUserInput(f"{argument}: {exc}", argument=argument) from None
    return ProbeDefinition(
        kind=spec.kind,
        target=spec.target,
        timeout_s=spec.timeout_s,
        expected_status=spec.expected_status,
        body_match=spec.body_match,
        interval_s=definition.interval_s,
    )


async def find_service(session: AsyncSession, service_id: str) -> models.Service | None:
    try:
        key = uuid.UUID(str(service_id))
    except ValueError:
        return None
    return await session.get(models.Service, key)


async def get_service(
    session: AsyncSession, service_id: str, argument: str = "id"
) -> models.Service:
    row = await session.get(models.Service, row_id(service_id, "service", argument))
    if row is None:
        raise NotFound(f"no service {service_id!r}", argument=argument)
    return row


async def find_service_by_name(
    session: AsyncSession, namespace: str, name: str
) -> models.Service | None:
    return await session.scalar(
        select(models.Service).where(
            models.Service.namespace == namespace, models.Service.name == name
        )
    )


async def register_service(
    session: AsyncSession,
    *,
    name: str,
    namespace: str,
    domain_slug: str,
    owner: str | None = None,
    description: str = "",
    endpoints: Sequence[str] = (),
    red_after: int = 3,
    green_after: int = 2,
    probes: Sequence[ProbeDefinition] = (),
    service_id: uuid.UUID | None = None,
) -> models.Service:
    """A new service, UNKNOWN until probed; CONFLICT when its namespace has the name.

    ``service_id`` is for demo data, whose ids other hubs' demos know (fin's costs)."""
    name = required(name, "name", models.NAME_LENGTH)
    namespace = required(namespace, "namespace", 100)
    if len(endpoints) > MAX_ENDPOINTS:
        raise BadUserInput(f"at most {MAX_ENDPOINTS} endpoints", argument="endpoints")
    service = models.Service(
        id=service_id or uuid.uuid4(),
        name=name,
        namespace=namespace,
        domain_slug=required(domain_slug, "domain", models.KEY_LENGTH),
        owner=optional(owner, "owner", models.NAME_LENGTH),
        description=(description or "").strip(),
        endpoints=[endpoint(e) for e in endpoints],
        red_after=threshold(red_after, "redAfter"),
        green_after=threshold(green_after, "greenAfter"),
        health="UNKNOWN",
    )
    checked = [check_probe(p) for p in probes]
    if await find_service_by_name(session, namespace, name) is not None:
        raise Conflict(
            f"namespace {namespace!r} already has a service named {name!r}", argument="name"
        )
    session.add(service)
    await session.flush()
    for definition in checked:
        session.add(_probe_row(service.id, definition))
    await session.flush()
    return service


def _probe_row(service_id: uuid.UUID, definition: ProbeDefinition) -> models.Probe:
    return models.Probe(
        service_id=service_id,
        kind=definition.kind,
        target=definition.target,
        timeout_s=definition.timeout_s,
        expected_status=definition.expected_status,
        body_match=definition.body_match,
        interval_s=definition.interval_s,
        enabled=True,
    )


async def add_probe(
    session: AsyncSession, service_id: str, definition: ProbeDefinition
) -> models.Probe:
    service = await get_service(session, service_id, "service")
    probe = _probe_row(service.id, check_probe(definition, "probe"))
    session.add(probe)
    await session.flush()
    return probe


@dataclass(frozen=True)
class ServiceChange:
    """What ``update_service`` may change; None: leave as it is."""

    owner: str | None = None
    description: str | None = None
    endpoints: Sequence[str] | None = None
    red_after: int | None = None
    green_after: int | None = None


async def update_service(
    session: AsyncSession, service_id: str, change: ServiceChange
) -> models.Service:
    """Change a service's registry entry; its name, namespace and health stay (health
    is the probes' to say; new thresholds apply from the next result)."""
    service = await get_service(session, service_id)
    if change.endpoints is not None and len(change.endpoints) > MAX_ENDPOINTS:
        raise BadUserInput(f"at most {MAX_ENDPOINTS} endpoints", argument="endpoints")
    values = {
        "owner": optional(change.owner, "owner", models.NAME_LENGTH)
        if change.owner is not None
        else service.owner,
        "description": change.description.strip()
        if change.description is not None
        else service.description,
        "endpoints": [endpoint(e) for e in change.endpoints]
        if change.endpoints is not None
        else service.endpoints,
        "red_after": threshold(change.red_after, "redAfter")
        if change.red_after is not None
        else service.red_after,
        "green_after": threshold(change.green_after, "greenAfter")
        if change.green_after is not None
        else service.green_after,
    }
    for name, value in values.items():
        setattr(service, name, value)
    await session.flush()
    return service


async def remove_probe(session: AsyncSession, probe_id: str) -> models.Service:
    """Delete a probe and its results; the service it probed is returned."""
    probe = await session.get(models.Probe, row_id(probe_id, "probe"))
    if probe is None:
        raise NotFound(f"no probe {probe_id!r}", argument="id")
    service = await session.get(models.Service, probe.service_id)
    assert service is not None
    await session.delete(probe)
    await session.flush()
    return service


async def list_services(
    session: AsyncSession,
    *,
    namespace: str | None = None,
    domain_slug: str | None = None,
    health: str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[models.Service]:
    """By namespace, then name."""
    stmt: Select[tuple[models.Service]] = select(models.Service)
    if namespace:
        stmt = stmt.where(models.Service.namespace == namespace)
    if domain_slug:
        stmt = stmt.where(models.Service.domain_slug == domain_slug)
    if health:
        stmt = stmt.where(models.Service.health == one_of(health, models.HEALTHS, "health"))
    keys = [models.Service.namespace, models.Service.name]
    return await paginate(session, stmt, keys, first=first, after=after)


async def recent_results(
    session: AsyncSession, service_ids: Sequence[uuid.UUID], limit: int
) -> dict[uuid.UUID, list[models.ProbeResult]]:
    """The newest ``limit`` probe results of each service, newest first (one query)."""
    rank = (
        func.row_number()
        .over(
            partition_by=models.ProbeResult.service_id,
            order_by=(models.ProbeResult.checked_at.desc(), models.ProbeResult.id.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(models.ProbeResult.id, rank)
        .where(models.ProbeResult.service_id.in_(service_ids))
        .subquery()
    )
    stmt = (
        select(models.ProbeResult)
        .join(ranked, ranked.c.id == models.ProbeResult.id)
        .where(ranked.c.rank <= limit)
        .order_by(models.ProbeResult.checked_at.desc(), models.ProbeResult.id.desc())
    )
    grouped: dict[uuid.UUID, list[models.ProbeResult]] = defaultdict(list)
    for row in (await session.scalars(stmt)).all():
        grouped[row.service_id].append(row)
    return grouped


# --- incidents -----------------------------------------------------------------------


def task_keys(keys: Sequence[str]) -> list[str]:
    """Task keys as typed, deduplicated in order; BAD_USER_INPUT for an empty or long one."""
    cleaned = [required(k, "blocksTasks", models.KEY_LENGTH) for k in keys]
    unique = list(dict.fromkeys(cleaned))
    if len(unique) > MAX_LINKS:
        raise BadUserInput(f"at most {MAX_LINKS} tasks per incident", argument="blocksTasks")
    return unique


def unknown_tasks(keys: Sequence[str], existing: set[str]) -> None:
    """NOT_FOUND naming every key the dev hub does not have."""
    missing = [k for k in keys if k not in existing]
    if missing:
        raise NotFound(
            f"the dev hub has no task {', '.join(repr(k) for k in missing)}",
            argument="blocksTasks",
            missing=missing,
        )


async def _services(
    session: AsyncSession, ids: Sequence[str], argument: str
) -> list[models.Service]:
    unique = list(dict.fromkeys(ids))
    if len(unique) > MAX_LINKS:
        raise BadUserInput(f"at most {MAX_LINKS} services per incident", argument=argument)
    keys: dict[str, uuid.UUID | None] = {}
    for given in unique:
        try:
            keys[given] = uuid.UUID(str(given))
        except ValueError:
            keys[given] = None  # cannot be a service's id: reported with the missing
    wanted = [k for k in keys.values() if k is not None]
    found = {
        s.id: s
        for s in (
            await session.scalars(select(models.Service).where(models.Service.id.in_(wanted)))
        ).all()
    }
    missing = [given for given, key in keys.items() if key not in found]
    if missing:
        raise NotFound(
            f"no service {', '.join(repr(m) for m in missing)}", argument=argument, missing=missing
        )
    return [found[k] for k in wanted]


async def find_incident(session: AsyncSession, incident_id: str) -> models.Incident | None:
    try:
        key = uuid.UUID(str(incident_id))
    except ValueError:
        return None
    return await session.get(models.Incident, key)


async def get_incident(
    session: AsyncSession, incident_id: str, argument: str = "id"
) -> models.Incident:
    row = await session.get(models.Incident, row_id(incident_id, "incident", argument))
    if row is None:
        raise NotFound(f"no incident {incident_id!r}", argument=argument)
    return row


def note(
    session: AsyncSession,
    incident: models.Incident,
    author: str,
    text: str,
    at: datetime | None = None,
) -> models.TimelineEntry:
    entry = models.TimelineEntry(
        incident_id=incident.id, author=author, text=text, at=at or utcnow()
    )
    session.add(entry)
    return entry


async def create_incident(
    session: AsyncSession,
    *,
    title: str,
    severity: str,
    opened_by: str,
    summary: str = "",
    service_ids: Sequence[str] = (),
    blocks_tasks: Sequence[str] = (),
    opened_at: datetime | None = None,
) -> models.Incident:
    """A new open incident; ``blocks_tasks`` must be keys the dev hub was found to have."""
    title = required(title, "title", 300)
    one_of(severity, models.SEVERITIES, "severity")
    services = await _services(session, service_ids, "services")
    keys = task_keys(blocks_tasks)
    at = opened_at or utcnow()
    incident = models.Incident(
        title=title,
        summary=(summary or "").strip(),
        severity=severity,
        status="open",
        opened_by=opened_by,
        opened_at=at,
    )
    session.add(incident)
    await session.flush()
    session.add_all(
        models.IncidentService(incident_id=incident.id, service_id=s.id) for s in services
    )
    session.add_all(models.IncidentTask(incident_id=incident.id, task_key=k) for k in keys)
    affected = f"; affects {', '.join(s.name for s in services)}" if services else ""
    note(session, incident, opened_by, f"opened as {severity}: {title}{affected}", at)
    await session.flush()
    if keys:
        await _announce(session, incident, sorted(keys))
    return incident


# --- what other hubs are told (events, in the transaction of the change) -------------
#
# An incident that blocks dev tasks is announced with ``incident_opened`` (at creation,
# or when its first tasks are added later); a change of the tasks it blocks after that
# is ``incident_updated`` with the whole new list (and what was added and removed); its
# resolution is ``incident_resolved`` with the tasks it blocked then. All have subject
# ``incident:<id>``, so consumers apply them in that order. Incidents that never block a
# task (most of those the probes open) are not announced at all. The dev hub consumes
# opened and resolved by default: it blocks the tasks at the first, and at the second
# releases every task it blocked for the incident, including any removed meanwhile.


def _incident_payload(incident: models.Incident, keys: Sequence[str]) -> dict[str, object]:
    return {
        "incident_id": str(incident.id),
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "blocked_tasks": list(keys),
    }


async def _blocked_keys(session: AsyncSession, incident: models.Incident) -> list[str]:
    return list(
        (
            await session.scalars(
                select(models.IncidentTask.task_key)
                .where(models.IncidentTask.incident_id == incident.id)
                .order_by(models.IncidentTask.task_key)
            )
        ).all()
    )


async def _announced(session: AsyncSession, incident: models.Incident) -> bool:
    """Whether its ``incident_opened`` was emitted: this hub's outbox says (a lookup on
    rare steps only — tasks relinked, the incident resolved — so no column of its own)."""
    outbox = EVENTS.tables.outbox
    found = await session.scalar(
        select(outbox.c.id)
        .where(
            outbox.c.subject == f"incident:{incident.id}",
            outbox.c.event_type == "incident_opened",
        )
        .limit(1)
    )
    return found is not None


async def _announce(session: AsyncSession, incident: models.Incident, keys: Sequence[str]) -> None:
    await EVENTS.emit(
        session,
        "incident_opened",
        f"incident:{incident.id}",
        _incident_payload(incident, keys),
        occurred_at=incident.opened_at,
    )


async def _tasks_changed(
    session: AsyncSession,
    incident: models.Incident,
    added: Sequence[str],
    removed: Sequence[str],
) -> None:
    await EVENTS.lock(session, f"incident:{incident.id}")  # one announcement, whoever races
    keys = await _blocked_keys(session, incident)
    if not await _announced(session, incident):
        if keys:
            await _announce(session, incident, keys)
        return
    await EVENTS.emit(
        session,
        "incident_updated",
        f"incident:{incident.id}",
        {**_incident_payload(incident, keys), "added": list(added), "removed": list(removed)},
    )


async def _resolved(session: AsyncSession, incident: models.Incident) -> None:
    await EVENTS.lock(session, f"incident:{incident.id}")
    keys = await _blocked_keys(session, incident)
    if not keys and not await _announced(session, incident):
        return
    await EVENTS.emit(
        session,
        "incident_resolved",
        f"incident:{incident.id}",
        {**_incident_payload(incident, keys), "resolved_at": _iso(incident.resolved_at)},
    )


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


@dataclass(frozen=True)
class IncidentChange:
    """What ``update_incident`` may change; None / empty: leave as it is."""

    status: str | None = None
    severity: str | None = None
    note: str | None = None
    add_services: Sequence[str] = ()
    add_tasks: Sequence[str] = ()
    remove_tasks: Sequence[str] = ()


async def update_incident(
    session: AsyncSession, incident_id: str, change: IncidentChange, author: str
) -> models.Incident:
    """Move, re-grade, annotate or re-link an incident; each change is on its timeline.

    Tasks added must be keys the dev hub was found to have. A resolved incident takes
    notes only (its status cannot move: INVALID_TRANSITION).
    """
    incident = await get_incident(session, incident_id)
    resolving = False
    if change.status is not None and change.status != incident.status:
        to = INCIDENT.parse(change.status)
        resolving = to == "resolved"
        await transition(
            session,
            INCIDENT,
            incident,
            to,
            label=repr(incident.title),
            values={"resolved_at": utcnow()} if to == "resolved" else None,
        )
        note(session, incident, author, f"status: {to}")
    elif change.status is not None:
        INCIDENT.check(incident.status, change.status, repr(incident.title))
    if change.severity is not None and change.severity != incident.severity:
        one_of(change.severity, models.SEVERITIES, "severity")
        before = incident.severity
        incident.severity = change.severity
        note(session, incident, author, f"severity: {before} -> {change.severity}")
    if change.add_services:
        await _link_services(session, incident, change.add_services, author)
    added: list[str] = []
    removed: list[str] = []
    if change.add_tasks or change.remove_tasks:
        added, removed = await _relink_tasks(
            session, incident, change.add_tasks, change.remove_tasks, author
        )
    if change.note is not None:
        note(session, incident, author, required(change.note, "note", 10_000))
    await session.flush()
    if resolving:
        await _resolved(session, incident)
    elif (added or removed) and incident.status != "resolved":
        await _tasks_changed(session, incident, added, removed)
    return incident


async def _link_services(
    session: AsyncSession, incident: models.Incident, ids: Sequence[str], author: str
) -> None:
    services = await _services(session, ids, "addServices")
    linked = set(
        (
            await session.scalars(
                select(models.IncidentService.service_id).where(
                    models.IncidentService.incident_id == incident.id
                )
            )
        ).all()
    )
    new = [s for s in services if s.id not in linked]
    session.add_all(models.IncidentService(incident_id=incident.id, service_id=s.id) for s in new)
    if new:
        note(session, incident, author, f"affects also {', '.join(s.name for s in new)}")


async def _relink_tasks(
    session: AsyncSession,
    incident: models.Incident,
    add: Sequence[str],
    remove: Sequence[str],
    author: str,
) -> tuple[list[str], list[str]]:
    """Link ``add``, unlink ``remove``: the keys actually added and removed."""
    rows = (
        await session.scalars(
            select(models.IncidentTask).where(models.IncidentTask.incident_id == incident.id)
        )
    ).all()
    linked = {r.task_key: r for r in rows}
    added = [k for k in task_keys(add) if k not in linked]
    removed = [k for k in task_keys(remove) if k in linked]
    session.add_all(models.IncidentTask(incident_id=incident.id, task_key=k) for k in added)
    for key in removed:
        await session.delete(linked[key])
    if added:
        note(session, incident, author, f"blocks also {', '.join(added)}")
    if removed:
        note(session, incident, author, f"no longer blocks {', '.join(removed)}")
    return added, removed


async def resolve_incident(
    session: AsyncSession, incident_id: str, author: str, resolution: str | None = None
) -> models.Incident:
    incident = await get_incident(session, incident_id)
    text = optional(resolution, "resolution", 10_000)
    await transition(
        session,
        INCIDENT,
        incident,
        "resolved",
        label=repr(incident.title),
        values={"resolved_at": utcnow()},
    )
    note(session, incident, author, f"resolved: {text}" if text else "resolved")
    await session.flush()
    await _resolved(session, incident)
    return incident


async def list_incidents(
    session: AsyncSession,
    *,
    status: str | None = None,
    open_only: bool = False,
    severity: str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[models.Incident]:
    """Newest first."""
    stmt: Select[tuple[models.Incident]] = select(models.Incident)
    if status:
        stmt = stmt.where(models.Incident.status == INCIDENT.parse(status))
    if open_only:
        stmt = stmt.where(models.Incident.status.in_(models.OPEN_INCIDENT_STATUSES))
    if severity:
        stmt = stmt.where(
            models.Incident.severity == one_of(severity, models.SEVERITIES, "severity")
        )
    keys = [models.Incident.opened_at, models.Incident.id]
    return await paginate(session, stmt, keys, first=first, after=after, descending=True)


# --- batched lookups for the graph (one statement each, whatever the number of keys) ---


def _open() -> ColumnElement[bool]:
    return models.Incident.status.in_(models.OPEN_INCIDENT_STATUSES)


async def blocking_incidents(
    session: AsyncSession, keys: Sequence[str]
) -> dict[str, list[models.Incident]]:
    """The unresolved incidents blocking each task key, most severe first."""
    stmt = (
        select(models.IncidentTask.task_key, models.Incident)
        .join(models.Incident, models.Incident.id == models.IncidentTask.incident_id)
        .where(models.IncidentTask.task_key.in_(keys), _open())
        .order_by(models.Incident.severity, models.Incident.opened_at)
    )
    grouped: dict[str, list[models.Incident]] = defaultdict(list)
    for key, incident in (await session.execute(stmt)).all():
        grouped[key].append(incident)
    return grouped


async def affected_services(
    session: AsyncSession, incident_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[models.Service]]:
    """The services each incident affects, by namespace and name."""
    stmt = (
        select(models.IncidentService.incident_id, models.Service)
        .join(models.Service, models.Service.id == models.IncidentService.service_id)
        .where(models.IncidentService.incident_id.in_(incident_ids))
        .order_by(models.Service.namespace, models.Service.name)
    )
    grouped: dict[uuid.UUID, list[models.Service]] = defaultdict(list)
    for incident_id, service in (await session.execute(stmt)).all():
        grouped[incident_id].append(service)
    return grouped


async def open_incidents_of_services(
    session: AsyncSession, service_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[models.Incident]]:
    stmt = (
        select(models.IncidentService.service_id, models.Incident)
        .join(models.Incident, models.Incident.id == models.IncidentService.incident_id)
        .where(models.IncidentService.service_id.in_(service_ids), _open())
        .order_by(models.Incident.severity, models.Incident.opened_at)
    )
    grouped: dict[uuid.UUID, list[models.Incident]] = defaultdict(list)
    for service_id, incident in (await session.execute(stmt)).all():
        grouped[service_id].append(incident)
    return grouped


async def open_incidents_by_domain(
    session: AsyncSession, slugs: Sequence[str]
) -> dict[str, list[models.Incident]]:
    """Unresolved incidents affecting any service of each domain, most severe first."""
    stmt = (
        select(models.Service.domain_slug, models.Incident)
        .join(models.IncidentService, models.IncidentService.incident_id == models.Incident.id)
        .join(models.Service, models.Service.id == models.IncidentService.service_id)
        .where(models.Service.domain_slug.in_(slugs), _open())
        .distinct()
        .order_by(models.Service.domain_slug, models.Incident.severity, models.Incident.opened_at)
    )
    grouped: dict[str, list[models.Incident]] = defaultdict(list)
    for slug, incident in (await session.execute(stmt)).all():
        grouped[slug].append(incident)
    return grouped
