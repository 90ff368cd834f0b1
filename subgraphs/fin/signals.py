"""Telling the other hubs when a domain crosses a line (the workplan's T25).

``evaluate(session, config, as_of)`` runs in the transaction of every change that can
move a domain's figures (a budget, a commitment or a balance written, a cost or token
import stored), so an event exists exactly when the change that caused it does:

* ``budget_threshold_crossed`` (subject ``budget:<domain>:<period>``) when a budget of
  the period containing ``as_of`` goes from below to at or above one of the hub's
  thresholds (spent and committed against allocated: ``reports.budget_statuses``, the
  same figures as ``budgetAlerts``). Crossing 80 and later 100 signals each; falling
  back below 100 but not 80, then crossing 100 again, signals 100 again.
* ``runway_below_threshold`` (subject ``runway:<domain>``) when a domain's runway goes
  below its balance's threshold (``reports.runways``, as ``budgetAlerts``).

What was signalled is kept in ``threshold_signals``: evaluating again emits nothing new,
falling back removes (or lowers) the record, so crossing again emits again. Money is
sent as decimal strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.event_types import EventType
from subgraphs.core.kit.events.envelope import Event
from subgraphs.core.kit.transitions import lock_subject
from subgraphs.fin import models, reports
from subgraphs.fin.calculations import shown_hundredths
from subgraphs.fin.events import EVENTS
from subgraphs.fin.reports import FinConfig

BUDGET = EventType.BUDGET_THRESHOLD_CROSSED.value
RUNWAY = EventType.RUNWAY_BELOW_THRESHOLD.value
LOCK_SCOPE = "fin_threshold_signals"


def budget_subject(domain_slug: str, period: str) -> str:
    return f"budget:{domain_slug}:{period}"


def runway_subject(domain_slug: str) -> str:
    return f"runway:{domain_slug}"


def money_text(value: Decimal) -> str:
    """An exact amount as a plain decimal string: 1250.5, never 1.2505E+3."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class _Crossing:
    kind: str
    domain_slug: str
    period: str  # "" for a runway
    threshold: Decimal
    payload: dict[str, Any]

    @property
    def subject(self) -> str:
        if self.kind == BUDGET:
            return budget_subject(self.domain_slug, self.period)
        return runway_subject(self.domain_slug)


async def evaluate(
    session: AsyncSession,
    config: FinConfig,
    as_of: date | None = None,
    *,
    domains: Iterable[str | None] | None = None,
) -> list[Event]:
    """Emit, in ``session``'s transaction, the crossings of ``domains`` (every domain with
    a budget, a balance or a signal when None) not signalled yet; the events emitted."""
    when = as_of or datetime.now(UTC).date()
    slugs = (
        sorted({d for d in domains if d}) if domains is not None else await _all_domains(session)
    )
    if not slugs:
        return []
    # Two transactions evaluating one domain at once: the second waits, then finds the
    # first one's records (PostgreSQL locks each domain; SQLite has one writer anyway).
    for slug in slugs:
        await lock_subject(session, LOCK_SCOPE, slug)
    crossings = await _budget_crossings(session, slugs, when, config)
    crossings += await _runway_crossings(session, slugs, config)
    signalled = {
        (row.kind, row.domain_slug, row.period): row
        for row in await session.scalars(
            select(models.ThresholdSignal).where(models.ThresholdSignal.domain_slug.in_(slugs))
        )
    }
    emitted: list[Event] = []
    holding = set()
    for crossing in crossings:
        key = (crossing.kind, crossing.domain_slug, crossing.period)
        holding.add(key)
        row = signalled.get(key)
        if row is not None and (
            crossing.kind == RUNWAY or Decimal(row.threshold) >= crossing.threshold
        ):
            # Signalled before and still past it. A budget fallen back to a lower line
            # keeps that one, so crossing the higher again signals again; a runway is
            # below its threshold or not, whatever the threshold is now.
            if Decimal(row.threshold) != crossing.threshold:
                row.threshold = str(crossing.threshold)
            continue
        event = await EVENTS.emit(session, crossing.kind, crossing.subject, crossing.payload)
        emitted.append(event)
        if row is None:
            session.add(
                models.ThresholdSignal(
                    kind=crossing.kind,
                    domain_slug=crossing.domain_slug,
                    period=crossing.period,
                    threshold=str(crossing.threshold),
                    event_id=event.id,
                    signalled_at=event.time,
                )
            )
        else:
            row.threshold, row.event_id, row.signalled_at = (
                str(crossing.threshold),
                event.id,
                event.time,
            )
    for key, row in signalled.items():
        if key not in holding:  # back below the line (or its budget is gone): forget it
            await session.execute(
                delete(models.ThresholdSignal).where(
                    models.ThresholdSignal.kind == row.kind,
                    models.ThresholdSignal.domain_slug == row.domain_slug,
                    models.ThresholdSignal.period == row.period,
                )
            )
    await session.flush()
    return emitted


async def _all_domains(session: AsyncSession) -> list[str]:
    found: set[str] = set()
    for column in (
        models.Budget.domain_slug,
        models.Balance.domain_slug,
        models.ThresholdSignal.domain_slug,
    ):
        found.update(await session.scalars(select(column).distinct()))
    return sorted(found)


async def _budget_crossings(
    session: AsyncSession, slugs: list[str], as_of: date, config: FinConfig
) -> list[_Crossing]:
    budgets = list(
        await session.scalars(
            select(models.Budget)
            .where(
                models.Budget.domain_slug.in_(slugs),
                models.Budget.period_start <= as_of,
                models.Budget.period_end > as_of,
            )
            .order_by(models.Budget.domain_slug, models.Budget.period)
        )
    )
    found: list[_Crossing] = []
    for status in await reports.budget_statuses(session, budgets, as_of, config):
        if not status.crossed:
            continue
        budget, top = status.budget, status.crossed[-1]
        code = budget.currency
        spent = reports.in_currency(status.spent, code, config).money.amount
        committed = reports.in_currency(status.committed, code, config).money.amount
        percent = (
            None
            if status.used_percent is None
            else str(shown_hundredths(status.used_percent, config.thresholds))
        )
        found.append(
            _Crossing(
                BUDGET,
                budget.domain_slug,
                budget.period,
                top.threshold,
                {
                    "domain": budget.domain_slug,
                    "period": budget.period,
                    "allocated": money_text(budget.allocated),
                    "spent": money_text(spent),
                    "committed": money_text(committed),
                    "currency": code,
                    "percent": percent,
                    "threshold": str(top.threshold),
                },
            )
        )
    return found


async def _runway_crossings(
    session: AsyncSession, slugs: list[str], config: FinConfig
) -> list[_Crossing]:
    found: list[_Crossing] = []
    for slug, report in sorted((await reports.runways(session, slugs, config)).items()):
        runway = report.runway
        if not runway.below_threshold:
            continue
        months = runway.months_remaining
        found.append(
            _Crossing(
                RUNWAY,
                slug,
                "",
                runway.threshold_months,
                {
                    "domain": slug,
                    "months_remaining": None
                    if months is None
                    else str(shown_hundredths(months, [runway.threshold_months])),
                    "threshold_months": str(runway.threshold_months),
                    "balance": money_text(report.cash),
                    "monthly_burn": money_text(report.monthly_burn),
                    "currency": runway.currency or report.balance.currency,
                },
            )
        )
    return found
