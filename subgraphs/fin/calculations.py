"""The fin hub's calculations: periods, commitments, burn rate, runway, budget thresholds.

Pure functions over ``Decimal`` amounts in one currency at a time: no database, no
GraphQL, no floats. The service gathers the figures (sums per month, the commitments,
a balance) and converts currencies first if a rate table says how; everything here
refuses to mix currencies (:class:`~subgraphs.fin.money.CurrencyMismatch`).

Rules chosen here, and why:

* **Months** are ``date``\\ s on the first of the month. **Periods** are written
  ``YYYY-MM`` (a month), ``YYYY-Qn`` (a quarter, n = 1..4, Q1 = January-March) or
  ``YYYY`` (a year): nothing else, so a period in a URL, a CSV or a GraphQL argument
  means one thing (:func:`parse_period`).
* **Precision**: monthly equivalents (a yearly 1000.00 / 12) and averages keep
  ``MONEY_CONTEXT``'s 34 significant digits; rounding to cents happens only for display
  (``money.quantize``), so twelve monthly shares, summed and then shown, give back the
  yearly amount (shares rounded first would not: 12 x 83.33 = 999.96).
* **Commitments count in whole months**: one is *active in* a month when it is in force on
  any day of it (start on or before the month's last day, end — the last day in force,
  inclusive — on or after its first day). No proration: subscriptions and contracts bill
  for the month they touch, and month figures stay simple to check by hand.
* **Burn rate** (:func:`burn_rate`): the actual figure is the trailing average of monthly
  spend; the projected figure is what the commitments active in the next month cost.
* **Runway** (:func:`runway`): a month-by-month projection in which known commitment
  start and end dates move the burn (see the function).
* **Budget thresholds** (:func:`budget_alerts`): *used* is spent + committed over
  allocated, a threshold is crossed when used reaches it (``>=``).
* **Showing a judged figure** (:func:`shown_hundredths`): a used percentage or a runway's
  months are shown to two places, half up like money, but never across the threshold
  they were judged against: 99.996 % with the 100 % threshold not crossed shows as 99.99,
  not 100.00, and 5.999 months "below its threshold of 6" as 5.99, not 6.00.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import MAXYEAR, date, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Literal, get_args

from subgraphs.fin.money import MONEY_CONTEXT, CurrencyMismatch, check_currency

__all__ = [
    "DEFAULT_THRESHOLDS",
    "MAX_RUNWAY_MONTHS",
    "RUNWAY_MONTHS",
    "TRAILING_MONTHS",
    "BurnRate",
    "Cadence",
    "CommitmentTerms",
    "Period",
    "PeriodKind",
    "Runway",
    "RunwayMonth",
    "ThresholdCrossed",
    "add_months",
    "budget_alerts",
    "budget_used_percent",
    "burn_rate",
    "committed_monthly",
    "format_month",
    "iter_months",
    "month_end",
    "month_start",
    "months_between",
    "parse_month",
    "parse_period",
    "runway",
    "shown_hundredths",
]

Cadence = Literal["monthly", "quarterly", "yearly"]
PeriodKind = Literal["month", "quarter", "year"]

# How many months one payment of each cadence covers.
_CADENCE_MONTHS: Mapping[str, int] = {"monthly": 1, "quarterly": 3, "yearly": 12}
_KIND_MONTHS: Mapping[str, int] = {"month": 1, "quarter": 3, "year": 12}

# The runway: months projected by default and at most, and the whole months before a
# balance whose spend gives its burn.
RUNWAY_MONTHS = 24
MAX_RUNWAY_MONTHS = 60
TRAILING_MONTHS = 3

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_HUNDREDTH = Decimal("0.01")

# ---------------------------------------------------------------------------------------
# Months and periods


def month_start(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    """The first day of the month ``count`` months after ``month``'s (negative: before)."""
    index = month.year * 12 + (month.month - 1) + count
    return date(index // 12, index % 12 + 1, 1)


def month_end(month: date) -> date:
    """The last day of ``month``'s month."""
    return add_months(month, 1) - timedelta(days=1)


def months_between(first: date, last: date) -> int:
    """How many months from ``first``'s month to ``last``'s (0 when the same month)."""
    return (last.year - first.year) * 12 + (last.month - first.month)


def iter_months(first: date, last: date) -> Iterator[date]:
    """First days of every month from ``first``'s to ``last``'s, both included."""
    month, stop = month_start(first), month_start(last)
    while month <= stop:
        yield month
        month = add_months(month, 1)


_MONTH = re.compile(r"(\d{4})-(\d{2})")
_QUARTER = re.compile(r"(\d{4})-Q([1-4])")
_YEAR = re.compile(r"\d{4}")


def format_month(month: date) -> str:
    """``YYYY-MM``."""
    return f"{month.year:04d}-{month.month:02d}"


def parse_month(text: str) -> date:
    """The first day of the month written ``YYYY-MM``; ValueError otherwise."""
    period = parse_period(text)
    if period.kind != "month":
        raise ValueError(f"not a month: {text!r} (expected YYYY-MM, e.g. 2026-11)")
    return period.start


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, quarter or year: ``start`` is its first day.

    ``str(period)`` is its canonical text (``2026-11``, ``2026-Q3``, ``2026``), which
    :func:`parse_period` reads back.
    """

    start: date
    kind: PeriodKind

    def __post_init__(self) -> None:
        if self.kind not in _KIND_MONTHS:
            raise ValueError(f"a period is a month, quarter or year, not {self.kind!r}")
        step = _KIND_MONTHS[self.kind]
        if self.start.day != 1 or (self.start.month - 1) % step:
            raise ValueError(f"{self.start} does not begin a {self.kind}")
        if (self.start.year, self.start.month + step) > (MAXYEAR, 12):
            # Its end (the first day after it) would be in the year 10000, which no date
            # holds: every range filter and report would fail on it.
            raise ValueError(f"a period must end before December {MAXYEAR}: {self} does not")

    @classmethod
    def containing(cls, day: date, kind: PeriodKind) -> Period:
        """The ``kind`` period ``day`` falls in."""
        step = _KIND_MONTHS[kind]
        first_month = (day.month - 1) // step * step + 1
        return cls(date(day.year, first_month, 1), kind)

    @property
    def end(self) -> date:
        """The first day after the period (exclusive), for ``start <= d < end`` filters."""
        return add_months(self.start, _KIND_MONTHS[self.kind])

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def last_month(self) -> date:
        return add_months(self.end, -1)

    def months(self) -> list[date]:
        """The first days of its months, in order."""
        return list(iter_months(self.start, self.last_month))

    def shift(self, count: int) -> Period:
        """The period of the same kind ``count`` periods later (negative: earlier)."""
        return Period(add_months(self.start, count * _KIND_MONTHS[self.kind]), self.kind)

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end

    def __str__(self) -> str:
        if self.kind == "month":
            return format_month(self.start)
        if self.kind == "quarter":
            return f"{self.start.year:04d}-Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start.year:04d}"


def parse_period(text: str) -> Period:
    """A period from its text: ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``, exactly.

    Four-digit years from 0001, two-digit months 01-12, quarters Q1-Q4 (capital Q);
    no spaces, no other spellings. ValueError naming the grammar otherwise.
    """
    start: date | None = None
    kind: PeriodKind = "year"
    if isinstance(text, str) and len(text) <= 7:
        try:
            if match := _MONTH.fullmatch(text):
                start, kind = date(int(match[1]), int(match[2]), 1), "month"
            elif match := _QUARTER.fullmatch(text):
                start, kind = date(int(match[1]), (int(match[2]) - 1) * 3 + 1, 1), "quarter"
            elif _YEAR.fullmatch(text):
                start, kind = date(int(text), 1, 1), "year"
        except ValueError:  # month 13, year 0000
            start = None
    if start is not None:
        return Period(start, kind)  # ValueError saying so if it ends after 9999-11
    raise ValueError(
        f"not a period: {text!r} (expected a month YYYY-MM, a quarter YYYY-Qn or a year YYYY, "
        "e.g. 2026-11, 2026-Q3, 2026)"
    )


# ---------------------------------------------------------------------------------------
# Commitments


@dataclass(frozen=True)
class CommitmentTerms:
    """What a commitment costs: ``amount`` per ``cadence``, from ``start`` to ``end``.

    ``end`` is the last day in force (inclusive); None means open-ended. See the module
    docstring for how months are counted (whole months, no proration).
    """

    amount: Decimal
    currency: str
    cadence: Cadence
    start: date
    end: date | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise ValueError(f"a commitment's amount is a finite Decimal, not {self.amount!r}")
        if self.cadence not in get_args(Cadence):
            raise ValueError(
                f"unknown cadence {self.cadence!r}: expected monthly, quarterly or yearly"
            )
        if self.end is not None and self.end < self.start:
            raise ValueError(
                f"a commitment cannot end ({self.end}) before it starts ({self.start})"
            )
        object.__setattr__(self, "currency", check_currency(self.currency))

    def monthly_amount(self) -> Decimal:
        """The monthly equivalent at full precision: quarterly / 3, yearly / 12."""
        return MONEY_CONTEXT.divide(self.amount, Decimal(_CADENCE_MONTHS[self.cadence]))

    def active_in(self, month: date) -> bool:
        """Whether it is in force on any day of ``month``'s month."""
        first = month_start(month)
        return self.start <= month_end(first) and (self.end is None or self.end >= first)


def committed_monthly(commitments: Sequence[CommitmentTerms], month: date) -> Decimal:
    """The monthly equivalents of the commitments active in ``month``, summed."""
    total = _ZERO
    for commitment in commitments:
        if commitment.active_in(month):
            total = MONEY_CONTEXT.add(total, commitment.monthly_amount())
    return total


def _one_currency(commitments: Sequence[CommitmentTerms], currency: str | None) -> str | None:
    """The commitments' single currency (``currency`` if given); CurrencyMismatch otherwise."""
    expected = check_currency(currency) if currency is not None else None
    for commitment in commitments:
        if expected is None:
            expected = commitment.currency
        elif commitment.currency != expected:
            raise CurrencyMismatch(
                f"commitments in {commitment.currency} and {expected} cannot be summed: "
                "convert them first, or compute per currency"
            )
    return expected


# ---------------------------------------------------------------------------------------
# Burn rate


@dataclass(frozen=True)
class BurnRate:
    """Monthly burn, actual and projected, at full precision (quantize for display).

    ``actual_monthly``: the average monthly spend over the last ``months_with_data``
    months (see :func:`burn_rate`). ``projected_monthly``: the monthly equivalents of the
    commitments active in ``projected_month``, the month after the window.
    """

    actual_monthly: Decimal
    projected_monthly: Decimal
    trailing_months: int
    months_with_data: int
    window_start: date | None = None
    window_end: date | None = None
    projected_month: date | None = None
    currency: str | None = None


def burn_rate(
    actual_by_month: Mapping[date, Decimal],
    commitments: Sequence[CommitmentTerms],
    period_end: date,
    trailing_months: int = 3,
    *,
    currency: str | None = None,
) -> BurnRate:
    """Actual and projected monthly burn as of ``period_end``'s month.

    * The window is the ``trailing_months`` months ending with ``period_end``'s month.
      ``actual_by_month`` maps months (any day of the month; several keys in one month add
      up) to spend; months outside the window are ignored.
    * The average starts at the first month of the window that has data: a domain that
      began spending last month is not diluted by months before it existed, while a month
      with no entries *after* the first is a real month of zero spend. ``months_with_data``
      is how many months were averaged (0 with no data: the actual burn is then 0).
    * ``projected_monthly`` sums the monthly equivalents of the commitments active in the
      month after ``period_end``'s.

    All amounts are in one currency: ``currency`` if given, else the commitments'.
    """
    if trailing_months < 1:
        raise ValueError("trailing_months must be at least 1")
    unit = _one_currency(commitments, currency)
    last = month_start(period_end)
    first = add_months(last, -(trailing_months - 1))
    spend: dict[date, Decimal] = {}
    for day, amount in actual_by_month.items():
        if not isinstance(amount, Decimal):
            raise TypeError(f"spend for {day} must be a Decimal, not {type(amount).__name__}")
        month = month_start(day)
        if first <= month <= last:
            spend[month] = MONEY_CONTEXT.add(spend.get(month, _ZERO), amount)
    months_with_data = months_between(min(spend), last) + 1 if spend else 0
    total = _ZERO
    for amount in spend.values():
        total = MONEY_CONTEXT.add(total, amount)
    actual = MONEY_CONTEXT.divide(total, Decimal(months_with_data)) if months_with_data else _ZERO
    next_month = add_months(last, 1)
    return BurnRate(
        actual_monthly=actual,
        projected_monthly=committed_monthly(commitments, next_month),
        trailing_months=trailing_months,
        months_with_data=months_with_data,
        window_start=first,
        window_end=last,
        projected_month=next_month,
        currency=unit,
    )


# ---------------------------------------------------------------------------------------
# Runway


@dataclass(frozen=True)
class RunwayMonth:
    """One projected month: ``closing = opening - spend``."""

    month: date
    opening: Decimal
    spend: Decimal
    closing: Decimal


@dataclass(frozen=True)
class Runway:
    """A runway projection (see :func:`runway`), at full precision."""

    months_remaining: Decimal | None
    exhausted_in: date | None
    projection: list[RunwayMonth]
    below_threshold: bool
    currency: str = ""
    threshold_months: Decimal = _ZERO
    uncommitted_monthly: Decimal = _ZERO
    horizon_months: int = 0


def runway(
    balance: Decimal,
    currency: str,
    start: date,
    monthly_burn: Decimal,
    commitments: Sequence[CommitmentTerms],
    *,
    months: int = 24,
    threshold_months: Decimal,
) -> Runway:
    """How long ``balance`` lasts, month by month from ``start``'s month for ``months`` months.

    The projection:

    * ``monthly_burn`` is the whole burn in the first month (typically the burn rate's
      actual figure). Its **uncommitted part** — ``monthly_burn`` minus the commitments
      active in the first month, never below zero — is assumed to continue unchanged
      every month (no trend is guessed).
    * Each month's **spend** is that uncommitted part plus the monthly equivalents of the
      commitments active in that month: a commitment whose end date has passed no longer
      counts (known end dates lower the later burn), one that starts later counts from
      its first month.
    * ``opening`` of the first month is ``balance``; each ``closing`` is ``opening - spend``
      and the next month's opening. The projection runs the whole horizon, past exhaustion
      (closings go negative), so a chart shows the shortfall.
    * **Exhaustion** is the first month whose closing is below zero: ``exhausted_in`` is
      that month and ``months_remaining`` the whole months before it plus the fraction of
      its spend the opening still covers (``opening / spend``; 0 if the opening is not
      positive). 10000.00 at 1250.00 a month: 8 months, exhausted in the 9th (its opening
      is 0). Not exhausted within the horizon: both None.
    * ``below_threshold``: ``months_remaining < threshold_months``; False when not
      exhausted within the horizon, which is why ``threshold_months`` may not exceed it.

    Commitments must be in ``currency`` (CurrencyMismatch otherwise): convert first.
    """
    unit = check_currency(currency)
    _one_currency(commitments, unit)
    for name, value in (("balance", balance), ("monthly_burn", monthly_burn)):
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError(f"{name} must be a finite Decimal, not {value!r}")
    if not isinstance(threshold_months, Decimal | int) or threshold_months < 0:
        raise ValueError(
            f"threshold_months must be a non-negative Decimal, not {threshold_months!r}"
        )
    threshold = Decimal(threshold_months)
    if monthly_burn < 0:
        raise ValueError(f"monthly_burn cannot be negative ({monthly_burn})")
    if months < 1:
        raise ValueError("the horizon must be at least one month")
    if threshold > months:
        raise ValueError(
            f"threshold_months ({threshold}) beyond the {months}-month horizon cannot be decided"
        )
    first = month_start(start)
    committed_now = committed_monthly(commitments, first)
    uncommitted = max(MONEY_CONTEXT.subtract(monthly_burn, committed_now), _ZERO)
    projection: list[RunwayMonth] = []
    remaining: Decimal | None = None
    exhausted: date | None = None
    opening = balance
    for index in range(months):
        month = add_months(first, index)
        spend = MONEY_CONTEXT.add(uncommitted, committed_monthly(commitments, month))
        closing = MONEY_CONTEXT.subtract(opening, spend)
        projection.append(RunwayMonth(month, opening, spend, closing))
        if exhausted is None and closing < 0:
            exhausted = month
            covered = MONEY_CONTEXT.divide(opening, spend) if opening > 0 else _ZERO
            remaining = MONEY_CONTEXT.add(Decimal(index), covered)
        opening = closing
    return Runway(
        months_remaining=remaining,
        exhausted_in=exhausted,
        projection=projection,
        below_threshold=remaining is not None and remaining < threshold,
        currency=unit,
        threshold_months=threshold,
        uncommitted_monthly=uncommitted,
        horizon_months=months,
    )


# ---------------------------------------------------------------------------------------
# Budget thresholds


@dataclass(frozen=True)
class ThresholdCrossed:
    """A budget threshold reached: ``used_percent >= threshold``.

    ``used_percent`` is None when nothing was allocated but something was used: no
    percentage exists, and every threshold counts as crossed.
    """

    threshold: Decimal
    used_percent: Decimal | None


DEFAULT_THRESHOLDS: tuple[Decimal, ...] = (Decimal(80), Decimal(100))


def budget_used_percent(allocated: Decimal, committed: Decimal, spent: Decimal) -> Decimal | None:
    """``(spent + committed) * 100 / allocated`` at full precision.

    Allocated 0: ``0`` if nothing is used either, None if something is (no percentage of
    nothing exists). A negative allocation is a ValueError.
    """
    for name, value in (("allocated", allocated), ("committed", committed), ("spent", spent)):
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError(f"{name} must be a finite Decimal, not {value!r}")
    if allocated < 0:
        raise ValueError(f"allocated cannot be negative ({allocated})")
    used = MONEY_CONTEXT.add(spent, committed)
    if allocated == 0:
        return _ZERO if used <= 0 else None
    return MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(used, _HUNDRED), allocated)


