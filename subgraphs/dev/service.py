"""The dev hub's domain logic: plain async functions over a session.

No GraphQL and no HTTP here. Functions validate their input and raise the kit's
``HubError`` subclasses (``NotFound``, ``BadUserInput``, ``Conflict``,
``InvalidTransition``); a function that raises has changed nothing, because callers run
each mutation in one transaction.

Workplans, phases and tasks normally arrive through ``sync.py`` (the markdown files are
their source); the ``create_*`` / ``add_*`` functions here put them in directly, for
tests and for tools without a file. Task statuses then move through a validated
lifecycle (``TASK``), each step atomic (``kit.transitions``): of concurrent changes from
one status exactly one is made.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, delete, exists, func, insert, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from subgraphs.core.kit.errors import BadUserInput, Conflict, InvalidTransition, NotFound
from subgraphs.core.kit.orm import utcnow
from subgraphs.core.kit.pagination import Page, paginate
from subgraphs.core.kit.transitions import Lifecycle, transition
from subgraphs.dev import models
from subgraphs.dev.events import EVENTS
from subgraphs.dev.sbom import (
    ParsedComponent,
    SbomError,
    classify,
    licence_summary,
    parse_cyclonedx,
)

# The task lifecycle: status -> statuses it may move to, in models.TASK_STATUSES order.
# Blocking needs a reason (block_task); done can be reopened and cancelled revived, but
# only back into work.
TASK = Lifecycle(
    "task",
    {
        "todo": ("in_progress", "blocked", "done", "cancelled"),
        "in_progress": ("todo", "blocked", "done", "cancelled"),
        "blocked": ("todo", "in_progress", "cancelled"),
        "done": ("in_progress",),
        "cancelled": ("todo",),
    },
)
TASK_TRANSITIONS = TASK.steps
# A dependency on a task in one of these no longer holds its dependants back.
SETTLED_STATUSES = ("done", "cancelled")


def _required(value: str | None, argument: str, max_length: int) -> str:
    text = (value or "").strip()
    if not text:
        raise BadUserInput(f"{argument} must not be empty", argument=argument)
    if len(text) > max_length:
        raise BadUserInput(f"{argument} is longer than {max_length} characters", argument=argument)
    return text


def _optional(value: str | None, argument: str, max_length: int) -> str | None:
    return _required(value, argument, max_length) if value and value.strip() else None


def _status(value: str, argument: str = "status") -> str:
    return TASK.parse(value, argument)


# --- workplans -----------------------------------------------------------------------


async def find_workplan(session: AsyncSession, key: str) -> models.Workplan | None:
    return await session.scalar(select(models.Workplan).where(models.Workplan.key == key))


async def get_workplan(session: AsyncSession, key: str, argument: str = "id") -> models.Workplan:
    workplan = await find_workplan(session, key)
    if workplan is None:
        raise NotFound(f"no workplan {key!r}", argument=argument)
    return workplan


async def create_workplan(
    session: AsyncSession,
    *,
    key: str,
    title: str,
    domain_slug: str,
    type: str = "workplan",
    status: str = "active",
    repo: str | None = None,
    owner: str | None = None,
    topic_slug: str | None = None,
    created: date | None = None,
    updated: date | None = None,
    workstream_id: str | None = None,
) -> models.Workplan:
    """A workplan without a file (``sync`` imports the ones that have one)."""
    key = _required(key, "key", models.KEY_LENGTH)
    if await find_workplan(session, key):
        raise Conflict(f"workplan {key!r} already exists", argument="key")
    workplan = models.Workplan(
        key=key,
        type=_required(type, "type", 50),
        title=_required(title, "title", 300),
        domain_slug=_required(domain_slug, "domainSlug", models.KEY_LENGTH),
        repo=_optional(repo, "repo", models.REPO_LENGTH),
        status=_required(status, "status", 50),
        owner=_optional(owner, "owner", 200),
        topic_slug=_optional(topic_slug, "topicSlug", models.KEY_LENGTH),
        created=created,
        updated=updated,
        workstream_id=workstream_id,
    )
    session.add(workplan)
    await session.flush()
    return workplan


async def add_phase(
    session: AsyncSession,
    *,
    workplan_key: str,
    number: int,
    title: str,
    goal: str | None = None,
    repos: Sequence[str] = (),
    depends_on: Sequence[int] = (),
    parallel_with: Sequence[int] = (),
) -> models.Phase:
    workplan = await get_workplan(session, workplan_key, "workplan")
    phase = models.Phase(
        workplan_id=workplan.id,
        number=number,
        title=_required(title, "title", 300),
        goal=goal,
        repos=list(repos),
        depends_on=list(depends_on),
        parallel_with=list(parallel_with),
    )
    session.add(phase)
    await session.flush()
    return phase


async def list_workplans(
    session: AsyncSession,
    *,
    domain_slug: str | None = None,
    status: str | None = None,
    repo: str | None = None,
    topic: str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[models.Workplan]:
    """By key."""
    stmt = select(models.Workplan)
    if topic:
        stmt = stmt.where(models.Workplan.topic_slug == topic)
    if domain_slug:
        stmt = stmt.where(models.Workplan.domain_slug == domain_slug)
    if status:
        stmt = stmt.where(models.Workplan.status == status)
    if repo:
        stmt = stmt.where(models.Workplan.repo == repo)
    return await paginate(session, stmt, [models.Workplan.key], first=first, after=after)


async def ensure_topic(session: AsyncSession, slug: str, title: str | None = None) -> models.Topic:
    """The topic ``slug``, created (titled by its slug unless told) when it is new."""
    slug = _required(slug, "topic", models.KEY_LENGTH)
    topic = await session.scalar(select(models.Topic).where(models.Topic.slug == slug))
    if topic is None:
        topic = models.Topic(slug=slug, title=title or slug)
        session.add(topic)
        await session.flush()
    return topic


async def list_topics(session: AsyncSession) -> list[tuple[models.Topic, int]]:
    """Every topic with how many workplans it has, by slug (one query)."""
    count = (
        select(func.count(models.Workplan.id))
        .where(models.Workplan.topic_slug == models.Topic.slug)
        .scalar_subquery()
    )
    rows = await session.execute(select(models.Topic, count).order_by(models.Topic.slug))
    return [(topic, int(n)) for topic, n in rows.all()]


async def list_phases(session: AsyncSession, workplan_key: str) -> list[models.Phase]:
    workplan = await get_workplan(session, workplan_key, "workplan")
    stmt = (
        select(models.Phase)
        .where(models.Phase.workplan_id == workplan.id)
        .order_by(models.Phase.number)
    )
    return list((await session.scalars(stmt)).all())


# --- tasks ---------------------------------------------------------------------------


async def add_task(
    session: AsyncSession,
    *,
    workplan_key: str,
    key: str,
    title: str,
    status: str = "todo",
    priority: str | None = None,
    phase_number: int | None = None,
    external_id: str | None = None,
    description: str = "",
    depends_on: Iterable[str] = (),
    references: Iterable[str] = (),
) -> models.Task:
    """A task at the end of its workplan, with its dependencies and cross-references."""
    workplan = await get_workplan(session, workplan_key, "workplan")
    key = _required(key, "key", models.KEY_LENGTH)
    if await find_task(session, key):
        raise Conflict(f"task {key!r} already exists", argument="key")
    position = await session.scalar(
        select(func.count()).where(models.Task.workplan_id == workplan.id)
    )
    task = models.Task(
        key=key,
        workplan_id=workplan.id,
        title=_required(title, "title", 300),
        status=_status(status),
        priority=priority,
        phase_number=phase_number,
        external_id=external_id,
        description=description,
        position=position or 0,
        status_changed_at=utcnow(),
    )
    session.add(task)
    await session.flush()
    dependencies = [{"task_id": task.id, "depends_on_key": k} for k in dict.fromkeys(depends_on)]
    cross_references = [{"task_id": task.id, "reference": r} for r in dict.fromkeys(references)]
    if dependencies:
        await session.execute(insert(models.TaskDependency), dependencies)
    if cross_references:
        await session.execute(insert(models.TaskReference), cross_references)
    return task


async def find_task(session: AsyncSession, key: str) -> models.Task | None:
    return await session.scalar(select(models.Task).where(models.Task.key == key))


async def get_task(session: AsyncSession, key: str) -> models.Task:
    task = await find_task(session, key)
    if task is None:
        raise NotFound(f"no task {key!r}", argument="id")
    return task


def _waiting_on_unsettled_dependency() -> ColumnElement[bool]:
    """SQL: the task depends on a task of this hub that is neither done nor cancelled.

    A dependency on a key this hub does not know (another hub's work, a typo) does not
    count: nothing here could ever settle it.
    """
    other = aliased(models.Task)
    return exists(
        select(models.TaskDependency.task_id)
        .join(other, other.key == models.TaskDependency.depends_on_key)
        .where(
            models.TaskDependency.task_id == models.Task.id,
            other.status.not_in(SETTLED_STATUSES),
        )
    )


async def list_tasks(
    session: AsyncSession,
    *,
    status: str | None = None,
    priority: str | None = None,
    workplan_key: str | None = None,
    domain_slug: str | None = None,
    blocked: bool | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[models.Task]:
    """By key. ``blocked``: True selects tasks that cannot proceed — status ``blocked``,
    or waiting on a dependency that is not done (see ``_waiting_on_unsettled_dependency``)
    — False the others."""
    stmt = select(models.Task)
    if status:
        stmt = stmt.where(models.Task.status == _status(status))
    if priority:
        stmt = stmt.where(models.Task.priority == priority)
    if workplan_key:
        workplan = await get_workplan(session, workplan_key, "workplan")
        stmt = stmt.where(models.Task.workplan_id == workplan.id)
    if domain_slug:
        in_domain = select(models.Workplan.id).where(models.Workplan.domain_slug == domain_slug)
        stmt = stmt.where(models.Task.workplan_id.in_(in_domain))
    if blocked is not None:
        stuck = or_(models.Task.status == "blocked", _waiting_on_unsettled_dependency())
        stmt = stmt.where(stuck if blocked else not_(stuck))
    return await paginate(session, stmt, [models.Task.key], first=first, after=after)


async def tasks_by_domain(
    session: AsyncSession, domain_slugs: Sequence[str], status: str | None = None
) -> dict[str, list[models.Task]]:
    """Every task of each domain's workplans (one query), by workplan then file order."""
    stmt = (
        select(models.Workplan.domain_slug, models.Task)
        .join(models.Workplan, models.Workplan.id == models.Task.workplan_id)
        .where(models.Workplan.domain_slug.in_(domain_slugs))
        .order_by(models.Workplan.key, models.Task.position, models.Task.key)
    )
    if status:
        stmt = stmt.where(models.Task.status == _status(status))
    grouped: dict[str, list[models.Task]] = defaultdict(list)
    for slug, task in (await session.execute(stmt)).all():
        grouped[slug].append(task)
    return grouped


async def open_task_counts(session: AsyncSession, domain_slugs: Sequence[str]) -> dict[str, int]:
    """Open (todo, in progress, blocked) tasks per domain, in one query; absent means 0."""
    stmt = (
        select(models.Workplan.domain_slug, func.count(models.Task.id))
        .join(models.Task, models.Task.workplan_id == models.Workplan.id)
        .where(
            models.Workplan.domain_slug.in_(domain_slugs),
            models.Task.status.in_(models.OPEN_TASK_STATUSES),
        )
        .group_by(models.Workplan.domain_slug)
    )
    return {slug: count for slug, count in (await session.execute(stmt)).all()}


# --- the task lifecycle ----------------------------------------------------------------


async def _move(
    session: AsyncSession, task: models.Task, status: str, **values: str | None
) -> models.Task:
    """Change the status from the one read, atomically, with ``values`` in the same write.

    INVALID_TRANSITION if the lifecycle has no such step; CONFLICT if another request
    changed the status since it was read (``kit.transitions.transition``).
    """
    changes: dict[str, object] = {"status_changed_at": utcnow(), **values}
    if task.status == "blocked":
        # Leaving blocked, however: the reason no longer holds.
        changes.update(blocked_reason=None, blocked_from=None, blocked_by_incident=None)
    await transition(session, TASK, task, status, label=task.key, values=changes)
    return task


async def update_task_status(
    session: AsyncSession, key: str, status: str, *, reason: str | None = None
) -> models.Task:
    """Any allowed step; to ``blocked`` only with a reason (as ``block_task``)."""
    if _status(status) == "blocked":
        return await block_task(session, key, reason)
    task = await get_task(session, key)
    return await _move(session, task, status)


async def block_task(
    session: AsyncSession, key: str, reason: str | None, *, incident: str | None = None
) -> models.Task:
    """Block a task, saying why; the status it had is kept for ``unblock_task``.

    ``incident``: the ops incident blocking it (``flows.py``), whose resolution unblocks it.
    """
    reason = _required(reason, "reason", 2000)
    task = await get_task(session, key)
    # The status read is the one the step is made from, or none is made (CONFLICT).
    return await _move(
        session,
        task,
        "blocked",
        blocked_reason=reason,
        blocked_from=task.status,
        blocked_by_incident=incident,
    )


async def unblock_task(session: AsyncSession, key: str) -> models.Task:
    """Back to the status the task had when it was blocked (todo or in progress).

    A task blocked in its file rather than through ``block_task`` has no such status on
    record and goes back to todo.
    """
    task = await get_task(session, key)
    resume = task.blocked_from if task.blocked_from in ("todo", "in_progress") else "todo"
    if task.status != "blocked":
        raise InvalidTransition(
            f"task {task.key} is {task.status}, not blocked; only a blocked task can be unblocked",
            fromStatus=task.status,
            toStatus=resume,
            allowed=sorted(TASK.allowed(task.status)),
        )
    return await _move(session, task, resume)


async def complete_task(session: AsyncSession, key: str) -> models.Task:
    return await _move(session, await get_task(session, key), "done")


# --- resource pressure (fin's budget thresholds, flows.py) ------------------------------


async def resource_pressures(
    session: AsyncSession, domain_slugs: Sequence[str]
) -> dict[str, models.ResourcePressure]:
    """Each domain's latest budget pressure (the period fin last reported on), in one
    query; absent means none."""
    stmt = (
        select(models.ResourcePressure)
        .where(models.ResourcePressure.domain_slug.in_(domain_slugs))
        .order_by(models.ResourcePressure.updated_at.desc(), models.ResourcePressure.period.desc())
    )
    latest: dict[str, models.ResourcePressure] = {}
    for row in (await session.scalars(stmt)).all():
        latest.setdefault(row.domain_slug, row)
    return latest


# --- decisions -----------------------------------------------------------------------


async def record_decision(
    session: AsyncSession,
    *,
    workplan_key: str | None,
    decision: str,
    choice: str,
    rationale: str = "",
    recorded_by: str | None = None,
) -> models.Decision:
    """A decision taken after the workplan was written (or of no workplan at all)."""
    workplan = await get_workplan(session, workplan_key, "workplan") if workplan_key else None
    row = models.Decision(
        workplan_id=workplan.id if workplan else None,
        position=None,
        decision=_required(decision, "decision", 2000),
        choice=_required(choice, "choice", 2000),
        rationale=rationale.strip(),
        source="api",
        recorded_by=recorded_by,
        recorded_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row


async def list_decisions(
    session: AsyncSession,
    *,
    workplan_key: str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[models.Decision]:
    """Newest first."""
    stmt = select(models.Decision)
    if workplan_key:
        workplan = await get_workplan(session, workplan_key, "workplan")
        stmt = stmt.where(models.Decision.workplan_id == workplan.id)
    keys = [models.Decision.recorded_at, models.Decision.id]
    return await paginate(session, stmt, keys, first=first, after=after, descending=True)


# --- deployments ---------------------------------------------------------------------


async def record_deployment(
    session: AsyncSession,
    *,
    service: str,
    version: str,
    repo: str | None = None,
    environment: str = "production",
    deployed_at: datetime | None = None,
    notes: str | None = None,
    recorded_by: str | None = None,
) -> models.Deployment:
    if deployed_at is not None and deployed_at.tzinfo is None:
        raise BadUserInput(
            "deployedAt needs a time zone (e.g. 2026-03-20T10:00:00Z)", argument="deployedAt"
        )
    deployment = models.Deployment(
        service=_required(service, "service", 200),
        version=_required(version, "version", 100),
        repo=_optional(repo, "repo", models.REPO_LENGTH),
        environment=_required(environment, "environment", 50),
        deployed_at=deployed_at or utcnow(),
        notes=notes.strip() if notes and notes.strip() else None,
        recorded_by=recorded_by,
    )
    session.add(deployment)
    await session.flush()
    # dev -> ops (T17): ops records the change; the event commits with the deployment.
    await EVENTS.emit(
        session,
        "deployment_recorded",
        f"deployment:{deployment.id}",
        {
            "deployment_id": str(deployment.id),
            "service": deployment.service,
            "version": deployment.version,
            "environment": deployment.environment,
            "repo": deployment.repo,
            "deployed_at": deployment.deployed_at.isoformat(),
            "notes": deployment.notes,
            "recorded_by": deployment.recorded_by,
        },
    )
    return deployment


async def list_deployments(
    session: AsyncSession,
    *,
    service: str | None = None,
    repo: str | None = None,
    environment: str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[models.Deployment]:
    """Most recent first."""
    stmt = select(models.Deployment)
    if service:
        stmt = stmt.where(models.Deployment.service == service)
    if repo:
        stmt = stmt.where(models.Deployment.repo == repo)
    if environment:
        stmt = stmt.where(models.Deployment.environment == environment)
    keys = [models.Deployment.deployed_at, models.Deployment.id]
    return await paginate(session, stmt, keys, first=first, after=after, descending=True)


# --- SBOMs ---------------------------------------------------------------------------


async def find_sbom(session: AsyncSession, repo: str) -> models.Sbom | None:
    return await session.scalar(select(models.Sbom).where(models.Sbom.repo == repo))


async def import_sbom(session: AsyncSession, *, repo: str, document: str | bytes) -> models.Sbom:
    """Store a CycloneDX JSON SBOM as the repo's current one, replacing any earlier one.

    The document is parsed whole before anything is written, so a bad one changes
    nothing; BAD_USER_INPUT names where it is wrong (``pointer``, a JSON pointer).
    """
    repo = _required(repo, "repo", models.REPO_LENGTH)
    try:
        parsed = parse_cyclonedx(document)
    except SbomError as exc:
        raise BadUserInput(
            f"the SBOM cannot be imported: {exc}", argument="document", pointer=exc.pointer
        ) from None
    # The components go with it (ON DELETE CASCADE); the statement runs now, so the new
    # row does not collide with the old one on the unique repo.
    await session.execute(delete(models.Sbom).where(models.Sbom.repo == repo))
    sbom = models.Sbom(
        repo=repo,
        format=parsed.format,
        spec_version=parsed.spec_version,
        serial_number=parsed.serial_number,
        imported_at=utcnow(),
        component_count=len(parsed.components),
    )
    session.add(sbom)
    await session.flush()
    rows = [
        {
            "id": uuid.uuid4(),
            "sbom_id": sbom.id,
            "name": c.name,
            "version": c.version,
            "type": c.type,
            "purl": c.purl,
            "group": c.group,
            "licenses": list(c.licenses),
            "position": position,
        }
        for position, c in enumerate(parsed.components)
    ]
    if rows:
        # One executemany, not one INSERT per component: SBOMs run to thousands.
        await session.execute(insert(models.SbomComponent), rows)
    return sbom


async def list_sbom_components(
    session: AsyncSession, sbom_id: uuid.UUID
) -> list[models.SbomComponent]:
    stmt = (
        select(models.SbomComponent)
        .where(models.SbomComponent.sbom_id == sbom_id)
        .order_by(models.SbomComponent.position)
    )
    return list((await session.scalars(stmt)).all())


@dataclass(frozen=True)
class LicenceUse:
    """One licence of an SBOM: how many components carry it, and how free it is."""

    licence: str
    category: str  # permissive | weak-copyleft | strong-copyleft | unknown
    count: int
    components: tuple[str, ...]


def summarise_licences(components: Iterable[models.SbomComponent]) -> list[LicenceUse]:
    """Most used licence first (``sbom.licence_summary``), each classified."""
    parsed = [
        ParsedComponent(name=c.name, version=c.version, type=c.type, licenses=tuple(c.licenses))
        for c in components
    ]
    return [
        LicenceUse(entry.licence, classify(entry.licence), entry.count, entry.component_names)
        for entry in licence_summary(parsed)
    ]


async def repo_licence_summary(session: AsyncSession, repo: str) -> list[LicenceUse]:
    sbom = await find_sbom(session, repo)
    if sbom is None:
        raise NotFound(f"no SBOM imported for repo {repo!r}", argument="repo")
    return summarise_licences(await list_sbom_components(session, sbom.id))
