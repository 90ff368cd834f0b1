"""The fin hub's records: budgets, commitments, balances, and what was spent.

Plain async functions over a session; no GraphQL and no HTTP. Each checks all of its
input before it writes anything and raises the kit's ``HubError`` subclasses, so a
mutation that fails (run in one transaction by its caller) has changed nothing.

Sums are :class:`~subgraphs.fin.money.Totals`, one per currency: amounts in different
currencies are never added here (``reports.py`` converts when a rate table is set).
Lookups used by nested GraphQL fields take many keys and answer with one statement.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.errors import BadUserInput, NotFound
from subgraphs.core.kit.pagination import Page, paginate
from subgraphs.fin import models
from subgraphs.fin.calculations import (
    MAX_RUNWAY_MONTHS,
    TRAILING_MONTHS,
    Period,
    add_months,
    format_month,
    month_start,
)
from subgraphs.fin.calculations import parse_period as _parse_period
from subgraphs.fin.money import Money, Totals, check_currency, parse_amount

# What NUMERIC(18, 6) holds: twelve integer digits (and SQLite's int64 of millionths).
MAX_AMOUNT = Decimal(10) ** (models.PRECISION - models.SCALE)
MAX_ALERT_MONTHS = 24  # the runway projection's horizon


# --- input checks --------------------------------------------------------------------


def required(value: str | None, argument: str, max_length: int) -> str:
    text = (value or "").strip()
    if not text:
        raise BadUserInput(f"{argument} must not be empty", argument=argument)
    if len(text) > max_length:
        raise BadUserInput(f"{argument} is longer than {max_length} characters", argument=argument)
    return text


def optional(value: str | None, argument: str, max_length: int) -> str | None:
    return required(value, argument, max_length) if value and value.strip() else None


def one_of(value: str, allowed: Sequence[str], argument: str) -> str:
    if value not in allowed:
        raise BadUserInput(
            f"{argument} must be one of {', '.join(allowed)}, not {value!r}", argument=argument
        )
    return value


def currency(code: str, argument: str = "currency") -> str:
    try:
        return check_currency(code)
    except ValueError as error:
        raise BadUserInput(str(error), argument=argument) from None


def amount(value: str | Decimal, argument: str = "amount", *, negative: bool = False) -> Decimal:
    """An exact amount that fits the storage; BAD_USER_INPUT saying why not."""
    try:
        parsed = parse_amount(value)
    except ValueError as error:
        raise BadUserInput(str(error), argument=argument) from None
    if abs(parsed) >= MAX_AMOUNT:
        raise BadUserInput(
            f"{argument} is too large (at most {models.PRECISION - models.SCALE} integer digits)",
            argument=argument,
        )
    if parsed < 0 and not negative:
        raise BadUserInput(f"{argument} must not be negative", argument=argument)
    return parsed


def service_id(value: str | None, argument: str = "service") -> str | None:
    """An ops service id (a UUID, stored as its canonical text), or None."""
    if value is None or not str(value).strip():
        return None
    try:
        return str(uuid.UUID(str(value).strip()))
    except ValueError:
        raise BadUserInput(
            f"{argument} must be an ops service id (a UUID)", argument=argument
        ) from None


def row_id(value: str, noun: str, argument: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"no {noun} {value!r}", argument=argument) from None


def domain(value: str, argument: str = "domain") -> str:
    return required(value, argument, models.KEY_LENGTH)


def checked_period(text: str, argument: str = "period") -> Period:
    """The period ``text`` names (``2026-Q3``, ``2026-07``, ``2026``); BAD_USER_INPUT if none."""
    try:
        return _parse_period((text or "").strip().upper())  # 2026-q3 is meant as 2026-Q3
    except ValueError as error:
        raise BadUserInput(str(error), argument=argument) from None


def _month(day: date) -> str:
    return format_month(month_start(day))


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


# --- budgets -------------------------------------------------------------------------


async def set_budget(
    session: AsyncSession,
    *,
    domain_slug: str,
    period: str,
    allocated: str | Decimal,
    currency_code: str,
) -> models.Budget:
    """The domain's budget for the period, created or changed (one per domain and period)."""
    slug = domain(domain_slug)
    when = checked_period(period)
    value = amount(allocated, "allocated")
    code = currency(currency_code)
    row = await session.scalar(
        select(models.Budget).where(
            models.Budget.domain_slug == slug, models.Budget.period == str(when)
        )
    )
    if row is None:
        row = models.Budget(domain_slug=slug, period=str(when))
        session.add(row)
    row.period_start, row.period_end = when.start, when.end
    row.allocated, row.currency = value, code
    await session.flush()
    return row


