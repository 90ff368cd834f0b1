"""What the fin hub derives from its records: a budget's committed, spent and used share,
burn rate, runway, and the alerts they raise. Never typed in, always computed.

The arithmetic is ``calculations.py``'s (one currency at a time); this module gathers
the figures from the database in a few statements for any number of domains, and puts
amounts in different currencies together only through the configured rate table
(:class:`FinConfig`), saying which rates it used. Without a rate that a figure needs,
the amounts in that currency are left out of it and a note says so.

Rules chosen here:

* A budget's **spent** is the cost entries and token spend of its domain dated in the
  months of its period begun on ``as_of``; its **committed** is what the domain's
  commitments will cost in the months of the period that have not begun yet (months
  begun are billed, so their commitments are in ``spent`` once imported: each month is
  counted once, also when ``as_of`` is in the past and later months are imported).
* Amounts in another currency than the figure's are converted one currency at a time:
  a currency the rate table has no rate for is left out (and named in a note), the
  others are converted and their rates named.
* **Burn rate** of a period: the actual figure averages the period's months up to
  ``as_of``; the projected one is the commitments active in the month after.
* **Runway** starts from a domain's newest balance, in its currency, in the balance's
  month: the monthly burn is the average of the three whole months before it, and the
  projection runs 24 months with the domain's commitments (``calculations.runway``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.errors import BadUserInput, NotConfigured
from subgraphs.core.kit.event_types import EventType
from subgraphs.fin import calculations, models, service
from subgraphs.fin.calculations import (
    DEFAULT_THRESHOLDS,
    MAX_RUNWAY_MONTHS,
    RUNWAY_MONTHS,
    TRAILING_MONTHS,
    BurnRate,
    CommitmentTerms,
    Period,
    Runway,
    ThresholdCrossed,
    add_months,
    format_month,
    month_start,
    shown_hundredths,
)
from subgraphs.fin.money import MONEY_CONTEXT, Converted, MissingRate, Money, RateTable, Totals

__all__ = [
    "MAX_RUNWAY_MONTHS",
    "RUNWAY_MONTHS",
    "TRAILING_MONTHS",
    "Alert",
    "BudgetStatus",
    "FinConfig",
    "InCurrency",
    "RunwayReport",
    "alerts",
    "billed_until",
    "budget_statuses",
    "burn_rates",
    "committed_in",
    "convert",
    "in_currency",
    "runways",
]


@dataclass(frozen=True)
class FinConfig:
    """The hub's options (``[hubs.fin.options]``) that change what is derived.

    ``budget_thresholds``: percentages of allocated (default 80 and 100), as strings or
    ints; ``rates``: a rate table (``{base = "EUR", rates = {USD = "0.92"}}``), none by
    default, so nothing is converted.
    """

    thresholds: tuple[Decimal, ...] = DEFAULT_THRESHOLDS
    rates: RateTable | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> FinConfig:
        raw = options.get("budget_thresholds")
        thresholds = DEFAULT_THRESHOLDS
        if raw is not None:
            try:
                values = [raw] if isinstance(raw, str | int) else list(raw)
                if any(isinstance(v, float | bool) for v in values):
                    raise ValueError('write thresholds as strings or ints, e.g. "80"')
                thresholds = tuple(sorted({Decimal(str(v)) for v in values}))
                if not thresholds or any(not t.is_finite() or t <= 0 for t in thresholds):
                    raise ValueError("thresholds are positive percentages")
            except (ValueError, TypeError, ArithmeticError) as error:
                raise NotConfigured(f"fin option budget_thresholds: {error}") from None
        rates = None
        if options.get("rates") is not None:
            try:
                rates = RateTable.from_config(options["rates"])
            except ValueError as error:
                raise NotConfigured(f"fin option rates: {error}") from None
        return cls(thresholds=thresholds, rates=rates)


@dataclass
class InCurrency:
    """Totals brought into one currency: the amount, the rates used, what was left out."""

    money: Money
    rates_used: dict[str, Decimal] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)


def in_currency(totals: Totals, currency: str, config: FinConfig) -> InCurrency:
    """``totals`` in ``currency``: each other currency converted with the rate table when
    it has that rate, and left out (named in ``left_out``) when it has not. One missing
    rate leaves out that currency alone, never the others the table can convert."""
    total = Decimal(0)
    used: dict[str, Decimal] = {}
    left_out: list[str] = []
    for code, amount in totals.by_currency.items():
        if code == currency:
            total = MONEY_CONTEXT.add(total, amount)
            continue
        try:
            if config.rates is None:
                raise MissingRate("no rate table", [code])
            rate = config.rates.rate(code, currency)
        except MissingRate:
            left_out.append(code)
            continue
        used[code] = rate
        total = MONEY_CONTEXT.add(total, MONEY_CONTEXT.multiply(amount, rate))
    return InCurrency(Money(total, currency), used, left_out)


def convert(totals: Totals, currency: str, config: FinConfig) -> Converted:
    """All of ``totals`` in ``currency`` by the rate table: NOT_CONFIGURED without one,
    BAD_USER_INPUT naming the currencies it has no rate for."""
    if config.rates is None:
        if all(code == currency for code in totals.currencies):
            return Converted(Money(totals.by_currency.get(currency, Decimal(0)), currency), {})
        raise NotConfigured(
            "the fin hub has no rate table: set [hubs.fin.options] rates to convert currencies"
        )
    try:
        return config.rates.convert(totals, currency)
    except MissingRate as error:
        raise BadUserInput(str(error), argument="currency") from None


def _notes(left_out: Iterable[str], what: str, currency: str) -> list[str]:
    names = sorted(set(left_out))
    if not names:
        return []
    return [
        f"{what} in {', '.join(names)} left out: no rate into {currency} "
        "(configure the fin hub's rate table to convert them)"
    ]


def _terms(rows: Iterable[models.Commitment]) -> list[CommitmentTerms]:
    return [
        CommitmentTerms(
            amount=r.amount,
            currency=r.currency,
            cadence=r.cadence,  # type: ignore[arg-type]  # checked on write
            start=r.start_date,
            end=r.end_date,
        )
        for r in rows
    ]


def _terms_in(
    terms: Sequence[CommitmentTerms], currency: str, config: FinConfig
) -> tuple[list[CommitmentTerms], dict[str, Decimal], list[str]]:
    """The commitments in ``currency``: converted when the rate table can, else left out."""
    kept: list[CommitmentTerms] = []
    used: dict[str, Decimal] = {}
    left_out: list[str] = []
    for term in terms:
        if term.currency == currency:
            kept.append(term)
            continue
        try:
            if config.rates is None:
                raise MissingRate("no rate table", [term.currency])
            rate = config.rates.rate(term.currency, currency)
        except MissingRate:
            left_out.append(term.currency)
            continue
        used[term.currency] = rate
        amount = MONEY_CONTEXT.multiply(term.amount, rate)
        kept.append(CommitmentTerms(amount, currency, term.cadence, term.start, term.end))
    return kept, used, left_out


def committed_in(terms: Sequence[CommitmentTerms], when: Period, as_of: date) -> Totals:
    """What the commitments cost in the period's months not yet begun on ``as_of``."""
    totals = Totals()
    begun = month_start(as_of)
    for month in when.months():
        if month <= begun:
            continue
        for term in terms:
            if term.active_in(month):
                totals.add(Money(term.monthly_amount(), term.currency))
    return totals


