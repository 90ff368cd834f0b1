"""Demo data for the ops hub: what runs for the custodian, and the morning Keycloak broke.

The story: twelve services in two namespaces — the Railiance platform (``railiance``)
and the federation's own hubs (``fos-hubs``). Longhorn lost a replica of Keycloak's
volume overnight (AMBER, one failed probe); Keycloak then stopped answering (RED, three
failures in a row), so a SEV2 incident is open and blocks two tasks of CUST-WP-0025
that need the SSO plane (T01, deploying it; T03, testing the IAM profile against it).
An earlier certificate incident is resolved. Runbooks, access paths, operational debt
and the week's changes complete the picture.

Task keys are the dev hub's demo tasks (subgraphs/dev/demo_workplans/); they are not
checked with the dev hub here, since the demo loads without any hub running.
Idempotent: every row is looked up by what identifies it first, so a second run creates
nothing and returns zero counts. Rows go through ``service.py`` where it has a function.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.ops import models, operations, service

# The demo's "now": a day after the dev hub's demo deployments began.
NOW = datetime(2026, 3, 24, 9, 0, tzinfo=UTC)
WORKPLAN = "CUST-WP-0025"

SERVICES: list[tuple[str, ...]] = [
    # namespace, name, domain, owner, endpoint, probe kind, probe target, health
    ("railiance", "keycloak", "net-kingdom", "net-kingdom", "https://sso.railiance.example",
     "http", "https://sso.railiance.example/realms/custodian/.well-known/openid-configuration", "RED"),
    ("railiance", "privacyidea", "net-kingdom", "net-kingdom", "https://mfa.railiance.example",
     "http", "https://mfa.railiance.example/healthcheck", "GREEN"),
    ("railiance", "longhorn", "railiance-cluster", "railiance", "https://longhorn.railiance.example",
     "http", "https://longhorn.railiance.example/v1", "AMBER"),
    ("railiance", "cert-manager", "railiance-cluster", "railiance", "k3s.railiance.example:6443",
     "tls", "sso.railiance.example:443", "GREEN"),
    ("railiance", "traefik", "railiance-cluster", "railiance", "https://railiance.example",
     "tcp", "railiance.example:443", "GREEN"),
    ("railiance", "velero", "railiance-platform", "railiance", "k3s.railiance.example:6443",
     "tcp", "k3s.railiance.example:6443", "GREEN"),
    ("railiance", "argocd", "railiance-platform", "railiance", "https://cd.railiance.example",
     "http", "https://cd.railiance.example/healthz", "GREEN"),
    ("railiance", "grafana", "railiance-platform", "railiance", "https://grafana.railiance.example",
     "http", "https://grafana.railiance.example/api/health", "GREEN"),
    ("fos-hubs", "hub-gateway", "custodian", "custodian", "https://hubs.custodian.example/graphql",
     "http", "https://hubs.custodian.example/healthz", "GREEN"),
    ("fos-hubs", "core-hub", "custodian", "custodian", "http://core-hub.fos-hubs:8000",
     "http", "http://core-hub.fos-hubs:8000/readyz", "GREEN"),
    ("fos-hubs", "dev-hub", "custodian", "custodian", "http://dev-hub.fos-hubs:8001",
     "http", "http://dev-hub.fos-hubs:8001/readyz", "GREEN"),
    ("fos-hubs", "ops-hub", "custodian", "custodian", "http://ops-hub.fos-hubs:8002",
     "http", "http://ops-hub.fos-hubs:8002/readyz", "GREEN"),
]  # fmt: skip

# (service, ok, minutes before NOW, detail, status code): the results behind the health.
RESULTS: dict[str, list[tuple[bool, int, str, int | None]]] = {
    "keycloak": [
        (True, 95, "200 OK", 200),
        (False, 30, "503 Service Unavailable", 503),
        (False, 20, "503 Service Unavailable", 503),
        (False, 10, "timed out after 5 s", None),
    ],
    "longhorn": [(True, 60, "200 OK", 200), (False, 12, "volume pvc-keycloak degraded", 200)],
}

OPEN_INCIDENT = "Keycloak down: realm endpoints answer 503"
RESOLVED_INCIDENT = "Wildcard certificate expired on the ingress"
INCIDENTS: list[tuple[Any, ...]] = [
    # title, severity, services, blocked task suffixes, minutes before NOW, summary, resolution
    (
        OPEN_INCIDENT,
        "SEV2",
        ["keycloak", "longhorn"],
        ["T01", "T03"],
        25,
        "Keycloak pods restart in a loop since Longhorn lost a replica of their volume; "
        "no hub can obtain tokens from the production realm.",
        None,
    ),
    (
        RESOLVED_INCIDENT,
        "SEV3",
        ["traefik", "cert-manager"],
        [],
        3 * 24 * 60,
        "cert-manager's renewal of *.railiance.example failed on a DNS-01 challenge.",
        "Fixed the DNS API token; cert-manager renewed the certificate.",
    ),
]
OPEN_TIMELINE = [
    # author, minutes before NOW, text
    ("operator", 22, "Longhorn shows volume pvc-keycloak degraded (1 of 3 replicas)"),
]

RUNBOOKS: list[tuple[Any, ...]] = [
    # service, title, triggers, steps (title, kind, instructions, action)
    (
        "keycloak",
        "Keycloak not answering",
        ["keycloak RED", "realm endpoint 5xx"],
        [
            ("Check the realm endpoint", "probe", "Is Keycloak answering at all?",
             {"kind": "http", "target": "https://sso.railiance.example/realms/custodian",
              "timeout_s": 5.0, "expected_status": 200}),
            ("Check the volume in Longhorn", "manual",
             "Longhorn UI > Volumes > pvc-keycloak: robustness and replicas.", {}),
            ("Restart the Keycloak deployment", "manual",
             "kubectl -n identity rollout restart deploy/keycloak (run by an operator).", {}),
            ("Confirm the discovery document", "http", "The realm answers again.",
             {"url": "https://sso.railiance.example/realms/custodian/.well-known/openid-configuration",
              "expected_status": 200, "timeout_s": 5.0}),
        ],
    ),
    (
        "longhorn",
        "Degraded Longhorn volume",
        ["volume robustness degraded", "replica count below 3"],
        [
            ("Check the Longhorn API", "probe", "",
             {"kind": "http", "target": "https://longhorn.railiance.example/v1",
              "timeout_s": 5.0, "expected_status": 200}),
            ("Rebuild the replica", "manual",
             "Longhorn UI > Volume > Salvage, then watch the rebuild.", {}),
        ],
    ),
]  # fmt: skip

ACCESS_PATHS = [
    # name, kind, target, auth method, service
    ("k3s API", "k8s", "https://k3s.railiance.example:6443", "kubeconfig (OIDC)", "velero"),
    ("ops-bridge tunnel", "ssh", "bastion.railiance.example:22", "ssh key (ops-bridge)", None),
    ("Keycloak admin console", "http", "https://sso.railiance.example/admin", "SSO + MFA",
     "keycloak"),
    ("Longhorn UI", "http", "https://longhorn.railiance.example", "SSO", "longhorn"),
]  # fmt: skip

DEBTS = [
    # title, category, severity, location, owner, service
    ("Keycloak runs a single replica", "availability", "high",
     "railiance-cluster/identity/keycloak.yaml", "net-kingdom", "keycloak"),
    ("Velero backups not restore-tested", "backup", "medium",
     "railiance-platform/velero/schedule.yaml", "railiance", "velero"),
    ("Grafana admin password in a Secret, not SSO", "security", "low",
     "railiance-platform/grafana/values.yaml", "railiance", "grafana"),
]  # fmt: skip

CHANGES = [
    # summary, hours before NOW, by, rollback, service
    ("Longhorn 1.8.0 -> 1.8.1", 26, "railiance", "helm rollback longhorn 7", "longhorn"),
    ("Keycloak 26.1.4 with the custodian realm", 70, "net-kingdom",
     "argocd app rollback keycloak", "keycloak"),
    ("ops-hub 0.1.0 to staging", 12, "custodian", "argocd app rollback ops-hub", "ops-hub"),
]  # fmt: skip


def demo_service_id(namespace: str, name: str) -> uuid.UUID:
    """A demo service's fixed id: the fin hub's demo books costs to these ids (it derives
    them the same way, without importing this hub)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"hubgraph-demo:service:{namespace}/{name}")