async def delete_budget(session: AsyncSession, budget_id: str) -> uuid.UUID:
    key = row_id(budget_id, "budget")
    deleted = await session.execute(delete(models.Budget).where(models.Budget.id == key))
    if not getattr(deleted, "rowcount", 0):
        raise NotFound(f"no budget {budget_id!r}", argument="id")
    return key


async def list_budgets(
    session: AsyncSession, *, domain_slug: str | None = None, period: str | None = None
) -> list[models.Budget]:
    stmt = select(models.Budget).order_by(
        models.Budget.domain_slug, models.Budget.period_start, models.Budget.period
    )
    if domain_slug:
        stmt = stmt.where(models.Budget.domain_slug == domain_slug.strip())
    if period:
        stmt = stmt.where(models.Budget.period == str(checked_period(period)))
    return list((await session.scalars(stmt)).all())


async def budgets_of(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], models.Budget]:
    """Budgets by (domain, period text), for many domains in one statement."""
    if not keys:
        return {}
    slugs = {d for d, _ in keys}
    periods = {p for _, p in keys}
    rows = await session.scalars(
        select(models.Budget).where(
            models.Budget.domain_slug.in_(slugs), models.Budget.period.in_(periods)
        )
    )
    return {(r.domain_slug, r.period): r for r in rows}


# --- commitments ---------------------------------------------------------------------


@dataclass(frozen=True)
class CommitmentDefinition:
    kind: str
    vendor: str
    amount: str | Decimal
    currency: str
    cadence: str
    start: date
    domain_slug: str
    end: date | None = None
    service_id: str | None = None
    description: str = ""


def _checked(definition: CommitmentDefinition) -> dict[str, Any]:
    if definition.end is not None and definition.end < definition.start:
        raise BadUserInput("end must not be before start", argument="end")
    return {
        "kind": one_of(definition.kind, models.COMMITMENT_KINDS, "kind"),
        "vendor": required(definition.vendor, "vendor", models.NAME_LENGTH),
        "description": (definition.description or "").strip(),
        "amount": amount(definition.amount),
        "currency": currency(definition.currency),
        "cadence": one_of(definition.cadence, models.CADENCES, "cadence"),
        "start_date": definition.start,
        "end_date": definition.end,
        "service_id": service_id(definition.service_id),
        "domain_slug": domain(definition.domain_slug),
    }


async def create_commitment(
    session: AsyncSession, definition: CommitmentDefinition
) -> models.Commitment:
    row = models.Commitment(**_checked(definition))
    session.add(row)
    await session.flush()
    return row


async def get_commitment(session: AsyncSession, commitment_id: str) -> models.Commitment:
    row = await session.get(models.Commitment, row_id(commitment_id, "commitment"))
    if row is None:
        raise NotFound(f"no commitment {commitment_id!r}", argument="id")
    return row


async def update_commitment(
    session: AsyncSession, commitment_id: str, definition: CommitmentDefinition
) -> models.Commitment:
    """Replace what a commitment says (all of it, checked first)."""
    values = _checked(definition)
    row = await get_commitment(session, commitment_id)
    for name, value in values.items():
        setattr(row, name, value)
    await session.flush()
    return row


async def end_commitment(session: AsyncSession, commitment_id: str, end: date) -> models.Commitment:
    """A commitment stops after ``end`` (its last charge is on or before that day)."""
    row = await get_commitment(session, commitment_id)
    if end < row.start_date:
        raise BadUserInput("end must not be before the commitment's start", argument="end")
    row.end_date = end
    await session.flush()
    return row


async def delete_commitment(session: AsyncSession, commitment_id: str) -> uuid.UUID:
    row = await get_commitment(session, commitment_id)
    await session.delete(row)
    await session.flush()
    return row.id


