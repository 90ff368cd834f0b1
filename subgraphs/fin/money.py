"""Money: a ``decimal.Decimal`` amount with an ISO 4217 currency code, never a float.

The rules every part of the fin hub follows:

* **No floats.** :func:`parse_amount` refuses them (``0.1 + 0.2`` is not ``0.3``, and a
  float that went through JSON has already lost its cents). Amounts come in as strings,
  ints or Decimals.
* **Amounts are stored with at most** :data:`AMOUNT_SCALE` **decimal places** and
  :data:`AMOUNT_INTEGER_DIGITS` integer digits (``NUMERIC(18, 6)``): token prices are
  fractions of a cent, so two places are not enough.
* **Currencies are never mixed silently.** ``Money + Money`` in different currencies raises
  :class:`CurrencyMismatch`; sums over several currencies are :class:`Totals` (one sum per
  currency) unless a configured :class:`RateTable` converts them, and the
  :class:`Converted` result says which rates it used.
* **Full precision inside, rounding only for display.** Arithmetic runs in
  :data:`MONEY_CONTEXT` (34 significant digits, so a monthly share of a yearly amount keeps
  its digits); :func:`quantize` rounds to the currency's minor units (half up, as people
  round money by hand) when a figure is shown, never before it is summed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import (
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from types import MappingProxyType
from typing import Final

__all__ = [
    "AMOUNT_INTEGER_DIGITS",
    "AMOUNT_PRECISION",
    "AMOUNT_SCALE",
    "ISO_4217",
    "MINOR_UNITS",
    "MONEY_CONTEXT",
    "Converted",
    "CurrencyMismatch",
    "MissingRate",
    "Money",
    "RateTable",
    "Totals",
    "check_currency",
    "format_amount",
    "minor_units",
    "parse_amount",
    "quantize",
]

# Storage: NUMERIC(18, 6) (models.Amount; on SQLite a 64-bit count of millionths, which
# holds 12 integer digits). Six places hold per-token prices (USD 0.000003 per token);
# twelve integer digits (under a trillion) hold a small organisation's figures in any
# currency, KRW and JPY included. parse_amount refuses what storage could not hold.
AMOUNT_SCALE: Final = 6
AMOUNT_INTEGER_DIGITS: Final = 12
AMOUNT_PRECISION: Final = AMOUNT_SCALE + AMOUNT_INTEGER_DIGITS

# Arithmetic on money: more digits than any stored amount has (18), so sums are exact and
# divisions (a yearly amount / 12) keep 34 significant digits; errors trap instead of
# producing NaN or Infinity. Used explicitly, so nobody's thread-local context changes it.
MONEY_CONTEXT: Final = Context(
    prec=34, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)

# The active ISO 4217 currency codes (list one, as amended up to 2026) that name money
# someone can be billed in. Left out on purpose: precious metals (XAU, XAG, XPD, XPT), the
# bond-market and settlement units (XBA-XBD, XDR, XSU, XUA: no minor units, nobody is
# invoiced in them), the testing and "no currency" codes (XTS, XXX), and withdrawn codes
# (HRK and BGN, now EUR; ANG, now XCG; SLL, now SLE; ZWL, now ZWG; CUC).
_ACTIVE_CODES = """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD
    EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
    IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD
    MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD
    OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE
    SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI
    UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
ISO_4217: Final[frozenset[str]] = frozenset(_ACTIVE_CODES.split())

# Minor units (decimal places) where ISO 4217 says something other than 2.
_ZERO_PLACES = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_PLACES = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_PLACES = "CLF UYW"
MINOR_UNITS: Final[Mapping[str, int]] = MappingProxyType(
    {
        **dict.fromkeys(_ZERO_PLACES.split(), 0),
        **dict.fromkeys(_THREE_PLACES.split(), 3),
        **dict.fromkeys(_FOUR_PLACES.split(), 4),
    }
)

# Plain decimal notation only: an optional sign, digits, an optional point and digits.
# No thousands separators ("1,234" is 1234 in one locale and 1.234 in another; importers
# normalise their own formats first), no exponents, no spaces inside.
_AMOUNT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)")
# Longer text cannot be a valid amount; refusing it first bounds the work on hostile input.
_MAX_AMOUNT_TEXT = 64
_LIMIT = Decimal(10) ** AMOUNT_INTEGER_DIGITS


