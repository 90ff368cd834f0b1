"""The ops hub's operational records: runbooks and their executions, access paths,
operational debt and change records. Plain async functions over a session.

Automated runbook steps and access-path checks make real network calls through
``probes.py``; those calls never happen inside a transaction (a probe may take its
whole timeout, and a transaction would hold the database meanwhile): callers read what
to check, run it with :func:`run_action` / :func:`check_spec`, then record the outcome
in a transaction of their own. The hub never runs shell commands: a step that needs one
is manual, confirmed by a person with a note.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.errors import BadUserInput, Conflict, NotConfigured, NotFound
from subgraphs.core.kit.orm import utcnow
from subgraphs.core.kit.pagination import Page, paginate
from subgraphs.core.kit.transitions import lock_subject
from subgraphs.ops import models
from subgraphs.ops.probes import ProbeResult, ProbeSpec, run_probe, validate_spec
from subgraphs.ops.service import get_service, one_of, optional, required, row_id

MAX_STEPS = 50

# --- runbooks ------------------------------------------------------------------------


@dataclass(frozen=True)
class StepDefinition:
    title: str
    kind: str  # manual | probe | http
    instructions: str = ""
    action: Mapping[str, Any] | None = None


def step_spec(kind: str, action: Mapping[str, Any]) -> ProbeSpec | None:
    """What an automated step checks, as a probe; None for a manual step. ValueError
    (from ``probes.validate_spec``) when the action is not a valid probe."""
    if kind == "manual":
        return None
    if kind == "http":
        # An HTTP call is an http probe of the URL: the hub only ever GETs.
        spec = ProbeSpec(
            kind="http",
            target=str(action.get("url", "")),
            timeout_s=float(action.get("timeout_s", 5.0)),
            expected_status=action.get("expected_status", 200),
        )
    else:
        spec = ProbeSpec(
            kind=str(action.get("kind", "")),  # type: ignore[arg-type]
            target=str(action.get("target", "")),
            timeout_s=float(action.get("timeout_s", 5.0)),
            expected_status=action.get("expected_status", 200),
            body_match=action.get("body_match"),
        )
    return validate_spec(spec)


def _checked_step(index: int, step: StepDefinition) -> models.RunbookStep:
    argument = f"steps[{index}]"
    kind = one_of(step.kind, models.STEP_KINDS, f"{argument}.kind")
    action = dict(step.action or {})
    if kind == "manual" and action:
        raise BadUserInput(f"{argument}: a manual step has no action", argument=argument)
    try:
        spec = step_spec(kind, action)
    except (ValueError, TypeError) as exc:
        raise BadUserInput(f"{argument}: {exc}", argument=argument) from None
    stored: dict[str, Any] = {}
    if spec is not None and kind == "http":
        stored = {"url": spec.target, "timeout_s": spec.timeout_s}
        stored["expected_status"] = spec.expected_status
    elif spec is not None:
        stored = {
            "kind": spec.kind,
            "target": spec.target,
            "timeout_s": spec.timeout_s,
            "expected_status": spec.expected_status,
            "body_match": spec.body_match,
        }
    return models.RunbookStep(
        position=index + 1,
        title=required(step.title, f"{argument}.title", 300),
        kind=kind,
        instructions=(step.instructions or "").strip(),
        action=stored,
    )


async def create_runbook(
    session: AsyncSession,
    *,
    service_id: str,
    title: str,
    trigger_conditions: Sequence[str] = (),
    steps: Sequence[StepDefinition] = (),
) -> models.Runbook:
    service = await get_service(session, service_id, "service")
    title = required(title, "title", 300)
    if not steps or len(steps) > MAX_STEPS:
        raise BadUserInput(f"a runbook has 1 to {MAX_STEPS} steps", argument="steps")
    rows = [_checked_step(i, s) for i, s in enumerate(steps)]
    triggers = [required(t, "triggerConditions", 500) for t in trigger_conditions]
    exists = await session.scalar(
        select(models.Runbook.id).where(
            models.Runbook.service_id == service.id, models.Runbook.title == title
        )
    )
    if exists is not None:
        raise Conflict(f"{service.name} already has a runbook {title!r}", argument="title")
    runbook = models.Runbook(service_id=service.id, title=title, trigger_conditions=triggers)
    session.add(runbook)
    await session.flush()
    for row in rows:
        row.runbook_id = runbook.id
    session.add_all(rows)
    await session.flush()
    return runbook


async def find_runbook(session: AsyncSession, runbook_id: str) -> models.Runbook | None:
    try:
        return await session.get(models.Runbook, uuid.UUID(str(runbook_id)))
    except ValueError:
        return None


async def get_runbook(
    session: AsyncSession, runbook_id: str, argument: str = "id"
) -> models.Runbook:
    row = await session.get(models.Runbook, row_id(runbook_id, "runbook", argument))
    if row is None:
        raise NotFound(f"no runbook {runbook_id!r}", argument=argument)
    return row


async def steps_of(session: AsyncSession, runbook_id: uuid.UUID) -> list[models.RunbookStep]:
    stmt = (
        select(models.RunbookStep)
        .where(models.RunbookStep.runbook_id == runbook_id)
        .order_by(models.RunbookStep.position)
    )
    return list((await session.scalars(stmt)).all())


@dataclass(frozen=True)
class PlannedStep:
    """A step about to be executed, read before any network call."""

    runbook_id: uuid.UUID
    execution_id: uuid.UUID | None  # None: the step starts a new execution
    step: models.RunbookStep
    done: int  # steps of the execution already done


async def plan_step(
    session: AsyncSession, runbook_id: str, position: int, execution_id: str | None
) -> PlannedStep:
    """Which step runs, in order: a new execution starts at step 1; an execution goes on
    at its first step not done (a failed automated step may be retried)."""
    runbook = await get_runbook(session, runbook_id, "runbook")
    steps = await steps_of(session, runbook.id)
    done = 0
    execution = None
    if execution_id is not None:
        execution = await session.get(
            models.RunbookExecution, row_id(execution_id, "runbook execution", "execution")
        )
        if execution is None or execution.runbook_id != runbook.id:
            raise NotFound(
                f"runbook {runbook.title!r} has no execution {execution_id!r}", argument="execution"
            )
        if execution.status != "running":
            raise Conflict(
                f"execution {execution_id} is {execution.status}; start a new one",
                argument="execution",
            )
        done = await _steps_done(session, execution.id)
    expected = done + 1
    if position != expected:
        raise BadUserInput(
            f"steps run in order: the next step of this execution is {expected} "
            f"({steps[done].title!r})"
            if done < len(steps)
            else "every step is done",
            argument="position",
            nextStep=expected,
        )
    return PlannedStep(runbook.id, execution.id if execution else None, steps[done], done)


async def _steps_done(session: AsyncSession, execution_id: uuid.UUID) -> int:
    stmt = select(models.RunbookStepResult.position).where(
        models.RunbookStepResult.execution_id == execution_id,
        models.RunbookStepResult.outcome.in_(("ok", "confirmed")),
    )
    return len(set((await session.scalars(stmt)).all()))


@dataclass(frozen=True)
class StepOutcome:
    outcome: str  # confirmed | ok | failed
    detail: str


async def run_action(step: models.RunbookStep, note: str | None) -> StepOutcome:
    """Carry out one step: a manual one is confirmed by its note; an automated one is
    probed now (a real network call). No database here."""
    if step.kind == "manual":
        text = optional(note, "note", 10_000)
        if text is None:
            raise BadUserInput(
                f"step {step.position} ({step.title!r}) is manual: confirm it with a note "
                "saying what was done",
                argument="note",
            )
        return StepOutcome("confirmed", "confirmed by hand")
    spec = step_spec(step.kind, step.action)
    assert spec is not None
    result = await run_probe(spec)
    return StepOutcome("ok" if result.ok else "failed", result.detail)


async def record_step(
    session: AsyncSession, planned: PlannedStep, outcome: StepOutcome, note: str | None, by: str
) -> models.RunbookExecution:
    """Write the step's result (the audit trail) and move the execution on."""
    if planned.execution_id is None:
        execution = models.RunbookExecution(runbook_id=planned.runbook_id, started_by=by)
        session.add(execution)
        await session.flush()
    else:
        # Another request may be recording this step now (the probe ran outside any
        # transaction): hold the execution while checking it is still at this step, so
        # of two concurrent requests only one records it.
        await lock_subject(session, "runbook execution", str(planned.execution_id))
        found = await session.get(
            models.RunbookExecution, planned.execution_id, populate_existing=True
        )
        assert found is not None
        execution = found
        if (
            execution.status != "running"
            or await _steps_done(session, execution.id) != planned.done
        ):
            raise Conflict(
                "the execution moved on while this step ran; read it again", argument="execution"
            )
    session.add(
        models.RunbookStepResult(
            execution_id=execution.id,
            step_id=planned.step.id,
            position=planned.step.position,
            outcome=outcome.outcome,
            note=optional(note, "note", 10_000),
            detail=outcome.detail,
            by=by,
        )
    )
    runbook = await session.get(models.Runbook, planned.runbook_id)
    assert runbook is not None
    now = utcnow()
    runbook.last_executed_at = now
    total = len(await steps_of(session, planned.runbook_id))
    if outcome.outcome != "failed" and planned.step.position == total:
        execution.status = "completed"
        execution.finished_at = now
    await session.flush()
    return execution


