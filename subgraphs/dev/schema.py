"""The dev hub's GraphQL schema: thin types and resolvers over ``service.py``.

Resolvers open a session (reads) or a transaction (mutations, one per mutation field)
and call one service function. Nested fields go through the request's DataLoaders, so a
list costs one query per level, never one per row.

Federation (docs/architecture.md §4):

* ``Task @key(fields: "id")`` is owned here; its ``id`` is the human key
  (``CUST-WP-0025-T05``), what users type and what other hubs store. The row's UUID is
  ``uuid``.
* ``Domain @key(fields: "slug")`` is core's; this hub adds the domain's work. Its
  reference needs no lookup: the dev tables name domains by slug.
* ``ManagedRepo`` is core's with ``@key(fields: "id")`` (a UUID this hub never sees);
  workplan files and SBOMs name repos by name. So this hub declares its own key,
  ``@key(fields: "name")``, with ``name`` ``@external``: core resolves ``name`` (it is
  a plain field there, so it must not be resolved here too) and the gateway passes it
  in the representation. The dev hub never returns a ``ManagedRepo`` itself — it could
  not give core its ``id`` — so workplans expose their repo's name as a string.

Access (docs/architecture.md §5): everything the dev hub knows is work in progress and needs
``hub:read`` — on the types, on the root fields (a list's count alone tells), and on the
fields added to core's public ``Domain`` and ``ManagedRepo``. Every mutation needs
``hub:write``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from strawberry.dataloader import DataLoader

from identity.access import HUB_READ, HUB_WRITE
from subgraphs.core.kit.app import HubContext
from subgraphs.core.kit.federation import hub_schema
from subgraphs.core.kit.pagination import Connection
from subgraphs.core.kit.resolvers import (
    direct,
    gathered,
    later,
    prefetch,
    selected,
    selected_nodes,
    then,
)
from subgraphs.dev import models, service
from subgraphs.dev.events import EVENTS

Info = strawberry.Info[HubContext, None]

READ = [[HUB_READ]]
WRITE = [[HUB_WRITE]]


def _ctx(info: Info) -> HubContext:
    return info.context


# --- enums -------------------------------------------------------------------------


@strawberry.enum(
    description="Where a task is: todo -> in progress -> done, with blocked and cancelled "
    "on the way; updateTaskStatus refuses other steps with INVALID_TRANSITION."
)
class TaskStatus(Enum):
    TODO = "todo"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    DONE = "done"
    CANCELLED = "cancelled"


@strawberry.enum(description="Where a decision comes from.")
class DecisionSource(Enum):
    FILE = strawberry.enum_value("file", description="The workplan's Key Decisions table.")
    API = strawberry.enum_value("api", description="Recorded later, through recordDecision.")


@strawberry.enum(description="How much a licence asks of software that uses the component.")
class LicenceCategory(Enum):
    PERMISSIVE = "permissive"
    WEAK_COPYLEFT = "weak-copyleft"
    STRONG_COPYLEFT = "strong-copyleft"
    UNKNOWN = "unknown"


# --- batched lookups -----------------------------------------------------------------


def _batched(
    info: Info, name: tuple[Any, ...], lookup: Callable[[Any, list[Any]], Any], empty: Any
) -> DataLoader[Any, Any]:
    """The request's loader over a service function answering for all keys at once."""
    return _ctx(info).loaders.keyed(name, lookup, empty)


# The loaders of workplans, phases and tasks give GraphQL objects (``convert=``), one per
# row, which the direct resolvers (kit.resolvers.direct) return as their futures are.


def _workplan_tasks(info: Info) -> DataLoader[uuid.UUID, list[Task]]:
    return _ctx(info).loaders.rows_grouped_by(
        models.Task,
        models.Task.workplan_id,
        order_by=[models.Task.position, models.Task.key],
        convert=Task.from_row,
    )


def _tasks_by_key(info: Info) -> DataLoader[str, Task | None]:
    return _ctx(info).loaders.rows_by(models.Task, models.Task.key, convert=Task.from_row)


