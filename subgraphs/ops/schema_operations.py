"""The ops hub's GraphQL for operating: runbooks and their executions, access paths,
operational debt and change records (``operations.py`` underneath), and the
``OperationsQuery`` / ``OperationsMutation`` fields that ``schema.py`` merges into its
root types.

Resolvers that make a network call (an automated runbook step, an access-path check)
read in one session, call out with no transaction open, then record in a transaction
of their own (see ``operations.py``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from identity.access import HUB_READ, HUB_WRITE, OPS_OPERATE
from subgraphs.core.kit.app import HubContext
from subgraphs.core.kit.pagination import Connection
from subgraphs.ops import models, operations

if TYPE_CHECKING:
    from subgraphs.ops.schema import Service

Info = strawberry.Info[HubContext, None]
READ = [[HUB_READ]]
WRITE = [[HUB_WRITE]]
OPERATE = [[OPS_OPERATE]]
LazyService = Annotated["Service", strawberry.lazy("subgraphs.ops.schema")]


def _ctx(info: Info) -> HubContext:
    return info.context


def _caller(info: Info) -> str:
    identity = _ctx(info).identity
    return identity.subject if identity else "anonymous"


async def _service(info: Info, service_id: uuid.UUID | None) -> Any:
    from subgraphs.ops.schema import Service

    if service_id is None:
        return None
    row = await _ctx(info).loaders.rows_by(models.Service, models.Service.id).load(service_id)
    return Service.from_row(row) if row else None


@strawberry.enum(description="How a runbook step is carried out; the hub runs no shell commands.")
class StepKind(Enum):
    MANUAL = strawberry.enum_value(
        "manual", description="A person does it, then confirms with a note."
    )
    PROBE = strawberry.enum_value(
        "probe", description="The hub runs a probe (http, tcp, tls, ssh)."
    )
    HTTP = strawberry.enum_value("http", description="The hub GETs a URL and checks the status.")


@strawberry.enum(description="What came of a runbook step.")
class StepOutcome(Enum):
    CONFIRMED = strawberry.enum_value("confirmed", description="A manual step, confirmed.")
    OK = strawberry.enum_value("ok", description="An automated step that passed.")
    FAILED = strawberry.enum_value("failed", description="An automated step that failed.")


@strawberry.enum(description="Where a runbook execution is.")
class ExecutionStatus(Enum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


@strawberry.enum(description="How an access path is reached.")
class AccessKind(Enum):
    SSH = "ssh"
    K8S = "k8s"
    HTTP = "http"


@strawberry.enum(description="What the last check of an access path found.")
class AccessStatus(Enum):
    UNKNOWN = strawberry.enum_value("unknown", description="Not checked yet.")
    OK = "ok"
    FAILING = "failing"


@strawberry.enum(description="How much operational debt hurts.")
class DebtSeverity(Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


# --- runbooks ------------------------------------------------------------------------


@strawberry.federation.type(requires_scopes=READ, description="One step of a runbook.")
class RunbookStep:
    position: int = strawberry.field(description="1 for the first step.")
    title: str
    kind: StepKind
    instructions: str
    action: strawberry.scalars.JSON = strawberry.field(
        description="What an automated step checks: a probe (kind, target, ...) or an "
        "HTTP call (url, expected_status); empty for a manual step."
    )

    @classmethod
    def from_row(cls, row: models.RunbookStep) -> RunbookStep:
        return cls(
            position=row.position,
            title=row.title,
            kind=StepKind(row.kind),
            instructions=row.instructions,
            action=dict(row.action),  # type: ignore[arg-type]  # JSON is any JSON value
        )


@strawberry.federation.type(
    requires_scopes=READ, description="A step's outcome in an execution: the audit trail."
)
class RunbookStepResult:
    position: int
    outcome: StepOutcome
    note: str | None
    detail: str
    by: str
    at: datetime


@strawberry.federation.type(requires_scopes=READ, description="One run of a runbook.")
class RunbookExecution:
    id: strawberry.ID
    status: ExecutionStatus
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    row_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.RunbookExecution) -> RunbookExecution:
        return cls(
            id=strawberry.ID(str(row.id)),
            status=ExecutionStatus(row.status),
            started_by=row.started_by,
            started_at=row.created_at,
            finished_at=row.finished_at,
            row_id=row.id,
        )

    @strawberry.field(description="Every step's outcome, in the order they happened.")
    async def results(self, info: Info) -> list[RunbookStepResult]:
        rows = (
            await _ctx(info)
            .loaders.rows_grouped_by(
                models.RunbookStepResult,
                models.RunbookStepResult.execution_id,
                order_by=[models.RunbookStepResult.at, models.RunbookStepResult.position],
            )
            .load(self.row_id)
        )
        return [
            RunbookStepResult(
                position=r.position,
                outcome=StepOutcome(r.outcome),
                note=r.note,
                detail=r.detail,
                by=r.by,
                at=r.at,
            )
            for r in rows
        ]


@strawberry.federation.type(
    requires_scopes=READ, description="What to do about a service when its triggers hold."
)
class Runbook:
    id: strawberry.ID
    title: str
    trigger_conditions: list[str]
    last_executed_at: datetime | None
    row_id: strawberry.Private[uuid.UUID]
    service_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.Runbook) -> Runbook:
        return cls(
            id=strawberry.ID(str(row.id)),
            title=row.title,
            trigger_conditions=list(row.trigger_conditions),
            last_executed_at=row.last_executed_at,
            row_id=row.id,
            service_id=row.service_id,
        )

    @strawberry.field
    async def service(self, info: Info) -> LazyService:
        return await _service(info, self.service_id)  # type: ignore[no-any-return,unused-ignore]

    @strawberry.field(description="In order.")
    async def steps(self, info: Info) -> list[RunbookStep]:
        rows = (
            await _ctx(info)
            .loaders.rows_grouped_by(
                models.RunbookStep,
                models.RunbookStep.runbook_id,
                order_by=[models.RunbookStep.position],
            )
            .load(self.row_id)
        )
        return [RunbookStep.from_row(r) for r in rows]

    @strawberry.field(description="Its executions, newest first.")
    async def executions(self, info: Info) -> list[RunbookExecution]:
        rows = (
            await _ctx(info)
            .loaders.rows_grouped_by(
                models.RunbookExecution,
                models.RunbookExecution.runbook_id,
                order_by=[models.RunbookExecution.created_at.desc()],
            )
            .load(self.row_id)
        )
        return [RunbookExecution.from_row(r) for r in rows]


# --- access paths, debt, changes -----------------------------------------------------


@strawberry.federation.type(
    requires_scopes=READ, description="How operators reach something, and whether it works."
)
class AccessPath:
    id: strawberry.ID
    name: str
    kind: AccessKind
    target: str = strawberry.field(description="A URL (http, k8s) or host:port (ssh).")
    auth_method: str
    status: AccessStatus
    last_checked_at: datetime | None
    last_detail: str
    service_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: models.AccessPath) -> AccessPath:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            kind=AccessKind(row.kind),
            target=row.target,
            auth_method=row.auth_method,
            status=AccessStatus(row.status),
            last_checked_at=row.last_checked_at,
            last_detail=row.last_detail,
            service_id=row.service_id,
        )

    @strawberry.field(description="The service it leads to, if any.")
    async def service(self, info: Info) -> LazyService | None:
        return await _service(info, self.service_id)


@strawberry.federation.type(
    requires_scopes=READ, description="Something in production worse than it should be."
)
class OperationalDebt:
    id: strawberry.ID
    title: str
    category: str
    severity: DebtSeverity
    location: str
    owner: str | None
    created_at: datetime
    service_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: models.OperationalDebt) -> OperationalDebt:
        return cls(
            id=strawberry.ID(str(row.id)),
            title=row.title,
            category=row.category,
            severity=DebtSeverity(row.severity),
            location=row.location,
            owner=row.owner,
            created_at=row.created_at,
            service_id=row.service_id,
        )

    @strawberry.field
    async def service(self, info: Info) -> LazyService | None:
        return await _service(info, self.service_id)


@strawberry.federation.type(
    requires_scopes=READ, description="A change made to production, and how to undo it."
)
class ChangeRecord:
    id: strawberry.ID
    summary: str = strawberry.field(description="What changed.")
    changed_at: datetime
    changed_by: str
    rollback_path: str
    service_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: models.ChangeRecord) -> ChangeRecord:
        return cls(
            id=strawberry.ID(str(row.id)),
            summary=row.summary,
            changed_at=row.changed_at,
            changed_by=row.changed_by,
            rollback_path=row.rollback_path,
            service_id=row.service_id,
        )

    @strawberry.field
    async def service(self, info: Info) -> LazyService | None:
        return await _service(info, self.service_id)


# --- inputs ------------------------------------------------------------------------


@strawberry.input
class RunbookStepInput:
    title: str
    kind: StepKind
    instructions: str = ""
    action: strawberry.scalars.JSON | None = strawberry.field(
        default=None,
        description='probe: {"kind": "http", "target": "https://...", "timeout_s": 5, '
        '"expected_status": 200}; http: {"url": "https://...", "expected_status": 200}; '
        "manual: none.",
    )


@strawberry.input
class CreateRunbookInput:
    service: strawberry.ID
    title: str
    trigger_conditions: list[str] = strawberry.field(default_factory=list)
    steps: list[RunbookStepInput] = strawberry.field(default_factory=list)


@strawberry.input
class RegisterAccessPathInput:
    name: str
    kind: AccessKind
    target: str = strawberry.field(description="A URL (http, k8s) or host:port (ssh).")
    auth_method: str
    service: strawberry.ID | None = None


@strawberry.input
class RecordDebtInput:
    title: str
    category: str
    severity: DebtSeverity
    location: str
    owner: str | None = None
    service: strawberry.ID | None = None


@strawberry.input
class RecordChangeInput:
    summary: str = strawberry.field(description="What changed.")
    rollback_path: str = ""
    service: strawberry.ID | None = None
    changed_at: datetime | None = strawberry.field(default=None, description="Default: now.")


First = Annotated[
    int | None, strawberry.argument(description="Page size (default 50, at most 500).")
]
After = Annotated[
    str | None, strawberry.argument(description="The endCursor of the previous page.")
]


def _mapping(value: Any) -> dict[str, Any] | None:
    # An action is a JSON object; anything else is refused by operations' checks.
    return value if isinstance(value, dict) or value is None else {"": value}


def _id(value: strawberry.ID | None) -> str | None:
    return str(value) if value is not None else None


@strawberry.type
class OperationsQuery:
    @strawberry.federation.field(
        requires_scopes=READ, description="One runbook by id, with its steps and executions."
    )
    async def runbook(self, info: Info, id: strawberry.ID) -> Runbook | None:
        async with _ctx(info).db.session() as s:
            row = await operations.find_runbook(s, str(id))
        return Runbook.from_row(row) if row else None

    @strawberry.federation.field(
        requires_scopes=READ, description="Access paths, by name; check one with checkAccessPath."
    )
    async def access_paths(
        self, info: Info, kind: AccessKind | None = None, service: strawberry.ID | None = None
    ) -> list[AccessPath]:
        async with _ctx(info).db.session() as s:
            rows = await operations.list_access_paths(
                s, kind=kind.value if kind else None, service_id=_id(service)
            )
        return [AccessPath.from_row(r) for r in rows]

    @strawberry.federation.field(
        requires_scopes=READ, description="Operational debt, newest first."
    )
    async def operational_debts(
        self,
        info: Info,
        severity: DebtSeverity | None = None,
        first: First = None,
        after: After = None,
    ) -> Connection[OperationalDebt]:
        async with _ctx(info).db.session() as s:
            page = await operations.list_debts(
                s, severity=severity.value if severity else None, first=first, after=after
            )
        return Connection.from_page(page, OperationalDebt.from_row)

    @strawberry.federation.field(
        requires_scopes=READ, description="Changes to production, most recent first."
    )
    async def changes(
        self,
        info: Info,
        service: strawberry.ID | None = None,
        first: First = None,
        after: After = None,
    ) -> Connection[ChangeRecord]:
        async with _ctx(info).db.session() as s:
            page = await operations.list_changes(
                s, service_id=_id(service), first=first, after=after
            )
        return Connection.from_page(page, ChangeRecord.from_row)


@strawberry.type
class OperationsMutation:
    @strawberry.federation.mutation(
        requires_scopes=OPERATE,
        description="Write a runbook for a service: ordered steps, each manual or automated "
        "(a probe or an HTTP call).",
    )
    async def create_runbook(self, info: Info, input: CreateRunbookInput) -> Runbook:
        steps = [
            operations.StepDefinition(
                s.title, str(s.kind.value), s.instructions, _mapping(s.action)
            )
            for s in input.steps
        ]
        async with _ctx(info).db.transaction() as s:
            row = await operations.create_runbook(
                s,
                service_id=str(input.service),
                title=input.title,
                trigger_conditions=input.trigger_conditions,
                steps=steps,
            )
        return Runbook.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=OPERATE,
        description="Carry out the next step of a runbook: without `execution`, step 1 of a "
        "new execution; steps go in order. A manual step needs a note saying what was done; "
        "an automated one is run now (a probe or an HTTP GET). Every outcome is recorded.",
    )
    async def execute_runbook_step(
        self,
        info: Info,
        runbook: strawberry.ID,
        position: int,
        execution: strawberry.ID | None = None,
        note: str | None = None,
    ) -> RunbookExecution:
        db = _ctx(info).db
        async with db.session() as s:
            planned = await operations.plan_step(s, str(runbook), position, _id(execution))
        outcome = await operations.run_action(planned.step, note)
        async with db.transaction() as s:
            row = await operations.record_step(s, planned, outcome, note, _caller(info))
        return RunbookExecution.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE, description="Add an access path (unknown until checked)."
    )
    async def register_access_path(self, info: Info, input: RegisterAccessPathInput) -> AccessPath:
        async with _ctx(info).db.transaction() as s:
            row = await operations.register_access_path(
                s,
                name=input.name,
                kind=input.kind.value,
                target=input.target,
                auth_method=input.auth_method,
                service_id=_id(input.service),
            )
        return AccessPath.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=OPERATE,
        description="Check an access path now: an http console answers HTTP, an ssh target "
        "shows its SSH banner, a Kubernetes API answers (with the configured kubeconfig's "
        "credentials when there is one).",
    )
    async def check_access_path(self, info: Info, id: strawberry.ID) -> AccessPath:
        ctx = _ctx(info)
        async with ctx.db.session() as s:
            path = await operations.get_access_path(s, str(id))
        result = await operations.check_path(path, ctx.extra.get("kubeconfig"))
        async with ctx.db.transaction() as s:
            row = await operations.record_check(s, path.id, result)
        return AccessPath.from_row(row)

    @strawberry.federation.mutation(requires_scopes=WRITE, description="Record operational debt.")
    async def record_operational_debt(self, info: Info, input: RecordDebtInput) -> OperationalDebt:
        async with _ctx(info).db.transaction() as s:
            row = await operations.record_debt(
                s,
                title=input.title,
                category=input.category,
                severity=input.severity.value,
                location=input.location,
                owner=input.owner,
                service_id=_id(input.service),
            )
        return OperationalDebt.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE, description="Record a change to production (by the caller)."
    )
    async def record_change(self, info: Info, input: RecordChangeInput) -> ChangeRecord:
        async with _ctx(info).db.transaction() as s:
            row = await operations.record_change(
                s,
                summary=input.summary,
                changed_by=_caller(info),
                rollback_path=input.rollback_path,
                service_id=_id(input.service),
                changed_at=input.changed_at,
            )
        return ChangeRecord.from_row(row)
