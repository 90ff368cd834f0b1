"""The ops hub's GraphQL schema: thin types and resolvers over ``service.py``.

Resolvers open a session (reads) or a transaction (mutations, one per mutation field)
and call one service function. Nested fields go through the request's DataLoaders, so a
list costs one query per level, never one per row.

Federation (docs/architecture.md §4):

* ``Service @key(fields: "id")`` (a UUID) is owned here; fin will add its cost.
* ``Task @key(fields: "id")`` is dev's, keyed by the human task key; this hub adds
  ``blockingIncidents``. Its reference needs no lookup: incidents name tasks by key.
* ``Domain @key(fields: "slug")`` is core's; this hub adds its ``services`` and
  ``openIncidents``. Services name their domain by slug.

Access (docs/architecture.md §5): reading needs ``hub:read``; incident, runbook and
probe mutations act on production and need ``ops:operate`` (the ``ops:operator``
role); registry changes need ``hub:write``.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.dataloader import DataLoader

from identity.access import HUB_READ, HUB_WRITE, OPS_OPERATE
from subgraphs.core.kit.app import HubContext
from subgraphs.core.kit.auth import may_see
from subgraphs.core.kit.federation import hub_schema
from subgraphs.core.kit.loaders import Loaders
from subgraphs.core.kit.pagination import Connection
from subgraphs.core.kit.resolvers import direct, later, selected
from subgraphs.ops import dev_tasks, models, probe_records, service
from subgraphs.ops.events import EVENTS
from subgraphs.ops.probes import run_probes
from subgraphs.ops.schema_cluster import ClusterQuery
from subgraphs.ops.schema_enums import HealthStatus
from subgraphs.ops.schema_operations import (
    AccessPath,
    ChangeRecord,
    OperationalDebt,
    OperationsMutation,
    OperationsQuery,
    Runbook,
)

Info = strawberry.Info[HubContext, None]

READ = [[HUB_READ]]
WRITE = [[HUB_WRITE]]
OPERATE = [[OPS_OPERATE]]
RECENT_RESULTS = 10
T = TypeVar("T")


def _ctx(info: Info) -> HubContext:
    return info.context


def _caller(info: Info) -> str:
    """Who acts: the token's subject, never a claim in the input."""
    identity = _ctx(info).identity
    return identity.subject if identity else "anonymous"


# --- enums -------------------------------------------------------------------------


@strawberry.enum(description="How bad an incident is: SEV1 (worst) to SEV4.")
class IncidentSeverity(Enum):
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"