async def list_commitments(
    session: AsyncSession,
    *,
    domain_slug: str | None = None,
    service: str | None = None,
    kind: str | None = None,
    active_on: date | None = None,
) -> list[models.Commitment]:
    stmt = select(models.Commitment).order_by(
        models.Commitment.domain_slug, models.Commitment.vendor, models.Commitment.start_date
    )
    if domain_slug:
        stmt = stmt.where(models.Commitment.domain_slug == domain_slug.strip())
    if service:
        stmt = stmt.where(models.Commitment.service_id == service_id(service))
    if kind:
        stmt = stmt.where(models.Commitment.kind == one_of(kind, models.COMMITMENT_KINDS, "kind"))
    if active_on:
        stmt = stmt.where(
            models.Commitment.start_date <= active_on,
            (models.Commitment.end_date.is_(None)) | (models.Commitment.end_date >= active_on),
        )
    return list((await session.scalars(stmt)).all())


async def commitments_of_domains(
    session: AsyncSession, slugs: Iterable[str]
) -> dict[str, list[models.Commitment]]:
    """Every commitment of each domain, in one statement."""
    groups: dict[str, list[models.Commitment]] = defaultdict(list)
    keys = sorted(set(slugs))
    if not keys:
        return {}
    rows = await session.scalars(
        select(models.Commitment)
        .where(models.Commitment.domain_slug.in_(keys))
        .order_by(models.Commitment.vendor, models.Commitment.start_date)
    )
    for row in rows:
        groups[row.domain_slug].append(row)
    return groups


# --- balances ------------------------------------------------------------------------


async def set_balance(
    session: AsyncSession,
    *,
    domain_slug: str,
    amount_value: str | Decimal,
    currency_code: str,
    as_of: date,
    alert_below_months: int = 6,
) -> models.Balance:
    """The cash a domain has on ``as_of`` (one per domain, day and currency)."""
    slug = domain(domain_slug)
    value = amount(amount_value, negative=True)  # an overdraft is a balance too
    code = currency(currency_code)
    if not 0 <= alert_below_months <= MAX_ALERT_MONTHS:
        raise BadUserInput(
            f"alertBelowMonths must be between 0 and {MAX_ALERT_MONTHS}",
            argument="alertBelowMonths",
        )
    try:  # its runway reads the months before it and projects up to 60 after it
        add_months(month_start(as_of), -TRAILING_MONTHS)
        add_months(month_start(as_of), MAX_RUNWAY_MONTHS)
    except ValueError:
        raise BadUserInput(
            f"asOf {as_of} leaves no room for a runway: the {TRAILING_MONTHS} months "
            f"before it and the {MAX_RUNWAY_MONTHS} after must be dates",
            argument="asOf",
        ) from None
    row = await session.scalar(
        select(models.Balance).where(
            models.Balance.domain_slug == slug,
            models.Balance.as_of == as_of,
            models.Balance.currency == code,
        )
    )
    if row is None:
        row = models.Balance(domain_slug=slug, as_of=as_of, currency=code)
        session.add(row)
    row.amount = value
    row.alert_below_months = alert_below_months
    await session.flush()
    return row


async def list_balances(
    session: AsyncSession, *, domain_slug: str | None = None
) -> list[models.Balance]:
    stmt = select(models.Balance).order_by(
        models.Balance.domain_slug, models.Balance.as_of.desc(), models.Balance.currency
    )
    if domain_slug:
        stmt = stmt.where(models.Balance.domain_slug == domain_slug.strip())
    return list((await session.scalars(stmt)).all())


async def newest_balances(
    session: AsyncSession, slugs: Iterable[str]
) -> dict[str, list[models.Balance]]:
    """Each domain's balances of its newest day (by ``as_of``; one per currency), the
    one set first on that day first: the runway's currency. One statement."""
    keys = sorted(set(slugs))
    if not keys:
        return {}
    newest = (
        select(models.Balance.domain_slug, func.max(models.Balance.as_of).label("as_of"))
        .where(models.Balance.domain_slug.in_(keys))
        .group_by(models.Balance.domain_slug)
        .subquery()
    )
    rows = await session.scalars(
        select(models.Balance)
        .join(
            newest,
            (models.Balance.domain_slug == newest.c.domain_slug)
            & (models.Balance.as_of == newest.c.as_of),
        )
        .order_by(models.Balance.created_at, models.Balance.currency)
    )
    found: dict[str, list[models.Balance]] = defaultdict(list)
    for row in rows:
        found[row.domain_slug].append(row)
    return dict(found)


async def domains_with_balances(session: AsyncSession) -> list[str]:
    rows = await session.scalars(select(models.Balance.domain_slug).distinct())
    return sorted(set(rows))