# --- budgets -------------------------------------------------------------------------


@dataclass
class BudgetStatus:
    budget: models.Budget
    spent: Totals
    committed: Totals
    used: InCurrency  # spent + committed in the budget's currency
    used_percent: Decimal | None
    crossed: list[ThresholdCrossed]
    notes: list[str]
    thresholds: tuple[Decimal, ...] = DEFAULT_THRESHOLDS  # judged against (the hub's)


def billed_until(start: date, end: date, as_of: date) -> date:
    """The end (exclusive) of the months of ``[start, end)`` begun on ``as_of``: what a
    budget has spent is dated before it, what it has committed from it on."""
    begun = month_start(as_of)
    if begun < start:
        return start
    return end if begun >= end else add_months(begun, 1)


async def budget_statuses(
    session: AsyncSession, budgets: Sequence[models.Budget], as_of: date, config: FinConfig
) -> list[BudgetStatus]:
    """Each budget with what it has spent and committed on ``as_of``: per distinct spending
    window two statements, and one for every domain's commitments.

    Spent is what is dated in the period's months begun on ``as_of``, committed what the
    commitments cost in the months after: a month is counted once, as one or the other.
    """
    windows: dict[tuple[date, date], set[str]] = defaultdict(set)
    for budget in budgets:
        until = billed_until(budget.period_start, budget.period_end, as_of)
        windows[(budget.period_start, until)].add(budget.domain_slug)
    # Keyed by the whole window: a domain's year, quarter and month budgets can share
    # a first day, never their spend.
    spent: dict[tuple[str, date, date], Totals] = {}
    for (start, until), slugs in windows.items():
        if until <= start:  # nothing begun yet: nothing spent
            continue
        found = await service.spent_by_domains(session, sorted(slugs), start, until)
        for slug, totals in found.items():
            spent[(slug, start, until)] = totals
    commitments = await service.commitments_of_domains(session, [b.domain_slug for b in budgets])
    return [
        _status(
            budget,
            spent.get(
                (
                    budget.domain_slug,
                    budget.period_start,
                    billed_until(budget.period_start, budget.period_end, as_of),
                ),
                Totals(),
            ),
            _terms(commitments.get(budget.domain_slug, [])),
            as_of,
            config,
        )
        for budget in budgets
    ]