def _workplans_by_id(info: Info) -> DataLoader[uuid.UUID, Workplan | None]:
    return _ctx(info).loaders.rows_by(
        models.Workplan, models.Workplan.id, convert=Workplan.from_row
    )


def _workplan_phases(info: Info) -> DataLoader[uuid.UUID, list[Phase]]:
    return _ctx(info).loaders.rows_grouped_by(
        models.Phase,
        models.Phase.workplan_id,
        order_by=[models.Phase.number],
        convert=Phase.from_row,
    )


def _sbom_components(info: Info) -> DataLoader[Any, Any]:
    return _ctx(info).loaders.rows_grouped_by(
        models.SbomComponent,
        models.SbomComponent.sbom_id,
        order_by=[models.SbomComponent.position],
    )


def _depends_on_key(row: Any) -> str:
    return str(row.depends_on_key)


def _reference(row: Any) -> str:
    return str(row.reference)


def _task_dependencies(info: Info) -> DataLoader[uuid.UUID, list[str]]:
    """The keys each task waits for."""
    return _ctx(info).loaders.rows_grouped_by(
        models.TaskDependency,
        models.TaskDependency.task_id,
        order_by=[models.TaskDependency.depends_on_key],
        convert=_depends_on_key,
    )


def _task_references(info: Info) -> DataLoader[uuid.UUID, list[str]]:
    return _ctx(info).loaders.rows_grouped_by(
        models.TaskReference,
        models.TaskReference.task_id,
        order_by=[models.TaskReference.reference],
        convert=_reference,
    )


def _with_status(tasks: Iterable[Task], status: TaskStatus | None) -> list[Task]:
    return [t for t in tasks if status is None or t.status is status]


def _known_tasks(tasks: list[Task | None]) -> list[Task]:
    return [t for t in tasks if t is not None]


@strawberry.type(
    description="A domain's budget for a period past a threshold (the fin hub's "
    "budget_threshold_crossed): pressure on its work, not a status of any task."
)
class ResourcePressure:
    domain: str = strawberry.field(description="The domain's slug.")
    period: str = strawberry.field(description='The budget period, e.g. "2026-Q4".')
    percent_used: float = strawberry.field(description="Of the allocation spent, in percent.")
    threshold: float = strawberry.field(description="The threshold last crossed, in percent.")
    allocated: str | None = strawberry.field(description="The allocation, a decimal string.")
    spent: str | None = strawberry.field(description="Spent so far, a decimal string.")
    currency: str | None
    since: datetime = strawberry.field(description="When the period first crossed a threshold.")
    updated_at: datetime = strawberry.field(description="When the fin hub last reported it.")

    @classmethod
    def from_row(cls, row: models.ResourcePressure) -> ResourcePressure:
        return cls(
            domain=row.domain_slug,
            period=row.period,
            percent_used=row.percent,
            threshold=row.threshold,
            allocated=row.allocated,
            spent=row.spent,
            currency=row.currency,
            since=row.since,
            updated_at=row.updated_at,
        )


async def _resource_pressure(info: Info, slug: str) -> ResourcePressure | None:
    row = await _batched(info, ("resource_pressures",), service.resource_pressures, None).load(slug)
    return ResourcePressure.from_row(row) if row else None


# --- core's entities, extended -------------------------------------------------------


