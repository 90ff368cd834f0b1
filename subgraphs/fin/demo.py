"""Demo data for the fin hub: what the custodian's small organisation spends.

The story, over the twelve months up to and including the current one (so the current
quarter always has figures): the ops demo's twelve services, by their ids there, billed
monthly by a hosting provider and a few SaaS vendors (one of them in USD); the hubs'
agents' LLM token spend by model; subscriptions, a server contract ending in a few
months, a support contract and a salary; budgets per domain and quarter and a balance
per domain. Two things stand out, as they would on a Monday morning:

* ``railiance-cluster`` has spent and committed more than 80% of this quarter's budget
  (its storage grew and the server contract bills every month);
* ``custodian``'s cash lasts fewer months than its threshold of six: the salary it
  pays is its burn.

Service ids are the ops demo's fixed ones, ``uuid5(NAMESPACE_URL, "hubgraph-demo:
service:<namespace>/<name>")``, derived here the same way (no hub imports another).
Idempotent: cost and token rows are keyed by their digest, budgets by domain and period,
commitments by domain, vendor and kind, balances by domain and day; a second run the
same month creates nothing and returns zero counts.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.fin import models, service
from subgraphs.fin.calculations import Period, add_months, format_month, month_start

D = Decimal
SOURCE = "demo"


def demo_service_id(namespace: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"hubgraph-demo:service:{namespace}/{name}"))


# namespace, service, domain, vendor, category, currency, first month's bill, monthly growth
SERVICE_COSTS: list[tuple[str, str, str, str, str, str, str, str]] = [
    ("railiance", "keycloak", "net-kingdom", "Hetzner", "servers", "EUR", "152.40", "2.50"),
    ("railiance", "privacyidea", "net-kingdom", "Hetzner", "servers", "EUR", "38.90", "0"),
    ("railiance", "longhorn", "railiance-cluster", "Hetzner", "storage", "EUR", "210.00", "12.00"),
    ("railiance", "cert-manager", "railiance-cluster", "Hetzner", "dns", "EUR", "4.90", "0"),
    ("railiance", "traefik", "railiance-cluster", "Hetzner", "load balancer", "EUR", "45.15", "0"),
    ("railiance", "velero", "railiance-platform", "Backblaze", "backup storage", "USD", "31.20", "1.10"),
    ("railiance", "argocd", "railiance-platform", "Hetzner", "servers", "EUR", "29.75", "0"),
    ("railiance", "grafana", "railiance-platform", "Grafana Labs", "observability", "USD", "49.00", "0"),
    ("fos-hubs", "hub-gateway", "custodian", "Hetzner", "servers", "EUR", "64.26", "1.00"),
    ("fos-hubs", "core-hub", "custodian", "Hetzner", "servers", "EUR", "38.08", "0"),
    ("fos-hubs", "dev-hub", "custodian", "Hetzner", "servers", "EUR", "38.08", "0"),
    ("fos-hubs", "ops-hub", "custodian", "Hetzner", "servers", "EUR", "38.08", "0"),
]  # fmt: skip

# Spend no service owns: shown as unattributed, never dropped.
UNATTRIBUTED = [("Hetzner", "traffic", "EUR", "6.43")]

# provider, model, million tokens in / out in the first month, monthly growth of both,
# USD per million in / out (the export's prices)
TOKEN_MODELS: list[tuple[str, str, int, int, int, str, str]] = [
    ("anthropic", "claude-sonnet-4", 9, 2, 1, "3", "15"),
    ("anthropic", "claude-opus-4", 1, 0, 0, "15", "75"),
    ("openai", "gpt-4.1-mini", 4, 1, 0, "0.40", "1.60"),
]  # fmt: skip

# domain, kind, vendor, amount, currency, cadence, start (months before now), end
# (months from now, last day of that month) or None, service
COMMITMENTS: list[tuple[str, str, str, str, str, str, int, int | None, str | None]] = [
    ("custodian", "salary", "Platform engineer (half time)", "3500.00", "EUR", "monthly", 18, None, None),
    ("custodian", "subscription", "GitHub Team", "76.00", "EUR", "monthly", 30, None, None),
    ("custodian", "subscription", "Anthropic Team", "150.00", "USD", "monthly", 8, None, None),
    ("railiance-cluster", "contract", "Hetzner dedicated servers", "420.00", "EUR", "monthly", 20, 4, "railiance/longhorn"),
    ("net-kingdom", "contract", "Keycloak support", "2400.00", "EUR", "yearly", 10, None, "railiance/keycloak"),
    ("railiance-platform", "subscription", "Grafana Cloud Pro", "49.00", "USD", "monthly", 14, None, "railiance/grafana"),
]  # fmt: skip

# domain -> quarterly allocation (EUR); railiance-cluster's is tight on purpose.
QUARTERLY_BUDGETS = {
    "custodian": "15000.00",
    "net-kingdom": "1500.00",
    "railiance-cluster": "1350.00",
    "railiance-platform": "600.00",
}

# domain -> cash at the start of this month (EUR), alert below this many months
BALANCES = {
    "custodian": ("12000.00", 6),
    "net-kingdom": ("40000.00", 6),
    "railiance-cluster": ("30000.00", 6),
    "railiance-platform": ("8000.00", 3),
}


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(["demo", *map(str, parts)]).encode()).hexdigest()


def _months(today: date) -> list[date]:
    this_month = month_start(today)
    return [add_months(this_month, -11 + i) for i in range(12)]


def _cost_rows(today: date) -> list[models.CostEntry]:
    rows: list[models.CostEntry] = []
    for index, month in enumerate(_months(today)):
        for namespace, name, domain, vendor, category, code, first, step in SERVICE_COSTS:
            amount = D(first) + D(step) * index
            rows.append(
                models.CostEntry(
                    date=month,
                    amount=amount,
                    currency=code,
                    vendor=vendor,
                    category=category,
                    service_id=demo_service_id(namespace, name),
                    domain_slug=domain,
                    resource=f"{namespace}/{name}",
                    attribution="service",
                    source_file=SOURCE,
                    source_row=len(rows) + 1,
                    row_digest=_digest("cost", month, namespace, name),
                )
            )
        for vendor, category, code, value in UNATTRIBUTED:
            rows.append(
                models.CostEntry(
                    date=month,
                    amount=D(value),
                    currency=code,
                    vendor=vendor,
                    category=category,
                    attribution="unattributed",
                    source_file=SOURCE,
                    source_row=len(rows) + 1,
                    row_digest=_digest("cost", month, vendor, category),
                )
            )
    return rows


def _token_rows(today: date) -> list[models.TokenSpend]:
    rows: list[models.TokenSpend] = []
    for index, month in enumerate(_months(today)):
        for provider, model, m_in, m_out, growth, price_in, price_out in TOKEN_MODELS:
            tokens_in = (m_in + growth * index) * 1_000_000
            tokens_out = (m_out + growth * index) * 1_000_000 + 250_000
            cost = (D(tokens_in) * D(price_in) + D(tokens_out) * D(price_out)) / D(1_000_000)
            rows.append(
                models.TokenSpend(
                    at=datetime.combine(month.replace(day=15), time(12), tzinfo=UTC),
                    provider=provider,
                    model=model,
                    tokens_in=tokens_in,
                    tokens_out=tokens_out,
                    cost=cost,
                    currency="USD",
                    cost_source="export",
                    session_id=f"hub-agents-{format_month(month)}",
                    domain_slug="custodian",
                    source_file=SOURCE,
                    source_row=len(rows) + 1,
                    row_digest=_digest("tokens", month, provider, model),
                )
            )
    return rows


async def _new_by_digest(session: AsyncSession, model: Any, rows: list[Any]) -> list[Any]:
    digests = [r.row_digest for r in rows]
    known = set(
        await session.scalars(select(model.row_digest).where(model.row_digest.in_(digests)))
    )
    return [r for r in rows if r.row_digest not in known]


async def load(session: AsyncSession, today: date | None = None) -> dict[str, int]:
    """Load the demo (idempotently); ``today`` anchors its year (default: today, UTC)."""
    today = today or datetime.now(UTC).date()
    created: Counter[str] = Counter()
    for kind, model, rows in (
        ("cost_entries", models.CostEntry, _cost_rows(today)),
        ("token_spend", models.TokenSpend, _token_rows(today)),
    ):
        new = await _new_by_digest(session, model, rows)
        session.add_all(new)
        created[kind] += len(new)
    await session.flush()
    await _commitments(session, today, created)
    await _budgets(session, today, created)
    await _balances(session, today, created)
    return {
        kind: created[kind]
        for kind in ("cost_entries", "token_spend", "commitments", "budgets", "balances")
    }


async def _commitments(session: AsyncSession, today: date, created: Counter[str]) -> None:
    this_month = month_start(today)
    for domain, kind, vendor, amount, code, cadence, since, until, svc in COMMITMENTS:
        found = await session.scalar(
            select(models.Commitment).where(
                models.Commitment.domain_slug == domain,
                models.Commitment.vendor == vendor,
                models.Commitment.kind == kind,
            )
        )
        if found is not None:
            continue
        end = None
        if until is not None:  # the last day of the month `until` months from now
            end = date.fromordinal(add_months(this_month, until + 1).toordinal() - 1)
        service_id = demo_service_id(*svc.split("/")) if svc else None
        await service.create_commitment(
            session,
            service.CommitmentDefinition(
                kind=kind,
                vendor=vendor,
                amount=amount,
                currency=code,
                cadence=cadence,
                start=add_months(this_month, -since),
                end=end,
                domain_slug=domain,
                service_id=service_id,
            ),
        )
        created["commitments"] += 1


async def _budgets(session: AsyncSession, today: date, created: Counter[str]) -> None:
    quarters = sorted({str(Period.containing(m, "quarter")) for m in _months(today)})
    existing = {(b.domain_slug, b.period) for b in await service.list_budgets(session)}
    for domain, allocated in QUARTERLY_BUDGETS.items():
        for quarter in quarters:
            if (domain, quarter) in existing:
                continue
            await service.set_budget(
                session,
                domain_slug=domain,
                period=quarter,
                allocated=allocated,
                currency_code="EUR",
            )
            created["budgets"] += 1


async def _balances(session: AsyncSession, today: date, created: Counter[str]) -> None:
    as_of = month_start(today)
    existing = {(b.domain_slug, b.as_of) for b in await service.list_balances(session)}
    for domain, (amount, alert_below) in BALANCES.items():
        if (domain, as_of) in existing:
            continue
        await service.set_balance(
            session,
            domain_slug=domain,
            amount_value=amount,
            currency_code="EUR",
            as_of=as_of,
            alert_below_months=alert_below,
        )
        created["balances"] += 1