async def list_executions(
    session: AsyncSession, runbook_id: uuid.UUID
) -> list[models.RunbookExecution]:
    stmt = (
        select(models.RunbookExecution)
        .where(models.RunbookExecution.runbook_id == runbook_id)
        .order_by(models.RunbookExecution.created_at.desc())
    )
    return list((await session.scalars(stmt)).all())


# --- access paths --------------------------------------------------------------------


def access_spec(kind: str, target: str, timeout_s: float = 5.0) -> ProbeSpec:
    """How an access path is checked: an http(s) console or a Kubernetes API is reachable
    when it answers HTTP at all (a 401 still proves the path); an ssh target shows its
    banner. ValueError for a target that cannot be checked."""
    if kind == "ssh":
        return validate_spec(ProbeSpec(kind="ssh", target=target, timeout_s=timeout_s))
    return validate_spec(
        ProbeSpec(kind="http", target=target, timeout_s=timeout_s, expected_status=None)
    )


async def register_access_path(
    session: AsyncSession,
    *,
    name: str,
    kind: str,
    target: str,
    auth_method: str,
    service_id: str | None = None,
) -> models.AccessPath:
    name = required(name, "name", models.NAME_LENGTH)
    kind = one_of(kind, models.ACCESS_KINDS, "kind")
    target = required(target, "target", models.TARGET_LENGTH)
    try:
        access_spec(kind, target)
    except ValueError as exc:
        raise BadUserInput(f"target: {exc}", argument="target") from None
    service = await get_service(session, service_id, "service") if service_id else None
    if await session.scalar(select(models.AccessPath.id).where(models.AccessPath.name == name)):
        raise Conflict(f"an access path named {name!r} exists", argument="name")
    path = models.AccessPath(
        name=name,
        kind=kind,
        target=target,
        auth_method=required(auth_method, "authMethod", 100),
        service_id=service.id if service else None,
        status="unknown",
    )
    session.add(path)
    await session.flush()
    return path


