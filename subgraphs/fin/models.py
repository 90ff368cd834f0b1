"""The fin hub's tables (and only here).

Money is an exact ``Decimal`` with its ISO 4217 code beside it, never a float: amounts
are ``NUMERIC(18, 6)`` on PostgreSQL and whole millionths (an integer) on SQLite, whose
NUMERIC would store a REAL and whose SUM would add floats (:class:`Amount`).

Rows refer to what other hubs own by human key or id only: a domain by slug (core), a
service by its UUID as a string (ops). A cost entry or token spend also carries the
domain its service belonged to when it was recorded (``domain_slug``), so a domain's
spend is one query here, without asking ops which services the domain has.

Budget periods are written ``2026-Q3`` (a quarter), ``2026-07`` (a month) or ``2026``
(a year); ``period_start`` / ``period_end`` (the first day after it) are derived from
the text when the budget is written, for range queries. A budget's ``committed`` and
``spent`` are never stored: they are derived from commitments and cost entries.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from subgraphs.core.kit.events.tables import event_tables
from subgraphs.core.kit.orm import (
    TYPE_ANNOTATION_MAP,
    RowIdentity,
    UTCDateTime,
    hub_metadata,
    utcnow,
)

ATTRIBUTIONS = ("service", "rule", "unattributed")
COST_SOURCES = ("export", "price_table")
COMMITMENT_KINDS = ("subscription", "contract", "salary")
CADENCES = ("monthly", "quarterly", "yearly")

KEY_LENGTH = 64  # domain slugs
SERVICE_ID_LENGTH = 36  # an ops service's UUID, as text
NAME_LENGTH = 200
SOURCE_LENGTH = 500
DIGEST_LENGTH = 64  # hex SHA-256
SCALE = 6  # decimal places kept for every amount
PRECISION = 18


class Amount(TypeDecorator[Decimal]):
    """An exact amount: NUMERIC(18, 6), or an integer count of millionths on SQLite.

    A value with more than six decimal places is refused rather than rounded, so nothing
    stored differs from what was given.
    """

    impl = Numeric(PRECISION, SCALE, asdecimal=True)
    cache_ok = True

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(PRECISION, SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("amounts are Decimal, never float")
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        exponent = amount.as_tuple().exponent
        if not amount.is_finite() or (isinstance(exponent, int) and exponent < -SCALE):
            raise ValueError(f"amount {amount} has more than {SCALE} decimal places")
        if dialect.name == "sqlite":
            return int(amount.scaleb(SCALE))
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-SCALE)
        return Decimal(value).quantize(Decimal(1).scaleb(-SCALE))


def _one_of(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name)


class Base(DeclarativeBase):
    metadata = hub_metadata()
    type_annotation_map = {**TYPE_ANNOTATION_MAP, Decimal: Amount, date: Date}


class CostEntry(Base):
    """One line of an imported bill: what was spent on what, on which day.

    ``row_digest`` (a SHA-256 of the row's normalised content) is the idempotence key:
    importing a file again, or one that overlaps, adds only rows not seen before.
    """

    __tablename__ = "cost_entries"
    __table_args__ = (
        _one_of("attribution", ATTRIBUTIONS, "attribution"),
        Index("ix_cost_entries_domain_date", "domain_slug", "date"),
        Index("ix_cost_entries_service_date", "service_id", "date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    date: Mapped[date] = mapped_column(Date, index=True)
    amount: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    vendor: Mapped[str] = mapped_column(String(NAME_LENGTH), index=True)
    category: Mapped[str] = mapped_column(String(100), default="")
    # The ops service it is attributed to (its UUID as text), if any.
    service_id: Mapped[str | None] = mapped_column(String(SERVICE_ID_LENGTH))
    # The domain that service belonged to, or the one a rule named, if any.
    domain_slug: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    # The resource label of the bill (a project, a Kubernetes namespace, a server name).
    resource: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    # How the service was found: named in the row, by a rule, or not at all.
    attribution: Mapped[str] = mapped_column(String(20), default="unattributed")
    source_file: Mapped[str] = mapped_column(String(SOURCE_LENGTH), default="")
    source_row: Mapped[int] = mapped_column(Integer, default=0)
    row_digest: Mapped[str] = mapped_column(String(DIGEST_LENGTH), unique=True)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TokenSpend(Base):
    """LLM usage of one export row: tokens in and out and what they cost.

    ``cost_source`` says where the cost came from: the provider's export, or the hub's
    per-model price table when the export had none.
    """

    __tablename__ = "token_spend"
    __table_args__ = (
        _one_of("cost_source", COST_SOURCES, "cost_source"),
        CheckConstraint("tokens_in >= 0 AND tokens_out >= 0", name="tokens"),
        Index("ix_token_spend_provider_model_at", "provider", "model", "at"),
        Index("ix_token_spend_domain_at", "domain_slug", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    provider: Mapped[str] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(NAME_LENGTH))
    tokens_in: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens_out: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    cost_source: Mapped[str] = mapped_column(String(20), default="export")
    session_id: Mapped[str | None] = mapped_column(String(NAME_LENGTH), index=True)
    service_id: Mapped[str | None] = mapped_column(String(SERVICE_ID_LENGTH), index=True)
    domain_slug: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    source_file: Mapped[str] = mapped_column(String(SOURCE_LENGTH), default="")
    source_row: Mapped[int] = mapped_column(Integer, default=0)
    row_digest: Mapped[str] = mapped_column(String(DIGEST_LENGTH), unique=True)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Budget(RowIdentity, Base):
    """What a domain may spend in a period; committed and spent are derived, not stored."""

    __tablename__ = "budgets"
    __table_args__ = (
        UniqueConstraint("domain_slug", "period"),
        CheckConstraint("allocated >= 0", name="allocated"),
        CheckConstraint("period_end > period_start", name="period_range"),
    )

    domain_slug: Mapped[str] = mapped_column(String(KEY_LENGTH), index=True)
    period: Mapped[str] = mapped_column(String(7))  # 2026-Q3, 2026-07 or 2026
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # exclusive: the first day after
    allocated: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))


class Commitment(RowIdentity, Base):
    """A recurring cost the organisation has agreed to: a subscription, contract or salary.

    It costs ``amount`` every ``cadence`` from ``start`` until ``end`` (open-ended when
    none); projected burn and runway come from these.
    """

    __tablename__ = "commitments"
    __table_args__ = (
        _one_of("kind", COMMITMENT_KINDS, "kind"),
        _one_of("cadence", CADENCES, "cadence"),
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
    )

    kind: Mapped[str] = mapped_column(String(20))
    vendor: Mapped[str] = mapped_column(String(NAME_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    amount: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    cadence: Mapped[str] = mapped_column(String(10))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    service_id: Mapped[str | None] = mapped_column(String(SERVICE_ID_LENGTH), index=True)
    domain_slug: Mapped[str] = mapped_column(String(KEY_LENGTH), index=True)


class Balance(RowIdentity, Base):
    """Cash a domain has at a date, and below how many months of runway to alert.

    The newest balance of a domain (by ``as_of``) is the one its runway starts from.
    """

    __tablename__ = "balances"
    __table_args__ = (
        UniqueConstraint("domain_slug", "as_of", "currency"),
        CheckConstraint("alert_below_months >= 0", name="alert_below_months"),
    )

    domain_slug: Mapped[str] = mapped_column(String(KEY_LENGTH), index=True)
    amount: Mapped[Decimal] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    as_of: Mapped[date] = mapped_column(Date)
    alert_below_months: Mapped[int] = mapped_column(Integer, default=6)


SIGNAL_KINDS = ("budget_threshold_crossed", "runway_below_threshold")


class ThresholdSignal(Base):
    """A line the fin hub has told the other hubs a domain crossed, and that still holds.

    One row per budget (``kind`` budget_threshold_crossed, its ``period``) or runway
    (runway_below_threshold, ``period`` empty) while it stays past the line; ``threshold``
    is the line signalled (the highest budget percentage crossed, or the runway's
    months). Evaluating again finds the row and emits nothing; falling back removes it
    (or lowers a budget's to the line still crossed), so crossing again emits again
    (``signals.py``).
    """

    __tablename__ = "threshold_signals"
    __table_args__ = (_one_of("kind", SIGNAL_KINDS, "kind"),)

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    domain_slug: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # "" for a runway
    threshold: Mapped[str] = mapped_column(String(40))  # a Decimal, as text: exact
    event_id: Mapped[uuid.UUID]  # the event that signalled it
    signalled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# The kit's event tables (outbox, deliveries, inbox) in this hub's own database.
EVENT_TABLES = event_tables(Base.metadata)