class CurrencyMismatch(ValueError):
    """Amounts in different currencies met where only one currency may be."""


class MissingRate(ValueError):
    """A conversion needs a rate the rate table does not have."""

    def __init__(self, message: str, currencies: Iterable[str]) -> None:
        super().__init__(message)
        self.currencies = tuple(sorted(currencies))


def check_currency(code: str) -> str:
    """``code`` upper-cased if it is an active ISO 4217 code; ValueError naming it otherwise."""
    if not isinstance(code, str):
        raise ValueError(f"a currency is a three-letter ISO 4217 code, not {code!r}")
    upper = code.strip().upper()
    if upper not in ISO_4217:
        raise ValueError(f"unknown currency {code!r}: not an active ISO 4217 code")
    return upper


def parse_amount(text: str | int | Decimal) -> Decimal:
    """An amount from a string (``"1234.56"``, ``"-3"``), an int or a finite Decimal.

    Refused with a ValueError saying why: floats and bools (a TypeError's worth of mistake,
    but one error type is simpler for callers reporting bad rows), NaN and Infinity,
    exponents and thousands separators in text, more than :data:`AMOUNT_SCALE` decimal
    places (trailing zeros do not count, and are dropped down to 6), and more than
    :data:`AMOUNT_INTEGER_DIGITS` integer digits. Surrounding whitespace is ignored; ``-0``
    is ``0``; the result has at most 6 places and no exponent (``1E+3`` is ``1000``), as
    given otherwise (``"12.30"`` stays ``12.30``).
    """
    if isinstance(text, bool | float):
        raise ValueError(
            f"amounts are never floats ({text!r}): write them as strings, e.g. '1234.50'"
        )
    if isinstance(text, int):
        value = Decimal(text)
    elif isinstance(text, Decimal):
        if not text.is_finite():
            raise ValueError(f"an amount must be a finite number, not {text}")
        value = text
    elif isinstance(text, str):
        stripped = text.strip()
        if len(stripped) > _MAX_AMOUNT_TEXT or not _AMOUNT.fullmatch(stripped):
            raise ValueError(f"not an amount: {_shown(text)} (expected e.g. '1234.56' or '-3')")
        value = Decimal(stripped)
    else:
        raise ValueError(f"not an amount: {text!r} (expected a string, an int or a Decimal)")
    return _bounded(value, _shown(text))


def _bounded(value: Decimal, shown: str) -> Decimal:
    """``value`` if it fits the storage scale and precision, ValueError otherwise."""
    if abs(value) >= _LIMIT:
        raise ValueError(
            f"amount {shown} is too large (at most {AMOUNT_INTEGER_DIGITS} integer digits)"
        )
    # Compared with the value at the storage scale: trailing zeros do not count, and a
    # value with more of them ("1.500000000") comes back at the scale ("1.500000").
    at_scale = value.quantize(Decimal(1).scaleb(-AMOUNT_SCALE), context=MONEY_CONTEXT)
    if value != at_scale:
        raise ValueError(f"amount {shown} has more than {AMOUNT_SCALE} decimal places")
    if value == 0:
        return Decimal(0)  # -0 and 0E+3 alike
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -AMOUNT_SCALE:
        return at_scale
    if isinstance(exponent, int) and exponent > 0:
        # Decimal("1E+3") is 1000 written with an exponent; stored and shown as 1000.
        return value.quantize(Decimal(1), context=MONEY_CONTEXT)
    return value


