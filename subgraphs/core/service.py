"""The core hub's domain logic: plain async functions over a session.

No GraphQL and no HTTP here. Functions validate their input and raise the kit's
``HubError`` subclasses (``NotFound``, ``BadUserInput``, ``Conflict``,
``InvalidTransition``); a function that raises has changed nothing, because callers run
each mutation in one transaction.

Every status change goes through ``kit.transitions``, so concurrent changes cannot both
act on the same state: capability requests by compare-and-set on their status, risks and
alerts (event sequences, no status row) under a per-subject lock.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core import models
from subgraphs.core.integration_rules import RuleResult, RuleSet, evaluate
from subgraphs.core.kit.errors import BadUserInput, Conflict, InvalidTransition, NotFound
from subgraphs.core.kit.event_types import (
    ALERT_EVENTS,
    ALERT_FLOW,
    RISK_EVENTS,
    RISK_FLOW,
    EventType,
    parse_event_type,
)
from subgraphs.core.kit.orm import utcnow
from subgraphs.core.kit.pagination import Page, paginate
from subgraphs.core.kit.transitions import Lifecycle, lock_subject, transition
from subgraphs.core.tpsc_manifest import ManifestError, parse_manifest, validate_service_fields

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")

# The validated lifecycle of a capability request: status -> statuses it may move to.
CAPABILITY_REQUEST = Lifecycle(
    "capability request",
    {
        "requested": ("accepted", "rejected", "cancelled"),
        "accepted": ("in_progress", "cancelled"),
        "in_progress": ("done", "cancelled"),
        "done": (),
        "rejected": (),
        "cancelled": (),
    },
)
OPEN_REQUEST_STATUSES = ("requested", "accepted", "in_progress")

# Where personal data may go without a transfer mechanism (EU member states + EEA).
EU_EEA = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
        "LI",
        "NO",
    ]
)


def parse_id(value: str, argument: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadUserInput(f"{argument} must be a UUID, got {value!r}", argument=argument) from None


def _required(value: str | None, argument: str, max_length: int) -> str:
    text = (value or "").strip()
    if not text:
        raise BadUserInput(f"{argument} must not be empty", argument=argument)
    if len(text) > max_length:
        raise BadUserInput(f"{argument} is longer than {max_length} characters", argument=argument)
    return text


# --- domains -----------------------------------------------------------------------


async def get_domain(session: AsyncSession, slug: str) -> models.Domain:
    domain = await session.scalar(select(models.Domain).where(models.Domain.slug == slug))
    if domain is None:
        raise NotFound(f"no domain with slug {slug!r}", argument="slug")
    return domain


async def find_domain(session: AsyncSession, slug: str) -> models.Domain | None:
    return await session.scalar(select(models.Domain).where(models.Domain.slug == slug))


async def register_domain(
    session: AsyncSession,
    *,
    slug: str,
    name: str,
    description: str = "",
    parent_slug: str | None = None,
) -> models.Domain:
    slug = slug.strip()
    if not SLUG.match(slug):
        raise BadUserInput(
            f"slug {slug!r} must be 1-64 lowercase letters, digits and inner hyphens",
            argument="slug",
        )
    if await find_domain(session, slug):
        raise Conflict(f"a domain with slug {slug!r} already exists", argument="slug")
    parent = await get_domain(session, parent_slug) if parent_slug else None
    domain = models.Domain(
        slug=slug,
        name=_required(name, "name", 200),
        description=description.strip(),
        parent_id=parent.id if parent else None,
    )
    session.add(domain)
    await session.flush()
    return domain


async def list_domains(
    session: AsyncSession,
    *,
    parent_slug: str | None = None,
    roots_only: bool = False,
    first: int | None = None,
    after: str | None = None,
) -> Page[models.Domain]:
    stmt = select(models.Domain)
    if parent_slug:
        parent = await get_domain(session, parent_slug)
        stmt = stmt.where(models.Domain.parent_id == parent.id)
    elif roots_only:
        stmt = stmt.where(models.Domain.parent_id.is_(None))
    return await paginate(session, stmt, [models.Domain.slug], first=first, after=after)


async def domain_subtree(session: AsyncSession, domain: models.Domain) -> list[models.Domain]:
    """The domain and all its descendants (FOS recursion), breadth first."""
    rows = (await session.scalars(select(models.Domain))).all()
    children: dict[uuid.UUID | None, list[models.Domain]] = defaultdict(list)
    for row in rows:
        children[row.parent_id].append(row)
    result, frontier = [domain], [domain]
    while frontier:
        frontier = [c for d in frontier for c in sorted(children[d.id], key=lambda x: x.slug)]
        result.extend(frontier)
    return result


async def domain_path(session: AsyncSession, domain: models.Domain) -> list[models.Domain]:
    """The domain's ancestors from the root of its tree down to the domain itself."""
    rows = {d.id: d for d in (await session.scalars(select(models.Domain))).all()}
    path, seen = [domain], {domain.id}
    while path[0].parent_id is not None and path[0].parent_id not in seen:
        parent = rows.get(path[0].parent_id)
        if parent is None:
            break
        seen.add(parent.id)
        path.insert(0, parent)
    return path