@strawberry.federation.type(keys=["slug"])
class Domain:
    slug: str

    @classmethod
    def resolve_reference(cls, slug: str, **_: Any) -> Domain:
        # Nothing to read: the dev tables name domains by slug, and a domain without
        # work here simply has none.
        return cls(slug=slug)

    @strawberry.federation.field(requires_scopes=READ, description="Its workplans, by key.")
    async def workplans(self, info: Info) -> list[Workplan]:
        rows = (
            await _ctx(info)
            .loaders.rows_grouped_by(
                models.Workplan, models.Workplan.domain_slug, order_by=[models.Workplan.key]
            )
            .load(self.slug)
        )
        return [Workplan.from_row(r) for r in rows]

    @strawberry.federation.field(
        requires_scopes=READ,
        description="The tasks of its workplans (by workplan, then as in the file).",
    )
    async def tasks(self, info: Info, status: TaskStatus | None = None) -> list[Task]:
        value = status.value if status else None

        async def lookup(session: Any, slugs: list[str]) -> Any:
            return await service.tasks_by_domain(session, slugs, value)

        rows = await _batched(info, ("tasks_by_domain", value), lookup, []).load(self.slug)
        return [Task.from_row(r) for r in rows]

    @strawberry.federation.field(
        requires_scopes=READ, description="Tasks still to do: todo, in progress or blocked."
    )
    async def open_task_count(self, info: Info) -> int:
        count: int = await _batched(info, ("open_task_counts",), service.open_task_counts, 0).load(
            self.slug
        )
        return count

    @strawberry.federation.field(
        requires_scopes=READ,
        description="Budget pressure on its work: the latest period whose spending crossed "
        "a threshold (the fin hub's events), or null.",
    )
    async def resource_pressure(self, info: Info) -> ResourcePressure | None:
        return await _resource_pressure(info, self.slug)


@strawberry.federation.type(keys=["name"])
class ManagedRepo:
    name: str = strawberry.federation.field(external=True)

    @classmethod
    def resolve_reference(cls, name: str, **_: Any) -> ManagedRepo:
        return cls(name=name)

    @strawberry.federation.field(
        requires_scopes=READ, description="Workplans whose front matter names this repo."
    )
    async def workplans(self, info: Info) -> list[Workplan]:
        rows = (
            await _ctx(info)
            .loaders.rows_grouped_by(
                models.Workplan, models.Workplan.repo, order_by=[models.Workplan.key]
            )
            .load(self.name)
        )
        return [Workplan.from_row(r) for r in rows]

    @strawberry.federation.field(
        requires_scopes=READ, description="The repo's current SBOM, if one was imported."
    )
    async def sbom(self, info: Info) -> Sbom | None:
        row = await _ctx(info).loaders.rows_by(models.Sbom, models.Sbom.repo).load(self.name)
        return Sbom.from_row(row) if row else None


# --- workplans, phases, tasks --------------------------------------------------------


@strawberry.federation.type(
    requires_scopes=READ, description="A workplan: front matter of one workplan file."
)
class Workplan:
    id: strawberry.ID = strawberry.field(description="The workplan's key, e.g. CUST-WP-0025.")
    row_uuid: strawberry.ID = strawberry.field(name="uuid", description="The row's UUID.")
    type: str
    title: str
    domain_slug: str
    repo: str | None = strawberry.field(description="The managed repo's name.")
    status: str
    owner: str | None
    topic_slug: str | None
    created: date | None
    updated: date | None
    workstream_id: str | None
    source_path: str | None = strawberry.field(description="The file it was last synced from.")
    synced_at: datetime | None
    created_at: datetime
    updated_at: datetime
    row_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.Workplan) -> Workplan:
        return cls(
            id=strawberry.ID(row.key),
            row_uuid=strawberry.ID(str(row.id)),
            type=row.type,
            title=row.title,
            domain_slug=row.domain_slug,
            repo=row.repo,
            status=row.status,
            owner=row.owner,
            topic_slug=row.topic_slug,
            created=row.created,
            updated=row.updated,
            workstream_id=row.workstream_id,
            source_path=row.source_path,
            synced_at=row.synced_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row_id=row.id,
        )

    @strawberry.field(description="The domain it belongs to (the core hub has the rest).")
    @direct
    def domain(self, info: Info) -> Domain:
        return Domain(slug=self.domain_slug)

    @strawberry.field(description="Budget pressure on its domain's work (Domain.resourcePressure).")
    async def resource_pressure(self, info: Info) -> ResourcePressure | None:
        return await _resource_pressure(info, self.domain_slug)

    @strawberry.field(description="Its phases, by number.")
    @direct
    def phases(self, info: Info) -> list[Phase]:
        return later(_workplan_phases(info).load(self.row_id))

    @strawberry.field(description="Its tasks, as in the file.")
    async def tasks(self, info: Info, status: TaskStatus | None = None) -> list[Task]:
        tasks = _with_status(await _workplan_tasks(info).load(self.row_id), status)
        await prefetch(info, Task, tasks, selected(info))
        return tasks

    @strawberry.field(description="The Key Decisions table, then decisions recorded later.")
    async def decisions(self, info: Info) -> list[Decision]:
        rows = (
            await _ctx(info)
            .loaders.rows_grouped_by(
                models.Decision,
                models.Decision.workplan_id,
                # The file's rows in table order, then the API's oldest first.
                order_by=[
                    models.Decision.position.is_(None),
                    models.Decision.position,
                    models.Decision.recorded_at,
                ],
            )
            .load(self.row_id)
        )
        return [Decision.from_row(r) for r in rows]