def _shown(text: object) -> str:
    shown = repr(text) if isinstance(text, str) else str(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def minor_units(currency: str) -> int:
    """The currency's decimal places for display: 2 for most, 0 for JPY, 3 for BHD/KWD..."""
    return MINOR_UNITS.get(check_currency(currency), 2)


def quantize(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded (half up) to the currency's minor units, for display only."""
    places = minor_units(currency)
    rounded = amount.quantize(
        Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=MONEY_CONTEXT
    )
    return rounded.copy_abs() if rounded == 0 else rounded  # never "-0.00"


def format_amount(amount: Decimal) -> str:
    """Plain decimal notation (``"1000"``, never ``"1E+3"``), ``"-0"`` shown as ``"0"``."""
    text = format(amount, "f")
    return text[1:] if amount == 0 and text.startswith("-") else text


@dataclass(frozen=True)
class Money:
    """An amount in one currency. ``+``/``-`` only with the same currency.

    ``amount`` must be a finite Decimal (an int is converted); the currency is checked and
    upper-cased. Derived figures (a monthly share) may carry more than the storage scale:
    the storage limit applies at the boundaries (:func:`parse_amount`), not here.
    """

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        amount = self.amount
        if isinstance(amount, int) and not isinstance(amount, bool):
            amount = Decimal(amount)
        if not isinstance(amount, Decimal) or not amount.is_finite():
            raise ValueError(f"Money needs a finite Decimal amount, not {self.amount!r}")
        # Frozen: the normalised values go in through object.__setattr__.
        object.__setattr__(self, "amount", amount)
        object.__setattr__(self, "currency", check_currency(self.currency))

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    def _same_currency(self, other: Money, verb: str) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"cannot {verb} {other.currency} and {self.currency} amounts without a "
                "conversion: sum them per currency (Totals) or convert with a RateTable"
            )

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "add")
        return Money(MONEY_CONTEXT.add(self.amount, other.amount), self.currency)

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "subtract")
        return Money(MONEY_CONTEXT.subtract(self.amount, other.amount), self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def quantized(self) -> Money:
        """This amount rounded to the currency's minor units (display)."""
        return Money(quantize(self.amount, self.currency), self.currency)

    def __str__(self) -> str:
        return f"{format_amount(quantize(self.amount, self.currency))} {self.currency}"


class Totals:
    """Sums kept per currency: amounts in different currencies are never added together."""

    def __init__(self, items: Iterable[Money] = ()) -> None:
        self._sums: dict[str, Decimal] = {}
        for item in items:
            self.add(item)

    def add(self, money: Money) -> Totals:
        """Adds ``money`` to its currency's sum; returns self so calls can chain."""
        if not isinstance(money, Money):
            raise TypeError(f"Totals adds Money, not {type(money).__name__}")
        current = self._sums.get(money.currency, Decimal(0))
        self._sums[money.currency] = MONEY_CONTEXT.add(current, money.amount)
        return self

    def merge(self, other: Totals) -> Totals:
        """Adds every sum of ``other``; returns self."""
        for currency, amount in other.by_currency.items():
            self.add(Money(amount, currency))
        return self

    @property
    def by_currency(self) -> dict[str, Decimal]:
        """A copy of the sums, ordered by currency code."""
        return {code: self._sums[code] for code in sorted(self._sums)}

    @property
    def currencies(self) -> list[str]:
        return sorted(self._sums)

    def single(self) -> Money | None:
        """The one sum when exactly one currency was added, None otherwise (none or several)."""
        if len(self._sums) != 1:
            return None
        ((currency, amount),) = self._sums.items()
        return Money(amount, currency)

    def __len__(self) -> int:
        return len(self._sums)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Totals) and other._sums == self._sums

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        inner = ", ".join(f"{c}={format_amount(a)}" for c, a in self.by_currency.items())
        return f"Totals({inner})"


@dataclass(frozen=True)
class Converted:
    """A total converted into one currency, with the rates that went into it.

    ``rates_used`` maps every other currency of the totals to the rate applied: units of
    ``total.currency`` per one unit of that currency (so ``{"USD": Decimal("0.92")}`` in a
    EUR total means each USD counted as EUR 0.92). ``as_of`` is the rate table's date.
    """

    total: Money
    rates_used: dict[str, Decimal]
    base: str = ""
    as_of: date | None = None


