"""Demo data for the core hub: the custodian domain of CUST-WP-0025 and its neighbours.

Idempotent: every row is looked up by its human key first, so a second run creates
nothing and returns zero counts. Everything goes through ``service.py``, so the demo
data obeys the same rules as data entered through the API.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core import models, service

DOMAINS = [
    # slug, name, parent, description
    (
        "custodian",
        "The Custodian",
        None,
        "Stewardship of the federated organisation (FOS System 5).",
    ),
    (
        "net-kingdom",
        "NetKingdom",
        "custodian",
        "Identity: Keycloak SSO and privacyIDEA MFA for every hub.",
    ),
    (
        "railiance",
        "Railiance",
        "custodian",
        "Sovereign k3s infrastructure for EU SMEs (OAS stack).",
    ),
    (
        "railiance-cluster",
        "Railiance Cluster",
        "railiance",
        "The k3s cluster, Longhorn storage, cert-manager.",
    ),
    (
        "railiance-platform",
        "Railiance Platform",
        "railiance",
        "GitOps, observability and backup on the cluster.",
    ),
    ("markitect", "Markitect", "custodian", "Markdown architecture documents and canon."),
    ("coulomb-social", "coulomb.social", "custodian", "Community platform."),
]

REPOS = [
    # name, domain, url
    ("the-custodian", "custodian", "https://git.example.org/custodian/the-custodian"),
    ("hub-core", "custodian", "https://git.example.org/custodian/hub-core"),
    ("ops-hub", "custodian", "https://git.example.org/custodian/ops-hub"),
    ("fin-hub", "custodian", "https://git.example.org/custodian/fin-hub"),
    ("net-kingdom", "net-kingdom", "https://git.example.org/net-kingdom/net-kingdom"),
    (
        "railiance-cluster",
        "railiance-cluster",
        "https://git.example.org/railiance/railiance-cluster",
    ),
    (
        "railiance-platform",
        "railiance-platform",
        "https://git.example.org/railiance/railiance-platform",
    ),
]

CAPABILITIES = [
    (
        "net-kingdom",
        "oidc-client-registration",
        "Register an OIDC client (public or confidential) in Keycloak.",
    ),
    (
        "net-kingdom",
        "service-account",
        "Issue a client-credentials service account for hub-to-hub calls.",
    ),
    (
        "railiance-cluster",
        "namespace-provisioning",
        "Provision a k3s namespace with quotas and backups.",
    ),
    ("railiance-platform", "observability-onboarding", "Dashboards and alerts for a new service."),
]

REQUESTS = [
    # capability, requester, title, final status
    (
        "oidc-client-registration",
        "agent:ops-hub-bootstrap",
        "OIDC client for ops-hub",
        "in_progress",
    ),
    ("service-account", "agent:fin-hub-bootstrap", "Service account fin-hub -> core", "requested"),
    ("namespace-provisioning", "agent:ops-hub-bootstrap", "Namespace ops-hub in k3s", "done"),
]

MESSAGES = [
    # sender, to_domain, to_agent, subject, body
    (
        "agent:custodian-steward",
        "net-kingdom",
        None,
        "NK-WP-0001 status",
        "Phase 1 of CUST-WP-0025 waits on Keycloak + privacyIDEA on k3s. What is the ETA?",
    ),
    (
        "agent:ops-hub-bootstrap",
        None,
        "agent:custodian-steward",
        "ops-hub scaffold ready",
        "The ops-hub repo is created from the hub-core scaffold (T13); registering it under custodian.",
    ),
    (
        "agent:fin-hub-bootstrap",
        "custodian",
        None,
        "Token spend export",
        "Anthropic billing exports for October are ready for the fin-hub import (T24).",
    ),
]

THIRD_PARTY = [
    dict(
        name="Anthropic API",
        vendor="Anthropic PBC",
        purpose="LLM inference for coding agents",
        data_categories=["source code", "developer identity"],
        processing_country="US",
        dpa_signed=True,
        website="https://www.anthropic.com",
    ),
    dict(
        name="HostEurope",
        vendor="Host Europe GmbH",
        purpose="Dedicated servers for the k3s cluster",
        data_categories=["customer data", "system logs"],
        processing_country="DE",
        dpa_signed=True,
        website="https://www.hosteurope.de",
    ),
    dict(
        name="GitHub",
        vendor="GitHub, Inc.",
        purpose="Source hosting mirror and CI",
        data_categories=["source code", "developer identity"],
        processing_country="US",
        dpa_signed=False,
        website="https://github.com",
    ),
]

TOOL_MANIFEST = """
tool: claude-code
services:
  - name: Anthropic API
    vendor: Anthropic PBC
    purpose: LLM inference for coding agents
    data_categories: [source code, developer identity]
    processing_country: US
    dpa_signed: true
    website: https://www.anthropic.com
