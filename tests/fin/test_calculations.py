"""Periods, commitments, burn rate, runway and budget thresholds, each expectation worked out
by hand in the comments beside it (exact Decimals, no tolerance)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal, localcontext

import pytest

from subgraphs.fin.calculations import (
    CommitmentTerms,
    Period,
    RunwayMonth,
    ThresholdCrossed,
    add_months,
    budget_alerts,
    budget_used_percent,
    burn_rate,
    committed_monthly,
    format_month,
    iter_months,
    month_end,
    month_start,
    months_between,
    parse_month,
    parse_period,
    runway,
    shown_hundredths,
)
from subgraphs.fin.money import MONEY_CONTEXT, CurrencyMismatch, quantize

D = Decimal

# ---------------------------------------------------------------------------------------
# Months and periods


def test_month_arithmetic() -> None:
    assert month_start(date(2026, 11, 17)) == date(2026, 11, 1)
    assert add_months(date(2026, 11, 1), 3) == date(2027, 2, 1)
    assert add_months(date(2026, 1, 1), -1) == date(2025, 12, 1)
    assert add_months(date(2026, 12, 1), 0) == date(2026, 12, 1)
    assert month_end(date(2028, 2, 1)) == date(2028, 2, 29)  # leap year
    assert month_end(date(2026, 12, 5)) == date(2026, 12, 31)
    assert months_between(date(2026, 11, 30), date(2027, 2, 1)) == 3
    assert months_between(date(2026, 11, 1), date(2026, 11, 30)) == 0
    assert list(iter_months(date(2026, 11, 20), date(2027, 1, 3))) == [
        date(2026, 11, 1),
        date(2026, 12, 1),
        date(2027, 1, 1),
    ]
    assert list(iter_months(date(2027, 1, 1), date(2026, 12, 1))) == []
    assert format_month(date(2026, 3, 9)) == "2026-03"
    assert parse_month("2026-03") == date(2026, 3, 1)


@pytest.mark.parametrize(
    ("text", "start", "end", "kind"),
    [
        ("2026-11", date(2026, 11, 1), date(2026, 12, 1), "month"),
        ("2026-12", date(2026, 12, 1), date(2027, 1, 1), "month"),
        ("2026-Q1", date(2026, 1, 1), date(2026, 4, 1), "quarter"),
        ("2026-Q3", date(2026, 7, 1), date(2026, 10, 1), "quarter"),
        ("2026-Q4", date(2026, 10, 1), date(2027, 1, 1), "quarter"),
        ("2026", date(2026, 1, 1), date(2027, 1, 1), "year"),
    ],
)
def test_the_period_grammar(text: str, start: date, end: date, kind: str) -> None:
    period = parse_period(text)
    assert (period.start, period.end, period.kind) == (start, end, kind)
    assert str(period) == text  # the canonical text reads back


@pytest.mark.parametrize(
    "text",
    [
        "2026-13",
        "2026-00",
        "2026-1",
        "2026-Q0",
        "2026-Q5",
        "2026-q3",
        "2026Q3",
        "26-11",
        "2026/11",
        " 2026-11",
        "2026-11-01",
        "0000",
        "",
        "Q3-2026",
    ],
)
def test_other_spellings_are_not_periods(text: str) -> None:
    with pytest.raises(ValueError, match="expected a month YYYY-MM, a quarter YYYY-Qn or a year"):
        parse_period(text)


def test_quarter_boundaries() -> None:
    q3 = parse_period("2026-Q3")
    assert q3.months() == [date(2026, 7, 1), date(2026, 8, 1), date(2026, 9, 1)]
    assert q3.last_day == date(2026, 9, 30) and q3.last_month == date(2026, 9, 1)
    assert q3.contains(date(2026, 7, 1)) and q3.contains(date(2026, 9, 30))
    assert not q3.contains(date(2026, 6, 30)) and not q3.contains(date(2026, 10, 1))
    assert Period.containing(date(2026, 9, 30), "quarter") == q3
    assert str(Period.containing(date(2026, 10, 1), "quarter")) == "2026-Q4"
    assert str(Period.containing(date(2026, 3, 31), "quarter")) == "2026-Q1"
    assert str(Period.containing(date(2026, 3, 31), "year")) == "2026"
    assert str(Period.containing(date(2026, 3, 31), "month")) == "2026-03"
    assert len(parse_period("2026").months()) == 12
    assert str(q3.shift(1)) == "2026-Q4" and str(q3.shift(2)) == "2027-Q1"
    assert str(q3.shift(-3)) == "2025-Q4"
    assert str(parse_period("2026-01").shift(-1)) == "2025-12"
    assert str(parse_period("2026").shift(1)) == "2027"
    with pytest.raises(ValueError, match="does not begin a quarter"):
        Period(date(2026, 2, 1), "quarter")
    with pytest.raises(ValueError, match="not a month: '2026-Q3'"):
        parse_month("2026-Q3")
    assert sorted([parse_period("2026-Q4"), parse_period("2026-Q1")])[0] == parse_period("2026-Q1")


# ---------------------------------------------------------------------------------------
# Commitments


def test_monthly_equivalents() -> None:
    yearly = CommitmentTerms(D("1200.00"), "EUR", "yearly", date(2026, 1, 1))
    assert yearly.monthly_amount() == D("100.00")  # 1200.00 / 12
    assert CommitmentTerms(D("300.00"), "EUR", "quarterly", date(2026, 1, 1)).monthly_amount() == D(
        "100.00"
    )  # 300.00 / 3
    assert CommitmentTerms(D("99.90"), "EUR", "monthly", date(2026, 1, 1)).monthly_amount() == D(
        "99.90"
    )


def test_monthly_equivalents_keep_full_precision_and_round_only_for_display() -> None:
    share = CommitmentTerms(D("1000.00"), "usd", "yearly", date(2026, 1, 1)).monthly_amount()
    # 1000 / 12 = 83.333..., kept to 34 significant digits.
    assert share == D("83.33333333333333333333333333333333")
    assert quantize(share, "USD") == D("83.33")
    # Twelve full-precision shares add back up to the yearly amount once shown;
    # twelve shares rounded first would make 999.96.
    assert quantize(share * 12, "USD") == D("1000.00")
    assert D("83.33") * 12 == D("999.96")


def test_a_commitment_counts_in_every_month_it_touches() -> None:
    terms = CommitmentTerms(D("50.00"), "EUR", "monthly", date(2026, 1, 15), date(2026, 6, 30))
    assert not terms.active_in(date(2025, 12, 1))
    assert terms.active_in(date(2026, 1, 1))  # starts mid-January: January counts
    assert terms.active_in(date(2026, 6, 20))  # any day of the month names it
    assert not terms.active_in(date(2026, 7, 1))
    ends_on_the_first = CommitmentTerms(D(1), "EUR", "monthly", date(2026, 1, 1), date(2026, 6, 1))
    assert ends_on_the_first.active_in(date(2026, 6, 1))  # in force on June 1st
    assert not ends_on_the_first.active_in(date(2026, 7, 1))
    open_ended = CommitmentTerms(D(1), "EUR", "monthly", date(2026, 1, 1))
    assert open_ended.active_in(date(2099, 12, 1)) and not open_ended.active_in(date(2025, 12, 1))


def test_bad_commitments_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot end"):
        CommitmentTerms(D(1), "EUR", "monthly", date(2026, 2, 1), date(2026, 1, 31))
    with pytest.raises(ValueError, match="finite Decimal"):
        CommitmentTerms(99.9, "EUR", "monthly", date(2026, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown cadence 'weekly'"):
        CommitmentTerms(D(1), "EUR", "weekly", date(2026, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown currency"):
        CommitmentTerms(D(1), "EURO", "monthly", date(2026, 1, 1))


# ---------------------------------------------------------------------------------------
# Burn rate


def test_the_actual_burn_is_the_trailing_average() -> None:
    spend = {
        date(2026, 8, 1): D("5000.00"),  # before the window: ignored
        date(2026, 9, 1): D("1000.00"),
        date(2026, 10, 1): D("1200.00"),
        date(2026, 11, 1): D("1100.00"),
        date(2026, 12, 1): D("9999.00"),  # after period_end: ignored
    }
    burn = burn_rate(spend, [], date(2026, 11, 30))
    # (1000.00 + 1200.00 + 1100.00) / 3 = 3300.00 / 3 = 1100.00
    assert burn.actual_monthly == D("1100.00")
    assert burn.trailing_months == 3 and burn.months_with_data == 3
    assert (burn.window_start, burn.window_end) == (date(2026, 9, 1), date(2026, 11, 1))
    assert burn.projected_monthly == D(0) and burn.projected_month == date(2026, 12, 1)
    # Six months back: August joins; (5000.00 + 3300.00) / 4 months from August = 2075.00.
    longer = burn_rate(spend, [], date(2026, 11, 30), trailing_months=6)
    assert longer.months_with_data == 4 and longer.actual_monthly == D("2075.00")


def test_the_average_starts_at_the_first_month_with_data() -> None:
    # A domain that began spending in November: one month averaged, not three.
    new = burn_rate({date(2026, 11, 5): D("900.00")}, [], date(2026, 11, 1))
    assert new.months_with_data == 1 and new.actual_monthly == D("900.00")
    # A month without entries after the first one is a month of zero spend:
    # (900.00 + 0 + 600.00) / 3 = 500.00.
    gap = burn_rate(
        {date(2026, 9, 1): D("900.00"), date(2026, 11, 1): D("600.00")}, [], date(2026, 11, 1)
    )
    assert gap.months_with_data == 3 and gap.actual_monthly == D("500.00")
    none = burn_rate({}, [], date(2026, 11, 1))
    assert none.months_with_data == 0 and none.actual_monthly == D(0)


def test_entries_of_one_month_add_up() -> None:
    burn = burn_rate(
        {date(2026, 11, 3): D("100.00"), date(2026, 11, 20): D("200.50")},
        [],
        date(2026, 11, 30),
        trailing_months=1,
    )
    assert burn.actual_monthly == D("300.50") and burn.months_with_data == 1


def test_the_projected_burn_counts_the_commitments_of_the_next_month() -> None:
    # Period end at a quarter boundary: Q3's last day, so the next month is October (Q4).
    period_end = parse_period("2026-Q3").last_day
    commitments = [
        CommitmentTerms(D("500.00"), "EUR", "monthly", date(2025, 1, 1)),  # open-ended: 500.00
        CommitmentTerms(D("1200.00"), "EUR", "yearly", date(2026, 1, 1), date(2026, 9, 30)),
        CommitmentTerms(D("300.00"), "EUR", "quarterly", date(2026, 10, 1)),  # 300.00/3 = 100.00
        CommitmentTerms(D("80.00"), "EUR", "monthly", date(2026, 11, 1)),  # not yet
    ]
    burn = burn_rate({date(2026, 9, 1): D("700.00")}, commitments, period_end)
    assert burn.projected_month == date(2026, 10, 1)
    assert burn.projected_monthly == D("600.00")  # 500.00 + 100.00
    assert burn.currency == "EUR"
    # In September the yearly one (100.00) was still in force, the quarterly one not yet.
    assert committed_monthly(commitments, date(2026, 9, 1)) == D("600.00")  # 500.00 + 100.00
    assert committed_monthly(commitments, date(2026, 11, 1)) == D("680.00")  # + 80.00


def test_burn_refuses_mixed_currencies_and_floats() -> None:
    eur = CommitmentTerms(D(1), "EUR", "monthly", date(2026, 1, 1))
    usd = CommitmentTerms(D(1), "USD", "monthly", date(2026, 1, 1))
    with pytest.raises(CurrencyMismatch, match="USD and EUR"):
        burn_rate({}, [eur, usd], date(2026, 11, 1))
    with pytest.raises(CurrencyMismatch):
        burn_rate({}, [eur], date(2026, 11, 1), currency="USD")
    assert burn_rate({}, [], date(2026, 11, 1), currency="gbp").currency == "GBP"
    with pytest.raises(TypeError, match="must be a Decimal"):
        burn_rate({date(2026, 11, 1): 1100.0}, [], date(2026, 11, 1))  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="at least 1"):
        burn_rate({}, [], date(2026, 11, 1), trailing_months=0)


# ---------------------------------------------------------------------------------------
# Runway


def test_a_simple_runway() -> None:
    result = runway(
        D("10000.00"), "EUR", date(2026, 12, 1), D("1250.00"), [], threshold_months=D(6)
    )
    # 10000.00 / 1250.00 = 8 months: December to July paid in full, July closes at 0.00,
    # and August, the 9th month, cannot be paid.
    assert result.months_remaining == D(8)
    assert result.exhausted_in == date(2027, 8, 1)
    assert result.below_threshold is False  # 8 >= 6
    assert len(result.projection) == 24 and result.horizon_months == 24
    assert result.projection[0] == RunwayMonth(
        date(2026, 12, 1), D("10000.00"), D("1250.00"), D("8750.00")
    )
    assert result.projection[7] == RunwayMonth(
        date(2027, 7, 1), D("1250.00"), D("1250.00"), D("0.00")
    )
    assert result.projection[8] == RunwayMonth(
        date(2027, 8, 1), D("0.00"), D("1250.00"), D("-1250.00")
    )
    # The projection runs the whole horizon: 10000.00 - 24 x 1250.00 = -20000.00.
    assert result.projection[-1].month == date(2028, 11, 1)
    assert result.projection[-1].closing == D("-20000.00")


def test_the_threshold_is_strictly_below() -> None:
    def below(threshold: Decimal) -> bool:
        return runway(
            D("10000.00"), "EUR", date(2026, 12, 1), D("1250.00"), [], threshold_months=threshold
        ).below_threshold

    assert below(D(9)) is True  # 8 < 9
    assert below(D("8.01")) is True
    assert below(D(8)) is False  # exactly 8 months left is not below 8
    with pytest.raises(ValueError, match="beyond the 24-month horizon"):
        below(D(25))


def test_a_runway_ending_within_a_month() -> None:
    result = runway(D("10000.00"), "EUR", date(2027, 1, 1), D("3000.00"), [], threshold_months=D(6))
    # Closings 7000.00, 4000.00, 1000.00, then April: 1000.00 - 3000.00 < 0.
    # 3 whole months + 1000.00 / 3000.00 of April = 3.333...
    assert result.exhausted_in == date(2027, 4, 1)
    assert result.months_remaining == D("3.333333333333333333333333333333333")
    assert quantize(result.months_remaining, "EUR") == D("3.33")
    assert result.below_threshold is True


def test_a_commitment_ending_mid_horizon_lowers_the_later_burn() -> None:
    contract = CommitmentTerms(D("1000.00"), "EUR", "monthly", date(2026, 1, 1), date(2027, 3, 31))
    result = runway(
        D("12000.00"), "EUR", date(2027, 1, 1), D("1500.00"), [contract], threshold_months=D(12)
    )
    # The burn of 1500.00 is the contract's 1000.00 plus 500.00 uncommitted.
    assert result.uncommitted_monthly == D("500.00")
    # January-March spend 1500.00 each: 12000.00 - 4500.00 = 7500.00 at the end of March.
    assert [m.spend for m in result.projection[:4]] == [D("1500.00")] * 3 + [D("500.00")]
    assert result.projection[2].closing == D("7500.00")
    # From April only 500.00 a month: 7500.00 / 500.00 = 15 more months, April 2027 to
    # June 2028; 3 + 15 = 18 months, exhausted in July 2028.
    assert result.months_remaining == D(18)
    assert result.exhausted_in == date(2028, 7, 1)
    assert result.below_threshold is False
    # Without the end date: 12000.00 / 1500.00 = 8 months, exhausted in September 2027.
    forever = CommitmentTerms(D("1000.00"), "EUR", "monthly", date(2026, 1, 1))
    open_ended = runway(
        D("12000.00"), "EUR", date(2027, 1, 1), D("1500.00"), [forever], threshold_months=D(12)
    )
    assert open_ended.months_remaining == D(8)
    assert open_ended.exhausted_in == date(2027, 9, 1)
    assert open_ended.below_threshold is True  # 8 < 12


def test_a_commitment_starting_later_raises_the_later_burn() -> None:
    licence = CommitmentTerms(D("6000.00"), "EUR", "yearly", date(2027, 3, 1))  # 500.00/month
    result = runway(
        D("6000.00"), "EUR", date(2027, 1, 1), D("1000.00"), [licence], threshold_months=D(3)
    )
    # Spend: Jan 1000.00, Feb 1000.00, then 1500.00. Closings: 5000.00, 4000.00, 2500.00,
    # 1000.00; May: 1000.00 - 1500.00 < 0. 4 + 1000.00 / 1500.00 = 4.666...7.
    assert [m.closing for m in result.projection[:5]] == [
        D("5000.00"),
        D("4000.00"),
        D("2500.00"),
        D("1000.00"),
        D("-500.00"),
    ]
    assert result.exhausted_in == date(2027, 5, 1)
    assert result.months_remaining == D("4.666666666666666666666666666666667")
    assert result.below_threshold is False


def test_commitments_above_the_burn_are_the_spend() -> None:
    rent = CommitmentTerms(D("300.00"), "EUR", "monthly", date(2026, 1, 1))
    result = runway(
        D("900.00"), "EUR", date(2027, 1, 1), D("100.00"), [rent], threshold_months=D(1)
    )
    # The uncommitted part is never negative: 100.00 - 300.00 -> 0; spend 300.00 a month.
    assert result.uncommitted_monthly == D(0)
    assert result.projection[0].spend == D("300.00")
    assert result.months_remaining == D(3) and result.exhausted_in == date(2027, 4, 1)


def test_a_runway_beyond_the_horizon() -> None:
    result = runway(
        D("100000.00"), "USD", date(2027, 1, 1), D("1000.00"), [], threshold_months=D(6)
    )
    assert result.months_remaining is None and result.exhausted_in is None
    assert result.below_threshold is False
    assert result.projection[-1].closing == D("76000.00")  # 100000.00 - 24 x 1000.00
    idle = runway(D("5.00"), "USD", date(2027, 1, 1), D(0), [], months=36, threshold_months=D(36))
    assert idle.months_remaining is None and len(idle.projection) == 36


def test_an_overdrawn_balance_has_no_runway() -> None:
    result = runway(D("-100.00"), "EUR", date(2027, 1, 1), D("1000.00"), [], threshold_months=D(3))
    assert result.months_remaining == D(0) and result.exhausted_in == date(2027, 1, 1)
    assert result.below_threshold is True


def test_runway_refuses_bad_input() -> None:
    usd = CommitmentTerms(D(1), "USD", "monthly", date(2026, 1, 1))
    with pytest.raises(CurrencyMismatch):
        runway(D(100), "EUR", date(2027, 1, 1), D(10), [usd], threshold_months=D(3))
    with pytest.raises(ValueError, match="cannot be negative"):
        runway(D(100), "EUR", date(2027, 1, 1), D(-10), [], threshold_months=D(3))
    with pytest.raises(ValueError, match="finite Decimal"):
        runway(100.0, "EUR", date(2027, 1, 1), D(10), [], threshold_months=D(3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one month"):
        runway(D(100), "EUR", date(2027, 1, 1), D(10), [], months=0, threshold_months=D(0))
    with pytest.raises(ValueError, match="non-negative"):
        runway(D(100), "EUR", date(2027, 1, 1), D(10), [], threshold_months=D(-1))


# ---------------------------------------------------------------------------------------
# Budget thresholds


def test_thresholds_are_crossed_when_reached() -> None:
    # (500.00 spent + 300.00 committed) / 1000.00 = exactly 80%.
    assert budget_alerts(D("1000.00"), D("300.00"), D("500.00")) == [ThresholdCrossed(D(80), D(80))]
    # One cent less: 799.99 / 1000.00 = 79.999%.
    assert budget_alerts(D("1000.00"), D("300.00"), D("499.99")) == []
    assert budget_used_percent(D("1000.00"), D("300.00"), D("499.99")) == D("79.999")
    # Exactly 100%: both.
    assert budget_alerts(D("1000.00"), D("300.00"), D("700.00")) == [
        ThresholdCrossed(D(80), D(100)),
        ThresholdCrossed(D(100), D(100)),
    ]
    # Over: 1000.01 / 1000.00 = 100.001%.
    over = budget_alerts(D("1000.00"), D(0), D("1000.01"))
    assert [a.threshold for a in over] == [D(80), D(100)]
    assert over[0].used_percent == D("100.001")


def test_custom_thresholds_come_back_ascending_once() -> None:
    alerts = budget_alerts(D("2000.00"), D("500.00"), D("1000.00"), [D(90), D(50), 75, D(50)])
    # 1500.00 / 2000.00 = 75%: 50 and 75 reached, 90 not.
    assert alerts == [ThresholdCrossed(D(50), D(75)), ThresholdCrossed(D(75), D(75))]
    assert budget_used_percent(D("3000"), D(0), D("1000")) == D(
        "33.33333333333333333333333333333333"
    )


def test_nothing_allocated() -> None:
    # Something used of nothing: no percentage exists; every threshold is crossed.
    assert budget_alerts(D(0), D("10.00"), D(0)) == [
        ThresholdCrossed(D(80), None),
        ThresholdCrossed(D(100), None),
    ]
    # Nothing used of nothing: 0%, no alert.
    assert budget_alerts(D(0), D(0), D(0)) == []
    assert budget_used_percent(D(0), D(0), D(0)) == D(0)


def test_bad_budget_input_is_refused() -> None:
    with pytest.raises(ValueError, match="allocated cannot be negative"):
        budget_alerts(D(-1), D(0), D(0))
    with pytest.raises(ValueError, match="never floats"):
        budget_alerts(D(100), D(0), D(0), [80.0])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="positive percentages"):
        budget_alerts(D(100), D(0), D(0), [D(0)])
    with pytest.raises(ValueError, match="finite Decimal"):
        budget_alerts(D(100), D(0), 5.0)  # type: ignore[arg-type]


def test_runway_invariants_on_generated_cases() -> None:
    """Whatever the figures: each closing is the opening less the spend and the next
    opening; exhaustion is the first negative closing; the months remaining lie within
    that month; the threshold flag follows the months remaining."""
    rng = random.Random(15)
    for _ in range(300):
        start = date(2026, rng.randint(1, 12), 1)
        commitments = []
        for _ in range(rng.randint(0, 4)):
            begins = add_months(start, rng.randint(-12, 12))
            ends = rng.choice([None, add_months(begins, rng.randint(1, 30)) - timedelta(days=1)])
            cadence = rng.choice(["monthly", "quarterly", "yearly"])
            amount = D(rng.randint(0, 500_00)) / 100
            commitments.append(CommitmentTerms(amount, "EUR", cadence, begins, ends))  # type: ignore[arg-type]
        balance = D(rng.randint(-1000_00, 50_000_00)) / 100
        burn = D(rng.randint(0, 5000_00)) / 100
        threshold = D(rng.randint(0, 24))
        result = runway(balance, "EUR", start, burn, commitments, threshold_months=threshold)
        opening = balance
        for index, month in enumerate(result.projection):
            assert month.month == add_months(start, index) and month.opening == opening
            # Compared in the money context (34 digits), as computed: the default one has 28.
            assert month.closing == MONEY_CONTEXT.subtract(month.opening, month.spend)
            assert month.spend >= 0
            assert month.spend == MONEY_CONTEXT.add(
                result.uncommitted_monthly, committed_monthly(commitments, month.month)
            )
            opening = month.closing
        negative = [i for i, m in enumerate(result.projection) if m.closing < 0]
        if not negative:
            assert result.months_remaining is None and result.exhausted_in is None
            assert result.below_threshold is False
            continue
        first = negative[0]
        assert result.exhausted_in == result.projection[first].month
        assert result.months_remaining is not None
        assert first <= result.months_remaining < first + 1
        assert result.below_threshold == (result.months_remaining < threshold)


@pytest.mark.parametrize("text", ["9999", "9999-Q4", "9999-12"])
def test_periods_ending_in_the_year_10000_are_refused(text: str) -> None:
    # Their end (the first day after them) would be 10000-01-01, which no date holds:
    # set_budget and every period filter failed on it with an internal error.
    with pytest.raises(ValueError, match=f"must end before December 9999: {text} does not"):
        parse_period(text)


def test_the_last_periods_that_fit() -> None:
    assert parse_period("9999-11").end == date(9999, 12, 1)
    assert parse_period("9999-Q3").end == date(9999, 10, 1)
    assert parse_period("9998").end == date(9999, 1, 1)
    assert parse_period("0001").start == date(1, 1, 1)


def test_judged_figures_are_shown_half_up_but_never_across_their_threshold() -> None:
    # Half up, as money is shown (the thread's default context would round half even:
    # 4.425 -> 4.42, 0.125 -> 0.12).
    assert shown_hundredths(D("4.425")) == D("4.43")
    assert shown_hundredths(D("0.125"), [D(80), D(100)]) == D("0.13")
    assert shown_hundredths(D("4.428571428571428571428571428571429"), [D(6)]) == D("4.43")
    # 999.96 of 1000.00 = 99.996 %: 100 not reached, so not shown as 100.00.
    assert shown_hundredths(D("99.996"), [D(80), D(100)]) == D("99.99")
    assert shown_hundredths(D("99.996")) == D("100.00")  # nothing to judge against
    # 5 + 999.99 / 1000.00 = 5.99999 months, below 6: shown as 5.99, not 6.00.
    assert shown_hundredths(D("5.99999"), [D(6)]) == D("5.99")
    # At or past a threshold, plain half up: exactly 6 and 80.005 stay as they round.
    assert shown_hundredths(D(6), [D(6)]) == D("6.00")
    assert shown_hundredths(D("80.005"), [D(80), D(100)]) == D("80.01")
    with localcontext() as context:  # nobody's thread context changes it
        context.rounding = ROUND_DOWN
        context.prec = 3
        assert shown_hundredths(D("83.335")) == D("83.34")
