"""Field parsers shared by the readers: dates, amounts, currencies, token counts.

Money is Decimal from the text as written (never through float); a value a reader cannot
read raises ValueError with a message fit for the row report.

A file of 100,000 rows calls these 100,000 times each, so the common shapes take a short
way (a plain amount, a plain count) that gives exactly what the general one would, and
:class:`Memo` keeps the answers for columns whose values repeat (days, currencies, the
times of usage buckets).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Generic, TypeVar

from subgraphs.fin.money import AMOUNT_INTEGER_DIGITS, AMOUNT_SCALE, check_currency, parse_amount

__all__ = [
    "Memo",
    "amount_of",
    "check_currency",
    "parse_amount",
    "parse_count",
    "parse_day",
    "parse_instant",
]

_DAY_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%Y/%m/%d")
_UNIX = re.compile(r"^\d{9,11}$")
# An amount money.parse_amount takes as it is: at most AMOUNT_INTEGER_DIGITS integer
# digits (so below its limit) and AMOUNT_SCALE places, no exponent, no space inside.
_PLAIN_AMOUNT = re.compile(
    rf"[+-]?[0-9]{{1,{AMOUNT_INTEGER_DIGITS}}}(?:\.[0-9]{{1,{AMOUNT_SCALE}}})?"
)
_ZERO = Decimal(0)

T = TypeVar("T")


def parse_instant(text: str) -> datetime:
    """An instant in UTC: ISO 8601 (``Z`` or an offset; none means UTC), a day, or Unix
    seconds (OpenAI's exports)."""
    value = text.strip()
    if not value:
        raise ValueError("no date")
    if _UNIX.match(value):
        return datetime.fromtimestamp(int(value), UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.combine(parse_day(value), datetime.min.time(), UTC)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_day(text: str) -> date:
    """A calendar day: ISO (``2026-03-01``, or an ISO timestamp's day), German invoices'
    ``01.03.2026``, or ``2026/03/01``."""
    value = text.strip()
    if len(value) == 10 and value[4] == "-":  # the common case, without strptime's cost
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"unreadable date {text!r}") from None
    for layout in _DAY_FORMATS:
        try:
            return datetime.strptime(value, layout).date()
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"unreadable date {text!r}") from None
    return (parsed.astimezone(UTC) if parsed.tzinfo else parsed).date()


def parse_count(text: str | int | None, what: str) -> int:
    """A token count: a whole number, zero or more."""
    if type(text) is str and text.isdecimal():  # plain digits: what int() below would give
        return int(text)
    if text is None or text == "":
        return 0
    if isinstance(text, bool):
        raise ValueError(f"{what} is not a count: {text!r}")
    if isinstance(text, int):
        number = text
    else:
        try:
            number = int(str(text).strip().replace(",", "").replace("_", ""))
        except ValueError:
            raise ValueError(f"{what} is not a whole number: {text!r}") from None
    if number < 0:
        raise ValueError(f"{what} is negative: {number}")
    return number


def amount_of(value: object) -> Decimal:
    """An amount from CSV text or a JSON number (decoded as Decimal, never float): at
    most six decimal places, as stored (``money.parse_amount``)."""
    if type(value) is str and _PLAIN_AMOUNT.fullmatch(value):
        # What parse_amount returns for it: the Decimal as written, zero without a sign.
        return Decimal(value) or _ZERO
    if isinstance(value, str | int | Decimal) and not isinstance(value, bool):
        return parse_amount(value)
    raise ValueError(f"not an amount: {value!r}")


class Memo(Generic[T]):
    """A parser's answers by the text it was given: the value, or the ValueError's message
    (raised again, alike). For columns whose values repeat; at most ``size`` are kept."""

    __slots__ = ("known", "parse", "size")

    def __init__(self, parse: Callable[[str], T], size: int = 4096) -> None:
        self.parse = parse
        self.size = size
        self.known: dict[str, T | _Refused] = {}

    def __call__(self, text: str) -> T:
        known = self.known.get(text)
        if known is None:
            try:
                known = self.parse(text)
            except ValueError as exc:
                known = _Refused(str(exc))
            if len(self.known) >= self.size:
                self.known.clear()
            self.known[text] = known
        if type(known) is _Refused:
            raise ValueError(known.message)
        return known  # type: ignore[return-value]


class _Refused:
    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message
