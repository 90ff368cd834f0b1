"""The fin hub's GraphQL object types and enums: plain values built from rows and
reports, no resolvers that read the database (``schema.py`` has those).

Every type needs ``fin:read``: money is visible only to those allowed to see it.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

import strawberry

from identity.access import FIN_READ
from subgraphs.fin import models, reports
from subgraphs.fin import money as fin_money
from subgraphs.fin.calculations import BurnRate as BurnFigures
from subgraphs.fin.calculations import CommitmentTerms, format_month, shown_hundredths
from subgraphs.fin.schema_money import CurrencyTotals, Decimal, Money, RateUsed

READ = [[FIN_READ]]
# Decimal below is the GraphQL scalar (schema_money); values are decimal.Decimal.


def money(amount: Decimal, currency: str, *, rounded: bool = False) -> Money:
    return Money.from_money(fin_money.Money(amount, currency), rounded=rounded)


def rates(used: dict[str, Decimal]) -> list[RateUsed]:
    return [RateUsed(currency=c, rate=r) for c, r in sorted(used.items())]


@strawberry.enum(description="What kind of recurring cost a commitment is.")
class CommitmentKind(Enum):
    SUBSCRIPTION = "subscription"
    CONTRACT = "contract"
    SALARY = "salary"


@strawberry.enum(description="How often a commitment's amount is due.")
class Cadence(Enum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


@strawberry.enum(description="How a cost entry was linked to an ops service.")
class Attribution(Enum):
    SERVICE = strawberry.enum_value("service", description="The row named the service.")
    RULE = strawberry.enum_value("rule", description="A vendor or resource-label rule matched.")
    UNATTRIBUTED = strawberry.enum_value("unattributed", description="No service: shown as such.")


@strawberry.enum(description="Where a token spend's cost came from.")
class CostSource(Enum):
    EXPORT = strawberry.enum_value("export", description="The provider's export.")
    PRICE_TABLE = strawberry.enum_value(
        "price_table", description="The hub's per-model price table (the export had none)."
    )


@strawberry.enum(description="What a budget alert is about (the kit's event type names).")
class AlertKind(Enum):
    BUDGET_THRESHOLD_CROSSED = "budget_threshold_crossed"
    RUNWAY_BELOW_THRESHOLD = "runway_below_threshold"


@strawberry.federation.type(
    requires_scopes=READ,
    description="What a domain may spend in a period, and what it has spent and committed "
    "(derived from cost entries, token spend and commitments; never typed in).",
)
class Budget:
    id: strawberry.ID
    domain: str = strawberry.field(description="The domain's slug (core's Domain).")
    period: str = strawberry.field(description="2026-Q3 (a quarter), 2026-07 or 2026.")
    period_start: date
    period_end: date = strawberry.field(description="The first day after the period.")
    allocated: Money
    spent: CurrencyTotals = strawberry.field(
        description="Cost entries and token spend of the domain in the months of the period "
        "begun on the day judged (asOf, default today), per currency."
    )
    committed: CurrencyTotals = strawberry.field(
        description="What its commitments cost in the months of the period not yet begun."
    )
    used: Money = strawberry.field(
        description="Spent + committed in the budget's currency (other currencies converted "
        "with the rate table, or left out: see notes)."
    )
    rates_used: list[RateUsed]
    used_percent: Decimal | None = strawberry.field(
        description="Used as a percentage of allocated, to two places (half up, but never "
        "shown at a threshold it has not reached); null when nothing is allocated but "
        "something is used."
    )
    crossed_thresholds: list[Decimal] = strawberry.field(
        description="The configured thresholds (percent) used has reached, ascending."
    )
    notes: list[str]

    @classmethod
    def of(cls, status: reports.BudgetStatus) -> Budget:
        row = status.budget
        return cls(
            id=strawberry.ID(str(row.id)),
            domain=row.domain_slug,
            period=row.period,
            period_start=row.period_start,
            period_end=row.period_end,
            allocated=money(row.allocated, row.currency),
            spent=CurrencyTotals.from_totals(status.spent),
            committed=CurrencyTotals.from_totals(status.committed),
            used=Money.from_money(status.used.money),
            rates_used=rates(status.used.rates_used),
            used_percent=shown_hundredths(status.used_percent, status.thresholds)
            if status.used_percent is not None
            else None,
            crossed_thresholds=[c.threshold for c in status.crossed],
            notes=status.notes,
        )


@strawberry.federation.type(
    requires_scopes=READ, description="A subscription, contract or salary the domain pays."
)
class Commitment:
    id: strawberry.ID
    kind: CommitmentKind
    vendor: str
    description: str
    amount: Money = strawberry.field(description="Due every cadence.")
    monthly_amount: Money = strawberry.field(description="Its monthly equivalent.")
    cadence: Cadence
    start: date
    end: date | None = strawberry.field(description="Its last day in force; null: open-ended.")
    service_id: strawberry.ID | None = strawberry.field(description="The ops service it pays for.")
    domain: str

    @classmethod
    def from_row(cls, row: models.Commitment) -> Commitment:
        terms = CommitmentTerms(
            row.amount,
            row.currency,
            row.cadence,  # type: ignore[arg-type]  # checked on write
            row.start_date,
            row.end_date,
        )
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=CommitmentKind(row.kind),
            vendor=row.vendor,
            description=row.description,
            amount=money(row.amount, row.currency),
            monthly_amount=money(terms.monthly_amount(), row.currency),
            cadence=Cadence(row.cadence),
            start=row.start_date,
            end=row.end_date,
            service_id=strawberry.ID(row.service_id) if row.service_id else None,
            domain=row.domain_slug,
        )


@strawberry.federation.type(requires_scopes=READ, description="Cash a domain has at a date.")
class Balance:
    id: strawberry.ID
    domain: str
    amount: Money
    as_of: date
    alert_below_months: int = strawberry.field(
        description="Runway below this many months raises an alert."
    )

    @classmethod
    def from_row(cls, row: models.Balance) -> Balance:
        return cls(
            id=strawberry.ID(str(row.id)),
            domain=row.domain_slug,
            amount=money(row.amount, row.currency),
            as_of=row.as_of,
            alert_below_months=row.alert_below_months,
        )


@strawberry.federation.type(requires_scopes=READ, description="One line of an imported bill.")
class CostEntry:
    id: strawberry.ID
    date: date
    amount: Money
    vendor: str
    category: str
    service_id: strawberry.ID | None = strawberry.field(description="The ops service, if any.")
    domain: str | None
    resource: str | None = strawberry.field(description="The bill's resource label.")
    attribution: Attribution
    source_file: str
    source_row: int
    imported_at: datetime

    @classmethod
    def from_row(cls, row: models.CostEntry) -> CostEntry:
        return cls(
            id=strawberry.ID(str(row.id)),
            date=row.date,
            amount=money(row.amount, row.currency),
            vendor=row.vendor,
            category=row.category,
            service_id=strawberry.ID(row.service_id) if row.service_id else None,
            domain=row.domain_slug,
            resource=row.resource,
            attribution=Attribution(row.attribution),
            source_file=row.source_file,
            source_row=row.source_row,
            imported_at=row.imported_at,
        )


@strawberry.federation.type(requires_scopes=READ, description="LLM usage of one export row.")
class TokenSpend:
    id: strawberry.ID
    at: datetime
    provider: str
    model: str
    tokens_in: int
    tokens_out: int
    cost: Money
    cost_source: CostSource
    session_id: str | None
    service_id: strawberry.ID | None
    domain: str | None
    source_file: str
    source_row: int

    @classmethod
    def from_row(cls, row: models.TokenSpend) -> TokenSpend:
        return cls(
            id=strawberry.ID(str(row.id)),
            at=row.at,
            provider=row.provider,
            model=row.model,
            tokens_in=row.tokens_in,
            tokens_out=row.tokens_out,
            cost=money(row.cost, row.currency),
            cost_source=CostSource(row.cost_source),
            session_id=row.session_id,
            service_id=strawberry.ID(row.service_id) if row.service_id else None,
            domain=row.domain_slug,
            source_file=row.source_file,
            source_row=row.source_row,
        )


@strawberry.federation.type(requires_scopes=READ, description="Tokens and cost of one model.")
class TokenUsage:
    provider: str
    model: str
    tokens_in: int
    tokens_out: int
    requests: int = strawberry.field(description="Export rows summed.")
    cost: CurrencyTotals
    priced_from_table: int = strawberry.field(
        description="Rows whose cost came from the price table, not the export."
    )


@strawberry.federation.type(requires_scopes=READ, description="A domain's monthly burn.")
class BurnRate:
    domain: str
    period: str
    currency: str
    actual_monthly: Money = strawberry.field(
        description="Average monthly spend over the period's months so far."
    )
    projected_monthly: Money = strawberry.field(
        description="The monthly equivalents of the commitments active in projectedMonth: "
        "the month after the period, or after asOf's month while the period runs."
    )
    months_averaged: int
    projected_month: str | None

    @classmethod
    def of(cls, slug: str, period: str, figures: BurnFigures) -> BurnRate:
        code = figures.currency or ""
        return cls(
            domain=slug,
            period=period,
            currency=code,
            actual_monthly=money(figures.actual_monthly, code),
            projected_monthly=money(figures.projected_monthly, code),
            months_averaged=figures.months_with_data,
            projected_month=format_month(figures.projected_month)
            if figures.projected_month
            else None,
        )


@strawberry.federation.type(requires_scopes=READ, description="One projected month.")
class RunwayMonth:
    month: str
    opening: Money
    spend: Money
    closing: Money


@strawberry.federation.type(
    requires_scopes=READ,
    description="How long a domain's newest balance lasts: a 24-month projection with its "
    "commitments (known end dates lower the burn).",
)
class Runway:
    domain: str
    balance: Money = strawberry.field(
        description="Its newest balance, with the same day's balances in other currencies "
        "converted (see ratesUsed) or left out (see notes)."
    )
    balance_as_of: date
    monthly_burn: Money = strawberry.field(
        description="Average spend of the three whole months before the balance's month."
    )
    months_remaining: Decimal | None = strawberry.field(
        description="Months until the balance runs out, to two places (half up, but never "
        "shown at the threshold when below it); null: it lasts the projection and at "
        "least 24 months."
    )
    exhausted_in: str | None = strawberry.field(description="The month it runs out (YYYY-MM).")
    threshold_months: Decimal
    below_threshold: bool
    projection: list[RunwayMonth]
    rates_used: list[RateUsed]
    notes: list[str]

    @classmethod
    def of(cls, report: reports.RunwayReport) -> Runway:
        code = report.balance.currency
        result = report.runway
        return cls(
            domain=report.domain_slug,
            balance=money(report.cash, code),
            balance_as_of=report.balance.as_of,
            monthly_burn=money(report.monthly_burn, code, rounded=True),
            months_remaining=shown_hundredths(result.months_remaining, [result.threshold_months])
            if result.months_remaining is not None
            else None,
            exhausted_in=format_month(result.exhausted_in) if result.exhausted_in else None,
            threshold_months=result.threshold_months,
            below_threshold=result.below_threshold,
            projection=[
                RunwayMonth(
                    month=format_month(m.month),
                    opening=money(m.opening, code, rounded=True),
                    spend=money(m.spend, code, rounded=True),
                    closing=money(m.closing, code, rounded=True),
                )
                for m in result.projection
            ],
            rates_used=rates(report.rates_used),
            notes=report.notes,
        )


@strawberry.federation.type(
    requires_scopes=READ, description="A budget past a threshold, or a runway below one."
)
class BudgetAlert:
    kind: AlertKind
    domain: str
    period: str | None
    threshold: Decimal | None = strawberry.field(
        description="Percent of allocated, or months of runway."
    )
    used_percent: Decimal | None
    months_remaining: Decimal | None
    message: str

    @classmethod
    def of(cls, alert: reports.Alert) -> BudgetAlert:
        def hundredths(value: Decimal | None) -> Decimal | None:
            return shown_hundredths(value, alert.thresholds) if value is not None else None

        return cls(
            kind=AlertKind(alert.kind),
            domain=alert.domain_slug,
            period=alert.period,
            threshold=alert.threshold,
            used_percent=hundredths(alert.used_percent),
            months_remaining=hundredths(alert.months_remaining),
            message=alert.message,
        )


@strawberry.federation.type(requires_scopes=READ, description="A service's cost in one month.")
class MonthCost:
    month: str
    cost: CurrencyTotals
