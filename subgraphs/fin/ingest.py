"""Importing a cost or token-spend file: all of it or nothing, idempotently, with a report.

One pass over the file, streamed (a 100,000-row file is never held in memory):

1. **Read and check**: every row is read and validated (``importers``), attributed (the
   service it names, else the first matching rule, else unattributed), token rows
   without a cost priced from the price table; its values, digest included, are staged
   in batches of ``STAGE_ROWS`` in a temporary table of the import's own connection
   (``importers.staging``: COPY on PostgreSQL; already in the form the database stores,
   without SQLAlchemy's processing per value). After the first bad row nothing more is
   staged, but every row is still checked, for the report. The ops services the file
   names are then asked of ops in one call, outside any transaction. Any bad row, an
   unknown service, ops not answering, or the file changing while it was read rejects
   the whole file: nothing is written to the hub's tables, and the report lists the bad
   rows (the first ``MAX_REPORTED`` by row number, and how many there were).
2. **Store**: in one transaction, the staged rows are inserted in file order by
   ``INSERT ... SELECT``, with the domains ops gave joined in, each row keyed by its
   content's digest; a digest already stored is skipped by the database (``ON CONFLICT
   (row_digest) DO NOTHING`` on PostgreSQL and SQLite — not SQLite's ``INSERT OR
   IGNORE``, which would also swallow a violated check constraint). Re-importing a file
   adds nothing; an overlapping one adds only its new rows; a row repeated within a file
   is stored once (its first occurrence). The budget and runway lines the new rows make
   a domain cross are signalled in the same transaction (``signals.py``): the events
   are committed with the rows, or neither is. The temporary table is dropped
   afterwards, whatever happened.

On PostgreSQL the two overlap while no row has named a service: each staged batch is
inserted in the staging transaction while the next is read (``Staging.store_ahead``),
and that transaction is the one that commits; a bad row rolls it all back, and a row
naming a service has what was stored ahead deleted again before the staged rows are
committed and ops is asked.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, TextIO

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.errors import Unavailable
from subgraphs.fin import signals
from subgraphs.fin.importers.attribution import Matcher, Rule
from subgraphs.fin.importers.prices import Price, PriceTable
from subgraphs.fin.importers.rows import CostRow, Problem, TokenRow
from subgraphs.fin.importers.staging import Encoding, Staging
from subgraphs.fin.models import (
    NAME_LENGTH,
    PRECISION,
    SCALE,
    SOURCE_LENGTH,
    CostEntry,
    TokenSpend,
)
from subgraphs.fin.reports import FinConfig

MAX_REPORTED = 100
BATCH_ROWS = 1_000  # rows between two advances of the progress bar while reading
STAGE_ROWS = 5_000  # rows staged per write (one COPY, one executemany)
CATEGORY_LENGTH = 100
PROVIDER_LENGTH = 50
LARGEST_COUNT = 2**63 - 1  # BIGINT
LARGEST_MILLIONTHS = 10**PRECISION  # exclusive: NUMERIC(18, 6), in millionths

# Opens the file and reads it (once per import).
Reader = Callable[[TextIO], Iterator[Any]]
# ids -> {id: domain slug} for those ops has; raises Unavailable when ops cannot say.
ServiceLookup = Callable[[Collection[str]], Awaitable[Mapping[str, str]]]

# The columns staged for each row, besides the staging's own seq and id; source_file
# and imported_at are the same for every row of a file, given when storing.
COST_STAGED = (
    "date",
    "amount",
    "currency",
    "vendor",
    "category",
    "service_id",
    "domain_slug",  # a rule's domain; else the service's, from ops, when storing
    "resource",
    "attribution",
    "source_row",
    "row_digest",
)
TOKEN_STAGED = (
    "at",
    "provider",
    "model",
    "tokens_in",
    "tokens_out",
    "cost",
    "currency",
    "cost_source",
    "session_id",
    "service_id",
    "domain_slug",
    "source_row",
    "row_digest",
)


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
    """What reading the file learnt, for asking ops and storing."""

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
    config: FinConfig | None = None,
) -> ImportReport:
    return await _import(
        db,
        path,
        reader,
        "costs",
        lambda encoding: _CostRules(rules, encoding),
        services,
        progress,
        CostEntry.__table__,
        COST_STAGED,
        config,
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
    config: FinConfig | None = None,
) -> ImportReport:
    return await _import(
        db,
        path,
        reader,
        "tokens",
        lambda encoding: _TokenRules(rules, prices, encoding),
        services,
        progress,
        TokenSpend.__table__,
        TOKEN_STAGED,
        config,
    )


async def _import(
    db: Database,
    path: Path,
    reader: Reader,
    kind: str,
    kind_rules: Callable[[Encoding], _KindRules],
    services: ServiceLookup,
    progress: Progress | None,
    table: Any,
    staged: Sequence[str],
    config: FinConfig | None,
) -> ImportReport:
    started = time.perf_counter()
    report = ImportReport(path=str(path), kind=kind)
    problems = _Problems()
    plan = _Plan()
    constants = {"source_file": _source_name(path), "imported_at": datetime.now(UTC)}
    async with db.engine.connect() as connection:
        staging = Staging(connection, table, staged, constants)
        try:
            await staging.create()
            rules = kind_rules(staging.encoding)
            await _read(path, reader, rules, staging, plan, problems, report, progress)
            refused = bool(report.failure or problems.count)
            if plan.named or plan.rule_services:  # ops is asked outside any transaction
                if refused:  # nothing staged is needed any more (nor stored ahead)
                    await connection.rollback()
                else:
                    await staging.unstore()  # stored ahead before the file named a service
                    await connection.commit()  # the staged rows: the connection's own table
                if report.failure is None:  # bad rows or not, as they are reported too
                    await _ask_ops(services, plan, problems, report)
                if not (report.failure or problems.count):
                    await staging.use_domains(plan.domains)
            elif not staging.stored:
                # Nothing stored ahead: the store begins a transaction of its own (on
                # SQLite, not one begun while the file was read, which could not write
                # should another connection have written meanwhile).
                await connection.commit()
            report.problems, report.problem_count = problems.first(), problems.count
            if report.rejected:  # anything stored ahead is rolled back by drop()
                report.seconds = time.perf_counter() - started
                return report
            if progress:
                progress.start(f"importing {path.name}", staging.staged)
            report.added = await staging.store(progress)
            if report.added:
                await _signal(connection, config or FinConfig())
            await connection.commit()
        finally:
            await staging.drop()
    report.attribution, report.cost_sources = rules.attribution, rules.cost_sources
    report.already_present = plan.valid - report.added
    report.seconds = time.perf_counter() - started
    return report


async def _signal(connection: AsyncConnection, config: FinConfig) -> None:
    """The budget and runway lines crossed by what was stored, signalled in the store's
    own transaction (``signals.py``): committed with the rows, or not at all."""
    async with AsyncSession(bind=connection, expire_on_commit=False) as session:
        # Joined to the connection's transaction: closing the session leaves it open
        # for the commit below.
        await signals.evaluate(session, config)


async def _read(
    path: Path,
    reader: Reader,
    rules: _KindRules,
    staging: Staging,
    plan: _Plan,
    problems: _Problems,
    report: ImportReport,
    progress: Progress | None,
) -> None:
    """The one pass: every row checked, the good ones staged as long as all were."""
    before = _stamp(path)
    if progress:
        progress.start(f"checking {path.name}", None)
    check = rules.check
    batch: list[tuple[Any, ...]] = []
    read = 0
    with _rows(path, reader) as rows:
        for item in rows:
            read += 1
            if progress and read % BATCH_ROWS == 0:
                progress.advance(BATCH_ROWS)
            checked = item if type(item) is Problem else check(item, plan)
            if type(checked) is Problem:
                problems.add(checked)
                continue
            plan.valid += 1
            if problems.count:
                continue  # the file is refused: nothing more is staged
            batch.append(checked)  # type: ignore[arg-type]
            if len(batch) == STAGE_ROWS:
                await staging.write(batch)
                batch = []
                if not (plan.named or plan.rule_services):  # no domain to ask ops for
                    await staging.store_ahead()
    report.rows_read = read
    if batch and not problems.count:
        await staging.write(batch)
    await staging.settle()
    if _stamp(path) != before:
        report.failure = f"{path} changed while it was imported"


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


# --- per kind: checking a row, and the values staged for it ----------------------------


class _KindRules(Protocol):
    attribution: Counter[str]
    cost_sources: Counter[str]

    def check(self, row: Any, plan: _Plan) -> tuple[Any, ...] | Problem:
        """The row's staged values (``COST_STAGED`` / ``TOKEN_STAGED``), or why not."""
        ...


