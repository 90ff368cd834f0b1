"""Money: parsing, per-currency sums, conversion with the rates named, and the GraphQL
``Decimal`` scalar executed for real (a hub schema, the composer, the gateway)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import strawberry
from graphql import GraphQLScalarType
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.exceptions import ScalarAlreadyRegisteredError

from gateway.api_schema import build_api_schema
from gateway.composition import SubgraphSDL, compose
from gateway.engine import Gateway
from gateway.mcp.json_schema import scalar_schema
from gateway.supergraph import read_supergraph
from subgraphs.core.kit.federation import hub_schema, sdl
from subgraphs.fin import money, schema_money
from subgraphs.fin.money import (
    ISO_4217,
    MINOR_UNITS,
    CurrencyMismatch,
    MissingRate,
    Money,
    RateTable,
    Totals,
    check_currency,
    parse_amount,
    quantize,
)

# ---------------------------------------------------------------------------------------
# Currencies


def test_the_active_codes_are_listed_and_the_others_are_not() -> None:
    assert {"EUR", "USD", "GBP", "JPY", "CHF", "KWD", "XCG", "ZWG", "SLE"} <= ISO_4217
    # Not money one is billed in (metals, testing, no currency) or withdrawn.
    assert not {"XAU", "XTS", "XXX", "HRK", "ANG", "ZWL", "SLL", "BGN"} & ISO_4217
    assert all(len(code) == 3 and code.isupper() for code in ISO_4217)
    assert set(MINOR_UNITS) <= ISO_4217


def test_check_currency_upper_cases_known_codes_and_names_unknown_ones() -> None:
    assert check_currency("eur") == "EUR"
    assert check_currency(" usd ") == "USD"
    for bad in ("EURO", "XXX", "", "E U", "ABC"):
        with pytest.raises(ValueError, match="currency") as caught:
            check_currency(bad)
        assert repr(bad) in str(caught.value)
    with pytest.raises(ValueError, match="three-letter"):
        check_currency(978)  # type: ignore[arg-type]


def test_minor_units() -> None:
    assert money.minor_units("EUR") == 2
    assert money.minor_units("jpy") == 0
    assert money.minor_units("KWD") == 3
    assert money.minor_units("BHD") == 3
    assert money.minor_units("CLF") == 4


# ---------------------------------------------------------------------------------------
# Amounts


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("1234.56", Decimal("1234.56")),
        ("-3", Decimal("-3")),
        ("+3.5", Decimal("3.5")),
        ("  42.10 ", Decimal("42.10")),
        ("0.000001", Decimal("0.000001")),
        (".5", Decimal("0.5")),
        ("-0", Decimal("0")),
        ("1.500000000", Decimal("1.5")),  # trailing zeros do not count as places
        ("999999999999.999999", Decimal("999999999999.999999")),  # the largest storable
        (7, Decimal(7)),
        (Decimal("12.30"), Decimal("12.30")),
        ("12.30", Decimal("12.30")),
        (Decimal("1E+3"), Decimal("1000")),
    ],
)
def test_parse_amount_accepts(given: str | int | Decimal, expected: Decimal) -> None:
    parsed = parse_amount(given)
    assert parsed == expected and isinstance(parsed, Decimal)
    exponent = parsed.as_tuple().exponent
    assert isinstance(exponent, int) and -6 <= exponent <= 0
    assert "E" not in str(parsed)  # plain notation, never an exponent
    assert not str(parsed).startswith("-0")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (1.5, "never floats"),
        (0.1, "never floats"),
        (True, "never floats"),
        ("1,234.56", "not an amount"),  # no thousands separators, in any locale
        ("1.234,56", "not an amount"),
        ("1 234", "not an amount"),
        ("1e3", "not an amount"),  # no exponents in text
        ("1E-7", "not an amount"),
        ("NaN", "not an amount"),
        ("Infinity", "not an amount"),
        ("", "not an amount"),
        ("-", "not an amount"),
        ("1.", "not an amount"),
        ("€12", "not an amount"),
        ("١٢", "not an amount"),  # Arabic-Indic digits: Decimal takes them, we do not
        ("1" * 100, "not an amount"),
        ("1.1234567", "more than 6 decimal places"),
        (Decimal("0.0000001"), "more than 6 decimal places"),
        ("1000000000000", "too large"),  # 13 integer digits: NUMERIC(18, 6) cannot hold it
        (Decimal("-1E+12"), "too large"),
        (Decimal("NaN"), "finite"),
        (Decimal("-Infinity"), "finite"),
        (None, "not an amount"),
        ([1], "not an amount"),
    ],
)
def test_parse_amount_refuses(given: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_amount(given)


def test_parse_amount_keeps_the_given_places_up_to_six() -> None:
    assert str(parse_amount("12.30")) == "12.30"
    assert str(parse_amount("1.500000000")) == "1.500000"
    assert str(parse_amount(Decimal("2.50000000"))) == "2.500000"
    assert str(parse_amount("-0.00")) == "0"


def test_quantize_rounds_half_up_to_minor_units_and_never_shows_minus_zero() -> None:
    assert quantize(Decimal("1234.5"), "EUR") == Decimal("1234.50")
    assert str(quantize(Decimal("1234.5"), "EUR")) == "1234.50"
    assert quantize(Decimal("0.125"), "EUR") == Decimal("0.13")  # half up, not half even
    assert quantize(Decimal("0.135"), "EUR") == Decimal("0.14")
    assert quantize(Decimal("-0.125"), "EUR") == Decimal("-0.13")
    assert str(quantize(Decimal("1234.5"), "JPY")) == "1235"
    assert str(quantize(Decimal("1.2345"), "KWD")) == "1.235"
    assert str(quantize(Decimal("-0.001"), "EUR")) == "0.00"
    assert str(quantize(Decimal("83.33333333333333333333333333333333"), "USD")) == "83.33"


def test_format_amount_is_plain_notation() -> None:
    assert money.format_amount(Decimal("1E+3")) == "1000"
    assert money.format_amount(Decimal("-0.00")) == "0.00"
    assert money.format_amount(Decimal("0.000001")) == "0.000001"


# ---------------------------------------------------------------------------------------
# Money and Totals


def test_money_adds_exactly_within_one_currency() -> None:
    total = Money(Decimal("0.10"), "eur") + Money(Decimal("0.20"), "EUR")
    assert total == Money(Decimal("0.30"), "EUR")
    assert total.currency == "EUR"
    assert Money(Decimal("10.00"), "USD") - Money(Decimal("0.01"), "USD") == Money(
        Decimal("9.99"), "USD"
    )
    assert -Money(Decimal(5), "USD") == Money(Decimal(-5), "USD")
    assert Money(7, "EUR").amount == Decimal(7)  # an int is taken as exact
    assert Money.zero("GBP") == Money(Decimal(0), "GBP")
    assert str(Money(Decimal("1234.5"), "EUR")) == "1234.50 EUR"
    assert Money(Decimal("2.675"), "EUR").quantized() == Money(Decimal("2.68"), "EUR")


def test_money_in_different_currencies_is_never_added() -> None:
    with pytest.raises(CurrencyMismatch, match="cannot add USD and EUR"):
        Money(Decimal(1), "EUR") + Money(Decimal(1), "USD")
    with pytest.raises(CurrencyMismatch, match="cannot subtract"):
        Money(Decimal(1), "EUR") - Money(Decimal(1), "USD")
    assert issubclass(CurrencyMismatch, ValueError)
    with pytest.raises(TypeError):
        Money(Decimal(1), "EUR") + Decimal(1)  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(Decimal(1), "EUR") + 1  # type: ignore[operator]


def test_money_refuses_floats_and_unknown_currencies() -> None:
    with pytest.raises(ValueError, match="finite Decimal"):
        Money(1.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite Decimal"):
        Money(Decimal("NaN"), "EUR")
    with pytest.raises(ValueError, match="'EURO'"):
        Money(Decimal(1), "EURO")


def test_totals_keep_one_sum_per_currency() -> None:
    totals = Totals(
        [
            Money(Decimal("100.00"), "USD"),
            Money(Decimal("10.50"), "EUR"),
            Money(Decimal("0.25"), "USD"),
            Money(Decimal("-0.50"), "EUR"),
        ]
    )
    assert totals.by_currency == {"EUR": Decimal("10.00"), "USD": Decimal("100.25")}
    assert list(totals.by_currency) == ["EUR", "USD"]  # ordered by code
    assert totals.currencies == ["EUR", "USD"] and len(totals) == 2
    assert totals.single() is None  # two currencies: no single total
    assert Totals().single() is None and Totals().by_currency == {}
    one = Totals().add(Money(Decimal("1.10"), "GBP")).add(Money(Decimal("2.20"), "GBP"))
    assert one.single() == Money(Decimal("3.30"), "GBP")
    merged = Totals([Money(Decimal(1), "EUR")]).merge(totals)
    assert merged.by_currency == {"EUR": Decimal("11.00"), "USD": Decimal("100.25")}
    with pytest.raises(TypeError):
        Totals().add(Decimal(1))  # type: ignore[arg-type]
    by_currency = totals.by_currency
    by_currency["EUR"] = Decimal(0)  # a copy: the totals are unchanged
    assert totals.by_currency["EUR"] == Decimal("10.00")


# ---------------------------------------------------------------------------------------
# Rate tables


def rates() -> RateTable:
    # 1 USD = 0.50 EUR and 1 GBP = 1.25 EUR: round numbers, so every figure below is exact.
    return RateTable.from_config(
        {"base": "eur", "rates": {"USD": "0.50", "gbp": "1.25"}, "as_of": date(2026, 11, 30)}
    )


def mixed() -> Totals:
    return Totals(
        [
            Money(Decimal("100.00"), "USD"),
            Money(Decimal("10.00"), "EUR"),
            Money(Decimal("50.00"), "GBP"),
        ]
    )


def test_conversion_into_the_base_says_which_rates_it_used() -> None:
    converted = rates().convert(mixed(), "EUR")
    # 100.00 USD x 0.50 = 50.00; 50.00 GBP x 1.25 = 62.50; plus EUR 10.00 = 122.50.
    assert converted.total == Money(Decimal("122.50"), "EUR")
    assert converted.rates_used == {"GBP": Decimal("1.25"), "USD": Decimal("0.50")}
    assert converted.base == "EUR" and converted.as_of == date(2026, 11, 30)


def test_conversion_into_another_currency_goes_through_the_base() -> None:
    converted = rates().convert(mixed(), "usd")
    # EUR -> USD: 1 / 0.50 = 2; GBP -> USD: 1.25 / 0.50 = 2.5.
    # 10.00 EUR x 2 = 20.00; 50.00 GBP x 2.5 = 125.00; plus USD 100.00 = 245.00.
    assert converted.total == Money(Decimal("245.00"), "USD")
    assert converted.rates_used == {"EUR": Decimal(2), "GBP": Decimal("2.5")}
    assert rates().rate("GBP", "USD") == Decimal("2.5")
    assert rates().rate("USD", "USD") == Decimal(1)


def test_a_single_currency_in_its_own_currency_needs_no_rate() -> None:
    table = RateTable.from_config({"base": "EUR"})
    converted = table.convert(Totals([Money(Decimal("5.00"), "CHF")]), "CHF")
    assert converted.total == Money(Decimal("5.00"), "CHF") and converted.rates_used == {}
    assert table.convert(Totals(), "EUR").total == Money(Decimal(0), "EUR")


def test_a_missing_rate_is_named() -> None:
    totals = mixed().add(Money(Decimal(1000), "JPY")).add(Money(Decimal(1), "CHF"))
    with pytest.raises(MissingRate, match="no exchange rate for CHF, JPY") as caught:
        rates().convert(totals, "EUR")
    assert caught.value.currencies == ("CHF", "JPY")
    assert "base EUR" in str(caught.value)
    with pytest.raises(MissingRate, match="SEK"):
        rates().convert(mixed(), "SEK")  # the target itself has no rate
    with pytest.raises(MissingRate, match="NOK"):
        rates().rate("NOK", "EUR")


def test_a_rate_table_is_read_from_configuration() -> None:
    table = RateTable.from_config(
        {"base": "USD", "rates": {"EUR": "1.08", "JPY": 1}, "as_of": "2026-11-30"}
    )
    assert table.base == "USD" and table.as_of == date(2026, 11, 30)
    assert dict(table.rates) == {"EUR": Decimal("1.08"), "JPY": Decimal(1), "USD": Decimal(1)}
    assert RateTable(base="EUR", rates={"EUR": Decimal(1)}).rates == {"EUR": Decimal(1)}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"base": "EUR", "rates": {"USD": 0.92}}, 'a float; write it as a string: "0.92"'),
        ({"rates": {"USD": "0.92"}}, "needs 'base'"),
        ({"base": "EURO"}, "unknown currency 'EURO'"),
        ({"base": "EUR", "rates": {"USX": "1"}}, "unknown currency 'USX'"),
        ({"base": "EUR", "rates": {"USD": "-0.92"}}, "must be positive"),
        ({"base": "EUR", "rates": {"USD": "0"}}, "must be positive"),
        ({"base": "EUR", "rates": {"USD": "abc"}}, "not a decimal number"),
        ({"base": "EUR", "rates": {"USD": "1e3"}}, "not a decimal number"),
        ({"base": "EUR", "rates": {"USD": True}}, "expected a decimal string"),
        ({"base": "EUR", "rates": {"EUR": "2"}}, "base currency EUR must be 1"),
        ({"base": "EUR", "rates": ["USD"]}, "'rates' must be a table"),
        ({"base": "EUR", "rate": {"USD": "1"}}, "unknown rate table keys: rate"),
        ({"base": "EUR", "as_of": "30/11/2026"}, "'as_of' must be a date"),
    ],
)
def test_bad_rate_configuration_is_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        RateTable.from_config(config)


def test_a_rate_table_refuses_float_rates_built_directly() -> None:
    with pytest.raises(ValueError, match="positive Decimal"):
        RateTable(base="EUR", rates={"USD": 0.92})  # type: ignore[dict-item]


# ---------------------------------------------------------------------------------------
# GraphQL: the scalar and the money types, executed by a real schema


@strawberry.type
class Query:
    @strawberry.field
    def echo(self, value: schema_money.Decimal) -> schema_money.Decimal:
        return value

    @strawberry.field
    def doubled(self, value: schema_money.Decimal) -> schema_money.Decimal:
        assert isinstance(value, Decimal)  # resolvers receive real Decimals
        return value * 2

    @strawberry.field
    def price(self) -> schema_money.Money:
        return schema_money.Money.from_money(Money(Decimal("1234.5"), "EUR"))

    @strawberry.field
    def monthly_share(self, rounded: bool = False) -> schema_money.Money:
        share = Money(Decimal(1000) / Decimal(12), "USD")  # 83.333... (28 digits)
        return schema_money.Money.from_money(share, rounded=rounded)

    @strawberry.field
    def totals(self) -> schema_money.CurrencyTotals:
        return schema_money.CurrencyTotals.from_totals(mixed())

    @strawberry.field
    def one_total(self) -> schema_money.CurrencyTotals:
        return schema_money.CurrencyTotals.from_totals(Totals([Money(Decimal("5.5"), "EUR")]))

    @strawberry.field
    def converted(self, to: str) -> schema_money.ConvertedTotal:
        return schema_money.ConvertedTotal.from_converted(rates().convert(mixed(), to))

    @strawberry.field
    def broken(self) -> schema_money.Decimal:
        return 1.5  # type: ignore[return-value]  # a resolver bug: must not go out as 1.5


SCHEMA = hub_schema(Query)


def run(query: str, variables: dict[str, Any] | None = None) -> tuple[Any, list[dict[str, Any]]]:
    result = SCHEMA.execute_sync(query, variable_values=variables)
    errors = [{"message": e.message, **(e.extensions or {})} for e in result.errors or []]
    return result.data, errors


def test_the_sdl_describes_the_scalar_as_a_decimal_string() -> None:
    text = sdl(SCHEMA)
    assert "scalar Decimal\n" in text
    assert 'A decimal number written as a JSON string in plain notation, e.g. "1234.50"' in text
    assert "type Money {" in text and "amount: Decimal!" in text and "currency: String!" in text


def test_decimal_round_trips_as_a_string() -> None:
    data, errors = run('{ echo(value: "1234.50") doubled(value: "0.10") }')
    assert not errors and data == {"echo": "1234.50", "doubled": "0.20"}
    data, errors = run(
        "query ($v: Decimal!) { echo(value: $v) doubled(value: $v) }", {"v": "-0.000001"}
    )
    assert not errors and data == {"echo": "-0.000001", "doubled": "-0.000002"}


def test_decimal_accepts_integers() -> None:
    data, errors = run("{ echo(value: 12) }")
    assert not errors and data == {"echo": "12"}
    data, errors = run("query ($v: Decimal!) { echo(value: $v) }", {"v": 9007199254740993})
    assert errors and "too large" in errors[0]["message"]  # beyond 12 integer digits
    data, errors = run("query ($v: Decimal!) { echo(value: $v) }", {"v": 123456789012})
    assert not errors and data == {"echo": "123456789012"}


def test_floats_are_refused_with_a_clear_error() -> None:
    data, errors = run("{ echo(value: 12.5) }")
    assert data is None and len(errors) == 1
    assert errors[0]["code"] == "BAD_USER_INPUT"
    assert errors[0]["message"] == (
        'Decimal values are strings, not floats: write 12.5 as "12.5" (a float loses cents)'
    )
    data, errors = run("query ($v: Decimal!) { echo(value: $v) }", {"v": 0.1})
    assert data is None and len(errors) == 1
    assert errors[0]["code"] == "BAD_USER_INPUT"
    assert "not floats" in errors[0]["message"] and '"0.1"' in errors[0]["message"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"1e3"', "not an amount"),
        ('"1,234.50"', "not an amount"),
        ('"NaN"', "not an amount"),
        ('"1.1234567"', "more than 6 decimal places"),
        ("true", "strings such as"),
        ('["1"]', "strings such as"),
    ],
)
def test_bad_decimal_literals_are_bad_user_input(value: str, message: str) -> None:
    data, errors = run(f"{{ echo(value: {value}) }}")
    assert data is None and len(errors) == 1
    assert errors[0]["code"] == "BAD_USER_INPUT" and message in errors[0]["message"]


def test_a_resolver_returning_a_float_is_an_error_not_a_number() -> None:
    data, errors = run("{ broken }")
    assert data is None and errors[0]["code"] == "INTERNAL_SERVER_ERROR"


def test_money_types() -> None:
    data, errors = run(
        """{
          price { amount currency }
          exact: monthlyShare { amount currency }
          rounded: monthlyShare(rounded: true) { amount currency }
          totals { amounts { amount currency } single { amount } }
          oneTotal { amounts { amount currency } single { amount currency } }
        }"""
    )
    assert not errors
    assert data == {
        "price": {"amount": "1234.50", "currency": "EUR"},
        # A derived figure: at most the storage scale, half even; rounded: minor units.
        "exact": {"amount": "83.333333", "currency": "USD"},
        "rounded": {"amount": "83.33", "currency": "USD"},
        "totals": {
            "amounts": [
                {"amount": "10.00", "currency": "EUR"},
                {"amount": "50.00", "currency": "GBP"},
                {"amount": "100.00", "currency": "USD"},
            ],
            "single": None,
        },
        "oneTotal": {
            "amounts": [{"amount": "5.50", "currency": "EUR"}],
            "single": {"amount": "5.50", "currency": "EUR"},
        },
    }


def test_converted_total_names_its_rates() -> None:
    data, errors = run(
        '{ converted(to: "USD") { total { amount currency } rates { currency rate } base asOf } }'
    )
    assert not errors
    assert data == {
        "converted": {
            "total": {"amount": "245.00", "currency": "USD"},
            "rates": [{"currency": "EUR", "rate": "2"}, {"currency": "GBP", "rate": "2.5"}],
            "base": "EUR",
            "asOf": "2026-11-30",
        }
    }


def test_cross_rates_are_shown_to_ten_places() -> None:
    table = RateTable.from_config({"base": "EUR", "rates": {"USD": "0.92"}})
    converted = schema_money.ConvertedTotal.from_converted(
        table.convert(Totals([Money(Decimal(100), "EUR")]), "USD")
    )
    # 1 / 0.92 = 1.0869565217391304...: reported to 10 places, half even.
    assert converted.rates[0].rate == Decimal("1.0869565217")
    assert converted.total.amount == Decimal("108.695652")  # 6 places, the storage scale


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("1234.5", "EUR", "1234.50"),  # padded to the minor units
        ("245.000", "USD", "245.00"),  # trailing zeros beyond them dropped
        ("0.000123", "USD", "0.000123"),  # a token price keeps its places
        ("0.1000", "USD", "0.10"),
        ("1234.0", "JPY", "1234"),
        ("1234.5", "JPY", "1234.5"),  # exact: not rounded unless asked
        ("1.2", "KWD", "1.200"),
        ("1000", "EUR", "1000.00"),
        ("0.0000005", "USD", "0.00"),  # beyond the storage scale: half even to 0.000000
        ("-0.0000015", "USD", "-0.000002"),
    ],
)
def test_money_is_shown_exactly_between_minor_units_and_the_storage_scale(
    amount: str, currency: str, shown: str
) -> None:
    value = schema_money.Money.from_money(Money(Decimal(amount), currency))
    assert schema_money.serialize_decimal(value.amount) == shown


def test_strawberrys_own_decimal_cannot_sit_beside_ours() -> None:
    # decimal.Decimal as an annotation is Strawberry's built-in scalar (it takes floats);
    # the schema refuses to build with both, so the mistake cannot ship.
    @strawberry.type
    class Mixed:
        @strawberry.field
        def ours(self) -> schema_money.Money:
            return schema_money.Money(amount=Decimal(1), currency="EUR")

        @strawberry.field
        def theirs(self) -> Decimal:
            return Decimal(1)

    with pytest.raises(ScalarAlreadyRegisteredError, match="Decimal"):
        hub_schema(Mixed)


def test_serialising_keeps_plain_notation() -> None:
    assert schema_money.serialize_decimal(Decimal("1E+3")) == "1000"
    assert schema_money.serialize_decimal(Decimal("-0.00")) == "0.00"
    assert schema_money.serialize_decimal(5) == "5"
    with pytest.raises(TypeError):
        schema_money.serialize_decimal(1.5)
    with pytest.raises(ValueError):
        schema_money.serialize_decimal(Decimal("Infinity"))


# ---------------------------------------------------------------------------------------
# Composition and the gateway: a custom scalar defined by one subgraph


@strawberry.type
class OtherQuery:
    @strawberry.field
    def greeting(self) -> str:
        return "hello"


async def test_the_scalar_composes_and_passes_through_the_gateway() -> None:
    other = hub_schema(OtherQuery)
    supergraph = compose(
        [
            SubgraphSDL("fin", "http://fin.invalid/graphql", sdl(SCHEMA)),
            SubgraphSDL("other", "http://other.invalid/graphql", sdl(other)),
        ]
    )
    assert "scalar Decimal @join__type(graph: FIN)" in supergraph
    assert "A decimal number written as a JSON string" in supergraph
    # Clients see it, and the MCP tools describe it as a decimal string.
    api = build_api_schema(read_supergraph(supergraph))
    decimal_type = api.get_type("Decimal")
    assert isinstance(decimal_type, GraphQLScalarType)
    tool_schema = scalar_schema(decimal_type)
    assert tool_schema["type"] == "string"
    assert re.fullmatch(tool_schema["pattern"], "-1234.50")
    assert not re.fullmatch(tool_schema["pattern"], "1e3")

    apps = {
        name: Starlette(routes=[Route("/graphql", GraphQL(schema))])  # type: ignore[arg-type]
        for name, schema in (("fin", SCHEMA), ("other", other))
    }
    gateway = Gateway(supergraph, subgraph_apps=apps)
    try:
        body, _ = await gateway.execute(
            "query ($v: Decimal!) { echo(value: $v) price { amount currency } greeting }",
            {"v": "1234.50"},
        )
        assert body == {
            "data": {
                "echo": "1234.50",
                "price": {"amount": "1234.50", "currency": "EUR"},
                "greeting": "hello",
            }
        }
        # The gateway does not know the scalar's rules; the hub refuses the float.
        body, _ = await gateway.execute("query ($v: Decimal!) { echo(value: $v) }", {"v": 12.5})
        assert body.get("data") is None or body["data"].get("echo") is None
        assert "not floats" in str(body["errors"])
    finally:
        await gateway.close()