def _status(
    budget: models.Budget,
    spent: Totals,
    terms: list[CommitmentTerms],
    as_of: date,
    config: FinConfig,
) -> BudgetStatus:
    when = service.checked_period(budget.period)
    committed = committed_in(terms, when, as_of)
    both = Totals().merge(spent).merge(committed)
    used = in_currency(both, budget.currency, config)
    notes = _notes(used.left_out, "spending", budget.currency)
    percent = calculations.budget_used_percent(budget.allocated, Decimal(0), used.money.amount)
    crossed = calculations.budget_alerts(
        budget.allocated, Decimal(0), used.money.amount, config.thresholds
    )
    return BudgetStatus(
        budget, spent, committed, used, percent, crossed, notes, tuple(config.thresholds)
    )


# --- burn rate -----------------------------------------------------------------------


async def burn_rates(session: AsyncSession, slug: str, when: Period, as_of: date) -> list[BurnRate]:
    """The domain's burn in the period, one figure per currency it spends or commits in."""
    last = min(when.last_day, as_of)
    if last < when.start:  # a period that has not begun: nothing spent yet
        last = when.start
    monthly = (await service.monthly_spent_by_domains(session, [slug], when.start, when.end))[slug]
    terms = _terms((await service.commitments_of_domains(session, [slug])).get(slug, []))
    currencies = sorted(
        {c for t in monthly.values() for c in t.currencies} | {t.currency for t in terms}
    )
    rates = []
    months = calculations.months_between(when.start, last) + 1
    for code in currencies:
        actual = {
            calculations.parse_month(month): totals.by_currency[code]
            for month, totals in monthly.items()
            if code in totals.by_currency
        }
        mine = [t for t in terms if t.currency == code]
        rates.append(calculations.burn_rate(actual, mine, last, months, currency=code))
    return rates


# --- runway --------------------------------------------------------------------------


@dataclass
class RunwayReport:
    """A domain's runway. ``balance`` is its newest balance; ``cash`` what the projection
    starts from: that balance plus the domain's balances of the same day in other
    currencies, converted with the rate table (or left out, with a note)."""

    domain_slug: str
    balance: models.Balance
    monthly_burn: Decimal
    runway: Runway
    rates_used: dict[str, Decimal]
    notes: list[str]
    cash: Decimal


async def runways(
    session: AsyncSession,
    slugs: Sequence[str],
    config: FinConfig,
    *,
    months: int = RUNWAY_MONTHS,
) -> dict[str, RunwayReport]:
    """Each domain's runway from its newest balance (domains without one have none):
    four statements for any number of domains."""
    balances = await service.newest_balances(session, slugs)
    if not balances:
        return {}
    starts = {slug: month_start(found[0].as_of) for slug, found in balances.items()}
    window_start = add_months(min(starts.values()), -TRAILING_MONTHS)
    window_end = max(starts.values())
    monthly = await service.monthly_spent_by_domains(
        session, list(balances), window_start, window_end
    )
    commitments = await service.commitments_of_domains(session, list(balances))
    return {
        slug: _runway(slug, found, monthly[slug], _terms(commitments.get(slug, [])), config, months)
        for slug, found in balances.items()
    }