@strawberry.enum(
    description="open -> investigating -> mitigated -> resolved (a mitigation that does not "
    "hold goes back to investigating; resolved is final); other steps are INVALID_TRANSITION."
)
class IncidentStatus(Enum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"


@strawberry.enum(description="What a probe checks.")
class ProbeKind(Enum):
    HTTP = strawberry.enum_value("http", description="An HTTP(S) URL: status, body, latency.")
    TCP = strawberry.enum_value("tcp", description="A TCP connect to host:port.")
    TLS = strawberry.enum_value("tls", description="A TLS certificate at host:port: expiry.")
    SSH = strawberry.enum_value("ssh", description="An SSH banner at host:port (a tunnel).")


# --- batched lookups -----------------------------------------------------------------


def _batched(
    info: Info, name: tuple[Any, ...], lookup: Callable[[Any, list[Any]], Any], empty: Any
) -> DataLoader[Any, Any]:
    """The request's loader over a service function answering for all keys at once."""
    return _ctx(info).loaders.keyed(name, lookup, empty)


def _services_by_id(info: Info) -> DataLoader[Any, Any]:
    return _ctx(info).loaders.rows_by(models.Service, models.Service.id, convert=Service.from_row)


def _by_service(info: Info, model: Any, order_by: list[Any]) -> DataLoader[Any, Any]:
    return _ctx(info).loaders.rows_grouped_by(model, model.service_id, order_by=order_by)


def _incidents(rows: list[models.Incident]) -> list[Incident]:
    return [Incident.from_row(r) for r in rows]


def _groups_of(
    groups: Mapping[Any, Sequence[Any]], convert: Callable[[Any], T]
) -> dict[Any, list[T]]:
    """Each group's rows converted, one object per row (by id) shared by the groups."""
    made: dict[Any, T] = {}

    def one(row: Any) -> T:
        found = made.get(row.id)
        if found is None:
            found = made[row.id] = convert(row)
        return found

    return {key: [one(row) for row in rows] for key, rows in groups.items()}


# The lookups below give GraphQL objects, for the direct resolvers (kit.resolvers.direct)
# to return their loaders' futures as they are: one conversion per row, not per field.


async def _blocking_incidents(session: Any, keys: list[str]) -> dict[str, list[Incident]]:
    return _groups_of(await service.blocking_incidents(session, keys), Incident.from_row)


async def _affected_services(session: Any, ids: list[uuid.UUID]) -> dict[Any, list[Service]]:
    return _groups_of(await service.affected_services(session, ids), Service.from_row)


def _blocking_loader(info: Info) -> DataLoader[str, list[Incident]]:
    return _batched(info, ("blocking",), _blocking_incidents, [])


def _affected_services_loader(info: Info) -> DataLoader[uuid.UUID, list[Service]]:
    return _batched(info, ("affected_services",), _affected_services, [])


# --- tasks' blocking incidents, loaded with the tasks ------------------------------------
#
# ``_entities`` of dev's tasks is this hub's part of "which tasks are blocked, by which
# incident". There is no page here for the kit's prefetch to run over (each task comes
# from its own representation), so a task's reference waits for the loads of the fields
# asked for below it (the same loads, batched the same way, and only where the fields'
# guards let the caller through: kit.auth.may_see), and graphql-core
# then completes each task's incidents and their services in place instead of awaiting
# a future per field and row. A failed load is left in its loader for the field that
# asks for it to report at its own path, as without this.

# Per request (its loaders), the ``_entities`` call (its info) the plan was made for.
_PLANS: weakref.WeakKeyDictionary[Loaders, tuple[Info, tuple[bool, bool]]] = (
    weakref.WeakKeyDictionary()
)


def _entity_plan(info: Info) -> tuple[bool, bool]:
    """Whether this ``_entities`` call asks for tasks' blockingIncidents, and for their
    services, each where the caller may see it (the field's guard lets it through)."""
    loaders = _ctx(info).loaders
    cached = _PLANS.get(loaders)
    if cached is not None and cached[0] is info:
        return cached[1]
    blocking = "blockingIncidents" in selected(info) and may_see(info, "Task", "blockingIncidents")
    services = (
        blocking
        and "services" in selected(info, "blockingIncidents")
        and may_see(info, "Incident", "services")
    )
    _PLANS[loaders] = (info, (blocking, services))
    return blocking, services


def _primed(
    value: T,
    first: Awaitable[list[Incident]],
    then: DataLoader[uuid.UUID, Any] | None,
) -> asyncio.Future[T]:
    """``value`` once ``first`` is settled and, with ``then``, once ``then``'s loads of
    its incidents are settled (whether they succeed or fail)."""
    ready: asyncio.Future[T] = asyncio.get_running_loop().create_future()

    def settle(_: object = None) -> None:
        if not ready.done():
            ready.set_result(value)

    def loaded(future: asyncio.Future[list[Incident]]) -> None:
        if then is None or future.cancelled() or future.exception() is not None:
            settle()
            return
        # A load, or for several incidents load_many's gather (a future already, not
        # wrapped in a task): its failure is the field's to report, not ours.
        ids = [incident.row_id for incident in future.result()]
        try:
            more = asyncio.ensure_future(
                then.load(ids[0]) if len(ids) == 1 else then.load_many(ids)
            )
        except Exception:  # the fields load (and report) it themselves
            settle()
            return
        more.add_done_callback(_retrieved)
        more.add_done_callback(settle)

    # A loader's load is a future already (ensure_future returns it as it is).
    asyncio.ensure_future(first).add_done_callback(loaded)
    return ready


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


# --- other hubs' entities, extended --------------------------------------------------


@strawberry.federation.type(keys=["slug"])
class Domain:
    slug: str

    @classmethod
    def resolve_reference(cls, slug: str, **_: Any) -> Domain:
        # Nothing to read: services name their domain by slug.
        return cls(slug=slug)

    @strawberry.federation.field(
        requires_scopes=READ, description="Its services, by namespace and name."
    )
    async def services(self, info: Info) -> list[Service]:
        rows = (
            await _ctx(info)
            .loaders.rows_grouped_by(
                models.Service,
                models.Service.domain_slug,
                order_by=[models.Service.namespace, models.Service.name],
            )
            .load(self.slug)
        )
        return [Service.from_row(r) for r in rows]

    @strawberry.federation.field(
        requires_scopes=READ,
        description="Unresolved incidents affecting any of its services, most severe first.",
    )
    async def open_incidents(self, info: Info) -> list[Incident]:
        loader = _batched(info, ("open_by_domain",), service.open_incidents_by_domain, [])
        return _incidents(await loader.load(self.slug))


@strawberry.federation.type(keys=["id"])
class Task:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, info: Info, id: strawberry.ID, **_: Any) -> Task:
        # Nothing to read: incidents name tasks by key; a task no incident blocks has none.
        task = cls(id=id)
        blocking, services = _entity_plan(info)
        if not blocking:
            return task
        # Asked for its blocking incidents (and their services): the task once they are
        # loaded, so that graphql-core completes them in place (_primed).
        incidents = _blocking_loader(info).load(str(id))
        then = _affected_services_loader(info) if services else None
        return later(_primed(task, incidents, then))

    @strawberry.federation.field(
        requires_scopes=READ,
        description="The unresolved incidents blocking this task, most severe first.",
    )
    @direct
    def blocking_incidents(self, info: Info) -> list[Incident]:
        return later(_blocking_loader(info).load(str(self.id)))