async def get_access_path(session: AsyncSession, path_id: str) -> models.AccessPath:
    row = await session.get(models.AccessPath, row_id(path_id, "access path"))
    if row is None:
        raise NotFound(f"no access path {path_id!r}", argument="id")
    return row


async def check_path(path: models.AccessPath, kubeconfig: str | None) -> ProbeResult:
    """Check an access path now (a real network call; no database). A Kubernetes path,
    when the hub has a kubeconfig, is checked with its credentials (GET /version)."""
    if path.kind == "k8s" and kubeconfig:
        from subgraphs.ops.kubernetes_health import KubeconfigError, kube_api_reachable

        checked_at = utcnow()
        try:
            ok, detail = await kube_api_reachable(kubeconfig)
        except KubeconfigError as exc:
            raise NotConfigured(str(exc), setting="kubeconfig") from None
        return ProbeResult(ok, None, detail, checked_at)
    return await run_probe(access_spec(path.kind, path.target))


async def record_check(
    session: AsyncSession, path_id: uuid.UUID, result: ProbeResult
) -> models.AccessPath:
    path = await session.get(models.AccessPath, path_id)
    if path is None:
        raise NotFound(f"access path {path_id} no longer exists", argument="id")
    path.status = "ok" if result.ok else "failing"
    path.last_checked_at = result.checked_at
    path.last_detail = result.detail
    await session.flush()
    return path