def _runway(
    slug: str,
    balances: Sequence[models.Balance],
    monthly: Mapping[str, Totals],
    terms: list[CommitmentTerms],
    config: FinConfig,
    months: int,
) -> RunwayReport:
    balance = balances[0]
    start = month_start(balance.as_of)
    code = balance.currency
    # The same day's cash in other currencies is the domain's too: converted, or named.
    cash = in_currency(Totals(Money(b.amount, b.currency) for b in balances), code, config)
    used: dict[str, Decimal] = dict(cash.rates_used)
    window = {format_month(add_months(start, -i)) for i in range(1, TRAILING_MONTHS + 1)}
    actual: dict[date, Decimal] = {}
    left_out: list[str] = []
    for month, totals in monthly.items():
        if month in window:
            converted = in_currency(totals, code, config)
            actual[calculations.parse_month(month)] = converted.money.amount
            used.update(converted.rates_used)
            left_out += converted.left_out
    kept, term_rates, terms_left_out = _terms_in(terms, code, config)
    used.update(term_rates)
    burn = calculations.burn_rate(
        actual, kept, add_months(start, -1), TRAILING_MONTHS, currency=code
    )
    # Projected over at least the default horizon, so a shorter projection asked for
    # still judges the balance's threshold (at most 24 months) and still says when the
    # cash runs out; only the months asked for are shown.
    span = max(months, RUNWAY_MONTHS)
    projection = calculations.runway(
        cash.money.amount,
        code,
        start,
        burn.actual_monthly,
        kept,
        months=span,
        threshold_months=Decimal(min(balance.alert_below_months, span)),
    )
    if span > months:
        projection = replace(
            projection, projection=projection.projection[:months], horizon_months=months
        )
    notes = (
        _notes(cash.left_out, "balances", code)
        + _notes(left_out, "spending", code)
        + _notes(terms_left_out, "commitments", code)
    )
    return RunwayReport(
        slug, balance, burn.actual_monthly, projection, used, notes, cash.money.amount
    )


# --- alerts --------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    kind: str  # budget_threshold_crossed | runway_below_threshold (kit.event_types)
    domain_slug: str
    message: str
    period: str | None = None
    threshold: Decimal | None = None
    used_percent: Decimal | None = None
    months_remaining: Decimal | None = None
    # What the figure was judged against (the hub's budget thresholds, or the runway's),
    # so that it is never shown across one (calculations.shown_hundredths).
    thresholds: tuple[Decimal, ...] = ()


async def alerts(
    session: AsyncSession, as_of: date, config: FinConfig, *, domain_slug: str | None = None
) -> list[Alert]:
    """Budgets of periods containing ``as_of`` past a threshold (the highest crossed), and
    domains whose runway is below their threshold."""
    budgets = [
        b
        for b in await service.list_budgets(session, domain_slug=domain_slug)
        if b.period_start <= as_of < b.period_end
    ]
    found: list[Alert] = []
    for status in await budget_statuses(session, budgets, as_of, config):
        if not status.crossed:
            continue
        top = status.crossed[-1]
        budget = status.budget
        shown = (
            "more than allocated"
            if top.used_percent is None
            else f"{shown_hundredths(top.used_percent, config.thresholds)}%"
        )
        found.append(
            Alert(
                kind=EventType.BUDGET_THRESHOLD_CROSSED.value,
                domain_slug=budget.domain_slug,
                period=budget.period,
                threshold=top.threshold,
                used_percent=top.used_percent,
                thresholds=tuple(config.thresholds),
                message=f"{budget.domain_slug} {budget.period}: spent and committed reach "
                f"{shown} of {budget.allocated.normalize():f} {budget.currency} "
                f"(threshold {top.threshold}%)",
            )
        )
    slugs = [domain_slug] if domain_slug else await service.domains_with_balances(session)
    for slug, report in sorted((await runways(session, slugs, config)).items()):
        if report.runway.below_threshold:
            months = report.runway.months_remaining
            found.append(
                Alert(
                    kind=EventType.RUNWAY_BELOW_THRESHOLD.value,
                    domain_slug=slug,
                    threshold=report.runway.threshold_months,
                    months_remaining=months,
                    thresholds=(report.runway.threshold_months,),
                    message=f"{slug}: runway of "
                    f"{_months(months, report.runway.threshold_months)} months, below its "
                    f"threshold of {report.runway.threshold_months} months",
                )
            )
    return found


def _months(value: Decimal | None, threshold: Decimal) -> str:
    return "no" if value is None else str(shown_hundredths(value, [threshold]))