# --- services and probes ---------------------------------------------------------------


@strawberry.federation.type(requires_scopes=READ, description="How a service is probed.")
class Probe:
    id: strawberry.ID
    kind: ProbeKind
    target: str = strawberry.field(description="A URL (http) or host:port (tcp, tls, ssh).")
    timeout_s: float
    expected_status: int | None
    body_match: str | None
    interval_s: int
    enabled: bool

    @classmethod
    def from_row(cls, row: models.Probe) -> Probe:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=ProbeKind(row.kind),
            target=row.target,
            timeout_s=row.timeout_s,
            expected_status=row.expected_status,
            body_match=row.body_match,
            interval_s=row.interval_s,
            enabled=row.enabled,
        )


@strawberry.federation.type(requires_scopes=READ, description="What one run of a probe found.")
class ProbeResult:
    probe_id: strawberry.ID
    ok: bool
    latency_ms: float | None
    detail: str
    status_code: int | None
    cert_days_left: int | None
    cert_issuer: str | None
    cert_subject: str | None
    banner: str | None
    checked_at: datetime

    @classmethod
    def from_row(cls, row: models.ProbeResult) -> ProbeResult:
        return cls(
            probe_id=strawberry.ID(str(row.probe_id)),
            ok=row.ok,
            latency_ms=row.latency_ms,
            detail=row.detail,
            status_code=row.status_code,
            cert_days_left=row.cert_days_left,
            cert_issuer=row.cert_issuer,
            cert_subject=row.cert_subject,
            banner=row.banner,
            checked_at=row.checked_at,
        )