@strawberry.federation.type(requires_scopes=READ, description="A phase of a workplan.")
class Phase:
    number: int
    title: str
    goal: str | None
    repos: list[str]
    depends_on: list[int] = strawberry.field(description="Phases (numbers) that come first.")
    parallel_with: list[int] = strawberry.field(description="Phases (numbers) run alongside.")
    workplan_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.Phase) -> Phase:
        return cls(
            number=row.number,
            title=row.title,
            goal=row.goal,
            repos=list(row.repos),
            depends_on=list(row.depends_on),
            parallel_with=list(row.parallel_with),
            workplan_id=row.workplan_id,
        )

    @strawberry.field(description="Its tasks, as in the file.")
    async def tasks(self, info: Info, status: TaskStatus | None = None) -> list[Task]:
        tasks = await _workplan_tasks(info).load(self.workplan_id)
        mine = _with_status([t for t in tasks if t.phase_number == self.number], status)
        await prefetch(info, Task, mine, selected(info))
        return mine


@strawberry.federation.type(keys=["id"], requires_scopes=READ, description="A task of a workplan.")
class Task:
    id: strawberry.ID = strawberry.field(description="The task's key, e.g. CUST-WP-0025-T05.")
    row_uuid: strawberry.ID = strawberry.field(name="uuid", description="The row's UUID.")
    title: str
    status: TaskStatus
    priority: str | None
    external_id: str | None = strawberry.field(
        description="Its id in the tracker it came from (state_hub_task_id)."
    )
    description: str = strawberry.field(description="Markdown.")
    phase_number: int | None
    blocked_reason: str | None
    status_changed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    row_id: strawberry.Private[uuid.UUID]
    workplan_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.Task) -> Task:
        return cls(
            id=strawberry.ID(row.key),
            row_uuid=strawberry.ID(str(row.id)),
            title=row.title,
            status=TaskStatus(row.status),
            priority=row.priority,
            external_id=row.external_id,
            description=row.description,
            phase_number=row.phase_number,
            blocked_reason=row.blocked_reason,
            status_changed_at=row.status_changed_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row_id=row.id,
            workplan_id=row.workplan_id,
        )

    @classmethod
    def resolve_reference(cls, info: Info, id: strawberry.ID, **_: Any) -> Task | None:
        return later(_tasks_by_key(info).load(str(id)))

    # The fields below are direct (kit.resolvers.direct): a loader's future of the
    # converted value, or the value when the future is settled already (prefetch).

    @strawberry.field
    @direct
    def workplan(self, info: Info) -> Workplan:
        return cast(Workplan, _workplans_by_id(info).load(self.workplan_id))  # never None: FK

    @strawberry.field
    @direct
    def phase(self, info: Info) -> Phase | None:
        if self.phase_number is None:
            return None
        number = self.phase_number
        return cast(
            Phase | None,
            then(
                _workplan_phases(info).load(self.workplan_id),
                lambda phases: next((p for p in phases if p.number == number), None),
            ),
        )

    @strawberry.field(description="Keys of the tasks it waits for (here or elsewhere).")
    @direct
    def depends_on(self, info: Info) -> list[str]:
        return later(_task_dependencies(info).load(self.row_id))

    @strawberry.field(description="The tasks it waits for that this hub knows.")
    @direct
    def dependencies(self, info: Info) -> list[Task]:
        tasks = _tasks_by_key(info)

        def known(keys: list[str]) -> Any:
            return then(gathered([tasks.load(k) for k in keys]), _known_tasks)

        return cast(list[Task], then(_task_dependencies(info).load(self.row_id), known))

    @strawberry.field(description="Other workplans it refers to, e.g. NK-WP-0001.")
    @direct
    def references(self, info: Info) -> list[str]:
        return later(_task_references(info).load(self.row_id))


