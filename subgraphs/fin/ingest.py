"""Importing a cost or token-spend file: all of it or nothing, idempotently, with a report.

Two passes over the file, each streamed (a 100,000-row file is never held in memory):

1. **Check**: every row is read and validated (``importers``), attributed (the service
   it names, else the first matching rule, else unattributed), token rows without a
   cost priced from the price table. The ops services the file names are then asked of
   ops in one call, outside any transaction. Any bad row, an unknown service, or ops not
   answering rejects the whole file: nothing is written, and the report lists the bad
   rows (the first ``MAX_REPORTED`` by row number, and how many there were).
2. **Store**: the file is read again inside one transaction and inserted in batches of
   ``BATCH_ROWS``, each row keyed by its content's digest; a digest already stored is
   skipped by the database (``ON CONFLICT (row_digest) DO NOTHING`` on PostgreSQL and
   SQLite — not SQLite's ``INSERT OR IGNORE``, which would also swallow a violated
   check constraint). Re-importing a file adds nothing; an overlapping one adds only its
   new rows. Should the file change between the passes, the transaction rolls back.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO, TypeVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.errors import Unavailable
from subgraphs.fin.importers.attribution import Rule, first_match, is_service_id
from subgraphs.fin.importers.prices import PriceTable
from subgraphs.fin.importers.rows import CostRow, Problem, TokenRow
from subgraphs.fin.models import (
    NAME_LENGTH,
    SOURCE_LENGTH,
    CostEntry,
    TokenSpend,
)

MAX_REPORTED = 100
BATCH_ROWS = 1_000
CATEGORY_LENGTH = 100
PROVIDER_LENGTH = 50

Row = TypeVar("Row", CostRow, TokenRow)
# Opens the file and reads it: one call per pass.
Reader = Callable[[TextIO], Iterator[Any]]
# ids -> {id: domain slug} for those ops has; raises Unavailable when ops cannot say.
ServiceLookup = Callable[[Collection[str]], Awaitable[Mapping[str, str]]]


class FileChanged(RuntimeError):
    """The file changed between the check and the store: nothing was written."""


class Progress(Protocol):
    def start(self, label: str, total: int | None) -> None: ...

    def advance(self, rows: int) -> None: ...


@dataclass
class ImportReport:
    path: str
    kind: str  # "costs" or "tokens"
    rows_read: int = 0
    added: int = 0
    already_present: int = 0
    problems: list[Problem] = field(default_factory=list)  # the first MAX_REPORTED
    problem_count: int = 0
    failure: str | None = None  # why the file was refused other than for bad rows
    attribution: Counter[str] = field(default_factory=Counter)
    cost_sources: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rejected(self) -> bool:
        return bool(self.problem_count or self.failure)


class _Problems:
    """Every bad row counted; the first MAX_REPORTED by row number kept."""

    def __init__(self) -> None:
        self.kept: list[Problem] = []
        self.count = 0

    def add(self, problem: Problem) -> None:
        self.count += 1
        self.kept.append(problem)
        if len(self.kept) >= 4 * MAX_REPORTED:
            self.kept = sorted(self.kept, key=lambda p: p.row)[:MAX_REPORTED]

    def first(self) -> list[Problem]:
        return sorted(self.kept, key=lambda p: p.row)[:MAX_REPORTED]


@dataclass
class _Named:
    """The rows naming one service: how many, and the first few row numbers."""

    rows: list[int] = field(default_factory=list)
    count: int = 0

    def add(self, row: int) -> None:
        self.count += 1
        if len(self.rows) < MAX_REPORTED:
            self.rows.append(row)


@dataclass
class _Plan:
    """What the check pass learnt, for the store pass."""

    valid: int = 0
    named: dict[str, _Named] = field(default_factory=dict)  # service id -> rows naming it
    rule_services: set[str] = field(default_factory=set)
    domains: Mapping[str, str] = field(default_factory=dict)  # service id -> domain slug


async def import_costs(
    db: Database,
    path: Path,
    reader: Reader,
    *,
    rules: Sequence[Rule],
    services: ServiceLookup,
    progress: Progress | None = None,
) -> ImportReport:
    return await _import(
        db, path, reader, "costs", _CostRules(rules), services, progress, CostEntry.__table__
    )


async def import_tokens(
    db: Database,
    path: Path,
    reader: Reader,
    *,
    rules: Sequence[Rule],
    prices: PriceTable,
    services: ServiceLookup,
    progress: Progress | None = None,
) -> ImportReport:
    return await _import(
        db,
        path,
        reader,
        "tokens",
        _TokenRules(rules, prices),
        services,
        progress,
        TokenSpend.__table__,
    )


async def _import(
    db: Database,
    path: Path,
    reader: Reader,
    kind: str,
    kind_rules: _KindRules,
    services: ServiceLookup,
    progress: Progress | None,
    table: Any,
) -> ImportReport:
    started = time.perf_counter()
    report = ImportReport(path=str(path), kind=kind)
    before = _stamp(path)
    problems = _Problems()
    plan = _Plan()
    if progress:
        progress.start(f"checking {path.name}", None)
    with _rows(path, reader) as rows:
        for item in rows:
            report.rows_read += 1
            if progress and report.rows_read % BATCH_ROWS == 0:
                progress.advance(BATCH_ROWS)
            if isinstance(item, Problem):
                problems.add(item)
                continue
            problem = kind_rules.check(item, plan)
            if problem is not None:
                problems.add(problem)
                continue
            plan.valid += 1
    await _ask_ops(services, plan, problems, report)
    report.problems, report.problem_count = problems.first(), problems.count
    if report.rejected:
        report.seconds = time.perf_counter() - started
        return report
    if progress:
        progress.start(f"importing {path.name}", plan.valid)
    source = _source_name(path)
    now = datetime.now(UTC)
    try:
        async with db.transaction() as session:
            insert = _insert_statement(session, table)
            with _rows(path, reader) as rows:
                batch: list[dict[str, Any]] = []
                for item in rows:
                    if isinstance(item, Problem):
                        raise FileChanged(f"{path} changed while it was imported (row {item.row})")
                    batch.append(kind_rules.values(item, plan, report, source, now))
                    if len(batch) == BATCH_ROWS:
                        report.added += await _store(session, insert, batch)
                        if progress:
                            progress.advance(len(batch))
                        batch = []
                if batch:
                    report.added += await _store(session, insert, batch)
                    if progress:
                        progress.advance(len(batch))
            if _stamp(path) != before:
                raise FileChanged(f"{path} changed while it was imported")
    except FileChanged as exc:  # rolled back: the report says so, like any refusal
        report.failure, report.added = str(exc), 0
        report.attribution.clear()
        report.cost_sources.clear()
        report.seconds = time.perf_counter() - started
        return report
    report.already_present = plan.valid - report.added
    report.seconds = time.perf_counter() - started
    return report


async def _ask_ops(
    services: ServiceLookup, plan: _Plan, problems: _Problems, report: ImportReport
) -> None:
    ids = set(plan.named) | plan.rule_services
    if not ids:
        return
    try:
        plan.domains = await services(ids)
    except Unavailable as exc:
        report.failure = f"SERVICE_UNAVAILABLE: {exc.message}"
        return
    for service_id, named in plan.named.items():
        if service_id in plan.domains:
            continue
        for row in named.rows:
            problems.add(Problem(row, f"service {service_id} does not exist in ops"))
        problems.count += named.count - len(named.rows)
    unknown = sorted(plan.rule_services - set(plan.domains))
    if unknown:
        report.failure = (
            f"attribution rules name services ops does not have: {', '.join(unknown)} "
            "([[hubs.fin.options.attribution]])"
        )


# --- per kind: checking a row, and the values stored for it ----------------------------


class _KindRules(Protocol):
    def check(self, row: Any, plan: _Plan) -> Problem | None: ...

    def values(
        self, row: Any, plan: _Plan, report: ImportReport, source: str, now: datetime
    ) -> dict[str, Any]: ...


def _too_long(row: int, fields: Mapping[str, tuple[str | None, int]]) -> Problem | None:
    long = [
        f"{name} longer than {limit}" for name, (v, limit) in fields.items() if v and len(v) > limit
    ]
    return Problem(row, "; ".join(long)) if long else None


def _attribute(
    rules: Sequence[Rule], service: str | None, vendor: str, resource: str | None
) -> tuple[str | None, str, Rule | None]:
    """(service id, how it was found, the rule) for one row."""
    if service:
        return str(uuid.UUID(service)), "service", None
    rule = first_match(rules, vendor, resource)
    if rule is not None:
        return (str(uuid.UUID(rule.service)) if rule.service else None), "rule", rule
    return None, "unattributed", None


def _note_service(plan: _Plan, row: int, service: str | None, how: str) -> None:
    if service is None:
        return
    if how == "service":
        plan.named.setdefault(service, _Named()).add(row)
    else:
        plan.rule_services.add(service)


def _domain(plan: _Plan, service: str | None, rule: Rule | None) -> str | None:
    if rule is not None and rule.domain:
        return rule.domain
    return plan.domains.get(service) or None if service else None


class _CostRules:
    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = rules

    def check(self, row: CostRow, plan: _Plan) -> Problem | None:
        if row.service and not is_service_id(row.service):
            return Problem(row.row, f"service {row.service!r} is not an ops service id")
        long = _too_long(
            row.row,
            {
                "vendor": (row.vendor, NAME_LENGTH),
                "category": (row.category, CATEGORY_LENGTH),
                "resource": (row.resource, NAME_LENGTH),
            },
        )
        if long is not None:
            return long
        service, how, _ = _attribute(self.rules, row.service, row.vendor, row.resource)
        _note_service(plan, row.row, service, how)
        return None

    def values(
        self, row: CostRow, plan: _Plan, report: ImportReport, source: str, now: datetime
    ) -> dict[str, Any]:
        service, how, rule = _attribute(self.rules, row.service, row.vendor, row.resource)
        report.attribution[how] += 1
        return {
            "id": uuid.uuid4(),
            "date": row.day,
            "amount": row.amount,
            "currency": row.currency,
            "vendor": row.vendor,
            "category": row.category,
            "service_id": service,
            "domain_slug": _domain(plan, service, rule),
            "resource": row.resource,
            "attribution": how,
            "source_file": source,
            "source_row": row.row,
            "row_digest": row.digest(),
            "imported_at": now,
        }


class _TokenRules:
    def __init__(self, rules: Sequence[Rule], prices: PriceTable) -> None:
        self.rules = rules
        self.prices = prices

    def check(self, row: TokenRow, plan: _Plan) -> Problem | None:
        long = _too_long(
            row.row,
            {
                "model": (row.model, NAME_LENGTH),
                "session": (row.session_id, NAME_LENGTH),
                "provider": (row.provider, PROVIDER_LENGTH),
            },
        )
        if long is not None:
            return long
        if row.cost is None and self.prices.for_model(row.model) is None:
            return Problem(
                row.row,
                f"the export has no cost and the price table has no price for model "
                f"{row.model!r} ([hubs.fin.options.token_prices])",
            )
        service, how, _ = _attribute(self.rules, None, row.provider, row.resource)
        _note_service(plan, row.row, service, how)
        return None

    def values(
        self, row: TokenRow, plan: _Plan, report: ImportReport, source: str, now: datetime
    ) -> dict[str, Any]:
        service, how, rule = _attribute(self.rules, None, row.provider, row.resource)
        report.attribution[how] += 1
        if row.cost is not None and row.currency is not None:
            cost, currency, cost_source = row.cost, row.currency, "export"
        else:
            price = self.prices.for_model(row.model)
            assert price is not None  # the check pass refused rows without one
            cost, currency = price.cost(row.tokens_in, row.tokens_out), price.currency
            cost_source = "price_table"
        report.cost_sources[cost_source] += 1
        return {
            "id": uuid.uuid4(),
            "at": row.at,
            "provider": row.provider,
            "model": row.model,
            "tokens_in": row.tokens_in,
            "tokens_out": row.tokens_out,
            "cost": cost,
            "currency": currency,
            "cost_source": cost_source,
            "session_id": row.session_id,
            "service_id": service,
            "domain_slug": _domain(plan, service, rule),
            "source_file": source,
            "source_row": row.row,
            "row_digest": row.digest(),
            "imported_at": now,
        }


# --- files and statements --------------------------------------------------------------


@contextmanager
def _rows(path: Path, reader: Reader) -> Iterator[Iterator[Any]]:
    # utf-8-sig: spreadsheets and consoles often write a byte-order mark; newline="" as
    # the csv module wants (quoted fields may hold line breaks).
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield reader(handle)


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _source_name(path: Path) -> str:
    name = str(path.resolve())
    return name if len(name) <= SOURCE_LENGTH else "..." + name[-(SOURCE_LENGTH - 3) :]


def _insert_statement(session: AsyncSession, table: Table) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).on_conflict_do_nothing(index_elements=["row_digest"])
    return statement.returning(table.c.row_digest)


async def _store(session: AsyncSession, insert: Any, batch: list[dict[str, Any]]) -> int:
    """Insert one batch; the number of rows it really added.

    Executed with many parameter sets, which SQLAlchemy sends as multi-row INSERTs
    ("insertmanyvalues") from one compiled statement; RETURNING gives back exactly the
    rows inserted (a skipped duplicate returns nothing), on both backends, where a
    rowcount of executemany is not reliable.
    """
    connection = await session.connection()
    result = await connection.execute(insert, batch)
    return len(result.all())