@strawberry.federation.type(
    keys=["id"], requires_scopes=READ, description="A service running in production."
)
class Service:
    id: strawberry.ID
    name: str = strawberry.field(description="Unique within its namespace.")
    namespace: str
    domain_slug: str = strawberry.field(description="The owning domain (core's Domain).")
    owner: str | None
    description: str
    endpoints: list[str]
    health: HealthStatus
    health_changed_at: datetime | None
    last_seen: datetime | None = strawberry.field(description="When a probe last reached it.")
    red_after: int = strawberry.field(description="Failures in a row that make it RED.")
    green_after: int = strawberry.field(description="Successes in a row that make it GREEN.")
    created_at: datetime
    updated_at: datetime
    row_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.Service) -> Service:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            namespace=row.namespace,
            domain_slug=row.domain_slug,
            owner=row.owner,
            description=row.description,
            endpoints=list(row.endpoints),
            health=HealthStatus(row.health),
            health_changed_at=row.health_changed_at,
            last_seen=row.last_seen,
            red_after=row.red_after,
            green_after=row.green_after,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row_id=row.id,
        )

    @classmethod
    def resolve_reference(cls, info: Info, id: strawberry.ID, **_: Any) -> Service | None:
        try:
            key = uuid.UUID(str(id))
        except ValueError:
            return None
        return later(_services_by_id(info).load(key))

    @strawberry.field(description="The owning domain (the core hub has the rest).")
    @direct
    def domain(self, info: Info) -> Domain:
        return Domain(slug=self.domain_slug)

    @strawberry.field(description="Its probes.")
    async def probes(self, info: Info) -> list[Probe]:
        rows = (
            await _ctx(info)
            .loaders.rows_grouped_by(
                models.Probe,
                models.Probe.service_id,
                order_by=[models.Probe.kind, models.Probe.target],
            )
            .load(self.row_id)
        )
        return [Probe.from_row(r) for r in rows]

    @strawberry.field(
        description=f"Its newest probe results, newest first (at most {RECENT_RESULTS})."
    )
    async def recent_results(self, info: Info) -> list[ProbeResult]:
        async def lookup(session: Any, ids: list[uuid.UUID]) -> Any:
            return await service.recent_results(session, ids, RECENT_RESULTS)

        rows = await _batched(info, ("recent_results",), lookup, []).load(self.row_id)
        return [ProbeResult.from_row(r) for r in rows]

    @strawberry.field(description="Unresolved incidents affecting it, most severe first.")
    async def open_incidents(self, info: Info) -> list[Incident]:
        loader = _batched(info, ("open_by_service",), service.open_incidents_of_services, [])
        return _incidents(await loader.load(self.row_id))

    @strawberry.field(description="Its runbooks, by title.")
    async def runbooks(self, info: Info) -> list[Runbook]:
        rows = await _by_service(info, models.Runbook, [models.Runbook.title]).load(self.row_id)
        return [Runbook.from_row(r) for r in rows]

    @strawberry.field(description="The access paths leading to it, by name.")
    async def access_paths(self, info: Info) -> list[AccessPath]:
        rows = await _by_service(info, models.AccessPath, [models.AccessPath.name]).load(
            self.row_id
        )
        return [AccessPath.from_row(r) for r in rows]

    @strawberry.field(description="Changes made to it, most recent first.")
    async def changes(self, info: Info) -> list[ChangeRecord]:
        order = [models.ChangeRecord.changed_at.desc()]
        rows = await _by_service(info, models.ChangeRecord, order).load(self.row_id)
        return [ChangeRecord.from_row(r) for r in rows]

    @strawberry.field(description="Its operational debt, newest first.")
    async def operational_debts(self, info: Info) -> list[OperationalDebt]:
        order = [models.OperationalDebt.created_at.desc()]
        rows = await _by_service(info, models.OperationalDebt, order).load(self.row_id)
        return [OperationalDebt.from_row(r) for r in rows]


# --- incidents -------------------------------------------------------------------------


@strawberry.federation.type(requires_scopes=READ, description="Who did or saw what, and when.")
class TimelineEntry:
    at: datetime
    author: str
    text: str


