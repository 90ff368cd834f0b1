"""Money in GraphQL: the ``Decimal`` scalar and the money types the fin schema shares.

``Decimal`` travels as a JSON **string** (``"1234.50"``): a JSON number is a float to most
clients and loses cents (``0.1 + 0.2``). Input is a string in plain decimal notation
(:func:`subgraphs.fin.money.parse_amount`: at most 6 decimal places, no exponent, no
separators) or an integer; a float, variable or literal, is refused with an error saying
to quote it.

Annotate fields and arguments with this module's ``Decimal``, never ``decimal.Decimal``:
Strawberry's built-in scalar of that name accepts floats, and two scalars called
``Decimal`` in one schema do not build. Type checkers see ``decimal.Decimal``, so
resolvers return and receive plain Decimals.

Composition: the scalar is defined by the fin hub alone; the gateway's composer takes a
custom scalar from one subgraph as it is (``tests/fin/test_money.py`` composes one), and
its MCP tools describe a ``Decimal`` as a decimal string.
"""

from __future__ import annotations

import decimal
from datetime import date
from typing import TYPE_CHECKING, NewType, TypeAlias

import strawberry
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types.scalar import ScalarDefinition, ScalarWrapper

from subgraphs.fin import money

__all__ = [
    "ConvertedTotal",
    "CurrencyTotals",
    "Decimal",
    "Money",
    "RateUsed",
    "parse_decimal",
    "serialize_decimal",
]

DECIMAL_DESCRIPTION = (
    'A decimal number written as a JSON string in plain notation, e.g. "1234.50" or '
    '"-3": an optional sign, digits, a point and decimals (at most 6 in input). Never a JSON number '
    "(floats lose cents); integers are accepted as input. Money amounts come with their "
    "ISO 4217 currency code."
)


def serialize_decimal(value: object) -> str:
    """A Decimal (or int) as plain decimal text; anything else is a resolver bug."""
    if isinstance(value, bool) or not isinstance(value, decimal.Decimal | int):
        raise TypeError(f"Decimal fields return decimal.Decimal, not {type(value).__name__}")
    if isinstance(value, decimal.Decimal) and not value.is_finite():
        raise ValueError(f"Decimal fields cannot return {value}")
    return money.format_amount(decimal.Decimal(value))


def parse_decimal(value: object) -> decimal.Decimal:
    """Input: a decimal string or an integer; floats refused with a message saying why.

    Errors are GraphQL errors with code BAD_USER_INPUT: a plain exception raised while a
    literal is validated would reach the kit's error masking as an internal error.
    """
    if isinstance(value, float):
        raise _bad_input(
            f'Decimal values are strings, not floats: write {value!r} as "{value}" '
            "(a float loses cents)"
        )
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _bad_input(f'Decimal values are strings such as "1234.50", not {value!r}')
    try:
        return money.parse_amount(value)
    except ValueError as error:
        raise _bad_input(f"invalid Decimal: {error}") from None


def _bad_input(message: str) -> StrawberryInputCoercionError:
    return StrawberryInputCoercionError(message, extensions={"code": "BAD_USER_INPUT"})


# Built by hand rather than with strawberry.scalar(NewType(...)) (deprecated, warns) or
# StrawberryConfig.scalar_map (the kit's hub_schema takes no config): Strawberry accepts
# any annotation carrying a _scalar_definition. Its default literal parser reads the AST
# into a Python value and calls parse_value, so literals and variables share one check.
_DecimalType = NewType("_DecimalType", decimal.Decimal)
_decimal_scalar = ScalarWrapper(_DecimalType)
_decimal_scalar._scalar_definition = ScalarDefinition(
    name="Decimal",
    description=DECIMAL_DESCRIPTION,
    specified_by_url=None,
    serialize=serialize_decimal,
    parse_value=parse_decimal,
    parse_literal=None,
    origin=_DecimalType,
)

if TYPE_CHECKING:
    Decimal: TypeAlias = decimal.Decimal
