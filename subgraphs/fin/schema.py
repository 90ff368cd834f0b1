"""The fin hub's GraphQL schema: thin resolvers over ``service.py`` and ``reports.py``.

Resolvers open a session (reads) or a transaction (mutations, one per mutation field)
and call plain functions; nested fields go through the request's DataLoaders, so a list
costs a few statements per level, never one per row.

Federation (docs/architecture.md §4):

* ``Service @key(fields: "id")`` is ops's; this hub adds ``cost(period)`` and
  ``monthlyCost(period)``. Its reference needs no lookup: cost entries name services by
  id, and a service without entries costs nothing.
* ``Domain @key(fields: "slug")`` is core's; this hub adds ``budget(period)`` and
  ``runway``. Budgets, balances and entries name their domain by slug.

Access (docs/architecture.md §5): everything here is money, so reading needs
``fin:read`` (also the fields added to other hubs' entities) and writing ``fin:write``.
Dates default to today (UTC); periods to the current quarter.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from identity.access import FIN_READ, FIN_WRITE
from subgraphs.core.kit.app import HubContext
from subgraphs.core.kit.errors import BadUserInput
from subgraphs.core.kit.federation import hub_schema
from subgraphs.core.kit.pagination import Connection
from subgraphs.fin import models, reports, service, signals
from subgraphs.fin.calculations import Period
from subgraphs.fin.events import EVENTS
from subgraphs.fin.money import Totals
from subgraphs.fin.schema_money import ConvertedTotal, CurrencyTotals, Decimal
from subgraphs.fin.schema_types import (
    Attribution,
    Balance,
    Budget,
    BudgetAlert,
    BurnRate,
    Cadence,
    Commitment,
    CommitmentKind,
    CostEntry,
    MonthCost,
    Runway,
    TokenSpend,
    TokenUsage,
)

Info = strawberry.Info[HubContext, None]

READ = [[FIN_READ]]
WRITE = [[FIN_WRITE]]

PeriodArg = Annotated[
    str | None,
    strawberry.argument(description="2026-Q3, 2026-07 or 2026; default: the current quarter."),
]
YearPeriod = Annotated[
    str | None,
    strawberry.argument(description="2026-Q3, 2026-07 or 2026; default: the current year."),
]
Horizon = Annotated[
    int | None,
    strawberry.argument(
        description=f"Months to project (default {reports.RUNWAY_MONTHS}, at most "
        f"{reports.MAX_RUNWAY_MONTHS})."
    ),
]
AsOf = Annotated[
    date | None, strawberry.argument(description="The day to judge on; default: today (UTC).")
]
First = Annotated[
    int | None, strawberry.argument(description="Page size (default 50, at most 500).")
]
After = Annotated[
    str | None, strawberry.argument(description="The endCursor of the previous page.")
]


def _ctx(info: Info) -> HubContext:
    return info.context


def _config(info: Info) -> reports.FinConfig:
    config = _ctx(info).extra.get("fin_config")
    return config if isinstance(config, reports.FinConfig) else reports.FinConfig()


def today() -> date:
    return datetime.now(UTC).date()


async def _signal(info: Info, session: AsyncSession, *domains: str | None) -> None:
    """Tell the other hubs, in the mutation's transaction, of the lines ``domains`` have
    crossed by it (``signals.py``): the events exist exactly when the change does."""
    await signals.evaluate(session, _config(info), today(), domains=domains)


def _period(text: str | None, default_kind: str = "quarter") -> Period:
    if text:
        return service.checked_period(text)
    return Period.containing(today(), default_kind)  # type: ignore[arg-type]


def _horizon(months: int | None) -> int:
    if months is None:
        return reports.RUNWAY_MONTHS
    if not 1 <= months <= reports.MAX_RUNWAY_MONTHS:
        raise BadUserInput(
            f"months must be between 1 and {reports.MAX_RUNWAY_MONTHS}", argument="months"
        )
    return months


def _loader(info: Info, name: tuple[Any, ...], batch: Any) -> DataLoader[Any, Any]:
    return _ctx(info).loaders.get(("fin", *name), batch)


# --- other hubs' entities, extended --------------------------------------------------


def _service_key(value: str) -> str:
    """An ops service id as stored; one that is no UUID matches nothing (never an error:
    the rest of the batch still answers)."""
    try:
        return service.service_id(value) or ""
    except BadUserInput:
        return ""


@strawberry.federation.type(keys=["id"])
class Service:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID, **_: Any) -> Service:
        # Nothing to read: cost entries name services by id.
        return cls(id=id)

    # Every field added to another hub's entity is nullable: a caller without fin:read
    # gets null and FORBIDDEN there, and still the entity from its owner. Generated
    # default selections (the gateway's MCP tools) leave these fields out, as they ask
    # more than the entity does (gateway/mcp/selection.py).
    @strawberry.federation.field(
        requires_scopes=READ,
        description="What it cost in the period, per currency; null without fin:read.",
    )
    async def cost(self, info: Info, period: PeriodArg = None) -> CurrencyTotals | None:
        when = _period(period)
        ctx = _ctx(info)

        async def batch(ids: list[str]) -> list[Totals]:
            keys = [_service_key(i) for i in ids]
            async with ctx.db.session() as s:
                found = await service.cost_of_services(s, keys, when)
            return [found.get(k, Totals()) for k in keys]

        totals = await _loader(info, ("cost", str(when)), batch).load(str(self.id))
        return CurrencyTotals.from_totals(totals)

    @strawberry.federation.field(
        requires_scopes=READ,
        description="What it cost in each month of the period; null without fin:read.",
    )
    async def monthly_cost(self, info: Info, period: YearPeriod = None) -> list[MonthCost] | None:
        when = _period(period, "year")
        ctx = _ctx(info)

        async def batch(ids: list[str]) -> list[dict[str, Totals]]:
            keys = [_service_key(i) for i in ids]
            async with ctx.db.session() as s:
                found = await service.monthly_cost_of_services(s, keys, when)
            return [found.get(k, {}) for k in keys]

        months = await _loader(info, ("monthly_cost", str(when)), batch).load(str(self.id))
        return [
            MonthCost(month=month, cost=CurrencyTotals.from_totals(totals))
            for month, totals in months.items()
        ]


@strawberry.federation.type(keys=["slug"])
class Domain:
    slug: str

    @classmethod
    def resolve_reference(cls, slug: str, **_: Any) -> Domain:
        # Nothing to read: budgets and balances name their domain by slug.
        return cls(slug=slug)

    @strawberry.federation.field(
        requires_scopes=READ,
        description="Its budget for the period, with spent and committed; null when it "
        "has none (or without fin:read).",
    )
    async def budget(self, info: Info, period: PeriodArg = None) -> Budget | None:
        when = _period(period)
        ctx, config, as_of = _ctx(info), _config(info), today()

        async def batch(slugs: list[str]) -> list[Budget | None]:
            async with ctx.db.session() as s:
                rows = await service.budgets_of(s, [(slug, str(when)) for slug in slugs])
                statuses = await reports.budget_statuses(s, list(rows.values()), as_of, config)
            by_slug = {st.budget.domain_slug: Budget.of(st) for st in statuses}
            return [by_slug.get(slug) for slug in slugs]

        budget: Budget | None = await _loader(info, ("budget", str(when)), batch).load(self.slug)
        return budget

    @strawberry.federation.field(
        requires_scopes=READ,
        description="How long its newest balance lasts, projected month by month; null "
        "without a balance (or without fin:read).",
    )
    async def runway(self, info: Info, months: Horizon = None) -> Runway | None:
        ctx, config, horizon = _ctx(info), _config(info), _horizon(months)

        async def batch(slugs: list[str]) -> list[Runway | None]:
            async with ctx.db.session() as s:
                found = await reports.runways(s, slugs, config, months=horizon)
            return [Runway.of(found[slug]) if slug in found else None for slug in slugs]

        runway: Runway | None = await _loader(info, ("runway", horizon), batch).load(self.slug)
        return runway


# --- inputs --------------------------------------------------------------------------


@strawberry.input(description="A domain's budget for a period (replaces one it has).")
class SetBudgetInput:
    domain: str
    period: str = strawberry.field(description="2026-Q3, 2026-07 or 2026.")
    allocated: Decimal
    currency: str = strawberry.field(description="ISO 4217, e.g. EUR.")


@strawberry.input(description="A subscription, contract or salary.")
class CommitmentInput:
    kind: CommitmentKind
    vendor: str
    amount: Decimal = strawberry.field(description="Due every cadence.")
    currency: str
    cadence: Cadence
    start: date
    domain: str
    end: date | None = strawberry.field(default=None, description="Last day in force.")
    service_id: strawberry.ID | None = strawberry.field(
        default=None, description="The ops service it pays for."
    )
    description: str = ""

    def definition(self) -> service.CommitmentDefinition:
        return service.CommitmentDefinition(
            kind=self.kind.value,
            vendor=self.vendor,
            amount=self.amount,
            currency=self.currency,
            cadence=self.cadence.value,
            start=self.start,
            end=self.end,
            domain_slug=self.domain,
            service_id=str(self.service_id) if self.service_id else None,
            description=self.description,
        )


@strawberry.input(description="Cash a domain has on a day (replaces that day's figure).")
class SetBalanceInput:
    domain: str
    amount: Decimal
    currency: str
    as_of: date
    alert_below_months: int = strawberry.field(
        default=6, description="Alert when the runway falls below this (0..24 months)."
    )


@strawberry.type(description="Cost entries summed per currency, and converted when asked.")
class CostTotals:
    per_currency: CurrencyTotals
    converted: ConvertedTotal | None = strawberry.field(
        description="All of it in the currency asked for, with the rates used; null when "
        "none was asked for."
    )


# --- root types ----------------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.federation.field(
        requires_scopes=READ,
        description="Budgets by domain and period, with spent, committed and thresholds.",
    )
    async def budgets(
        self,
        info: Info,
        domain: str | None = None,
        period: Annotated[str | None, strawberry.argument(description="Default: all.")] = None,
        as_of: AsOf = None,
    ) -> list[Budget]:
        async with _ctx(info).db.session() as s:
            rows = await service.list_budgets(s, domain_slug=domain, period=period)
            statuses = await reports.budget_statuses(s, rows, as_of or today(), _config(info))
        return [Budget.of(st) for st in statuses]

    @strawberry.federation.field(
        requires_scopes=READ, description="Commitments, by domain, vendor and start."
    )
    async def commitments(
        self,
        info: Info,
        domain: str | None = None,
        service_id: strawberry.ID | None = None,
        kind: CommitmentKind | None = None,
        active_on: Annotated[
            date | None, strawberry.argument(description="Only those in force that day.")
        ] = None,
    ) -> list[Commitment]:
        async with _ctx(info).db.session() as s:
            rows = await service.list_commitments(
                s,
                domain_slug=domain,
                service=str(service_id) if service_id else None,
                kind=kind.value if kind else None,
                active_on=active_on,
            )
        return [Commitment.from_row(r) for r in rows]

    @strawberry.federation.field(requires_scopes=READ, description="Balances, newest first.")
    async def balances(self, info: Info, domain: str | None = None) -> list[Balance]:
        async with _ctx(info).db.session() as s:
            rows = await service.list_balances(s, domain_slug=domain)
        return [Balance.from_row(r) for r in rows]

    @strawberry.federation.field(
        requires_scopes=READ, description="Cost entries, newest day first."
    )
    async def cost_entries(
        self,
        info: Info,
        period: Annotated[str | None, strawberry.argument(description="Default: all.")] = None,
        vendor: str | None = None,
        service_id: strawberry.ID | None = None,
        domain: str | None = None,
        category: str | None = None,
        attribution: Attribution | None = None,
        first: First = None,
        after: After = None,
    ) -> Connection[CostEntry]:
        where = _cost_filter(period, vendor, service_id, domain, category, attribution)
        async with _ctx(info).db.session() as s:
            page = await service.list_cost_entries(s, where, first=first, after=after)
        return Connection.from_page(page, CostEntry.from_row)

    @strawberry.federation.field(
        requires_scopes=READ,
        description="Cost entries summed per currency; with `currency`, converted by the "
        "configured rate table (NOT_CONFIGURED without one, BAD_USER_INPUT for a missing rate).",
    )
    async def cost_totals(
        self,
        info: Info,
        period: Annotated[str | None, strawberry.argument(description="Default: all.")] = None,
        vendor: str | None = None,
        service_id: strawberry.ID | None = None,
        domain: str | None = None,
        category: str | None = None,
        attribution: Attribution | None = None,
        currency: Annotated[
            str | None, strawberry.argument(description="Convert into this currency.")
        ] = None,
    ) -> CostTotals:
        where = _cost_filter(period, vendor, service_id, domain, category, attribution)
        async with _ctx(info).db.session() as s:
            totals = await service.cost_totals(s, where)
        converted = None
        if currency:
            converted = ConvertedTotal.from_converted(
                reports.convert(totals, service.currency(currency), _config(info))
            )
        return CostTotals(per_currency=CurrencyTotals.from_totals(totals), converted=converted)

    @strawberry.federation.field(requires_scopes=READ, description="Token spend, newest first.")
    async def token_spend(
        self,
        info: Info,
        period: Annotated[str | None, strawberry.argument(description="Default: all.")] = None,
        provider: str | None = None,
        model: str | None = None,
        session_id: str | None = None,
        domain: str | None = None,
        first: First = None,
        after: After = None,
    ) -> Connection[TokenSpend]:
        where = service.TokenFilter(period, provider, model, session_id, None, domain)
        async with _ctx(info).db.session() as s:
            page = await service.list_token_spend(s, where, first=first, after=after)
        return Connection.from_page(page, TokenSpend.from_row)

    @strawberry.federation.field(
        requires_scopes=READ, description="Token spend summed per provider and model."
    )
    async def token_usage(
        self,
        info: Info,
        period: Annotated[str | None, strawberry.argument(description="Default: all.")] = None,
        provider: str | None = None,
        model: str | None = None,
        session_id: str | None = None,
        domain: str | None = None,
    ) -> list[TokenUsage]:
        where = service.TokenFilter(period, provider, model, session_id, None, domain)
        async with _ctx(info).db.session() as s:
            usage = await service.token_usage(s, where)
        return [
            TokenUsage(
                provider=u.provider,
                model=u.model,
                tokens_in=u.tokens_in,
                tokens_out=u.tokens_out,
                requests=u.requests,
                cost=CurrencyTotals.from_totals(u.cost),
                priced_from_table=u.priced_from_table,
            )
            for u in usage
        ]

    @strawberry.federation.field(
        requires_scopes=READ,
        description="A domain's monthly burn in the period, one figure per currency: actual "
        "(average of the period's months so far) and projected (its commitments).",
    )
    async def burn_rate(
        self, info: Info, domain: str, period: PeriodArg = None, as_of: AsOf = None
    ) -> list[BurnRate]:
        when = _period(period)
        slug = service.domain(domain)
        async with _ctx(info).db.session() as s:
            figures = await reports.burn_rates(s, slug, when, as_of or today())
        return [BurnRate.of(slug, str(when), f) for f in figures]

    @strawberry.federation.field(
        requires_scopes=READ,
        description="How long a domain's newest balance lasts, month by month; null "
        "without a balance.",
    )
    async def runway(
        self,
        info: Info,
        domain: str,
        months: Horizon = None,
    ) -> Runway | None:
        slug = service.domain(domain)
        async with _ctx(info).db.session() as s:
            found = await reports.runways(s, [slug], _config(info), months=_horizon(months))
        return Runway.of(found[slug]) if slug in found else None

    @strawberry.federation.field(
        requires_scopes=READ,
        description="Budgets of the current period past a configured threshold (default 80% "
        "and 100% of allocated, by spent + committed) and runways below their threshold.",
    )
    async def budget_alerts(
        self, info: Info, domain: str | None = None, as_of: AsOf = None
    ) -> list[BudgetAlert]:
        async with _ctx(info).db.session() as s:
            found = await reports.alerts(s, as_of or today(), _config(info), domain_slug=domain)
        return [BudgetAlert.of(a) for a in found]


def _cost_filter(
    period: str | None,
    vendor: str | None,
    service_id: strawberry.ID | None,
    domain: str | None,
    category: str | None,
    attribution: Attribution | None,
) -> service.CostFilter:
    return service.CostFilter(
        period=period,
        vendor=vendor,
        service=str(service_id) if service_id else None,
        domain_slug=domain,
        category=category,
        attribution=str(attribution.value) if attribution else None,
    )


@strawberry.type
class Mutation:
    @strawberry.federation.mutation(
        requires_scopes=WRITE,
        description="Set a domain's budget for a period (created, or its allocation "
        "replaced); BAD_USER_INPUT for a bad period, amount or currency.",
    )
    async def set_budget(self, info: Info, input: SetBudgetInput) -> Budget:
        async with _ctx(info).db.transaction() as s:
            row = await service.set_budget(
                s,
                domain_slug=input.domain,
                period=input.period,
                allocated=input.allocated,
                currency_code=input.currency,
            )
            await _signal(info, s, row.domain_slug)
            (status,) = await reports.budget_statuses(s, [row], today(), _config(info))
        return Budget.of(status)

    @strawberry.federation.mutation(requires_scopes=WRITE, description="Remove a budget.")
    async def delete_budget(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        async with _ctx(info).db.transaction() as s:
            row = await s.get(models.Budget, service.row_id(str(id), "budget"))
            slug = row.domain_slug if row is not None else None
            key = await service.delete_budget(s, str(id))
            await _signal(info, s, slug)
        return strawberry.ID(str(key))

    @strawberry.federation.mutation(
        requires_scopes=WRITE,
        description="Record a commitment; BAD_USER_INPUT for a bad kind, cadence, amount, "
        "currency, service id or an end before its start.",
    )
    async def create_commitment(self, info: Info, input: CommitmentInput) -> Commitment:
        async with _ctx(info).db.transaction() as s:
            row = await service.create_commitment(s, input.definition())
            await _signal(info, s, row.domain_slug)
        return Commitment.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE, description="Replace what a commitment says."
    )
    async def update_commitment(
        self, info: Info, id: strawberry.ID, input: CommitmentInput
    ) -> Commitment:
        async with _ctx(info).db.transaction() as s:
            before = (await service.get_commitment(s, str(id))).domain_slug
            row = await service.update_commitment(s, str(id), input.definition())
            await _signal(info, s, before, row.domain_slug)
        return Commitment.from_row(row)

    @strawberry.federation.mutation(
        requires_scopes=WRITE, description="End a commitment: `end` is its last day in force."
    )
    async def end_commitment(self, info: Info, id: strawberry.ID, end: date) -> Commitment:
        async with _ctx(info).db.transaction() as s:
            row = await service.end_commitment(s, str(id), end)
            await _signal(info, s, row.domain_slug)
        return Commitment.from_row(row)

    @strawberry.federation.mutation(requires_scopes=WRITE, description="Remove a commitment.")
    async def delete_commitment(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        async with _ctx(info).db.transaction() as s:
            slug = (await service.get_commitment(s, str(id))).domain_slug
            key = await service.delete_commitment(s, str(id))
            await _signal(info, s, slug)
        return strawberry.ID(str(key))

    @strawberry.federation.mutation(
        requires_scopes=WRITE,
        description="Set the cash a domain has on a day (its runway starts from the newest).",
    )
    async def set_balance(self, info: Info, input: SetBalanceInput) -> Balance:
        async with _ctx(info).db.transaction() as s:
            row = await service.set_balance(
                s,
                domain_slug=input.domain,
                amount_value=input.amount,
                currency_code=input.currency,
                as_of=input.as_of,
                alert_below_months=input.alert_below_months,
            )
            await _signal(info, s, row.domain_slug)
        return Balance.from_row(row)


schema = hub_schema(Query, Mutation, types=[Service, Domain], events=EVENTS)
