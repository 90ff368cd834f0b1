"""Cost rows from a CSV file through a column mapping (``mappings.py``), streamed."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TextIO

from subgraphs.fin.importers.mappings import ColumnMapping, MappingError
from subgraphs.fin.importers.rows import CostRow, Problem
from subgraphs.fin.importers.values import Memo, amount_of, check_currency, parse_day

_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_SIX_PLACES = Decimal("0.000001")


def read_cost_csv(handle: TextIO, mapping: ColumnMapping) -> Iterator[CostRow | Problem]:
    """One CostRow or Problem per data row (the header is row 1). MappingError when the
    header lacks a column the mapping names: nothing in the file can then be read."""
    mapping.check()
    reader = csv.reader(handle, delimiter=mapping.delimiter)
    header = next(reader, None)
    if header is None:
        return
    header = [name.strip() for name in header]
    missing = mapping.missing_columns(header)
    if missing:
        raise MappingError(
            f"the file has no column {', '.join(repr(c) for c in missing)} "
            f"(mapping {mapping.name}; its columns: {', '.join(header)})"
        )
    fields = _Fields(mapping, header)
    width = len(header)
    for number, record in enumerate(reader, start=2):
        if not "".join(record).strip():
            continue  # blank lines (a trailing newline, a spreadsheet's padding)
        if len(record) < width:
            record = record + [""] * (width - len(record))
        yield fields.row(number, record)


class _Fields:
    """The mapping's columns as positions in the header, and one record read through
    them. An empty cell reads as the field's default (if any)."""

    def __init__(self, mapping: ColumnMapping, header: list[str]) -> None:
        where = {name: index for index, name in enumerate(header)}

        def position(column: str | None) -> int | None:
            return where.get(column) if column is not None else None

        self.date = position(mapping.date)
        self.amount = position(mapping.amount)
        self.currency = position(mapping.currency)
        self.vendor = position(mapping.vendor)
        self.category = position(mapping.category)
        self.service = position(mapping.service)
        self.resource = position(mapping.resource)
        self.identity = [where[column] for column in mapping.identity]
        self.default_currency = mapping.default_currency
        self.default_vendor = mapping.default_vendor
        self.default_category = mapping.default_category
        self.round_amounts = mapping.round_amounts
        self.days = Memo(parse_day)
        self.currencies = Memo(check_currency)

    def row(self, number: int, record: list[str]) -> CostRow | Problem:
        # One call per row of the file: positions read inline rather than through a helper.
        problems: list[str] = []
        day = amount = currency = None
        at = self.date
        try:
            day = self.days(record[at].strip() if at is not None else "")
        except ValueError as exc:
            problems.append(f"date: {exc}")
        at = self.amount
        try:
            text = record[at].strip() if at is not None else ""
            amount = amount_of(_to_six_places(text) if self.round_amounts else text)
        except ValueError as exc:
            problems.append(f"amount: {exc}")
        at = self.currency
        try:
            code = (record[at].strip() if at is not None else "") or self.default_currency
            currency = self.currencies(code or "")
        except ValueError as exc:
            problems.append(f"currency: {exc}")
        at = self.vendor
        vendor = (record[at].strip() if at is not None else "") or self.default_vendor
        at = self.category
        category = (record[at].strip() if at is not None else "") or self.default_category
        if not vendor:
            problems.append("vendor: empty")
        if not category:
            problems.append("category: empty")
        if problems or day is None or amount is None or currency is None:
            return Problem(number, "; ".join(problems))
        at = self.service
        service = (record[at].strip() or None) if at is not None else None
        at = self.resource
        resource = (record[at].strip() or None) if at is not None else None
        identity = tuple(record[i].strip() for i in self.identity) if self.identity else ()
        return CostRow(
            number, day, amount, currency, str(vendor), str(category), service, resource, identity
        )


def _to_six_places(text: str) -> str:
    """A plain decimal rounded half-even to six places; anything else unchanged, for the
    amount parser to refuse with its own message."""
    value = text.strip()
    if not _PLAIN_DECIMAL.fullmatch(value) or len(value) > 64:
        return text
    return format(Decimal(value).quantize(_SIX_PLACES, rounding=ROUND_HALF_EVEN), "f")
