"""What readers yield: normalised rows, or a problem with the row it came from.

A row's digest is over its normalised content, never its position in the file: the same
charge exported again (another file, another order, an overlapping period) has the same
digest, so storing it twice is a no-op (``ingest.py``: unique ``row_digest``). The digests
already stored were made this way: the text digested must never change.

Rows are plain (not frozen) slotted dataclasses: a reader makes one per source row, and a
frozen one costs several times as much to make. Nothing changes them once made.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Problem:
    """A source row that cannot be imported, and why (``row`` counts from 1; for CSV the
    header is row 1, so numbers match what a spreadsheet shows)."""

    row: int
    message: str


@dataclass(slots=True)
class CostRow:
    row: int
    day: date
    amount: Decimal
    currency: str
    vendor: str
    category: str
    service: str | None = None  # an ops service id the file names
    resource: str | None = None  # a resource label (server, project, namespace, ...)
    # Source fields that tell two otherwise equal charges apart (an invoice line's
    # description or id): part of the digest, not stored.
    identity: tuple[str, ...] = field(default=())

    def digest(self) -> str:
        return digest_of(
            "cost",
            _iso(self.day),
            canonical_amount(self.amount),
            self.currency,
            self.vendor,
            self.category,
            self.service or "",
            self.resource or "",
            *self.identity,
        )


@dataclass(slots=True)
class TokenRow:
    row: int
    at: datetime
    provider: str
    model: str
    tokens_in: int
    tokens_out: int
    cost: Decimal | None  # None: the export has none; the price table gives it
    currency: str | None
    session_id: str | None = None
    resource: str | None = None  # api key, workspace or project: what rules match
    identity: tuple[str, ...] = field(default=())

    def digest(self) -> str:
        return digest_of(
            "tokens",
            _iso(self.at),
            self.provider,
            self.model,
            str(self.tokens_in),
            str(self.tokens_out),
            canonical_amount(self.cost) if self.cost is not None else "",
            self.currency or "",
            self.session_id or "",
            self.resource or "",
            *self.identity,
        )


def canonical_amount(amount: Decimal) -> str:
    """``12.50``, ``12.5`` and ``1.25E+1`` are one amount, so one digest: the amount
    normalised, in plain notation (``format(amount.normalize(), "f")``, never ``1E+3``).

    A nonzero amount that ``str`` writes without an exponent (every amount a reader
    gives: at most six places and eighteen digits) is that text without the fraction's
    trailing zeros, which is the same string at a fraction of the cost."""
    text = str(amount)
    if not amount or "E" in text or len(text) > 28:
        return format(amount.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _iso(moment: date | datetime) -> str:
    """``moment.isoformat()``, remembered: days and bucket times repeat down a file.
    By the zone too: equal instants in two zones are written differently."""
    key = (moment, getattr(moment, "tzinfo", None))
    text = _ISO.get(key)
    if text is None:
        if len(_ISO) >= 4096:
            _ISO.clear()
        text = _ISO[key] = moment.isoformat()
    return text


_ISO: dict[tuple[date, object], str] = {}


def digest_of(*parts: str) -> str:
    # A separator no field contains, so ("ab", "c") and ("a", "bc") differ.
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