@strawberry.federation.type(requires_scopes=READ, description="Something wrong in production.")
class Incident:
    id: strawberry.ID
    title: str
    summary: str
    severity: IncidentSeverity
    status: IncidentStatus
    opened_by: str | None
    opened_at: datetime
    resolved_at: datetime | None
    updated_at: datetime
    row_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.Incident) -> Incident:
        return cls(
            id=strawberry.ID(str(row.id)),
            title=row.title,
            summary=row.summary,
            severity=IncidentSeverity(row.severity),
            status=IncidentStatus(row.status),
            opened_by=row.opened_by,
            opened_at=row.opened_at,
            resolved_at=row.resolved_at,
            updated_at=row.updated_at,
            row_id=row.id,
        )

    @strawberry.field(description="The services it affects, by namespace and name.")
    @direct
    def services(self, info: Info) -> list[Service]:
        return later(_affected_services_loader(info).load(self.row_id))

    async def _task_keys(self, info: Info) -> list[str]:
        rows = (
            await _ctx(info)
            .loaders.rows_grouped_by(
                models.IncidentTask,
                models.IncidentTask.incident_id,
                order_by=[models.IncidentTask.task_key],
            )
            .load(self.row_id)
        )
        return [r.task_key for r in rows]

    @strawberry.field(description="Keys of the dev tasks it blocks, e.g. CUST-WP-0025-T05.")
    async def blocked_task_ids(self, info: Info) -> list[str]:
        return await self._task_keys(info)

    @strawberry.field(description="The dev tasks it blocks (the dev hub has the rest).")
    async def blocks_tasks(self, info: Info) -> list[Task]:
        return [Task(id=strawberry.ID(k)) for k in await self._task_keys(info)]

    @strawberry.field(description="Its timeline, oldest first.")
    async def timeline(self, info: Info) -> list[TimelineEntry]:
        rows = (
            await _ctx(info)
            .loaders.rows_grouped_by(
                models.TimelineEntry,
                models.TimelineEntry.incident_id,
                order_by=[models.TimelineEntry.at, models.TimelineEntry.id],
            )
            .load(self.row_id)
        )
        return [TimelineEntry(at=r.at, author=r.author, text=r.text) for r in rows]


@strawberry.federation.type(
    requires_scopes=READ, description="A service's health and what it rests on."
)
class ServiceHealthReport:
    service: Service
    health: HealthStatus
    last_seen: datetime | None
    health_changed_at: datetime | None

    @classmethod
    def of(cls, found: Service) -> ServiceHealthReport:
        return cls(
            service=found,
            health=found.health,
            last_seen=found.last_seen,
            health_changed_at=found.health_changed_at,
        )

    @strawberry.field(description=f"Its newest probe results (at most {RECENT_RESULTS}).")
    async def recent_results(self, info: Info) -> list[ProbeResult]:
        return await self.service.recent_results(info)

    @strawberry.field(description="Unresolved incidents affecting it.")
    async def open_incidents(self, info: Info) -> list[Incident]:
        return await self.service.open_incidents(info)


# --- inputs ------------------------------------------------------------------------


@strawberry.input(description="A probe of a service.")
class ProbeInput:
    kind: ProbeKind
    target: str = strawberry.field(description="A URL (http) or host:port (tcp, tls, ssh).")
    timeout_s: float = 5.0
    expected_status: int | None = strawberry.field(
        default=200, description="For http: the status that counts as up."
    )
    body_match: str | None = strawberry.field(
        default=None, description="For http: text the body must contain."
    )
    interval_s: int = strawberry.field(default=60, description="How often it runs (5..86400).")

    def definition(self) -> service.ProbeDefinition:
        return service.ProbeDefinition(
            kind=str(self.kind.value),
            target=self.target,
            timeout_s=self.timeout_s,
            expected_status=self.expected_status,
            body_match=self.body_match,
            interval_s=self.interval_s,
        )


@strawberry.input
class RegisterServiceInput:
    name: str
    namespace: str
    domain: str = strawberry.field(description="The owning domain's slug.")
    owner: str | None = None
    description: str = ""
    endpoints: list[str] = strawberry.field(
        default_factory=list, description="http(s) URLs or host:port."
    )
    red_after: int = strawberry.field(default=3, description="Failures in a row for RED (>= 1).")
    green_after: int = strawberry.field(
        default=2, description="Successes in a row for GREEN (>= 1)."
    )
    probes: list[ProbeInput] = strawberry.field(default_factory=list)


@strawberry.input(description="What to change of a service; fields left out stay.")
class UpdateServiceInput:
    owner: str | None = None
    description: str | None = None
    endpoints: list[str] | None = strawberry.field(
        default=None, description="The whole new list: http(s) URLs or host:port."
    )
    red_after: int | None = strawberry.field(default=None, description=">= 1")
    green_after: int | None = strawberry.field(default=None, description=">= 1")