else:
    Decimal = _decimal_scalar


@strawberry.type(description="An amount of money: a decimal string and its ISO 4217 currency.")
class Money:
    amount: Decimal = strawberry.field(
        description="The amount, a decimal string with the currency's minor units at least "
        "and 6 decimal places at most."
    )
    currency: str = strawberry.field(description="The ISO 4217 currency code, e.g. EUR.")

    @classmethod
    def from_money(cls, value: money.Money, *, rounded: bool = False) -> Money:
        """The GraphQL value of ``value``.

        Exact, written with the currency's minor units at least (``"1234.50"`` EUR,
        ``"1235"`` JPY) and the storage scale at most (6 places: ``"0.000123"`` USD; a
        derived figure such as a monthly share, 83.333..., is rounded there, half even),
        trailing zeros beyond the minor units dropped. ``rounded=True`` rounds to the
        minor units (half up) for figures meant to be read, such as a projection.
        """
        if rounded:
            amount = money.quantize(value.amount, value.currency)
        else:
            amount = _exact(value.amount, money.minor_units(value.currency))
        return cls(amount=amount, currency=value.currency)


def _exact(amount: decimal.Decimal, minor_units: int) -> decimal.Decimal:
    """``amount`` with at least ``minor_units`` and at most the storage scale's places."""
    amount = _at_most(amount, money.AMOUNT_SCALE)
    stripped = amount.normalize(context=money.MONEY_CONTEXT)
    exponent = stripped.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -minor_units:
        # Fewer places than the currency has: padded (exact, nothing is rounded).
        return amount.quantize(decimal.Decimal(1).scaleb(-minor_units))
    return stripped


def _at_most(amount: decimal.Decimal, places: int) -> decimal.Decimal:
    """``amount`` rounded (half even) to ``places`` if it has more; unchanged otherwise."""
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -places:
        return amount
    return amount.quantize(decimal.Decimal(1).scaleb(-places), context=money.MONEY_CONTEXT)


@strawberry.type(
    description="Sums kept per currency, never added across currencies: one entry per currency."
)
class CurrencyTotals:
    amounts: list[Money] = strawberry.field(
        description="One sum per currency, ordered by currency code; empty when nothing was summed."
    )
    single: Money | None = strawberry.field(
        description="The sum when exactly one currency occurs; null when none or several do."
    )

    @classmethod
    def from_totals(cls, totals: money.Totals, *, rounded: bool = False) -> CurrencyTotals:
        amounts = [
            Money.from_money(money.Money(amount, currency), rounded=rounded)
            for currency, amount in totals.by_currency.items()
        ]
        return cls(amounts=amounts, single=amounts[0] if len(amounts) == 1 else None)


@strawberry.type(description="An exchange rate a conversion applied.")
class RateUsed:
    currency: str = strawberry.field(description="The currency converted from.")
    rate: Decimal = strawberry.field(
        description="Units of the total's currency per one unit of this currency."
    )


@strawberry.type(
    description="Amounts in several currencies converted into one with the configured rate table."
)
class ConvertedTotal:
    total: Money = strawberry.field(description="The converted sum.")
    rates: list[RateUsed] = strawberry.field(
        description="Every rate applied, by currency code; empty when nothing needed converting."
    )
    base: str = strawberry.field(description="The rate table's base currency.")
    as_of: date | None = strawberry.field(description="The rate table's date, when configured.")

    @classmethod
    def from_converted(cls, converted: money.Converted, *, rounded: bool = False) -> ConvertedTotal:
        return cls(
            total=Money.from_money(converted.total, rounded=rounded),
            rates=[
                RateUsed(currency=code, rate=_at_most(rate, _RATE_SCALE))
                for code, rate in sorted(converted.rates_used.items())
            ],
            base=converted.base,
            as_of=converted.as_of,
        )


# A cross rate (USD -> GBP through EUR) has 34 digits; 10 places are plenty to check one.
_RATE_SCALE = 10