"""

T0 = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
EVENTS = [
    # type, subject, title, severity, domain, hours after T0
    (
        "risk_surfaced",
        "risk:mega-hub",
        "state-hub drifting into the Mega-Hub anti-pattern (FOS §13.1)",
        "high",
        "custodian",
        0,
    ),
    (
        "risk_surfaced",
        "risk:sso-delay",
        "Keycloak on k3s (NK-WP-0001) late; hubs run without SSO",
        "medium",
        "net-kingdom",
        2,
    ),
    ("risk_escalated", "risk:sso-delay", "", "high", None, 50),
    (
        "risk_surfaced",
        "risk:single-cluster",
        "One k3s cluster hosts every hub",
        "medium",
        "railiance-cluster",
        5,
    ),
    ("risk_mitigated", "risk:single-cluster", "", "low", None, 70),
    (
        "alert_raised",
        "alert:longhorn-degraded",
        "Longhorn volume pvc-hub-core degraded (1/3 replicas)",
        "high",
        "railiance-cluster",
        30,
    ),
    (
        "alert_raised",
        "alert:cert-expiry",
        "TLS certificate for sso.example.org expires in 9 days",
        "medium",
        "net-kingdom",
        40,
    ),
    ("alert_acknowledged", "alert:cert-expiry", "", "medium", None, 41),
    (
        "alert_raised",
        "alert:backup-missed",
        "Nightly S2 backup missed",
        "medium",
        "railiance-platform",
        20,
    ),
    ("alert_resolved", "alert:backup-missed", "", "info", None, 26),
    (
        "deployment_recorded",
        "deploy:hub-core@0.1.0",
        "hub-core 0.1.0 deployed",
        "info",
        "custodian",
        60,
    ),
]


async def load(session: AsyncSession) -> dict[str, int]:
    created: Counter[str] = Counter()
    for slug, name, parent, description in DOMAINS:
        if await service.find_domain(session, slug) is None:
            await service.register_domain(
                session, slug=slug, name=name, description=description, parent_slug=parent
            )
            created["domains"] += 1
    for name, domain, url in REPOS:
        if not await session.scalar(
            select(models.ManagedRepo).where(models.ManagedRepo.name == name)
        ):
            await service.register_repo(session, name=name, domain_slug=domain, url=url)
            created["repos"] += 1
    capability_ids = {}
    for domain, name, description in CAPABILITIES:
        found = [c for c in await service.list_capabilities(session, domain) if c.name == name]
        if not found:
            found = [
                await service.register_capability(
                    session, domain_slug=domain, name=name, description=description
                )
            ]
            created["capabilities"] += 1
        capability_ids[name] = str(found[0].id)
    for capability, requester, title, final in REQUESTS:
        if await session.scalar(
            select(models.CapabilityRequest).where(models.CapabilityRequest.title == title)
        ):
            continue
        request = await service.request_capability(
            session, capability_id=capability_ids[capability], requester=requester, title=title
        )
        path = {
            "requested": [],
            "in_progress": ["accepted", "in_progress"],
            "done": ["accepted", "in_progress", "done"],
        }
        for step in path[final]:
            await service.change_capability_request_status(session, str(request.id), step)
        created["capability requests"] += 1
    for sender, to_domain, to_agent, subject, body in MESSAGES:
        if not await session.scalar(
            select(models.AgentMessage).where(models.AgentMessage.subject == subject)
        ):
            await service.send_message(
                session,
                sender=sender,
                subject=subject,
                body=body,
                to_domain=to_domain,
                to_agent=to_agent,
            )
            created["messages"] += 1
    for fields in THIRD_PARTY:
        exists = await session.scalar(
            select(models.ThirdPartyService).where(models.ThirdPartyService.name == fields["name"])
        )
        if not exists:
            await service.register_third_party_service(session, **fields)
            created["third-party services"] += 1
    if not await session.scalar(
        select(models.TpscToolUsage).where(models.TpscToolUsage.tool == "claude-code")
    ):
        await service.ingest_tpsc_tool(session, TOOL_MANIFEST)
        created["tool manifests"] += 1
    for event_type, subject, title, severity, domain_slug, hours in EVENTS:
        key = f"demo:{subject}:{event_type}"
        if await session.scalar(
            select(models.ProgressEvent).where(models.ProgressEvent.event_key == key)
        ):
            continue
        await service.record_event(
            session,
            event_type=event_type,
            source_hub="core",
            subject=subject,
            title=title,
            severity=severity,
            domain_slug=domain_slug,
            occurred_at=T0 + timedelta(hours=hours),
            event_key=key,
        )
        created["events"] += 1
    return dict(created)