@strawberry.input
class CreateIncidentInput:
    title: str
    severity: IncidentSeverity
    summary: str = ""
    services: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Ids of the services it affects."
    )
    blocks_tasks: list[str] = strawberry.field(
        default_factory=list,
        description="Keys of dev tasks it blocks; each must exist in the dev hub.",
    )


@strawberry.input
class UpdateIncidentInput:
    status: IncidentStatus | None = None
    severity: IncidentSeverity | None = None
    note: str | None = strawberry.field(default=None, description="Added to the timeline.")
    add_services: list[strawberry.ID] = strawberry.field(default_factory=list)
    add_blocked_tasks: list[str] = strawberry.field(
        default_factory=list, description="Each must exist in the dev hub."
    )
    remove_blocked_tasks: list[str] = strawberry.field(default_factory=list)


async def _known_tasks(info: Info, keys: list[str]) -> None:
    """NOT_FOUND naming task keys the dev hub does not have (asked as our account)."""
    keys = service.task_keys(keys)
    if not keys:
        return
    ctx = _ctx(info)
    assert ctx.peers is not None  # create_hub_app always provides them
    existing = await dev_tasks.existing_task_keys(ctx.peers, ctx.extra["dev_graphql_url"], keys)
    service.unknown_tasks(keys, existing)


# --- root types --------------------------------------------------------------------

First = Annotated[
    int | None, strawberry.argument(description="Page size (default 50, at most 500).")
]
After = Annotated[
    str | None, strawberry.argument(description="The endCursor of the previous page.")
]


@strawberry.type
class Query(OperationsQuery, ClusterQuery):
    @strawberry.federation.field(
        requires_scopes=READ, description="Services, by namespace and name."
    )
    async def services(
        self,
        info: Info,
        namespace: str | None = None,
        domain: str | None = None,
        health: HealthStatus | None = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Service]:
        async with _ctx(info).db.session() as s:
            page = await service.list_services(
                s,
                namespace=namespace,
                domain_slug=domain,
                health=str(health.value) if health else None,
                first=first,
                after=after,
            )
        return Connection.from_page(page, Service.from_row)

    @strawberry.federation.field(requires_scopes=READ, description="One service by id.")
    async def service(self, info: Info, id: strawberry.ID) -> Service | None:
        async with _ctx(info).db.session() as s:
            row = await service.find_service(s, str(id))
        return Service.from_row(row) if row else None

    @strawberry.federation.field(
        requires_scopes=READ,
        description="A service's health, newest probe results and open incidents; "
        "NOT_FOUND for an unknown id.",
    )
    async def service_health(self, info: Info, id: strawberry.ID) -> ServiceHealthReport:
        async with _ctx(info).db.session() as s:
            row = await service.get_service(s, str(id))
        return ServiceHealthReport.of(Service.from_row(row))

    @strawberry.federation.field(requires_scopes=READ, description="Incidents, newest first.")
    async def incidents(
        self,
        info: Info,
        status: IncidentStatus | None = None,
        open: Annotated[bool, strawberry.argument(description="Only unresolved ones.")] = False,
        severity: IncidentSeverity | None = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Incident]:
        async with _ctx(info).db.session() as s:
            page = await service.list_incidents(
                s,
                status=status.value if status else None,
                open_only=open,
                severity=severity.value if severity else None,
                first=first,
                after=after,
            )
        return Connection.from_page(page, Incident.from_row)

    @strawberry.federation.field(requires_scopes=READ, description="One incident by id.")
    async def incident(self, info: Info, id: strawberry.ID) -> Incident | None:
        async with _ctx(info).db.session() as s:
            row = await service.find_incident(s, str(id))
        return Incident.from_row(row) if row else None


