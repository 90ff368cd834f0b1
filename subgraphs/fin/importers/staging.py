"""Where an import puts its rows while it reads the file, before it stores them
(``ingest.py``).

The rows of one file are staged in a temporary table on the import's own connection:
nobody else sees it, and it is dropped when the import ends (or goes with the
connection). They are written in batches, already in the form the backend stores them,
so that no SQLAlchemy type processing runs per value:

* amounts, on both, as whole millionths (what ``models.Amount`` stores on SQLite;
  PostgreSQL multiplies them back by 0.000001 when storing, exactly, where encoding a
  Decimal for COPY would cost more than all the other values of a row);
* PostgreSQL: ``COPY`` (asyncpg's binary ``copy_records_to_table``), days and times as
  ``date`` and ``datetime``;
* SQLite: one ``executemany`` per batch, days and times as the text SQLAlchemy writes
  for them (found by its own bind processors, once per distinct value); the
  connection's page cache is raised for the import (``SQLITE_CACHE_SIZE``) and put
  back afterwards.

Ids are random (version 4) UUIDs, made a batch at a time. :meth:`Staging.store` then
moves the rows into the hub's table with ``INSERT ... SELECT ... ON CONFLICT
(row_digest) DO NOTHING``, in file order (of two equal rows in a file the first is
kept), a chunk of ``STORE_ROWS`` per statement so that a progress bar can follow, the
domains ops gave joined in from a second temporary table. The caller holds the one
transaction around it.

On PostgreSQL the rows of a batch may also be stored ahead (:meth:`Staging.store_ahead`),
in the transaction that stages them, while the caller reads on: the server inserts one
batch while the next is read, instead of all of them after the file. Nothing stored
ahead is visible before that transaction commits; a file found bad is rolled back with
it, and rows stored ahead before the file named an ops service (whose domains are not
known until ops is asked, outside any transaction) are deleted again
(:meth:`Staging.unstore`) before the staging transaction commits. SQLite does not store
ahead: it would hold the database's one write lock while the file is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    bindparam,
    delete,
    func,
    literal,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from subgraphs.core.kit.orm import UTCDateTime
from subgraphs.fin.models import KEY_LENGTH, SCALE, SERVICE_ID_LENGTH, Amount

STORE_ROWS = 20_000
# SQLite's page cache on the import's connection while it imports (KiB; the default is
# 2,000): a file's rows go into half a dozen indexes, whose pages a small cache writes
# out and reads back again and again (it more than halves a first import of 100,000
# rows). It is the most the cache may hold, not memory taken.
SQLITE_CACHE_SIZE = -65_536
MILLIONTH = Decimal(1).scaleb(-SCALE)
_KNOWN = 4096  # distinct days or times whose stored form is kept


class Progress(Protocol):
    def advance(self, rows: int) -> None: ...


class Encoding:
    """Python values to what is staged: ``day`` (a date), ``instant`` (an aware
    datetime), and ``amount`` (a Decimal of at most six places, as the readers give) as
    whole millionths."""

    def __init__(self, dialect: Dialect) -> None:
        self.day: Callable[[date], Any] = _same
        self.instant: Callable[[datetime], Any] = _same
        self.amount: Callable[[Decimal], int] = _millionths
        if dialect.name == "sqlite":  # asyncpg's COPY takes the Python objects themselves
            self.day = _remembered(_bind_processor(Date(), dialect))
            self.instant = _remembered(_bind_processor(UTCDateTime(), dialect))


class Staging:
    """One import's temporary table: :meth:`create` it, :meth:`write` batches as the
    file is read (and :meth:`store_ahead`), :meth:`store` them into ``target`` at the
    end, :meth:`drop` it in any case (which also puts back what :meth:`create`
    changed). ``constants`` are the values of the target's columns that are neither
    ``id`` nor staged."""

    def __init__(
        self,
        connection: AsyncConnection,
        target: Table,
        columns: Sequence[str],
        constants: Mapping[str, Any],
    ):
        names = [column.name for column in target.columns]
        if sorted(names) != sorted(["id", *columns, *constants]):
            raise ValueError(f"id, {columns} and {list(constants)} are not {names}")
        self.connection = connection
        self.target = target
        self.constants = constants  # the values of the target's other columns
        self.name = f"fin_staged_{uuid.uuid4().hex[:16]}"
        self.columns = ["seq", "id", *columns]
        self.table = Table(
            self.name,
            MetaData(),
            Column("seq", Integer, primary_key=True, autoincrement=False),
            *(Column(name, _staged_type(target.c[name].type)) for name in self.columns[1:]),
            prefixes=["TEMPORARY"],
        )
        self.domains: Table | None = None
        self.encoding = Encoding(connection.dialect)
        self.postgres = connection.dialect.name == "postgresql"
        self.staged = 0
        self.stored = 0  # the staged rows (by seq) inserted into the target so far
        self.added = 0  # how many of them were new
        self.pending: asyncio.Task[int] | None = None  # the insert storing ahead
        self.insert: Any = None  # the statement storing a range of staged rows
        self.cache_size: int | None = None  # SQLite's, to be put back

    async def create(self) -> None:
        """The table, created on the connection (in the transaction it begins)."""
        if not self.postgres:
            result = await self.connection.exec_driver_sql("PRAGMA cache_size")
            self.cache_size = int(result.scalar_one())
            await self.connection.exec_driver_sql(f"PRAGMA cache_size = {SQLITE_CACHE_SIZE}")
        await self.connection.run_sync(self.table.create)

    async def write(self, rows: list[tuple[Any, ...]]) -> None:
        """Stage ``rows`` (values of the staged columns after ``seq`` and ``id``)."""
        await self.settle()
        ids = _random_ids(len(rows))
        numbers = range(self.staged + 1, self.staged + 1 + len(rows))
        records = [(seq, id_, *row) for seq, id_, row in zip(numbers, ids, rows, strict=True)]
        if self.postgres:
            raw = await self.connection.get_raw_connection()
            await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                self.name, records=records, columns=self.columns
            )
        else:
            marks = ", ".join("?" * len(self.columns))
            statement = f"INSERT INTO {self.name} ({', '.join(self.columns)}) VALUES ({marks})"
            await self.connection.exec_driver_sql(statement, records)
        self.staged += len(records)

    async def use_domains(self, domains: Mapping[str, str]) -> None:
        """The domain of each service (id -> slug), for rows whose domain_slug is null."""
        known = [{"service_id": s, "domain_slug": d} for s, d in domains.items() if d]
        if not known:
            return
        self.domains = Table(
            f"{self.name}_domains",
            MetaData(),
            Column("service_id", String(SERVICE_ID_LENGTH), primary_key=True),
            Column("domain_slug", String(KEY_LENGTH)),
            prefixes=["TEMPORARY"],
        )
        await self.connection.run_sync(self.domains.create)
        await self.connection.execute(self.domains.insert(), known)
        self.insert = None  # joined to the domains from now on

    async def store_ahead(self) -> None:
        """PostgreSQL: start inserting the rows staged since the last call, to go on
        while the caller reads on (the previous such insert is awaited first). No rows
        staged so far may need a domain from ops. Nothing on SQLite."""
        await self.settle()
        if not self.postgres or self.stored == self.staged:
            return
        after, self.stored = self.stored, self.staged
        self.pending = asyncio.ensure_future(self._insert(after, self.stored))
        await asyncio.sleep(0)  # the task sends the statement; the server works on

    async def settle(self) -> None:
        """Await the insert storing ahead, if one is under way."""
        pending, self.pending = self.pending, None
        if pending is not None:
            self.added += await pending

    async def unstore(self) -> None:
        """Delete again what was stored ahead (in the same, uncommitted transaction)."""
        await self.settle()
        if self.stored:
            staged, target = self.table.c, self.target
            ahead = select(staged.id).where(staged.seq <= self.stored)
            await self.connection.execute(delete(target).where(target.c.id.in_(ahead)))
        self.stored = self.added = 0

    async def store(self, progress: Progress | None = None) -> int:
        """Insert the staged rows not stored yet, in file order, those whose digest is
        stored already skipped: how many of all the staged rows were added."""
        await self.settle()
        if progress is not None and self.stored:
            progress.advance(self.stored)
        for after in range(self.stored, self.staged, STORE_ROWS):
            upto = min(after + STORE_ROWS, self.staged)
            self.added += await self._insert(after, upto)
            self.stored = upto
            if progress is not None:
                progress.advance(upto - after)
        return self.added

    async def _insert(self, after: int, upto: int) -> int:
        """Insert the staged rows after ``after`` up to ``upto`` (by seq): how many."""
        if self.insert is None:
            self.insert = self._insert_statement()
        result = await self.connection.execute(self.insert, {"after": after, "upto": upto})
        return int(result.rowcount)

    def _insert_statement(self) -> Any:
        staged, target = self.table.c, self.target
        source: Any = self.table
        values: list[Any] = []
        for column in target.columns:
            if column.name in self.constants:
                values.append(literal(self.constants[column.name], column.type))
            elif column.name == "domain_slug" and self.domains is not None:
                values.append(func.coalesce(staged.domain_slug, self.domains.c.domain_slug))
            elif isinstance(column.type, Amount) and self.postgres:
                values.append(staged[column.name] * literal(MILLIONTH, Numeric(SCALE + 1, SCALE)))
            else:
                values.append(staged[column.name])
        if self.domains is not None:
            source = source.outerjoin(self.domains, self.domains.c.service_id == staged.service_id)
        chunk = (
            select(*values)
            .select_from(source)
            .where(staged.seq > bindparam("after"), staged.seq <= bindparam("upto"))
            .order_by(staged.seq)
        )
        names = [column.name for column in target.columns]
        insert = _dialect_insert(self.connection.dialect)(target).from_select(names, chunk)
        return insert.on_conflict_do_nothing(index_elements=["row_digest"])

    async def drop(self) -> None:
        """Drop the tables (whatever transaction was open is rolled back first); should
        that fail, the connection is discarded, and its temporary tables with it."""
        pending, self.pending = self.pending, None
        if pending is not None:  # an insert storing ahead, when reading failed
            await asyncio.wait([pending])
            if not pending.cancelled():
                pending.exception()  # retrieved: what went wrong is being raised already
        try:
            await self.connection.rollback()
            for name in (self.name, f"{self.name}_domains"):
                await self.connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
            if self.cache_size is not None:
                await self.connection.exec_driver_sql(f"PRAGMA cache_size = {self.cache_size}")
            await self.connection.commit()
        except Exception:
            with contextlib.suppress(Exception):  # not to hide what went wrong before
                await self.connection.invalidate()


def _dialect_insert(dialect: Dialect) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if dialect.name == "postgresql" else sqlite.insert


def _random_ids(number: int) -> list[str]:
    """``number`` random UUIDs (version 4, RFC 4122 variant) as 32 hex digits, as
    ``uuid.uuid4().hex`` gives them, from one read of the system's randomness."""
    raw = bytearray(os.urandom(16 * number))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_RFC_4122)
    text = raw.hex()
    return [text[start : start + 32] for start in range(0, 32 * number, 32)]


# Byte 6's high nibble is the version; byte 8's two high bits the variant (10).
_VERSION_4 = bytes((byte & 0x0F) | 0x40 for byte in range(256))
_RFC_4122 = bytes((byte & 0x3F) | 0x80 for byte in range(256))


def _millionths(amount: Decimal) -> int:
    """What ``models.Amount`` stores on SQLite, for an amount of at most six places."""
    return int(amount.scaleb(SCALE))


def _staged_type(kind: TypeEngine[Any]) -> TypeEngine[Any]:
    return BigInteger() if isinstance(kind, Amount) else kind


def _same(value: Any) -> Any:
    return value


def _bind_processor(kind: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any]:
    processor = kind.dialect_impl(dialect).bind_processor(dialect)
    return processor if processor is not None else _same


def _remembered(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process`` once per distinct value (days and bucket times repeat down a file)."""
    known: dict[Any, Any] = {}

    def encode(value: Any) -> Any:
        stored = known.get(value)
        if stored is None:
            stored = process(value)
            if len(known) >= _KNOWN:
                known.clear()
            known[value] = stored
        return stored

    return encode
