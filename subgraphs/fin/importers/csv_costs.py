"""Cost rows from a CSV file through a column mapping (``mappings.py``), streamed."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TextIO

from subgraphs.fin.importers.mappings import ColumnMapping, MappingError
from subgraphs.fin.importers.rows import CostRow, Problem
from subgraphs.fin.importers.values import amount_of, check_currency, parse_day

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
    where = {name: index for index, name in enumerate(header)}
    width = len(header)
    for number, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank lines (a trailing newline, a spreadsheet's padding)
        if len(record) < width:
            record = record + [""] * (width - len(record))
        yield _row(number, mapping, _Cells(where, record))


class _Cells:
    """One record's cells by column name; empty cells read as the default."""

    __slots__ = ("record", "where")

    def __init__(self, where: dict[str, int], record: list[str]) -> None:
        self.where = where
        self.record = record

    def get(self, column: str | None, default: str | None = None) -> str | None:
        if column is None or column not in self.where:
            return default
        return self.record[self.where[column]].strip() or default


def _row(number: int, mapping: ColumnMapping, cells: _Cells) -> CostRow | Problem:
    get = cells.get
    problems: list[str] = []
    day = amount = currency = None
    try:
        day = parse_day(get(mapping.date) or "")
    except ValueError as exc:
        problems.append(f"date: {exc}")
    try:
        text = get(mapping.amount) or ""
        amount = amount_of(_to_six_places(text) if mapping.round_amounts else text)
    except ValueError as exc:
        problems.append(f"amount: {exc}")
    try:
        currency = check_currency(get(mapping.currency, mapping.default_currency) or "")
    except ValueError as exc:
        problems.append(f"currency: {exc}")
    vendor = get(mapping.vendor, mapping.default_vendor)
    category = get(mapping.category, mapping.default_category)
    if not vendor:
        problems.append("vendor: empty")
    if not category:
        problems.append("category: empty")
    if problems or day is None or amount is None or currency is None:
        return Problem(number, "; ".join(problems))
    return CostRow(
        row=number,
        day=day,
        amount=amount,
        currency=currency,
        vendor=str(vendor),
        category=str(category),
        service=get(mapping.service),
        resource=get(mapping.resource),
        identity=tuple(get(column) or "" for column in mapping.identity),
    )


def _to_six_places(text: str) -> str:
    """A plain decimal rounded half-even to six places; anything else unchanged, for the
    amount parser to refuse with its own message."""
    value = text.strip()
    if not _PLAIN_DECIMAL.fullmatch(value) or len(value) > 64:
        return text
    return format(Decimal(value).quantize(_SIX_PLACES, rounding=ROUND_HALF_EVEN), "f")
