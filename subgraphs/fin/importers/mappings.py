"""Column mappings for cost CSVs: which column holds what, and presets for known exports.

A mapping names the source column of each field; vendor, category and currency may be
constants instead (an invoice from one provider names no vendor on its lines). Presets:

* ``hetzner``: a Hetzner Cloud invoice's line export (one line per resource and billing
  period; net amounts, as VAT is recovered and is not spend).
* ``aws-cur``: AWS Cost and Usage Report (legacy CUR, CSV), line-item columns; the
  service is read from the cost-allocation tag ``user:hubgraph-service``; costs (ten
  decimal places) rounded half-even to the six stored.
* ``generic``: ``date, amount, currency, vendor, category, service, resource``.

A mapping file is TOML::

    delimiter = ";"
    [columns]                 # source column names
    date = "Booking date"
    amount = "Amount"
    currency = "Currency"
    vendor = "Supplier"
    category = "Account"
    resource = "Cost centre"
    service = "Service id"
    identity = ["Voucher"]    # columns that tell equal charges apart (digest only)
    round_amounts = false     # true: more than six decimal places rounded, not refused
    [defaults]                # constants for fields without a column
    vendor = "Hetzner"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


class MappingError(ValueError):
    """The mapping cannot be used (unknown preset, bad file, a column the file lacks)."""


@dataclass(frozen=True)
class ColumnMapping:
    name: str
    date: str
    amount: str
    currency: str | None = None
    vendor: str | None = None
    category: str | None = None
    service: str | None = None
    resource: str | None = None
    identity: tuple[str, ...] = ()
    default_currency: str | None = None
    default_vendor: str | None = None
    default_category: str | None = None
    delimiter: str = ","
    # Round amounts with more than six decimal places (half-even) instead of refusing
    # the row: for exports that compute to more places than anyone is billed (a CUR
    # line's cost has ten), where the sixth place is a millionth of the currency.
    round_amounts: bool = False

    def check(self) -> None:
        for what, column, default in (
            ("currency", self.currency, self.default_currency),
            ("vendor", self.vendor, self.default_vendor),
            ("category", self.category, self.default_category),
        ):
            if column is None and default is None:
                raise MappingError(f"mapping {self.name}: {what} needs a column or a default")

    def missing_columns(self, header: list[str]) -> list[str]:
        # The service and resource columns may be absent: a CUR without the tag
        # activated, a generic file naming no services.
        named = [self.date, self.amount, self.currency, self.vendor, self.category]
        named += self.identity
        present = set(header)
        return [column for column in named if column is not None and column not in present]


PRESETS: dict[str, ColumnMapping] = {
    "generic": ColumnMapping(
        name="generic",
        date="date",
        amount="amount",
        currency="currency",
        vendor="vendor",
        category="category",
        service="service",
        resource="resource",
    ),
    "hetzner": ColumnMapping(
        name="hetzner",
        date="Period start",
        amount="Amount (net)",
        currency="Currency",
        category="Type",
        resource="Resource",
        identity=("Invoice", "Description"),
        default_vendor="Hetzner",
    ),
    "aws-cur": ColumnMapping(
        name="aws-cur",
        date="lineItem/UsageStartDate",
        amount="lineItem/UnblendedCost",
        currency="lineItem/CurrencyCode",
        category="product/ProductName",
        service="resourceTags/user:hubgraph-service",
        resource="lineItem/ResourceId",
        identity=("identity/LineItemId",),
        default_vendor="AWS",
        round_amounts=True,
    ),
}

_COLUMN_KEYS = ("date", "amount", "currency", "vendor", "category", "service", "resource")
_DEFAULT_KEYS = ("currency", "vendor", "category")


def resolve_mapping(spec: str | None) -> ColumnMapping:
    """A preset by name, or a TOML mapping file by path (default: ``generic``)."""
    name = spec or "generic"
    if name in PRESETS:
        return PRESETS[name]
    path = Path(name)
    if not path.is_file():
        raise MappingError(
            f"--mapping {name!r} is neither a preset ({', '.join(PRESETS)}) nor a file"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: not a TOML mapping: {exc}") from None
    return mapping_from_dict(data, str(path))


def mapping_from_dict(data: dict[str, Any], name: str) -> ColumnMapping:
    columns = data.get("columns", {})
    defaults = data.get("defaults", {})
    if not isinstance(columns, dict) or not isinstance(defaults, dict):
        raise MappingError(f"{name}: [columns] and [defaults] must be tables")
    unknown = set(columns) - {*_COLUMN_KEYS, "identity"} | set(defaults) - set(_DEFAULT_KEYS)
    if unknown:
        raise MappingError(f"{name}: unknown keys {', '.join(sorted(unknown))}")
    for key in ("date", "amount"):
        if not isinstance(columns.get(key), str):
            raise MappingError(f"{name}: [columns] {key} (a column name) is required")
    identity = columns.get("identity", [])
    if not isinstance(identity, list) or not all(isinstance(c, str) for c in identity):
        raise MappingError(f"{name}: [columns] identity must be a list of column names")
    mapping = ColumnMapping(
        name=name,
        date=columns["date"],
        amount=columns["amount"],
        identity=tuple(identity),
        delimiter=str(data.get("delimiter", ",")),
        round_amounts=data.get("round_amounts", False) is True,
    )
    texts: dict[str, Any] = {k: str(columns[k]) for k in _COLUMN_KEYS[2:] if k in columns}
    texts.update({f"default_{k}": str(v) for k, v in defaults.items()})
    mapping = replace(mapping, **texts)
    if len(mapping.delimiter) != 1:
        raise MappingError(f"{name}: delimiter must be one character")
    mapping.check()
    return mapping