# --- repos -------------------------------------------------------------------------


async def register_repo(
    session: AsyncSession,
    *,
    name: str,
    domain_slug: str,
    url: str | None = None,
    local_path: str | None = None,
) -> models.ManagedRepo:
    name = _required(name, "name", 200)
    domain = await get_domain(session, domain_slug)
    if await session.scalar(select(models.ManagedRepo).where(models.ManagedRepo.name == name)):
        raise Conflict(f"a repo named {name!r} is already registered", argument="name")
    repo = models.ManagedRepo(name=name, domain_id=domain.id, url=url, local_path=local_path)
    session.add(repo)
    await session.flush()
    return repo


async def get_repo(session: AsyncSession, repo_id: str) -> models.ManagedRepo:
    repo = await session.get(models.ManagedRepo, parse_id(repo_id))
    if repo is None:
        raise NotFound(f"no repo with id {repo_id}", argument="id")
    return repo


async def update_repo_path(
    session: AsyncSession, repo_id: str, local_path: str | None
) -> models.ManagedRepo:
    repo = await get_repo(session, repo_id)
    repo.local_path = (local_path or "").strip() or None
    await session.flush()
    return repo


async def list_repos(
    session: AsyncSession, domain_slug: str | None = None
) -> list[models.ManagedRepo]:
    stmt = select(models.ManagedRepo).order_by(models.ManagedRepo.name)
    if domain_slug:
        domain = await get_domain(session, domain_slug)
        stmt = stmt.where(models.ManagedRepo.domain_id == domain.id)
    return list((await session.scalars(stmt)).all())


# --- messages ----------------------------------------------------------------------


async def send_message(
    session: AsyncSession,
    *,
    sender: str,
    subject: str,
    body: str,
    to_domain: str | None = None,
    to_agent: str | None = None,
) -> models.AgentMessage:
    if bool(to_domain) == bool(to_agent):
        raise BadUserInput("give exactly one recipient: toDomain or toAgent", argument="toDomain")
    if to_domain:
        recipient, kind = (await get_domain(session, to_domain)).slug, "domain"
    else:
        recipient, kind = _required(to_agent, "toAgent", 200), "agent"
    message_id = uuid.uuid4()
    message = models.AgentMessage(
        id=message_id,
        thread_id=message_id,
        sender=_required(sender, "sender", 200),
        recipient=recipient,
        recipient_kind=kind,
        subject=_required(subject, "subject", 300),
        body=_required(body, "body", 100_000),
    )
    session.add(message)
    await session.flush()
    return message


async def get_message(session: AsyncSession, message_id: str) -> models.AgentMessage:
    message = await session.get(models.AgentMessage, parse_id(message_id))
    if message is None:
        raise NotFound(f"no message with id {message_id}", argument="id")
    return message


async def reply_to_message(
    session: AsyncSession, message_id: str, *, sender: str, body: str, subject: str | None = None
) -> models.AgentMessage:
    """A reply goes back to the original sender, in the original's thread."""
    original = await get_message(session, message_id)
    reply = models.AgentMessage(
        thread_id=original.thread_id,
        in_reply_to_id=original.id,
        sender=_required(sender, "sender", 200),
        recipient=original.sender,
        recipient_kind="agent",
        subject=_required(subject or _re(original.subject), "subject", 300),
        body=_required(body, "body", 100_000),
    )
    session.add(reply)
    await session.flush()
    return reply


def _re(subject: str) -> str:
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