def _too_long(row: int, fields: Mapping[str, tuple[str | None, int]]) -> Problem | None:
    long = [
        f"{name} longer than {limit}" for name, (v, limit) in fields.items() if v and len(v) > limit
    ]
    return Problem(row, "; ".join(long)) if long else None


class _Attribution:
    """Which service (and domain) a row belongs to: the service it names, else the first
    matching rule's, else none; each service noted for asking ops."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.matcher = Matcher(rules)
        # A rule's service, normalised (rules_from checked it is an id).
        self.rule_service = {
            id(rule): str(uuid.UUID(rule.service)) if rule.service else None for rule in rules
        }
        self.counts: Counter[str] = Counter()

    def of(
        self, plan: _Plan, row: int, service: str | None, vendor: str, resource: str | None
    ) -> tuple[str | None, str | None, str]:
        """(service id, the rule's domain, how it was found) for one row."""
        if service:
            how, domain = "service", None
            named = plan.named.get(service)
            if named is None:
                named = plan.named[service] = _Named()
            named.add(row)
        else:
            rule = self.matcher.first(vendor, resource)
            if rule is None:
                how, domain = "unattributed", None
            else:
                how, domain = "rule", rule.domain
                service = self.rule_service[id(rule)]
                if service:
                    plan.rule_services.add(service)
        self.counts[how] += 1
        return service, domain, how


class _CostRules:
    def __init__(self, rules: Sequence[Rule], encoding: Encoding) -> None:
        self.attributing = _Attribution(rules)
        self.attribution = self.attributing.counts
        self.cost_sources: Counter[str] = Counter()
        self.encoding = encoding
        self.service_ids: dict[str, str | None] = {}  # as written -> normalised, None: no id

    def _service_id(self, text: str) -> str | None:
        known = self.service_ids.get(text, "")
        if known == "":
            try:
                known = str(uuid.UUID(text))
            except ValueError:
                known = None
            self.service_ids[text] = known
        return known

    def check(self, row: CostRow, plan: _Plan) -> tuple[Any, ...] | Problem:
        service = None
        if row.service:
            service = self._service_id(row.service)
            if service is None:
                return Problem(row.row, f"service {row.service!r} is not an ops service id")
        if (
            len(row.vendor) > NAME_LENGTH
            or len(row.category) > CATEGORY_LENGTH
            or (row.resource and len(row.resource) > NAME_LENGTH)
        ):
            return _too_long(  # type: ignore[return-value]
                row.row,
                {
                    "vendor": (row.vendor, NAME_LENGTH),
                    "category": (row.category, CATEGORY_LENGTH),
                    "resource": (row.resource, NAME_LENGTH),
                },
            )
        service, domain, how = self.attributing.of(plan, row.row, service, row.vendor, row.resource)
        encoding = self.encoding
        return (
            encoding.day(row.day),
            encoding.amount(row.amount),
            row.currency,
            row.vendor,
            row.category,
            service,
            domain,
            row.resource,
            how,
            row.row,
            row.digest(),
        )


class _TokenRules:
    def __init__(self, rules: Sequence[Rule], prices: PriceTable, encoding: Encoding) -> None:
        self.attributing = _Attribution(rules)
        self.attribution = self.attributing.counts
        self.cost_sources: Counter[str] = Counter()
        self.prices = prices
        self.encoding = encoding
        self.model_prices: dict[str, Price | None] = {}

    def _price(self, model: str) -> Price | None:
        if model not in self.model_prices:
            self.model_prices[model] = self.prices.for_model(model)
        return self.model_prices[model]

    def check(self, row: TokenRow, plan: _Plan) -> tuple[Any, ...] | Problem:
        if (
            len(row.model) > NAME_LENGTH
            or (row.session_id and len(row.session_id) > NAME_LENGTH)
            or len(row.provider) > PROVIDER_LENGTH
        ):
            return _too_long(  # type: ignore[return-value]
                row.row,
                {
                    "model": (row.model, NAME_LENGTH),
                    "session": (row.session_id, NAME_LENGTH),
                    "provider": (row.provider, PROVIDER_LENGTH),
                },
            )
        if row.tokens_in > LARGEST_COUNT or row.tokens_out > LARGEST_COUNT:
            return Problem(row.row, f"token counts above {LARGEST_COUNT} cannot be stored")
        if row.cost is not None and row.currency is not None:
            cost, currency, cost_source = self.encoding.amount(row.cost), row.currency, "export"
        else:
            price = self._price(row.model)
            if price is None:
                return Problem(
                    row.row,
                    f"the export has no cost and the price table has no price for model "
                    f"{row.model!r} ([hubs.fin.options.token_prices])",
                )
            cost, currency = price.cost_millionths(row.tokens_in, row.tokens_out), price.currency
            cost_source = "price_table"
            if cost >= LARGEST_MILLIONTHS:
                shown = Decimal(cost).scaleb(-SCALE)
                return Problem(row.row, f"the price table's cost {shown} is too large to store")
        service, domain, _ = self.attributing.of(plan, row.row, None, row.provider, row.resource)
        self.cost_sources[cost_source] += 1
        encoding = self.encoding
        return (
            encoding.instant(row.at),
            row.provider,
            row.model,
            row.tokens_in,
            row.tokens_out,
            cost,  # millionths, as staged
            currency,
            cost_source,
            row.session_id,
            service,
            domain,
            row.row,
            row.digest(),
        )


# --- files ---------------------------------------------------------------------------


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