# --- decisions, deployments, SBOMs ---------------------------------------------------


@strawberry.federation.type(requires_scopes=READ, description="A decision and why it was taken.")
class Decision:
    id: strawberry.ID
    decision: str
    choice: str
    rationale: str
    source: DecisionSource
    recorded_by: str | None
    recorded_at: datetime
    workplan_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: models.Decision) -> Decision:
        return cls(
            id=strawberry.ID(str(row.id)),
            decision=row.decision,
            choice=row.choice,
            rationale=row.rationale,
            source=DecisionSource(row.source),
            recorded_by=row.recorded_by,
            recorded_at=row.recorded_at,
            workplan_id=row.workplan_id,
        )

    @strawberry.field(description="The workplan it belongs to, if any.")
    async def workplan(self, info: Info) -> Workplan | None:
        if self.workplan_id is None:
            return None
        return await _workplans_by_id(info).load(self.workplan_id)


@strawberry.federation.type(
    requires_scopes=READ, description="A version of a service put into an environment."
)
class Deployment:
    id: strawberry.ID
    service: str
    version: str
    repo: str | None
    environment: str
    deployed_at: datetime
    recorded_by: str | None
    notes: str | None

    @classmethod
    def from_row(cls, row: models.Deployment) -> Deployment:
        return cls(
            id=strawberry.ID(str(row.id)),
            service=row.service,
            version=row.version,
            repo=row.repo,
            environment=row.environment,
            deployed_at=row.deployed_at,
            recorded_by=row.recorded_by,
            notes=row.notes,
        )


@strawberry.federation.type(requires_scopes=READ, description="A component listed by an SBOM.")
class SbomComponent:
    name: str
    version: str | None
    type: str
    purl: str | None
    group: str | None
    licenses: list[str] = strawberry.field(description="SPDX ids or expressions.")

    @classmethod
    def from_row(cls, row: models.SbomComponent) -> SbomComponent:
        return cls(
            name=row.name,
            version=row.version,
            type=row.type,
            purl=row.purl,
            group=row.group,
            licenses=list(row.licenses),
        )


@strawberry.federation.type(
    requires_scopes=READ, description="A licence of an SBOM and the components under it."
)
class LicenceCount:
    licence: str = strawberry.field(description='An SPDX id or expression; "(none)" if absent.')
    category: LicenceCategory
    count: int
    components: list[str] = strawberry.field(description="Names, one per component.")

    @classmethod
    def from_use(cls, use: service.LicenceUse) -> LicenceCount:
        return cls(
            licence=use.licence,
            category=LicenceCategory(use.category),
            count=use.count,
            components=list(use.components),
        )


@strawberry.federation.type(
    requires_scopes=READ, description="A repo's current SBOM (CycloneDX), as imported."
)
class Sbom:
    id: strawberry.ID
    repo: str
    format: str
    spec_version: str
    serial_number: str | None
    imported_at: datetime
    component_count: int
    row_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.Sbom) -> Sbom:
        return cls(
            id=strawberry.ID(str(row.id)),
            repo=row.repo,
            format=row.format,
            spec_version=row.spec_version,
            serial_number=row.serial_number,
            imported_at=row.imported_at,
            component_count=row.component_count,
            row_id=row.id,
        )

    @strawberry.field(description="In document order; with licence, those carrying it.")
    async def components(self, info: Info, licence: str | None = None) -> list[SbomComponent]:
        rows = await _sbom_components(info).load(self.row_id)
        return [SbomComponent.from_row(r) for r in rows if licence is None or licence in r.licenses]

    @strawberry.field(description="Each licence with its components, most used first.")
    async def licence_summary(self, info: Info) -> list[LicenceCount]:
        rows = await _sbom_components(info).load(self.row_id)
        return [LicenceCount.from_use(u) for u in service.summarise_licences(rows)]