@strawberry.type
class Mutation(OperationsMutation):
    @strawberry.federation.mutation(
        requires_scopes=WRITE,
        description="Add a service to the registry (UNKNOWN until probed). CONFLICT when "
        "its namespace has the name; BAD_USER_INPUT for a bad endpoint, probe or threshold.",
    )
    async def register_service(self, info: Info, input: RegisterServiceInput) -> Service:
        async with _ctx(info).db.transaction() as s:
            row = await service.register_service(
                s,
                name=input.name,
                namespace=input.namespace,
                domain_slug=input.domain,
                owner=input.owner,
                description=input.description,
                endpoints=input.endpoints,
                red_after=input.red_after,
                green_after=input.green_after,
                probes=[p.definition() for p in input.probes],
            )
        return Service.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE,
        description="Change a service's owner, description, endpoints or thresholds; "
        "BAD_USER_INPUT (nothing changed) for a bad endpoint or threshold.",
    )
    async def update_service(
        self, info: Info, id: strawberry.ID, input: UpdateServiceInput
    ) -> Service:
        change = service.ServiceChange(
            owner=input.owner,
            description=input.description,
            endpoints=input.endpoints,
            red_after=input.red_after,
            green_after=input.green_after,
        )
        async with _ctx(info).db.transaction() as s:
            row = await service.update_service(s, str(id), change)
        return Service.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE, description="Remove a probe (and its results) from its service."
    )
    async def remove_probe(self, info: Info, id: strawberry.ID) -> Service:
        async with _ctx(info).db.transaction() as s:
            row = await service.remove_probe(s, str(id))
        return Service.from_row(row)

    @strawberry.federation.mutation(requires_scopes=WRITE, description="Add a probe to a service.")
    async def add_probe(self, info: Info, service_id: strawberry.ID, probe: ProbeInput) -> Probe:
        async with _ctx(info).db.transaction() as s:
            row = await service.add_probe(s, str(service_id), probe.definition())
        return Probe.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=OPERATE,
        description="Open an incident. Every task it blocks must exist in the dev hub "
        "(NOT_FOUND naming those that do not; nothing is written).",
    )
    async def create_incident(self, info: Info, input: CreateIncidentInput) -> Incident:
        await _known_tasks(info, input.blocks_tasks)
        async with _ctx(info).db.transaction() as s:
            row = await service.create_incident(
                s,
                title=input.title,
                severity=input.severity.value,
                summary=input.summary,
                service_ids=[str(i) for i in input.services],
                blocks_tasks=input.blocks_tasks,
                opened_by=_caller(info),
            )
        return Incident.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=OPERATE,
        description="Move an incident along its lifecycle, change its severity, add a note, "
        "or change what it affects and blocks; each change goes on its timeline.",
    )
    async def update_incident(
        self, info: Info, id: strawberry.ID, input: UpdateIncidentInput
    ) -> Incident:
        await _known_tasks(info, input.add_blocked_tasks)
        change = service.IncidentChange(
            status=input.status.value if input.status else None,
            severity=input.severity.value if input.severity else None,
            note=input.note,
            add_services=[str(i) for i in input.add_services],
            add_tasks=input.add_blocked_tasks,
            remove_tasks=input.remove_blocked_tasks,
        )
        async with _ctx(info).db.transaction() as s:
            row = await service.update_incident(s, str(id), change, _caller(info))
        return Incident.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=OPERATE, description="Resolve an incident (final), saying how."
    )
    async def resolve_incident(
        self, info: Info, id: strawberry.ID, resolution: str | None = None
    ) -> Incident:
        async with _ctx(info).db.transaction() as s:
            row = await service.resolve_incident(s, str(id), _caller(info), resolution)
        return Incident.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=OPERATE,
        description="Run a service's probes now (real network calls, at most their timeouts) "
        "and record the results as the scheduler would: health, incidents, recovery.",
    )
    async def probe_service(self, info: Info, id: strawberry.ID) -> ServiceHealthReport:
        ctx = _ctx(info)
        async with ctx.db.session() as s:
            row = await service.get_service(s, str(id))
            probes = await probe_records.probes_of(s, row.id)
        results = await run_probes([p.spec for p in probes])
        keep = int(ctx.extra.get("probe_history") or probe_records.DEFAULT_KEEP)
        for probe, result in zip(probes, results, strict=True):
            # One transaction per result, as the scheduler records them.
            async with ctx.db.transaction(immediate=True) as s:
                await probe_records.record_result(s, probe.probe_id, result, keep=keep)
        async with ctx.db.session() as s:
            row = await service.get_service(s, str(id))
        return ServiceHealthReport.of(Service.from_row(row))


schema = hub_schema(Query, Mutation, types=[Domain, Task, Service], events=EVENTS)