async def list_access_paths(
    session: AsyncSession, *, kind: str | None = None, service_id: str | None = None
) -> list[models.AccessPath]:
    stmt: Select[Any] = select(models.AccessPath)
    if kind:
        stmt = stmt.where(models.AccessPath.kind == one_of(kind, models.ACCESS_KINDS, "kind"))
    if service_id:
        stmt = stmt.where(models.AccessPath.service_id == row_id(service_id, "service", "service"))
    return list((await session.scalars(stmt.order_by(models.AccessPath.name))).all())


# --- operational debt and changes ----------------------------------------------------


async def record_debt(
    session: AsyncSession,
    *,
    title: str,
    category: str,
    severity: str,
    location: str,
    owner: str | None = None,
    service_id: str | None = None,
) -> models.OperationalDebt:
    service = await get_service(session, service_id, "service") if service_id else None
    debt = models.OperationalDebt(
        title=required(title, "title", 300),
        category=required(category, "category", 100),
        severity=one_of(severity, models.DEBT_SEVERITIES, "severity"),
        location=required(location, "location", models.TARGET_LENGTH),
        owner=optional(owner, "owner", models.NAME_LENGTH),
        service_id=service.id if service else None,
    )
    session.add(debt)
    await session.flush()
    return debt


async def list_debts(
    session: AsyncSession,
    *,
    severity: str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[models.OperationalDebt]:
    stmt: Select[tuple[models.OperationalDebt]] = select(models.OperationalDebt)
    if severity:
        stmt = stmt.where(
            models.OperationalDebt.severity == one_of(severity, models.DEBT_SEVERITIES, "severity")
        )
    keys = [models.OperationalDebt.created_at, models.OperationalDebt.id]
    return await paginate(session, stmt, keys, first=first, after=after, descending=True)


async def record_change(
    session: AsyncSession,
    *,
    summary: str,
    changed_by: str,
    rollback_path: str = "",
    service_id: str | None = None,
    changed_at: datetime | None = None,
) -> models.ChangeRecord:
    service = await get_service(session, service_id, "service") if service_id else None
    change = models.ChangeRecord(
        summary=required(summary, "summary", 10_000),
        changed_by=changed_by,
        rollback_path=(rollback_path or "").strip(),
        service_id=service.id if service else None,
        changed_at=changed_at or utcnow(),
    )
    session.add(change)
    await session.flush()
    return change


async def list_changes(
    session: AsyncSession,
    *,
    service_id: str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[models.ChangeRecord]:
    """Newest first."""
    stmt: Select[tuple[models.ChangeRecord]] = select(models.ChangeRecord)
    if service_id:
        stmt = stmt.where(
            models.ChangeRecord.service_id == row_id(service_id, "service", "service")
        )
    keys = [models.ChangeRecord.changed_at, models.ChangeRecord.id]
    return await paginate(session, stmt, keys, first=first, after=after, descending=True)
