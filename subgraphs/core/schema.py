"""The core hub's GraphQL schema: thin types and resolvers over ``service.py``.

Resolvers open a session (reads) or a transaction (mutations, one per mutation field)
and call one service function. Nested fields go through the request's DataLoaders, so
lists of domains with their parents, children and repos cost one query per level, not
one per row. Federation: ``Domain @key(fields: "slug")`` and
``ManagedRepo @key(fields: "id")`` are the entities other hubs extend.

Access (docs/architecture.md §5) is declared here with ``@requiresScopes`` and enforced by the
gateway and again by this hub (``kit.auth``). The directory of domains, repos and
capabilities is public. What agents say to each other, what is asked of domains, which
third parties get data, what the hubs record and track (events, risks, alerts) and how
repos fare against the rules needs ``hub:read``: on the type wherever it is reached
from, and on the root fields of lists whose counts alone would tell. Every mutation
needs ``hub:write``; those reaching into the hub host's file system (a repo's checkout
path, checking it) need ``admin``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from identity.access import ADMIN, HUB_READ, HUB_WRITE
from subgraphs.core import models, service
from subgraphs.core.events import EVENTS
from subgraphs.core.kit.app import HubContext
from subgraphs.core.kit.federation import hub_schema
from subgraphs.core.kit.pagination import Connection
from subgraphs.core.kit.resolvers import direct, later, prefetch, selected_nodes
from subgraphs.core.service import GdprProcessing as GdprProcessingRecord

if TYPE_CHECKING:
    from subgraphs.core.integration_rules import RuleSet

Info = strawberry.Info[HubContext, None]

# The @requiresScopes arguments this schema uses (alternatives of scope sets).
READ = [[HUB_READ]]
WRITE = [[HUB_WRITE]]
ADMIN_ONLY = [[ADMIN]]


def _ctx(info: Info) -> HubContext:
    return info.context


# --- enums -------------------------------------------------------------------------


@strawberry.enum(description="Where a capability request is in its lifecycle.")
class CapabilityRequestStatus(Enum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


@strawberry.enum
class RecipientKind(Enum):
    DOMAIN = "domain"
    AGENT = "agent"


@strawberry.enum
class Severity(Enum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@strawberry.enum(description="A risk is open when surfaced, then escalated or mitigated.")
class RiskStatus(Enum):
    OPEN = "open"
    ESCALATED = "escalated"
    MITIGATED = "mitigated"


@strawberry.enum(description="An alert is raised, then acknowledged, then resolved.")
class AlertStatus(Enum):
    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


# --- entities ----------------------------------------------------------------------


@strawberry.federation.type(keys=["slug"], description="An organisational domain; domains nest.")
class Domain:
    id: strawberry.ID
    slug: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    parent_id: strawberry.Private[uuid.UUID | None]
    row_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.Domain) -> Domain:
        return cls(
            id=strawberry.ID(str(row.id)),
            slug=row.slug,
            name=row.name,
            description=row.description,
            created_at=row.created_at,
            updated_at=row.updated_at,
            parent_id=row.parent_id,
            row_id=row.id,
        )

    # The resolvers below return a DataLoader's future of the converted value(s): the
    # kit calls them directly (kit.resolvers.direct) and graphql-core awaits the future,
    # without a coroutine per field and row of a list; the type checker is told the
    # value (``_later``).

    @classmethod
    def resolve_reference(cls, info: Info, slug: str, **_: Any) -> Domain | None:
        loader = _ctx(info).loaders.rows_by(
            models.Domain, models.Domain.slug, convert=Domain.from_row
        )
        return later(loader.load(slug))

    @strawberry.field(description="The domain this one belongs to, if any.")
    @direct
    def parent(self, info: Info) -> Domain | None:
        if self.parent_id is None:
            return None
        return later(_domains_by_id(info).load(self.parent_id))

    @strawberry.field(description="Sub-domains, by slug.")
    @direct
    def children(self, info: Info) -> list[Domain]:
        return _under(info, self.row_id, models.Domain.parent_id, models.Domain.slug, Domain)

    @strawberry.field(description="Repos registered under this domain, by name.")
    @direct
    def repos(self, info: Info) -> list[ManagedRepo]:
        return _under(
            info, self.row_id, models.ManagedRepo.domain_id, models.ManagedRepo.name, ManagedRepo
        )

    @strawberry.field(description="Capabilities this domain offers to others.")
    @direct
    def capabilities(self, info: Info) -> list[Capability]:
        return _under(
            info, self.row_id, models.Capability.domain_id, models.Capability.name, Capability
        )


def _under(info: Info, domain_id: uuid.UUID, column: Any, order: Any, kind: Any) -> Any:
    """The rows whose ``column`` is ``domain_id`` as GraphQL ``kind`` objects, ordered by
    ``order``: a future from the batch of every domain asking the same."""
    loader = _ctx(info).loaders.rows_grouped_by(
        column.class_, column, order_by=[order], convert=kind.from_row
    )
    return later(loader.load(domain_id))


def _domains_by_id(info: Info) -> DataLoader[uuid.UUID, Any]:
    return _ctx(info).loaders.rows_by(models.Domain, models.Domain.id, convert=Domain.from_row)


@strawberry.federation.type(
    keys=["id"], description="A source repository the organisation manages."
)
class ManagedRepo:
    id: strawberry.ID
    name: str
    url: str | None
    local_path: str | None = strawberry.federation.field(
        requires_scopes=READ, description="Where the repo is checked out on the hub's host."
    )
    created_at: datetime
    updated_at: datetime
    domain_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.ManagedRepo) -> ManagedRepo:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            url=row.url,
            local_path=row.local_path,
            created_at=row.created_at,
            updated_at=row.updated_at,
            domain_id=row.domain_id,
        )

    @classmethod
    def resolve_reference(cls, info: Info, id: strawberry.ID, **_: Any) -> ManagedRepo | None:
        try:
            key = uuid.UUID(str(id))
        except ValueError:
            return None
        loader = _ctx(info).loaders.rows_by(
            models.ManagedRepo, models.ManagedRepo.id, convert=ManagedRepo.from_row
        )
        return later(loader.load(key))

    @strawberry.field
    @direct
    def domain(self, info: Info) -> Domain:
        return later(_domains_by_id(info).load(self.domain_id))

    @strawberry.field(
        description="The most recent integration check, if the repo was ever checked."
    )
    async def latest_integration_check(self, info: Info) -> IntegrationCheck | None:
        rows = (
            await _ctx(info)
            .loaders.rows_grouped_by(
                models.RepoIntegrationCheck,
                models.RepoIntegrationCheck.repo_id,
                order_by=[models.RepoIntegrationCheck.created_at.desc()],
            )
            .load(uuid.UUID(str(self.id)))
        )
        return IntegrationCheck.from_row(rows[0]) if rows else None


@strawberry.federation.type(
    requires_scopes=READ, description="A message between agents or to a domain."
)
class AgentMessage:
    id: strawberry.ID
    sender: str
    recipient: str
    recipient_kind: RecipientKind
    subject: str
    body: str
    thread_id: strawberry.ID
    in_reply_to_id: strawberry.ID | None
    read: bool
    read_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: models.AgentMessage) -> AgentMessage:
        return cls(
            id=strawberry.ID(str(row.id)),
            sender=row.sender,
            recipient=row.recipient,
            recipient_kind=RecipientKind(row.recipient_kind),
            subject=row.subject,
            body=row.body,
            thread_id=strawberry.ID(str(row.thread_id)),
            in_reply_to_id=strawberry.ID(str(row.in_reply_to_id)) if row.in_reply_to_id else None,
            read=row.read_at is not None,
            read_at=row.read_at,
            created_at=row.created_at,
        )

    @strawberry.field(description="Every message of this conversation, oldest first.")
    async def thread(self, info: Info) -> list[AgentMessage]:
        rows = (
            await _ctx(info)
            .loaders.rows_grouped_by(
                models.AgentMessage,
                models.AgentMessage.thread_id,
                order_by=[models.AgentMessage.created_at, models.AgentMessage.id],
            )
            .load(uuid.UUID(self.thread_id))
        )
        return [AgentMessage.from_row(r) for r in rows]


@strawberry.type(description="Something a domain offers to do for others.")
class Capability:
    id: strawberry.ID
    name: str
    description: str
    created_at: datetime
    domain_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.Capability) -> Capability:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            description=row.description,
            created_at=row.created_at,
            domain_id=row.domain_id,
        )

    @strawberry.field(description="The domain offering it.")
    @direct
    def domain(self, info: Info) -> Domain:
        return later(_domains_by_id(info).load(self.domain_id))


@strawberry.type(description="One lifecycle step of a capability request.")
class CapabilityRequestChange:
    from_status: CapabilityRequestStatus | None
    to_status: CapabilityRequestStatus
    note: str
    changed_at: datetime


@strawberry.federation.type(
    requires_scopes=READ,
    description="A request for a capability, moving through a validated lifecycle.",
)
class CapabilityRequest:
    id: strawberry.ID
    requester: str
    title: str
    details: str
    status: CapabilityRequestStatus
    created_at: datetime
    updated_at: datetime
    capability_id: strawberry.Private[uuid.UUID]
    row_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.CapabilityRequest) -> CapabilityRequest:
        return cls(
            id=strawberry.ID(str(row.id)),
            requester=row.requester,
            title=row.title,
            details=row.details,
            status=CapabilityRequestStatus(row.status),
            created_at=row.created_at,
            updated_at=row.updated_at,
            capability_id=row.capability_id,
            row_id=row.id,
        )

    @strawberry.field
    async def capability(self, info: Info) -> Capability:
        row = (
            await _ctx(info)
            .loaders.rows_by(models.Capability, models.Capability.id)
            .load(self.capability_id)
        )
        return Capability.from_row(row)

    @strawberry.field(description="The lifecycle so far, oldest first.")
    async def history(self, info: Info) -> list[CapabilityRequestChange]:
        rows = (
            await _ctx(info)
            .loaders.rows_grouped_by(
                models.CapabilityRequestChange,
                models.CapabilityRequestChange.request_id,
                order_by=[models.CapabilityRequestChange.changed_at],
            )
            .load(self.row_id)
        )
        return [
            CapabilityRequestChange(
                from_status=CapabilityRequestStatus(r.from_status) if r.from_status else None,
                to_status=CapabilityRequestStatus(r.to_status),
                note=r.note,
                changed_at=r.changed_at,
            )
            for r in rows
        ]


@strawberry.federation.type(
    requires_scopes=READ, description="An external service the organisation's tools send data to."
)
class ThirdPartyService:
    id: strawberry.ID
    name: str
    vendor: str
    purpose: str
    data_categories: list[str] = strawberry.field(
        description="Categories of personal data processed."
    )
    processing_country: str = strawberry.field(description="ISO 3166-1 alpha-2 code.")
    dpa_signed: bool = strawberry.field(
        description="Whether a data processing agreement is signed."
    )
    website: str | None
    row_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.ThirdPartyService) -> ThirdPartyService:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            vendor=row.vendor,
            purpose=row.purpose,
            data_categories=list(row.data_categories),
            processing_country=row.processing_country,
            dpa_signed=row.dpa_signed,
            website=row.website,
            row_id=row.id,
        )

    @strawberry.field(description="Tools that use this service (from ingested manifests).")
    async def tools(self, info: Info) -> list[str]:
        rows = (
            await _ctx(info)
            .loaders.rows_grouped_by(
                models.TpscToolUsage,
                models.TpscToolUsage.service_id,
                order_by=[models.TpscToolUsage.tool],
            )
            .load(self.row_id)
        )
        return [r.tool for r in rows]


@strawberry.type
class TpscIngestion:
    tool: str
    services: list[ThirdPartyService]
    created: int
    updated: int


@strawberry.type(description="One service's processing of personal data, with findings.")
class GdprProcessing:
    service: ThirdPartyService
    tools: list[str]
    transfer_outside_eea: bool = strawberry.field(description="Processed outside the EU/EEA.")
    missing_dpa: bool = strawberry.field(description="No signed data processing agreement.")

    @classmethod
    def from_domain(cls, p: GdprProcessingRecord) -> GdprProcessing:
        return cls(
            service=ThirdPartyService.from_row(p.service),
            tools=p.tools,
            transfer_outside_eea=p.transfer_outside_eea,
            missing_dpa=p.missing_dpa,
        )


@strawberry.type
class GdprCategory:
    category: str
    processings: list[GdprProcessing]


@strawberry.type(description="Records of processing by personal-data category (GDPR Art. 30).")
class GdprReport:
    generated_at: datetime
    services_total: int
    categories: list[GdprCategory]
    transfers_outside_eea: list[GdprProcessing]
    missing_dpa: list[GdprProcessing]


@strawberry.type
class IntegrationRule:
    name: str
    description: str
    kind: str


@strawberry.type
class IntegrationRuleResult:
    rule: str
    passed: bool
    detail: str


@strawberry.federation.type(
    requires_scopes=READ,
    description="The outcome of checking a repo against the integration rules.",
)
class IntegrationCheck:
    id: strawberry.ID
    passed: bool
    results: list[IntegrationRuleResult]
    checked_at: datetime
    repo_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: models.RepoIntegrationCheck) -> IntegrationCheck:
        return cls(
            id=strawberry.ID(str(row.id)),
            passed=row.passed,
            results=[IntegrationRuleResult(**vars(r)) for r in service.check_results(row)],
            checked_at=row.created_at,
            repo_id=row.repo_id,
        )

    @strawberry.field
    async def repo(self, info: Info) -> ManagedRepo:
        row = (
            await _ctx(info)
            .loaders.rows_by(models.ManagedRepo, models.ManagedRepo.id)
            .load(self.repo_id)
        )
        return ManagedRepo.from_row(row)


@strawberry.type
class RuleFailureCount:
    rule: str
    failing_repos: int


@strawberry.type
class IntegrationSummary:
    repos_total: int
    repos_checked: int
    repos_passing: int
    latest_checks: list[IntegrationCheck]
    never_checked: list[ManagedRepo]
    failures_by_rule: list[RuleFailureCount]


@strawberry.federation.type(
    requires_scopes=READ,
    description="Something that happened in a hub, from the canonical event registry.",
)
class ProgressEvent:
    id: strawberry.ID
    event_type: str
    source_hub: str
    subject: str
    title: str
    severity: Severity
    domain_slug: str | None
    payload: JSON
    occurred_at: datetime
    recorded_at: datetime

    @classmethod
    def from_row(cls, row: models.ProgressEvent) -> ProgressEvent:
        return cls(
            id=strawberry.ID(str(row.id)),
            event_type=row.event_type,
            source_hub=row.source_hub,
            subject=row.subject,
            title=row.title,
            severity=Severity(row.severity),
            domain_slug=row.domain_slug,
            payload=cast(JSON, row.payload),
            occurred_at=row.occurred_at,
            recorded_at=row.created_at,
        )


@strawberry.interface(
    description="Something tracked across hubs (FOS §10) through its sequence of events."
)
class Tracked:
    subject: str
    title: str
    severity: Severity = strawberry.field(description="The severity of the latest event.")
    domain_slug: str | None
    source_hub: str = strawberry.field(description="The hub that opened it.")
    opened_at: datetime
    updated_at: datetime
    events: list[ProgressEvent] = strawberry.field(description="Oldest first.")

    @staticmethod
    def fields_of(t: service.Tracked) -> dict[str, Any]:
        return {
            "subject": t.subject,
            "title": t.title,
            "severity": Severity(t.severity),
            "domain_slug": t.domain_slug,
            "source_hub": t.source_hub,
            "opened_at": t.opened_at,
            "updated_at": t.updated_at,
            "events": [ProgressEvent.from_row(e) for e in t.events],
        }


@strawberry.federation.type(
    requires_scopes=READ, description="A risk: surfaced, then escalated or mitigated."
)
class Risk(Tracked):
    status: RiskStatus

    @classmethod
    def from_tracked(cls, t: service.Tracked) -> Risk:
        return cls(status=RiskStatus(t.status), **Tracked.fields_of(t))


@strawberry.federation.type(
    requires_scopes=READ, description="An alert: raised, then acknowledged, then resolved."
)
class Alert(Tracked):
    status: AlertStatus

    @classmethod
    def from_tracked(cls, t: service.Tracked) -> Alert:
        return cls(status=AlertStatus(t.status), **Tracked.fields_of(t))


@strawberry.type(description="Counts and latest activity across the core hub.")
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
    recent_events: list[ProgressEvent]


@strawberry.type(description="One domain and its sub-domains at a glance.")
class DomainSummary:
    domain: Domain
    subdomains: list[Domain]
    repos: list[ManagedRepo]
    unread_messages: int = strawberry.federation.field(requires_scopes=READ)
    capabilities: list[Capability]
    open_capability_requests: int = strawberry.federation.field(requires_scopes=READ)
    open_risks: list[Risk]
    active_alerts: list[Alert]
    latest_activity_at: datetime | None


# --- inputs ------------------------------------------------------------------------


@strawberry.input
class RegisterDomainInput:
    slug: str = strawberry.field(description="Lowercase letters, digits and hyphens; stable.")
    name: str
    description: str = ""
    parent_slug: str | None = None


@strawberry.input
class RegisterRepoInput:
    name: str
    domain_slug: str
    url: str | None = None
    local_path: str | None = None


@strawberry.input(description="Give exactly one of toDomain and toAgent.")
class SendMessageInput:
    sender: str
    subject: str
    body: str
    to_domain: str | None = None
    to_agent: str | None = None


@strawberry.input
class RegisterCapabilityInput:
    domain_slug: str
    name: str
    description: str = ""


@strawberry.input
class RequestCapabilityInput:
    capability_id: strawberry.ID
    requester: str
    title: str
    details: str = ""


@strawberry.input
class CapabilityRequestFilter:
    status: CapabilityRequestStatus | None = None
    open_only: bool = False
    capability_id: strawberry.ID | None = None
    domain_slug: str | None = strawberry.field(
        default=None, description="Requests to this domain's capabilities."
    )
    requester: str | None = None


@strawberry.input
class RegisterThirdPartyServiceInput:
    name: str
    vendor: str
    processing_country: str
    purpose: str = ""
    data_categories: list[str] = strawberry.field(default_factory=list)
    dpa_signed: bool = False
    website: str | None = None


@strawberry.input
class RecordEventInput:
    event_type: str = strawberry.field(description="One of the canonical event types.")
    source_hub: str
    subject: str = strawberry.field(description="What the event is about, e.g. risk:sso-delay.")
    title: str = ""
    severity: Severity = Severity.INFO
    domain_slug: str | None = None
    payload: JSON | None = None
    occurred_at: datetime | None = None
    event_key: str | None = strawberry.field(
        default=None, description="Idempotency key of the emitter."
    )


# --- root types --------------------------------------------------------------------

First = Annotated[
    int | None, strawberry.argument(description="Page size (default 50, at most 500).")
]
After = Annotated[
    str | None, strawberry.argument(description="The endCursor of the previous page.")
]


def _rules(info: Info) -> RuleSet:
    rules: RuleSet = _ctx(info).extra["integration_rules"]
    return rules


@strawberry.type
class Query:
    @strawberry.field(description="Domains by slug, paginated.")
    async def domains(
        self,
        info: Info,
        parent_slug: str | None = None,
        roots_only: bool = False,
        first: First = None,
        after: After = None,
    ) -> Connection[Domain]:
        async with _ctx(info).db.session() as s:
            page = await service.list_domains(
                s, parent_slug=parent_slug, roots_only=roots_only, first=first, after=after
            )
        connection = Connection.from_page(page, Domain.from_row)
        # The page's nested lists and parents, loaded before graphql-core gets to them
        # (the same queries), so that it completes each row's fields in place.
        await prefetch(info, Domain, connection.nodes, selected_nodes(info))
        return connection

    @strawberry.field(description="One domain, or null when there is none with this slug.")
    async def domain(self, info: Info, slug: str) -> Domain | None:
        async with _ctx(info).db.session() as s:
            row = await service.find_domain(s, slug)
        return Domain.from_row(row) if row else None

    @strawberry.field(
        description="A domain and its sub-domains at a glance: repos, messages, capabilities, risks, alerts."
    )
    async def domain_summary(self, info: Info, slug: str) -> DomainSummary:
        async with _ctx(info).db.session() as s:
            summary = await service.domain_summary(s, slug)
        return DomainSummary(
            domain=Domain.from_row(summary.domain),
            subdomains=[Domain.from_row(d) for d in summary.subdomains],
            repos=[ManagedRepo.from_row(r) for r in summary.repos],
            unread_messages=summary.unread_messages,
            capabilities=[Capability.from_row(c) for c in summary.capabilities],
            open_capability_requests=summary.open_requests,
            open_risks=[Risk.from_tracked(r) for r in summary.open_risks],
            active_alerts=[Alert.from_tracked(a) for a in summary.active_alerts],
            latest_activity_at=summary.latest_activity_at,
        )

    @strawberry.federation.field(
        requires_scopes=READ, description="Counts and the latest activity across the core hub."
    )
    async def state_summary(self, info: Info) -> StateSummary:
        async with _ctx(info).db.session() as s:
            summary = await service.state_summary(s)
        fields = vars(summary) | {
            "recent_events": [ProgressEvent.from_row(e) for e in summary.recent_events]
        }
        return StateSummary(**fields)

    @strawberry.field(description="One managed repo by id.")
    async def repo(self, info: Info, id: strawberry.ID) -> ManagedRepo | None:
        async with _ctx(info).db.session() as s:
            row = await s.get(models.ManagedRepo, service.parse_id(id))
        return ManagedRepo.from_row(row) if row else None

    @strawberry.field(description="Managed repos, optionally of one domain.")
    async def repos(self, info: Info, domain_slug: str | None = None) -> list[ManagedRepo]:
        async with _ctx(info).db.session() as s:
            rows = await service.list_repos(s, domain_slug)
        return [ManagedRepo.from_row(r) for r in rows]

    @strawberry.federation.field(
        requires_scopes=READ,
        description="Messages, newest first; filter by recipient (domain slug or agent id).",
    )
    async def messages(
        self,
        info: Info,
        recipient: str | None = None,
        unread_only: bool = False,
        first: First = None,
        after: After = None,
    ) -> Connection[AgentMessage]:
        async with _ctx(info).db.session() as s:
            page = await service.list_messages(
                s, recipient=recipient, unread_only=unread_only, first=first, after=after
            )
        return Connection.from_page(page, AgentMessage.from_row)

    @strawberry.federation.field(requires_scopes=READ)
    async def message(self, info: Info, id: strawberry.ID) -> AgentMessage | None:
        async with _ctx(info).db.session() as s:
            row = await s.get(models.AgentMessage, service.parse_id(id))
        return AgentMessage.from_row(row) if row else None

    @strawberry.field(description="The capability catalogue, optionally of one domain.")
    async def capabilities(self, info: Info, domain_slug: str | None = None) -> list[Capability]:
        async with _ctx(info).db.session() as s:
            rows = await service.list_capabilities(s, domain_slug)
        return [Capability.from_row(r) for r in rows]

    @strawberry.federation.field(
        requires_scopes=READ, description="Capability requests, newest first."
    )
    async def capability_requests(
        self,
        info: Info,
        filter: CapabilityRequestFilter | None = None,
        first: First = None,
        after: After = None,
    ) -> Connection[CapabilityRequest]:
        f = filter or CapabilityRequestFilter()
        async with _ctx(info).db.session() as s:
            page = await service.list_capability_requests(
                s,
                status=f.status.value if f.status else None,
                open_only=f.open_only,
                capability_id=f.capability_id,
                domain_slug=f.domain_slug,
                requester=f.requester,
                first=first,
                after=after,
            )
        return Connection.from_page(page, CapabilityRequest.from_row)

    @strawberry.federation.field(requires_scopes=READ)
    async def capability_request(self, info: Info, id: strawberry.ID) -> CapabilityRequest | None:
        async with _ctx(info).db.session() as s:
            row = await s.get(models.CapabilityRequest, service.parse_id(id))
        return CapabilityRequest.from_row(row) if row else None

    @strawberry.field(description="The third-party service catalogue.")
    async def third_party_services(
        self, info: Info, tool: str | None = None, data_category: str | None = None
    ) -> list[ThirdPartyService]:
        async with _ctx(info).db.session() as s:
            rows = await service.list_third_party_services(
                s, tool=tool, data_category=data_category
            )
        return [ThirdPartyService.from_row(r) for r in rows]

    @strawberry.federation.field(
        requires_scopes=READ,
        description="GDPR records of processing, with transfers and missing agreements flagged.",
    )
    async def gdpr_report(self, info: Info) -> GdprReport:
        async with _ctx(info).db.session() as s:
            report = await service.gdpr_report(s)
        return GdprReport(
            generated_at=report.generated_at,
            services_total=report.services_total,
            categories=[
                GdprCategory(
                    category=c.category,
                    processings=[GdprProcessing.from_domain(p) for p in c.processings],
                )
                for c in report.categories
            ],
            transfers_outside_eea=[
                GdprProcessing.from_domain(p) for p in report.transfers_outside_eea
            ],
            missing_dpa=[GdprProcessing.from_domain(p) for p in report.missing_dpa],
        )

    @strawberry.federation.field(
        requires_scopes=READ, description="The integration rules repos are checked against."
    )
    def integration_rules(self, info: Info) -> list[IntegrationRule]:
        return [
            IntegrationRule(name=r.name, description=r.description, kind=r.kind)
            for r in _rules(info).rules
        ]

    @strawberry.federation.field(
        requires_scopes=READ,
        description="Each repo's latest integration check, and what fails most.",
    )
    async def integration_summary(self, info: Info) -> IntegrationSummary:
        async with _ctx(info).db.session() as s:
            summary = await service.integration_summary(s)
        return IntegrationSummary(
            repos_total=summary.repos_total,
            repos_checked=summary.repos_checked,
            repos_passing=summary.repos_passing,
            latest_checks=[IntegrationCheck.from_row(c) for c in summary.latest],
            never_checked=[ManagedRepo.from_row(r) for r in summary.never_checked],
            failures_by_rule=[
                RuleFailureCount(rule=k, failing_repos=v)
                for k, v in summary.failures_by_rule.items()
            ],
        )

    @strawberry.federation.field(requires_scopes=READ, description="Progress events, newest first.")
    async def events(
        self,
        info: Info,
        event_type: str | None = None,
        subject: str | None = None,
        domain_slug: str | None = None,
        first: First = None,
        after: After = None,
    ) -> Connection[ProgressEvent]:
        async with _ctx(info).db.session() as s:
            page = await service.list_events(
                s,
                event_type=event_type,
                subject=subject,
                domain_slug=domain_slug,
                first=first,
                after=after,
            )
        return Connection.from_page(page, ProgressEvent.from_row)

    @strawberry.field(description="Risks across all hubs, most recently changed first.")
    async def risks(self, info: Info, status: RiskStatus | None = None) -> list[Risk]:
        async with _ctx(info).db.session() as s:
            rows = await service.list_risks(s, status.value if status else None)
        return [Risk.from_tracked(r) for r in rows]

    @strawberry.field(description="Alerts across all hubs, most recently changed first.")
    async def alerts(self, info: Info, status: AlertStatus | None = None) -> list[Alert]:
        async with _ctx(info).db.session() as s:
            rows = await service.list_alerts(s, status.value if status else None)
        return [Alert.from_tracked(a) for a in rows]


@strawberry.type
class Mutation:
    @strawberry.federation.mutation(
        requires_scopes=WRITE, description="Register a domain, optionally under a parent domain."
    )
    async def register_domain(self, info: Info, input: RegisterDomainInput) -> Domain:
        async with _ctx(info).db.transaction() as s:
            row = await service.register_domain(
                s,
                slug=input.slug,
                name=input.name,
                description=input.description,
                parent_slug=input.parent_slug,
            )
        return Domain.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE, description="Register a repo under a domain."
    )
    async def register_repo(self, info: Info, input: RegisterRepoInput) -> ManagedRepo:
        async with _ctx(info).db.transaction() as s:
            row = await service.register_repo(
                s,
                name=input.name,
                domain_slug=input.domain_slug,
                url=input.url,
                local_path=input.local_path,
            )
        return ManagedRepo.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=ADMIN_ONLY,
        description="Set (or clear, with null) where a repo is checked out.",
    )
    async def update_repo_path(
        self, info: Info, id: strawberry.ID, local_path: str | None
    ) -> ManagedRepo:
        async with _ctx(info).db.transaction() as s:
            row = await service.update_repo_path(s, id, local_path)
        return ManagedRepo.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE, description="Send a message to a domain or an agent."
    )
    async def send_message(self, info: Info, input: SendMessageInput) -> AgentMessage:
        async with _ctx(info).db.transaction() as s:
            row = await service.send_message(
                s,
                sender=input.sender,
                subject=input.subject,
                body=input.body,
                to_domain=input.to_domain,
                to_agent=input.to_agent,
            )
        return AgentMessage.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE,
        description="Reply to a message; the reply goes to its sender, in its thread.",
    )
    async def reply_to_message(
        self,
        info: Info,
        message_id: strawberry.ID,
        sender: str,
        body: str,
        subject: str | None = None,
    ) -> AgentMessage:
        async with _ctx(info).db.transaction() as s:
            row = await service.reply_to_message(
                s, message_id, sender=sender, body=body, subject=subject
            )
        return AgentMessage.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE, description="Mark a message read (idempotent)."
    )
    async def mark_message_read(self, info: Info, id: strawberry.ID) -> AgentMessage:
        async with _ctx(info).db.transaction() as s:
            row = await service.mark_message_read(s, id)
        return AgentMessage.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE, description="Add a capability to a domain's catalogue."
    )
    async def register_capability(self, info: Info, input: RegisterCapabilityInput) -> Capability:
        async with _ctx(info).db.transaction() as s:
            row = await service.register_capability(
                s, domain_slug=input.domain_slug, name=input.name, description=input.description
            )
        return Capability.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE, description="Ask a domain for one of its capabilities."
    )
    async def request_capability(
        self, info: Info, input: RequestCapabilityInput
    ) -> CapabilityRequest:
        async with _ctx(info).db.transaction() as s:
            row = await service.request_capability(
                s,
                capability_id=input.capability_id,
                requester=input.requester,
                title=input.title,
                details=input.details,
            )
        return CapabilityRequest.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE, description="Accept a requested capability request."
    )
    async def accept_capability_request(
        self, info: Info, id: strawberry.ID, note: str = ""
    ) -> CapabilityRequest:
        async with _ctx(info).db.transaction() as s:
            row = await service.change_capability_request_status(s, id, "accepted", note)
        return CapabilityRequest.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE,
        description="Move a capability request along its lifecycle: requested -> accepted -> "
        "in_progress -> done, or rejected / cancelled. Invalid steps fail with INVALID_TRANSITION.",
    )
    async def update_capability_request_status(
        self, info: Info, id: strawberry.ID, status: CapabilityRequestStatus, note: str = ""
    ) -> CapabilityRequest:
        async with _ctx(info).db.transaction() as s:
            row = await service.change_capability_request_status(s, id, status.value, note)
        return CapabilityRequest.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE, description="Add a third-party service to the catalogue."
    )
    async def register_third_party_service(
        self, info: Info, input: RegisterThirdPartyServiceInput
    ) -> ThirdPartyService:
        async with _ctx(info).db.transaction() as s:
            row = await service.register_third_party_service(s, **vars(input))
        return ThirdPartyService.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE,
        description="Ingest a tool manifest (JSON or YAML) listing the third-party services it uses. "
        "An invalid manifest is rejected whole; extensions.problems names each bad entry.",
    )
    async def ingest_tpsc_tool(self, info: Info, manifest: str) -> TpscIngestion:
        async with _ctx(info).db.transaction() as s:
            result = await service.ingest_tpsc_tool(s, manifest)
        return TpscIngestion(
            tool=result.tool,
            services=[ThirdPartyService.from_row(r) for r in result.services],
            created=result.created,
            updated=result.updated,
        )

    @strawberry.federation.mutation(
        requires_scopes=ADMIN_ONLY,
        description="Evaluate the integration rules against a repo's local path and record it.",
    )
    async def check_repo_integration(self, info: Info, repo_id: strawberry.ID) -> IntegrationCheck:
        async with _ctx(info).db.transaction() as s:
            row = await service.check_repo_integration(s, repo_id, _rules(info))
        return IntegrationCheck.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE, description="Record a progress event of a canonical type."
    )
    async def record_event(self, info: Info, input: RecordEventInput) -> ProgressEvent:
        async with _ctx(info).db.transaction() as s:
            row = await service.record_event(
                s,
                event_type=input.event_type,
                source_hub=input.source_hub,
                subject=input.subject,
                title=input.title,
                severity=input.severity.value,
                domain_slug=input.domain_slug,
                payload=input.payload,  # type: ignore[arg-type]
                occurred_at=input.occurred_at,
                event_key=input.event_key,
            )
        return ProgressEvent.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE, description="Acknowledge a raised alert."
    )
    async def acknowledge_alert(self, info: Info, subject: str, by: str, note: str = "") -> Alert:
        async with _ctx(info).db.transaction() as s:
            alert = await service.acknowledge_alert(s, subject, by=by, note=note)
        return Alert.from_tracked(alert)

    @strawberry.federation.mutation(
        requires_scopes=WRITE, description="Resolve a raised or acknowledged alert."
    )
    async def resolve_alert(self, info: Info, subject: str, by: str, note: str = "") -> Alert:
        async with _ctx(info).db.transaction() as s:
            alert = await service.resolve_alert(s, subject, by=by, note=note)
        return Alert.from_tracked(alert)


schema = hub_schema(Query, Mutation, types=[Domain, ManagedRepo], events=EVENTS)