# --- inputs ------------------------------------------------------------------------


@strawberry.input
class RecordDecisionInput:
    decision: str = strawberry.field(description="What had to be decided.")
    choice: str
    rationale: str = ""
    workplan: strawberry.ID | None = strawberry.field(
        default=None, description="The workplan's key, if it belongs to one."
    )


@strawberry.input
class RecordDeploymentInput:
    service: str
    version: str
    repo: str | None = strawberry.field(default=None, description="The managed repo's name.")
    environment: str = "production"
    deployed_at: datetime | None = strawberry.field(default=None, description="Default: now.")
    notes: str | None = None


# --- root types --------------------------------------------------------------------

First = Annotated[
    int | None, strawberry.argument(description="Page size (default 50, at most 500).")
]
After = Annotated[
    str | None, strawberry.argument(description="The endCursor of the previous page.")
]


def _caller(info: Info) -> str | None:
    """Who records a decision or deployment: the token's subject, never a claim in input."""
    identity = _ctx(info).identity
    return identity.subject if identity else None


@strawberry.type(description="A subject several workplans share; workplans(topic:) lists them.")
class Topic:
    slug: str
    title: str
    workplan_count: int


@strawberry.type
class Query:
    @strawberry.federation.field(requires_scopes=READ, description="Workplans, by key.")
    async def workplans(
        self,
        info: Info,
        domain: str | None = None,
        status: str | None = None,
        repo: str | None = None,
        topic: str | None = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Workplan]:
        async with _ctx(info).db.session() as s:
            page = await service.list_workplans(
                s,
                domain_slug=domain,
                status=status,
                repo=repo,
                topic=topic,
                first=first,
                after=after,
            )
        connection = Connection.from_page(page, Workplan.from_row)
        await prefetch(info, Workplan, connection.nodes, selected_nodes(info))
        return connection

    @strawberry.federation.field(
        requires_scopes=READ,
        description="Topics workplans belong to (their front matter's topic_slug), by slug.",
    )
    async def topics(self, info: Info) -> list[Topic]:
        async with _ctx(info).db.session() as s:
            rows = await service.list_topics(s)
        return [Topic(slug=t.slug, title=t.title, workplan_count=n) for t, n in rows]

    @strawberry.federation.field(requires_scopes=READ, description="One workplan by key.")
    async def workplan(self, info: Info, id: strawberry.ID) -> Workplan | None:
        async with _ctx(info).db.session() as s:
            row = await service.find_workplan(s, str(id))
        return Workplan.from_row(row) if row else None

    @strawberry.federation.field(
        requires_scopes=READ,
        description="Tasks, by key. blocked: true for tasks that cannot proceed (blocked, or "
        "waiting for a task that is neither done nor cancelled), false for the others.",
    )
    async def tasks(
        self,
        info: Info,
        status: TaskStatus | None = None,
        priority: str | None = None,
        workplan: strawberry.ID | None = None,
        domain: str | None = None,
        blocked: bool | None = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Task]:
        async with _ctx(info).db.session() as s:
            page = await service.list_tasks(
                s,
                status=status.value if status else None,
                priority=priority,
                workplan_key=str(workplan) if workplan else None,
                domain_slug=domain,
                blocked=blocked,
                first=first,
                after=after,
            )
        connection = Connection.from_page(page, Task.from_row)
        await prefetch(info, Task, connection.nodes, selected_nodes(info))
        return connection

    @strawberry.federation.field(requires_scopes=READ, description="One task by key.")
    async def task(self, info: Info, id: strawberry.ID) -> Task | None:
        async with _ctx(info).db.session() as s:
            row = await service.find_task(s, str(id))
        return Task.from_row(row) if row else None

    @strawberry.federation.field(requires_scopes=READ, description="Decisions, newest first.")
    async def decisions(
        self,
        info: Info,
        workplan: strawberry.ID | None = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Decision]:
        async with _ctx(info).db.session() as s:
            page = await service.list_decisions(
                s, workplan_key=str(workplan) if workplan else None, first=first, after=after
            )
        return Connection.from_page(page, Decision.from_row)

    @strawberry.federation.field(
        requires_scopes=READ, description="Deployments, most recent first."
    )
    async def deployments(
        self,
        info: Info,
        service_name: Annotated[str | None, strawberry.argument(name="service")] = None,
        repo: str | None = None,
        environment: str | None = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Deployment]:
        async with _ctx(info).db.session() as s:
            page = await service.list_deployments(
                s,
                service=service_name,
                repo=repo,
                environment=environment,
                first=first,
                after=after,
            )
        return Connection.from_page(page, Deployment.from_row)

    @strawberry.federation.field(
        requires_scopes=READ, description="A repo's current SBOM, or null if none was imported."
    )
    async def sbom(self, info: Info, repo: str) -> Sbom | None:
        async with _ctx(info).db.session() as s:
            row = await service.find_sbom(s, repo)
        return Sbom.from_row(row) if row else None

    @strawberry.federation.field(
        requires_scopes=READ,
        description="The licences of a repo's SBOM, most used first; NOT_FOUND without one.",
    )
    async def licence_summary(self, info: Info, repo: str) -> list[LicenceCount]:
        async with _ctx(info).db.session() as s:
            uses = await service.repo_licence_summary(s, repo)
        return [LicenceCount.from_use(u) for u in uses]


