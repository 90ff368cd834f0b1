"""The per-model price table, for token exports that carry no cost.

Configured in ``hubgraph.toml``, prices per million tokens, written as strings (or
whole numbers): a TOML float would be a binary fraction, and money is never a float::

    [hubs.fin.options.token_prices."claude-sonnet-4-5"]
    input = "3.00"
    output = "15.00"
    currency = "USD"

A model is priced by its own entry, else by the longest entry its name starts with
(``claude-sonnet-4-5-20250929`` by ``claude-sonnet-4-5``), as exports name dated
snapshots. A computed cost is rounded half-even to the six decimal places amounts are
stored with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cached_property
from typing import Any

from subgraphs.fin.importers.values import amount_of, check_currency

OPTION = "token_prices"
_MILLION = Decimal(1_000_000)
_SIX_PLACES = Decimal("0.000001")


class PriceConfigError(ValueError):
    """The price table in the configuration cannot be used."""


@dataclass(frozen=True)
class Price:
    input: Decimal  # per million tokens
    output: Decimal
    currency: str

    def cost(self, tokens_in: int, tokens_out: int) -> Decimal:
        exact = (tokens_in * self.input + tokens_out * self.output) / _MILLION
        return exact.quantize(_SIX_PLACES, rounding=ROUND_HALF_EVEN)

    def cost_millionths(self, tokens_in: int, tokens_out: int) -> int:
        """:meth:`cost` in whole millionths, computed in integers (an import prices every
        row of a file): prices have at most six places, so the exact cost is a whole
        number of millionths of a millionth, rounded half-even to millionths here."""
        exact = tokens_in * self._millionths[0] + tokens_out * self._millionths[1]
        whole, rest = divmod(exact, 1_000_000)
        if rest > 500_000 or (rest == 500_000 and whole % 2):
            whole += 1
        return whole

    @cached_property
    def _millionths(self) -> tuple[int, int]:
        return int(self.input.scaleb(6)), int(self.output.scaleb(6))


class PriceTable:
    def __init__(self, prices: Mapping[str, Price]) -> None:
        self.prices = dict(prices)
        # Longest first: the most specific prefix wins.
        self._prefixes = sorted(self.prices, key=len, reverse=True)

    def __len__(self) -> int:
        return len(self.prices)

    def for_model(self, model: str) -> Price | None:
        exact = self.prices.get(model)
        if exact is not None:
            return exact
        return next((self.prices[p] for p in self._prefixes if model.startswith(p)), None)


def price_table(options: Mapping[str, Any]) -> PriceTable:
    """The table from the fin hub's options (empty when none is configured)."""
    raw = options.get(OPTION) or {}
    if not isinstance(raw, Mapping):
        raise PriceConfigError(f"[hubs.fin.options.{OPTION}] must be a table of models")
    prices: dict[str, Price] = {}
    for model, entry in raw.items():
        where = f"[hubs.fin.options.{OPTION}.{model!r}]"
        if not isinstance(entry, Mapping):
            raise PriceConfigError(f"{where} must be a table with input, output and currency")
        try:
            prices[str(model)] = Price(
                input=_price(entry.get("input"), where, "input"),
                output=_price(entry.get("output"), where, "output"),
                currency=check_currency(str(entry.get("currency") or "")),
            )
        except ValueError as exc:
            raise PriceConfigError(f"{where}: {exc}") from None
    return PriceTable(prices)


def _price(value: Any, where: str, name: str) -> Decimal:
    if isinstance(value, float):
        raise PriceConfigError(f"{where}: {name} = {value} is a float; write it as a string")
    if value is None:
        raise PriceConfigError(f"{where}: {name} (per million tokens) is missing")
    price = amount_of(value)
    if price < 0:
        raise PriceConfigError(f"{where}: {name} is negative")
    return price