@dataclass(frozen=True)
class RateTable:
    """Exchange rates into ``base``, from configuration (never fetched: costs are reproducible).

    ``rates[code]`` is how many units of ``base`` one unit of ``code`` is worth: with
    ``base = "EUR"`` and ``USD = 0.92``, USD 100 is EUR 92. Converting into another
    currency of the table goes through the base (``amount * rate[from] / rate[to]``).
    """

    base: str
    rates: Mapping[str, Decimal]
    as_of: date | None = None

    def __post_init__(self) -> None:
        base = check_currency(self.base)
        checked: dict[str, Decimal] = {}
        for code, rate in self.rates.items():
            currency = check_currency(code)
            if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0:
                raise ValueError(
                    f"the rate for {currency} must be a positive Decimal, not {rate!r}"
                )
            if currency == base and rate != 1:
                raise ValueError(f"the rate of the base currency {base} must be 1, not {rate}")
            checked[currency] = rate
        checked[base] = Decimal(1)  # so lookups need no special case for the base
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "rates", MappingProxyType(checked))

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> RateTable:
        """A table from a configuration mapping, e.g. the hub option table
        ``{base = "EUR", rates = {USD = "0.92", GBP = "1.17"}, as_of = 2026-11-30}``.

        Rates are strings or ints (a TOML float like ``0.92`` is refused: write ``"0.92"``);
        ``as_of`` is a date or an ISO date string. ValueError on anything else, including
        unknown keys (a typo must not silently drop the rates).
        """
        if not isinstance(config, Mapping):
            raise ValueError("the rate table must be a table with 'base' and 'rates'")
        unknown = set(config) - {"base", "rates", "as_of"}
        if unknown:
            raise ValueError(f"unknown rate table keys: {', '.join(sorted(map(str, unknown)))}")
        base = config.get("base")
        if not isinstance(base, str):
            raise ValueError("the rate table needs 'base', a currency code such as \"EUR\"")
        raw_rates = config.get("rates", {})
        if not isinstance(raw_rates, Mapping):
            raise ValueError("'rates' must be a table of currency = \"rate\"")
        rates: dict[str, Decimal] = {}
        for code, raw in raw_rates.items():
            currency = check_currency(str(code))
            if isinstance(raw, float):
                raise ValueError(
                    f'the rate for {currency} is a float; write it as a string: "{raw}"'
                )
            try:
                rates[currency] = _parse_rate(raw)
            except ValueError as error:
                raise ValueError(f"the rate for {currency}: {error}") from None
        return cls(base=base, rates=rates, as_of=_parse_as_of(config.get("as_of")))

    def rate(self, currency: str, to: str) -> Decimal:
        """Units of ``to`` per unit of ``currency``; MissingRate if either is not in the table."""
        source, target = check_currency(currency), check_currency(to)
        if source == target:
            return Decimal(1)
        missing = [code for code in (source, target) if code not in self.rates]
        if missing:
            raise self._missing(missing, target)
        return MONEY_CONTEXT.divide(self.rates[source], self.rates[target])

    def convert(self, totals: Totals, to: str) -> Converted:
        """All of ``totals`` in ``to``, full precision; MissingRate naming every missing rate."""
        target = check_currency(to)
        sums = totals.by_currency
        missing = [c for c in sums if c != target and c not in self.rates]
        if target not in self.rates and any(c != target for c in sums):
            missing.append(target)
        if missing:
            raise self._missing(missing, target)
        total = Decimal(0)
        used: dict[str, Decimal] = {}
        for currency, amount in sums.items():
            rate = self.rate(currency, target)
            if currency != target:
                used[currency] = rate
            total = MONEY_CONTEXT.add(total, MONEY_CONTEXT.multiply(amount, rate))
        return Converted(Money(total, target), used, self.base, self.as_of)

    def _missing(self, currencies: Iterable[str], target: str) -> MissingRate:
        names = sorted(set(currencies))
        return MissingRate(
            f"no exchange rate for {', '.join(names)} in the rate table (base {self.base}); "
            f"cannot convert to {target}: add them under the rate table's 'rates'",
            names,
        )


def _parse_rate(raw: object) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        raise ValueError(f'expected a decimal string such as "0.92", not {raw!r}')
    text = raw.strip() if isinstance(raw, str) else raw
    if isinstance(text, str) and (len(text) > _MAX_AMOUNT_TEXT or not _AMOUNT.fullmatch(text)):
        raise ValueError(f"not a decimal number: {raw!r}")
    value = Decimal(text) if not isinstance(text, Decimal) else text
    if not value.is_finite() or value <= 0:
        raise ValueError(f"must be positive, not {raw!r}")
    return value


def _parse_as_of(raw: object) -> date | None:
    if raw is None:
        return None
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            pass
    raise ValueError(f"'as_of' must be a date such as 2026-11-30, not {raw!r}")