def budget_alerts(
    allocated: Decimal,
    committed: Decimal,
    spent: Decimal,
    thresholds: Sequence[Decimal] = DEFAULT_THRESHOLDS,
) -> list[ThresholdCrossed]:
    """The thresholds (percent of allocated) that spent + committed has reached, ascending.

    ``>=``: exactly 80% crosses 80. Thresholds must be positive; duplicates count once.
    Allocated 0 with anything used crosses every threshold (``used_percent`` None).
    """
    if any(isinstance(t, bool) or not isinstance(t, Decimal | int) for t in thresholds):
        raise ValueError(f"thresholds are Decimals or ints, never floats: {list(thresholds)}")
    levels = sorted({Decimal(t) for t in thresholds})
    if any(not level.is_finite() or level <= 0 for level in levels):
        raise ValueError(f"thresholds must be positive percentages, not {list(thresholds)}")
    used = budget_used_percent(allocated, committed, spent)
    return [ThresholdCrossed(level, used) for level in levels if used is None or used >= level]


def shown_hundredths(value: Decimal, limits: Iterable[Decimal] = ()) -> Decimal:
    """``value`` to two places for display: half up (as money is shown), except that a
    value below one of ``limits`` (the thresholds it was judged against) is never shown
    at or above it (rounded down then), so what is shown agrees with what was judged for
    thresholds of at most two places. Computed in ``MONEY_CONTEXT``, whatever the thread's
    own decimal context says.
    """
    shown = value.quantize(_HUNDREDTH, rounding=ROUND_HALF_UP, context=MONEY_CONTEXT)
    if any(value < limit <= shown for limit in limits):
        return value.quantize(_HUNDREDTH, rounding=ROUND_FLOOR, context=MONEY_CONTEXT)
    return shown