@strawberry.type
class Mutation:
    @strawberry.federation.mutation(
        requires_scopes=WRITE,
        description="Move a task along its lifecycle (to BLOCKED only with a reason).",
    )
    async def update_task_status(
        self, info: Info, id: strawberry.ID, status: TaskStatus, reason: str | None = None
    ) -> Task:
        async with _ctx(info).db.transaction() as s:
            row = await service.update_task_status(s, str(id), status.value, reason=reason)
        return Task.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE, description="Block a task, saying why (the reason is required)."
    )
    async def block_task(self, info: Info, id: strawberry.ID, reason: str) -> Task:
        async with _ctx(info).db.transaction() as s:
            row = await service.block_task(s, str(id), reason)
        return Task.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE,
        description="Unblock a task: back to the status it had when blocked (todo if unknown).",
    )
    async def unblock_task(self, info: Info, id: strawberry.ID) -> Task:
        async with _ctx(info).db.transaction() as s:
            row = await service.unblock_task(s, str(id))
        return Task.from_row(row)

    @strawberry.federation.mutation(requires_scopes=WRITE, description="Mark a task done.")
    async def complete_task(self, info: Info, id: strawberry.ID) -> Task:
        async with _ctx(info).db.transaction() as s:
            row = await service.complete_task(s, str(id))
        return Task.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE, description="Record a decision taken after the workplan was written."
    )
    async def record_decision(self, info: Info, input: RecordDecisionInput) -> Decision:
        async with _ctx(info).db.transaction() as s:
            row = await service.record_decision(
                s,
                workplan_key=str(input.workplan) if input.workplan else None,
                decision=input.decision,
                choice=input.choice,
                rationale=input.rationale,
                recorded_by=_caller(info),
            )
        return Decision.from_row(row)

    @strawberry.federation.mutation(requires_scopes=WRITE, description="Record a deployment.")
    async def record_deployment(self, info: Info, input: RecordDeploymentInput) -> Deployment:
        async with _ctx(info).db.transaction() as s:
            row = await service.record_deployment(
                s,
                service=input.service,
                version=input.version,
                repo=input.repo,
                environment=input.environment,
                deployed_at=input.deployed_at,
                notes=input.notes,
                recorded_by=_caller(info),
            )
        return Deployment.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE,
        description="Import a CycloneDX JSON SBOM as the repo's current one (replacing any "
        "earlier one). A bad document changes nothing: BAD_USER_INPUT, with "
        "extensions.pointer naming where it is wrong.",
    )
    async def import_sbom(self, info: Info, repo: str, document: str) -> Sbom:
        async with _ctx(info).db.transaction() as s:
            row = await service.import_sbom(s, repo=repo, document=document)
        return Sbom.from_row(row)


schema = hub_schema(Query, Mutation, types=[Domain, ManagedRepo, Task], events=EVENTS)