async def _services(session: AsyncSession, created: Counter[str]) -> dict[str, models.Service]:
    found: dict[str, models.Service] = {}
    for namespace, name, domain, owner, url, kind, target, health in SERVICES:
        row = await service.find_service_by_name(session, namespace, name)
        if row is None:
            row = await service.register_service(
                session,
                service_id=demo_service_id(namespace, name),
                name=name,
                namespace=namespace,
                domain_slug=domain,
                owner=owner,
                endpoints=[url],
                probes=[service.ProbeDefinition(kind=kind, target=target, interval_s=60)],
            )
            await _history(session, row, health)
            created["services"] += 1
        found[name] = row
    return found


async def _history(session: AsyncSession, row: models.Service, health: str) -> None:
    """The probe results that explain ``health``, and the health itself."""
    probe = await session.scalar(select(models.Probe).where(models.Probe.service_id == row.id))
    assert probe is not None
    results = RESULTS.get(row.name, [(True, 5, "200 OK", 200)])
    for ok, minutes, detail, status in results:
        session.add(
            models.ProbeResult(
                probe_id=probe.id,
                service_id=row.id,
                ok=ok,
                latency_ms=42.0 if ok else None,
                detail=detail,
                status_code=status,
                checked_at=NOW - timedelta(minutes=minutes),
            )
        )
    seen = [NOW - timedelta(minutes=m) for ok, m, _, _ in results if ok]
    row.health = health
    row.health_changed_at = NOW - timedelta(minutes=min(m for _, m, _, _ in results))
    row.last_seen = max(seen) if seen else None
    await session.flush()