async def mark_message_read(session: AsyncSession, message_id: str) -> models.AgentMessage:
    """Idempotent: a message keeps the time it was first read.

    Set only where it is still unset, in the UPDATE itself: of concurrent first reads one
    sets the time and the others return it.
    """
    message = await get_message(session, message_id)
    if message.read_at is None:
        first_read = (
            update(models.AgentMessage)
            .where(models.AgentMessage.id == message.id, models.AgentMessage.read_at.is_(None))
            .values(read_at=utcnow())
            .returning(models.AgentMessage)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        if (await session.execute(first_read)).scalar_one_or_none() is None:
            await session.refresh(message)  # another request read it first: its time
    return message


async def list_messages(
    session: AsyncSession,
    *,
    recipient: str | None = None,
    unread_only: bool = False,
    first: int | None = None,
    after: str | None = None,
) -> Page[models.AgentMessage]:
    """Newest first."""
    stmt = select(models.AgentMessage)
    if recipient:
        stmt = stmt.where(models.AgentMessage.recipient == recipient)
    if unread_only:
        stmt = stmt.where(models.AgentMessage.read_at.is_(None))
    keys = [models.AgentMessage.created_at, models.AgentMessage.id]
    return await paginate(session, stmt, keys, first=first, after=after, descending=True)


# --- capabilities ------------------------------------------------------------------


async def register_capability(
    session: AsyncSession, *, domain_slug: str, name: str, description: str = ""
) -> models.Capability:
    domain = await get_domain(session, domain_slug)
    name = _required(name, "name", 200)
    existing = await session.scalar(
        select(models.Capability).where(
            models.Capability.domain_id == domain.id, models.Capability.name == name
        )
    )
    if existing:
        raise Conflict(f"domain {domain.slug!r} already offers {name!r}", argument="name")
    capability = models.Capability(domain_id=domain.id, name=name, description=description.strip())
    session.add(capability)
    await session.flush()
    return capability


async def list_capabilities(
    session: AsyncSession, domain_slug: str | None = None
) -> list[models.Capability]:
    stmt = select(models.Capability).order_by(models.Capability.name, models.Capability.id)
    if domain_slug:
        domain = await get_domain(session, domain_slug)
        stmt = stmt.where(models.Capability.domain_id == domain.id)
    return list((await session.scalars(stmt)).all())


async def request_capability(
    session: AsyncSession, *, capability_id: str, requester: str, title: str, details: str = ""
) -> models.CapabilityRequest:
    capability = await session.get(models.Capability, parse_id(capability_id, "capabilityId"))
    if capability is None:
        raise NotFound(f"no capability with id {capability_id}", argument="capabilityId")
    request = models.CapabilityRequest(
        capability_id=capability.id,
        requester=_required(requester, "requester", 200),
        title=_required(title, "title", 300),
        details=details.strip(),
        status="requested",
    )
    session.add(request)
    await session.flush()
    session.add(
        models.CapabilityRequestChange(
            request_id=request.id, from_status=None, to_status="requested"
        )
    )
    await session.flush()
    return request


async def get_capability_request(
    session: AsyncSession, request_id: str
) -> models.CapabilityRequest:
    request = await session.get(models.CapabilityRequest, parse_id(request_id))
    if request is None:
        raise NotFound(f"no capability request with id {request_id}", argument="id")
    return request


async def change_capability_request_status(
    session: AsyncSession, request_id: str, status: str, note: str = ""
) -> models.CapabilityRequest:
    """One step of the lifecycle, recorded in the request's history.

    Of concurrent changes from one status exactly one is made (and recorded); the others
    fail with CONFLICT, or INVALID_TRANSITION if they read the status it left.
    """
    status = CAPABILITY_REQUEST.parse(status)
    request = await get_capability_request(session, request_id)
    step = await transition(session, CAPABILITY_REQUEST, request, status, label=str(request.id))
    session.add(
        models.CapabilityRequestChange(
            request_id=request.id, from_status=step.before, to_status=step.after, note=note.strip()
        )
    )
    await session.flush()
    return request


async def list_capability_requests(
    session: AsyncSession,
    *,
    status: str | None = None,
    capability_id: str | None = None,
    domain_slug: str | None = None,
    requester: str | None = None,
    open_only: bool = False,
    first: int | None = None,
    after: str | None = None,
) -> Page[models.CapabilityRequest]:
    """Newest first. ``domain_slug`` selects requests to that domain's capabilities."""
    stmt = select(models.CapabilityRequest)
    if status:
        stmt = stmt.where(models.CapabilityRequest.status == CAPABILITY_REQUEST.parse(status))
    if open_only:
        stmt = stmt.where(models.CapabilityRequest.status.in_(OPEN_REQUEST_STATUSES))
    if capability_id:
        stmt = stmt.where(
            models.CapabilityRequest.capability_id == parse_id(capability_id, "capabilityId")
        )
    if domain_slug:
        domain = await get_domain(session, domain_slug)
        offered = select(models.Capability.id).where(models.Capability.domain_id == domain.id)
        stmt = stmt.where(models.CapabilityRequest.capability_id.in_(offered))
    if requester:
        stmt = stmt.where(models.CapabilityRequest.requester == requester)
    keys = [models.CapabilityRequest.created_at, models.CapabilityRequest.id]
    return await paginate(session, stmt, keys, first=first, after=after, descending=True)


# --- third-party services and GDPR -------------------------------------------------


async def register_third_party_service(
    session: AsyncSession, **fields: Any
) -> models.ThirdPartyService:
    problems: list[str] = []
    entry = validate_service_fields(fields, "input", problems)
    if entry is None:
        raise BadUserInput("invalid third-party service: " + "; ".join(problems), problems=problems)
    if await session.scalar(
        select(models.ThirdPartyService).where(models.ThirdPartyService.name == entry.name)
    ):
        raise Conflict(
            f"a third-party service named {entry.name!r} is already registered", argument="name"
        )
    service = models.ThirdPartyService(**vars(entry))
    session.add(service)
    await session.flush()
    return service


async def list_third_party_services(
    session: AsyncSession, *, tool: str | None = None, data_category: str | None = None
) -> list[models.ThirdPartyService]:
    stmt = select(models.ThirdPartyService).order_by(models.ThirdPartyService.name)
    if tool:
        used = select(models.TpscToolUsage.service_id).where(models.TpscToolUsage.tool == tool)
        stmt = stmt.where(models.ThirdPartyService.id.in_(used))
    services = list((await session.scalars(stmt)).all())
    if data_category:
        services = [s for s in services if data_category in s.data_categories]
    return services


@dataclass
class TpscIngestion:
    tool: str
    services: list[models.ThirdPartyService]
    created: int
    updated: int


async def ingest_tpsc_tool(session: AsyncSession, manifest_text: str) -> TpscIngestion:
    """Upsert the manifest's services (by name) and record that the tool uses them.

    The tool's usage list is replaced by the manifest's, so a service the tool dropped
    stops being listed for it. An invalid manifest changes nothing.
    """
    try:
        manifest = parse_manifest(manifest_text)
    except ManifestError as exc:
        raise BadUserInput(
            "invalid manifest, nothing was ingested: " + "; ".join(exc.problems),
            problems=exc.problems,
        ) from None
    names = [entry.name for entry in manifest.services]
    existing = {
        s.name: s
        for s in (
            await session.scalars(
                select(models.ThirdPartyService).where(models.ThirdPartyService.name.in_(names))
            )
        ).all()
    }
    created = updated = 0
    services = []
    for entry in manifest.services:
        service = existing.get(entry.name)
        if service is None:
            service = models.ThirdPartyService(**vars(entry))
            session.add(service)
            created += 1
        else:
            changed = False
            for key, value in vars(entry).items():
                if getattr(service, key) != value:
                    setattr(service, key, value)
                    changed = True
            updated += changed
        services.append(service)
    await session.flush()
    old = (
        await session.scalars(
            select(models.TpscToolUsage).where(models.TpscToolUsage.tool == manifest.tool)
        )
    ).all()
    for usage in old:
        await session.delete(usage)
    await session.flush()
    for service in services:
        session.add(models.TpscToolUsage(tool=manifest.tool, service_id=service.id))
    await session.flush()
    return TpscIngestion(manifest.tool, services, created, updated)


async def tools_by_service(
    session: AsyncSession, service_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    rows = (
        await session.execute(
            select(models.TpscToolUsage.service_id, models.TpscToolUsage.tool)
            .where(models.TpscToolUsage.service_id.in_(service_ids))
            .order_by(models.TpscToolUsage.tool)
        )
    ).all()
    tools: dict[uuid.UUID, list[str]] = defaultdict(list)
    for service_id, tool in rows:
        tools[service_id].append(tool)
    return tools


@dataclass
class GdprProcessing:
    service: models.ThirdPartyService
    tools: list[str]
    transfer_outside_eea: bool
    missing_dpa: bool


@dataclass
class GdprCategory:
    category: str
    processings: list[GdprProcessing]


@dataclass
class GdprReport:
    generated_at: datetime
    categories: list[GdprCategory]
    services_total: int
    transfers_outside_eea: list[GdprProcessing]
    missing_dpa: list[GdprProcessing]


async def gdpr_report(session: AsyncSession) -> GdprReport:
    """Records of processing by personal-data category, with the findings flagged.

    A service processing personal data outside the EU/EEA is a transfer (needs a
    mechanism such as SCCs); one without a signed data processing agreement is flagged.
    Services that process no personal data appear in neither list.
    """
    services = list(
        (
            await session.scalars(
                select(models.ThirdPartyService).order_by(models.ThirdPartyService.name)
            )
        ).all()
    )
    tools = await tools_by_service(session, [s.id for s in services])
    processings = {
        s.id: GdprProcessing(
            service=s,
            tools=tools.get(s.id, []),
            transfer_outside_eea=bool(s.data_categories) and s.processing_country not in EU_EEA,
            missing_dpa=bool(s.data_categories) and not s.dpa_signed,
        )
        for s in services
    }
    by_category: dict[str, list[GdprProcessing]] = defaultdict(list)
    for service in services:
        for category in service.data_categories:
            by_category[category].append(processings[service.id])
    return GdprReport(
        generated_at=utcnow(),
        categories=[GdprCategory(c, by_category[c]) for c in sorted(by_category)],
        services_total=len(services),
        transfers_outside_eea=[p for p in processings.values() if p.transfer_outside_eea],
        missing_dpa=[p for p in processings.values() if p.missing_dpa],
    )


# --- repo integration checks -------------------------------------------------------


async def check_repo_integration(
    session: AsyncSession, repo_id: str, rules: RuleSet
) -> models.RepoIntegrationCheck:
    repo = await get_repo(session, repo_id)
    results = evaluate(rules, repo.local_path)
    check = models.RepoIntegrationCheck(
        repo_id=repo.id,
        passed=all(r.passed for r in results),
        results=[vars(r) for r in results],
    )
    session.add(check)
    await session.flush()
    return check


def check_results(check: models.RepoIntegrationCheck) -> list[RuleResult]:
    return [RuleResult(**r) for r in check.results]


@dataclass
class IntegrationSummary:
    repos_total: int
    repos_checked: int
    repos_passing: int
    latest: list[models.RepoIntegrationCheck]
    never_checked: list[models.ManagedRepo]
    failures_by_rule: dict[str, int] = field(default_factory=dict)


async def integration_summary(session: AsyncSession) -> IntegrationSummary:
    """Each repo's most recent check, and what fails most often."""
    repos = list(
        (await session.scalars(select(models.ManagedRepo).order_by(models.ManagedRepo.name))).all()
    )
    newest = (
        select(
            models.RepoIntegrationCheck.repo_id,
            func.max(models.RepoIntegrationCheck.created_at).label("at"),
        )
        .group_by(models.RepoIntegrationCheck.repo_id)
        .subquery()
    )
    latest = list(
        (
            await session.scalars(
                select(models.RepoIntegrationCheck).join(
                    newest,
                    (models.RepoIntegrationCheck.repo_id == newest.c.repo_id)
                    & (models.RepoIntegrationCheck.created_at == newest.c.at),
                )
            )
        ).all()
    )
    # Two checks of one repo within the same instant: keep one.
    by_repo = {check.repo_id: check for check in latest}
    failures: dict[str, int] = defaultdict(int)
    for check in by_repo.values():
        for result in check.results:
            if not result["passed"]:
                failures[result["rule"]] += 1
    order = {repo.id: repo.name for repo in repos}
    return IntegrationSummary(
        repos_total=len(repos),
        repos_checked=len(by_repo),
        repos_passing=sum(1 for c in by_repo.values() if c.passed),
        latest=sorted(by_repo.values(), key=lambda c: order.get(c.repo_id, "")),
        never_checked=[r for r in repos if r.id not in by_repo],
        failures_by_rule=dict(sorted(failures.items())),
    )


# --- progress events, risks and alerts ---------------------------------------------


async def record_event(
    session: AsyncSession,
    *,
    event_type: str,
    source_hub: str,
    subject: str,
    title: str = "",
    severity: str = "info",
    domain_slug: str | None = None,
    payload: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    event_key: str | None = None,
) -> models.ProgressEvent:
    """Record an event; risk and alert events must follow their subject's lifecycle.

    With an ``event_key`` already recorded, the earlier event is returned unchanged:
    redelivery of the same event is harmless.
    """
    try:
        kind = parse_event_type(event_type)
    except ValueError as exc:
        raise BadUserInput(str(exc), argument="eventType") from None
    if severity not in models.SEVERITIES:
        raise BadUserInput(
            f"severity must be one of {', '.join(models.SEVERITIES)}, not {severity!r}",
            argument="severity",
        )
    if payload is not None and not isinstance(payload, dict):
        raise BadUserInput("payload must be a JSON object", argument="payload")
    if occurred_at is not None and occurred_at.tzinfo is None:
        raise BadUserInput("occurredAt must include a time zone", argument="occurredAt")
    if occurred_at is not None:
        occurred_at = occurred_at.astimezone(UTC)
    subject = _required(subject, "subject", 300)
    event_key = (event_key or "").strip() or None
    if event_key:
        # Two deliveries of one event at once: the second waits, then finds the first.
        await lock_subject(session, "event_key", event_key)
        earlier = await session.scalar(
            select(models.ProgressEvent).where(models.ProgressEvent.event_key == event_key)
        )
        if earlier is not None:
            return earlier
    if domain_slug:
        await get_domain(session, domain_slug)
    flow = RISK_FLOW if kind in RISK_EVENTS else ALERT_FLOW if kind in ALERT_EVENTS else None
    if flow is not None:
        # The subject's state is its events: read, check and append them under its lock,
        # or two concurrent steps from one state would both be appended.
        await lock_subject(session, _noun(flow), subject)
        history = await _subject_events(
            session, subject, RISK_EVENTS if flow is RISK_FLOW else ALERT_EVENTS
        )
        state = _fold(history, flow)
        _target, allowed_from = flow[kind]
        if state not in allowed_from:
            noun = _noun(flow)
            now = f"is {state}" if state else "does not exist yet"
            allowed = [step.value for step, (_, after) in flow.items() if state in after]
            raise InvalidTransition(
                f"{kind.value} is not allowed: {noun} {subject!r} {now} "
                f"(allowed: {', '.join(allowed) or 'none, it is final'})",
                subject=subject,
                state=state or None,
                allowed=allowed,
            )
        if not title and history:
            title = history[0].title
        if not domain_slug and history:
            domain_slug = history[0].domain_slug
    event = models.ProgressEvent(
        event_type=kind.value,
        source_hub=_required(source_hub, "sourceHub", 50),
        subject=subject,
        title=title.strip()[:300],
        severity=severity,
        domain_slug=domain_slug,
        payload=payload or {},
        occurred_at=occurred_at or utcnow(),
        event_key=event_key,
    )
    session.add(event)
    await session.flush()
    return event


def _noun(flow: dict[EventType, tuple[str, frozenset[str]]]) -> str:
    return "risk" if flow is RISK_FLOW else "alert"


# A subject's lifecycle is checked against the events recorded before it, so it is
# folded in the order events were recorded, not by the emitter's (possibly skewed)
# occurred_at clock.
RECORDED_ORDER = (models.ProgressEvent.created_at, models.ProgressEvent.id)


async def _subject_events(
    session: AsyncSession, subject: str, kinds: frozenset[EventType]
) -> list[models.ProgressEvent]:
    stmt = (
        select(models.ProgressEvent)
        .where(
            models.ProgressEvent.subject == subject,
            models.ProgressEvent.event_type.in_([k.value for k in kinds]),
        )
        .order_by(*RECORDED_ORDER)
    )
    return list((await session.scalars(stmt)).all())


def _fold(
    events: Sequence[models.ProgressEvent], flow: dict[EventType, tuple[str, frozenset[str]]]
) -> str:
    state = ""
    for event in events:
        state = flow[EventType(event.event_type)][0]
    return state


@dataclass
class Tracked:
    """A risk or alert: the current state of one subject's event sequence."""

    subject: str
    title: str
    status: str
    severity: str
    domain_slug: str | None
    source_hub: str
    opened_at: datetime
    updated_at: datetime
    events: list[models.ProgressEvent]


async def _tracked(
    session: AsyncSession,
    kinds: frozenset[EventType],
    flow: dict[EventType, tuple[str, frozenset[str]]],
    status: str | None,
    domain_slugs: Sequence[str] | None = None,
) -> list[Tracked]:
    of_kind = models.ProgressEvent.event_type.in_([k.value for k in kinds])
    stmt: Select[Any] = select(models.ProgressEvent).where(of_kind)
    if domain_slugs is not None:
        # Whole sequences of the subjects that belong to these domains: a follow-up
        # event naming another domain must not split a subject's history.
        subjects = select(models.ProgressEvent.subject).where(
            of_kind, models.ProgressEvent.domain_slug.in_(domain_slugs)
        )
        stmt = stmt.where(models.ProgressEvent.subject.in_(subjects))
    stmt = stmt.order_by(*RECORDED_ORDER)
    by_subject: dict[str, list[models.ProgressEvent]] = defaultdict(list)
    for event in (await session.scalars(stmt)).all():
        by_subject[event.subject].append(event)
    if domain_slugs is not None:
        by_subject = {
            subject: events
            for subject, events in by_subject.items()
            if events[0].domain_slug in domain_slugs
        }
    tracked = [_track(subject, events, flow) for subject, events in by_subject.items()]
    tracked = [t for t in tracked if not status or t.status == status]
    return sorted(tracked, key=lambda t: t.updated_at, reverse=True)


def _track(
    subject: str,
    events: list[models.ProgressEvent],
    flow: dict[EventType, tuple[str, frozenset[str]]],
) -> Tracked:
    """The subject's current state from its events (at least one), in recorded order."""
    return Tracked(
        subject=subject,
        title=events[0].title,
        status=_fold(events, flow),
        severity=events[-1].severity,
        domain_slug=events[0].domain_slug,
        source_hub=events[0].source_hub,
        opened_at=events[0].occurred_at,
        updated_at=max(e.occurred_at for e in events),
        events=events,
    )


RISK_STATUSES = ("open", "escalated", "mitigated")
ALERT_STATUSES = ("raised", "acknowledged", "resolved")


async def list_risks(
    session: AsyncSession, status: str | None = None, domain_slugs: Sequence[str] | None = None
) -> list[Tracked]:
    if status and status not in RISK_STATUSES:
        raise BadUserInput(
            f"risk status must be one of {', '.join(RISK_STATUSES)}", argument="status"
        )
    return await _tracked(session, RISK_EVENTS, RISK_FLOW, status, domain_slugs)


async def list_alerts(
    session: AsyncSession, status: str | None = None, domain_slugs: Sequence[str] | None = None
) -> list[Tracked]:
    if status and status not in ALERT_STATUSES:
        raise BadUserInput(
            f"alert status must be one of {', '.join(ALERT_STATUSES)}", argument="status"
        )
    return await _tracked(session, ALERT_EVENTS, ALERT_FLOW, status, domain_slugs)


async def _alert(session: AsyncSession, subject: str) -> Tracked:
    # Just this subject's events: an alert step must not read every alert there is.
    events = await _subject_events(session, subject, ALERT_EVENTS)
    if not events:
        raise NotFound(f"no alert about {subject!r}", argument="subject")
    return _track(subject, events, ALERT_FLOW)


async def _advance_alert(
    session: AsyncSession, subject: str, step: EventType, by: str, note: str
) -> Tracked:
    """Record the alert's next step; it keeps its severity (the last event's)."""
    # Locked before the alert is read, so the severity and state read here are the ones
    # the step is appended to (record_event takes the same lock again: it is held).
    await lock_subject(session, _noun(ALERT_FLOW), subject)
    alert = await _alert(session, subject)
    await record_event(
        session,
        event_type=step,
        source_hub="core",
        subject=subject,
        severity=alert.severity,
        payload={"by": by, "note": note},
    )
    return await _alert(session, subject)


async def acknowledge_alert(
    session: AsyncSession, subject: str, *, by: str, note: str = ""
) -> Tracked:
    return await _advance_alert(session, subject, EventType.ALERT_ACKNOWLEDGED, by, note)


async def resolve_alert(session: AsyncSession, subject: str, *, by: str, note: str = "") -> Tracked:
    return await _advance_alert(session, subject, EventType.ALERT_RESOLVED, by, note)


async def list_events(
    session: AsyncSession,
    *,
    event_type: str | None = None,
    subject: str | None = None,
    domain_slug: str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[models.ProgressEvent]:
    stmt = select(models.ProgressEvent)
    if event_type:
        try:
            stmt = stmt.where(models.ProgressEvent.event_type == parse_event_type(event_type).value)
        except ValueError as exc:
            raise BadUserInput(str(exc), argument="eventType") from None
    if subject:
        stmt = stmt.where(models.ProgressEvent.subject == subject)
    if domain_slug:
        stmt = stmt.where(models.ProgressEvent.domain_slug == domain_slug)
    keys = [models.ProgressEvent.occurred_at, models.ProgressEvent.id]
    return await paginate(session, stmt, keys, first=first, after=after, descending=True)


# --- summaries ---------------------------------------------------------------------


@dataclass
class StateSummary:
    domains: int
    repos: int
    messages: int
    unread_messages: int
    capabilities: int
    open_capability_requests: int
    third_party_services: int
    open_risks: int
    active_alerts: int
    latest_activity_at: datetime | None
    recent_events: list[models.ProgressEvent]


def _count_of(model: type, *where: Any) -> Any:
    return select(func.count()).select_from(model).where(*where).scalar_subquery()


def _latest_of(column: Any, *where: Any) -> Any:
    return select(func.max(column)).where(*where).scalar_subquery()


async def state_summary(session: AsyncSession, recent: int = 5) -> StateSummary:
    """Counts and the latest activity across all of the core hub's data.

    Four statements whatever the data: every count and latest time in one SELECT of
    scalar subqueries, the risk and alert sequences, and the most recent events.
    """
    latest_columns = (
        models.Domain.updated_at,
        models.Capability.updated_at,
        models.ManagedRepo.updated_at,
        models.AgentMessage.updated_at,
        models.CapabilityRequest.updated_at,
        models.ThirdPartyService.updated_at,
        models.ProgressEvent.created_at,
    )
    row = (
        await session.execute(
            select(
                _count_of(models.Domain),
                _count_of(models.ManagedRepo),
                _count_of(models.AgentMessage),
                _count_of(models.AgentMessage, models.AgentMessage.read_at.is_(None)),
                _count_of(models.Capability),
                _count_of(
                    models.CapabilityRequest,
                    models.CapabilityRequest.status.in_(OPEN_REQUEST_STATUSES),
                ),
                _count_of(models.ThirdPartyService),
                *(_latest_of(column) for column in latest_columns),
            )
        )
    ).one()
    counts, latest = row[:7], [stamp for stamp in row[7:] if stamp is not None]
    risks = await list_risks(session)
    alerts = await list_alerts(session)
    events = await session.scalars(
        select(models.ProgressEvent)
        .order_by(models.ProgressEvent.occurred_at.desc(), models.ProgressEvent.id.desc())
        .limit(recent)
    )
    return StateSummary(
        domains=counts[0],
        repos=counts[1],
        messages=counts[2],
        unread_messages=counts[3],
        capabilities=counts[4],
        open_capability_requests=counts[5],
        third_party_services=counts[6],
        open_risks=sum(1 for r in risks if r.status != "mitigated"),
        active_alerts=sum(1 for a in alerts if a.status != "resolved"),
        latest_activity_at=max(latest) if latest else None,
        recent_events=list(events.all()),
    )


@dataclass
class DomainSummary:
    domain: models.Domain
    subdomains: list[models.Domain]
    repos: list[models.ManagedRepo]
    unread_messages: int
    capabilities: list[models.Capability]
    open_requests: int
    open_risks: list[Tracked]
    active_alerts: list[Tracked]
    latest_activity_at: datetime | None


async def domain_summary(session: AsyncSession, slug: str) -> DomainSummary:
    """One domain and everything beneath it (its sub-domains count as part of it)."""
    domain = await get_domain(session, slug)
    subtree = await domain_subtree(session, domain)
    ids = [d.id for d in subtree]
    slugs = [d.slug for d in subtree]
    repos = list(
        (
            await session.scalars(
                select(models.ManagedRepo)
                .where(models.ManagedRepo.domain_id.in_(ids))
                .order_by(models.ManagedRepo.name)
            )
        ).all()
    )
    capabilities = list(
        (
            await session.scalars(
                select(models.Capability)
                .where(models.Capability.domain_id.in_(ids))
                .order_by(models.Capability.name)
            )
        ).all()
    )
    requested = models.CapabilityRequest.capability_id.in_([c.id for c in capabilities])
    to_subtree = (models.AgentMessage.recipient_kind == "domain") & (
        models.AgentMessage.recipient.in_(slugs)
    )
    about_subtree = models.ProgressEvent.domain_slug.in_(slugs)
    open_requests, unread, *latest = (
        await session.execute(
            select(
                _count_of(
                    models.CapabilityRequest,
                    requested,
                    models.CapabilityRequest.status.in_(OPEN_REQUEST_STATUSES),
                ),
                _count_of(models.AgentMessage, to_subtree, models.AgentMessage.read_at.is_(None)),
                _latest_of(models.CapabilityRequest.updated_at, requested),
                _latest_of(models.AgentMessage.updated_at, to_subtree),
                _latest_of(models.ProgressEvent.created_at, about_subtree),
            )
        )
    ).one()
    risks = [r for r in await list_risks(session, domain_slugs=slugs) if r.status != "mitigated"]
    alerts = [a for a in await list_alerts(session, domain_slugs=slugs) if a.status != "resolved"]
    stamps = [d.updated_at for d in subtree] + [r.updated_at for r in repos]
    stamps += [c.updated_at for c in capabilities]
    stamps += [stamp for stamp in latest if stamp is not None]
    return DomainSummary(
        domain=domain,
        subdomains=subtree[1:],
        repos=repos,
        unread_messages=unread,
        capabilities=capabilities,
        open_requests=open_requests,
        open_risks=risks,
        active_alerts=alerts,
        latest_activity_at=max(stamps) if stamps else None,
    )