# --- cost entries --------------------------------------------------------------------


@dataclass(frozen=True)
class CostFilter:
    period: str | None = None
    vendor: str | None = None
    service: str | None = None
    domain_slug: str | None = None
    category: str | None = None
    attribution: str | None = None


def _cost_query(where: CostFilter) -> Select[Any]:
    stmt = select(models.CostEntry)
    if where.period:
        when = checked_period(where.period)
        stmt = stmt.where(models.CostEntry.date >= when.start, models.CostEntry.date < when.end)
    if where.vendor:
        stmt = stmt.where(models.CostEntry.vendor == where.vendor.strip())
    if where.service:
        stmt = stmt.where(models.CostEntry.service_id == service_id(where.service))
    if where.domain_slug:
        stmt = stmt.where(models.CostEntry.domain_slug == where.domain_slug.strip())
    if where.category:
        stmt = stmt.where(models.CostEntry.category == where.category.strip())
    if where.attribution:
        value = one_of(where.attribution, models.ATTRIBUTIONS, "attribution")
        stmt = stmt.where(models.CostEntry.attribution == value)
    return stmt


async def list_cost_entries(
    session: AsyncSession, where: CostFilter, *, first: int | None, after: str | None
) -> Page[models.CostEntry]:
    """Cost entries, newest day first (keyset pages)."""
    keys = [models.CostEntry.date, models.CostEntry.id]
    return await paginate(
        session, _cost_query(where), keys, first=first, after=after, descending=True
    )


async def cost_totals(session: AsyncSession, where: CostFilter) -> Totals:
    """What the filtered entries add up to, per currency (one statement)."""
    entries = _cost_query(where).subquery()
    rows = await session.execute(
        select(entries.c.currency, func.sum(entries.c.amount)).group_by(entries.c.currency)
    )
    return Totals(Money(total, code) for code, total in rows)


async def cost_of_services(
    session: AsyncSession, ids: Sequence[str], when: Period
) -> dict[str, Totals]:
    """Each service's cost in the period, per currency: one statement for all of them."""
    found: dict[str, Totals] = {key: Totals() for key in ids}
    if not ids:
        return found
    entry = models.CostEntry
    rows = await session.execute(
        select(entry.service_id, entry.currency, func.sum(entry.amount))
        .where(entry.service_id.in_(set(ids)), entry.date >= when.start, entry.date < when.end)
        .group_by(entry.service_id, entry.currency)
    )
    for key, code, total in rows:
        found[str(key)].add(Money(total, code))
    return found


async def monthly_cost_of_services(
    session: AsyncSession, ids: Sequence[str], when: Period
) -> dict[str, dict[str, Totals]]:
    """Each service's cost per month of the period (months without cost are zero-less
    empty Totals), one statement for all services: summed per day in SQL, per month here,
    as the two backends name months differently."""
    months = [format_month(m) for m in when.months()]
    found = {key: {m: Totals() for m in months} for key in ids}
    if not ids:
        return found
    entry = models.CostEntry
    rows = await session.execute(
        select(entry.service_id, entry.date, entry.currency, func.sum(entry.amount))
        .where(entry.service_id.in_(set(ids)), entry.date >= when.start, entry.date < when.end)
        .group_by(entry.service_id, entry.date, entry.currency)
    )
    for key, day, code, total in rows:
        found[str(key)][_month(day)].add(Money(total, code))
    return found


async def spent_by_domains(
    session: AsyncSession, slugs: Sequence[str], start: date, end: date
) -> dict[str, Totals]:
    """What each domain spent in ``[start, end)``: its cost entries and its token spend,
    per currency — two statements for any number of domains."""
    found: dict[str, Totals] = {key: Totals() for key in slugs}
    if not slugs:
        return found
    keys = set(slugs)
    entry, tokens = models.CostEntry, models.TokenSpend
    costs = await session.execute(
        select(entry.domain_slug, entry.currency, func.sum(entry.amount))
        .where(entry.domain_slug.in_(keys), entry.date >= start, entry.date < end)
        .group_by(entry.domain_slug, entry.currency)
    )
    spend = await session.execute(
        select(tokens.domain_slug, tokens.currency, func.sum(tokens.cost))
        .where(
            tokens.domain_slug.in_(keys),
            tokens.at >= _day_start(start),
            tokens.at < _day_start(end),
        )
        .group_by(tokens.domain_slug, tokens.currency)
    )
    for key, code, total in [*costs, *spend]:
        found[str(key)].add(Money(total, code))
    return found