async def _incidents(
    session: AsyncSession, services: dict[str, models.Service], created: Counter[str]
) -> None:
    for title, severity, affected, tasks, minutes, summary, resolution in INCIDENTS:
        exists = await session.scalar(
            select(models.Incident.id).where(models.Incident.title == title)
        )
        if exists is not None:
            continue
        incident = await service.create_incident(
            session,
            title=title,
            severity=severity,
            summary=summary,
            service_ids=[str(services[s].id) for s in affected],
            blocks_tasks=[f"{WORKPLAN}-{t}" for t in tasks],
            opened_by="ops-hub",
            opened_at=NOW - timedelta(minutes=minutes),
        )
        created["incidents"] += 1
        if resolution is not None:
            await service.resolve_incident(session, str(incident.id), "operator", resolution)
            continue
        await service.update_incident(
            session, str(incident.id), service.IncidentChange(status="investigating"), "operator"
        )
        for author, before, text in OPEN_TIMELINE:
            service.note(session, incident, author, text, NOW - timedelta(minutes=before))


async def _operations(
    session: AsyncSession, services: dict[str, models.Service], created: Counter[str]
) -> None:
    for name, title, triggers, steps in RUNBOOKS:
        exists = await session.scalar(
            select(models.Runbook.id).where(
                models.Runbook.service_id == services[name].id, models.Runbook.title == title
            )
        )
        if exists is None:
            await operations.create_runbook(
                session,
                service_id=str(services[name].id),
                title=title,
                trigger_conditions=triggers,
                steps=[operations.StepDefinition(t, k, i, a) for t, k, i, a in steps],
            )
            created["runbooks"] += 1
    for name, kind, target, auth, owner in ACCESS_PATHS:
        if await session.scalar(select(models.AccessPath.id).where(models.AccessPath.name == name)):
            continue
        await operations.register_access_path(
            session,
            name=name,
            kind=kind,
            target=target,
            auth_method=auth,
            service_id=str(services[owner].id) if owner else None,
        )
        created["access paths"] += 1
    for title, category, severity, location, owner, name in DEBTS:
        exists = await session.scalar(
            select(models.OperationalDebt.id).where(models.OperationalDebt.title == title)
        )
        if exists is None:
            await operations.record_debt(
                session,
                title=title,
                category=category,
                severity=severity,
                location=location,
                owner=owner,
                service_id=str(services[name].id),
            )
            created["operational debts"] += 1
    for summary, hours, by, rollback, name in CHANGES:
        exists = await session.scalar(
            select(models.ChangeRecord.id).where(models.ChangeRecord.summary == summary)
        )
        if exists is None:
            await operations.record_change(
                session,
                summary=summary,
                changed_by=by,
                rollback_path=rollback,
                service_id=str(services[name].id),
                changed_at=NOW - timedelta(hours=hours),
            )
            created["changes"] += 1


async def load(session: AsyncSession) -> dict[str, int]:
    created: Counter[str] = Counter()
    services = await _services(session, created)
    await _incidents(session, services, created)
    await _operations(session, services, created)
    return dict(created)