async def monthly_spent_by_domains(
    session: AsyncSession, slugs: Sequence[str], start: date, end: date
) -> dict[str, dict[str, Totals]]:
    """Each domain's spend per calendar month of ``[start, end)`` (two statements)."""
    found: dict[str, dict[str, Totals]] = {key: defaultdict(Totals) for key in slugs}
    if not slugs:
        return found
    keys = set(slugs)
    entry, tokens = models.CostEntry, models.TokenSpend
    costs = await session.execute(
        select(entry.domain_slug, entry.date, entry.currency, func.sum(entry.amount))
        .where(entry.domain_slug.in_(keys), entry.date >= start, entry.date < end)
        .group_by(entry.domain_slug, entry.date, entry.currency)
    )
    for key, day, code, total in costs:
        found[str(key)][_month(day)].add(Money(total, code))
    spend = await session.execute(
        select(tokens.domain_slug, tokens.at, tokens.currency, tokens.cost).where(
            tokens.domain_slug.in_(keys),
            tokens.at >= _day_start(start),
            tokens.at < _day_start(end),
        )
    )
    for key, at, code, cost in spend:
        found[str(key)][_month(at.date())].add(Money(cost, code))
    return found


# --- token spend ---------------------------------------------------------------------


@dataclass(frozen=True)
class TokenFilter:
    period: str | None = None
    provider: str | None = None
    model: str | None = None
    session_id: str | None = None
    service: str | None = None
    domain_slug: str | None = None


def _token_query(where: TokenFilter) -> Select[Any]:
    spend = models.TokenSpend
    stmt = select(spend)
    if where.period:
        when = checked_period(where.period)
        stmt = stmt.where(spend.at >= _day_start(when.start), spend.at < _day_start(when.end))
    if where.provider:
        stmt = stmt.where(spend.provider == where.provider.strip().lower())
    if where.model:
        stmt = stmt.where(spend.model == where.model.strip())
    if where.session_id:
        stmt = stmt.where(spend.session_id == where.session_id.strip())
    if where.service:
        stmt = stmt.where(spend.service_id == service_id(where.service))
    if where.domain_slug:
        stmt = stmt.where(spend.domain_slug == where.domain_slug.strip())
    return stmt


async def list_token_spend(
    session: AsyncSession, where: TokenFilter, *, first: int | None, after: str | None
) -> Page[models.TokenSpend]:
    """Token spend, newest first (keyset pages)."""
    keys = [models.TokenSpend.at, models.TokenSpend.id]
    return await paginate(
        session, _token_query(where), keys, first=first, after=after, descending=True
    )


@dataclass(frozen=True)
class TokenUsage:
    """Tokens and cost of one provider and model (per currency)."""

    provider: str
    model: str
    tokens_in: int
    tokens_out: int
    requests: int
    cost: Totals
    priced_from_table: int  # rows whose cost came from the price table


async def token_usage(session: AsyncSession, where: TokenFilter) -> list[TokenUsage]:
    """The filtered spend summed per provider and model (one statement)."""
    spend = _token_query(where).subquery()
    rows = await session.execute(
        select(
            spend.c.provider,
            spend.c.model,
            spend.c.currency,
            func.sum(spend.c.tokens_in),
            func.sum(spend.c.tokens_out),
            func.count(),
            func.sum(spend.c.cost),
            func.sum(case((spend.c.cost_source == "price_table", 1), else_=0)),
        )
        .group_by(spend.c.provider, spend.c.model, spend.c.currency)
        .order_by(spend.c.provider, spend.c.model, spend.c.currency)
    )
    merged: dict[tuple[str, str], list[Any]] = {}
    for provider, model, code, t_in, t_out, count, cost, priced in rows:
        item = merged.setdefault((provider, model), [0, 0, 0, Totals(), 0])
        item[0] += int(t_in or 0)
        item[1] += int(t_out or 0)
        item[2] += int(count)
        item[3].add(Money(cost, code))
        item[4] += int(priced or 0)
    return [
        TokenUsage(provider, model, t_in, t_out, count, cost, priced)
        for (provider, model), (t_in, t_out, count, cost, priced) in merged.items()
    ]
