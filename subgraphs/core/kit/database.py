"""Async SQLAlchemy engine and sessions for one hub's database.

SQLite (the embedded default, one file per hub) gets WAL journaling so readers never
block the writer, foreign keys switched on (SQLite leaves them off), and a busy timeout
so a briefly locked database waits instead of failing. PostgreSQL goes through asyncpg.

SQLite's driver opens a transaction only just before the first write, so what a
transaction read before writing may be stale by then. ``transaction(immediate=True)``
(or :func:`hold_write_lock` inside any transaction) takes the write lock first instead;
``kit.transitions`` builds atomic state changes on that and on compare-and-set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


class Database:
    """One engine plus a session factory. Create once per process, dispose on exit."""

    def __init__(self, url: str | URL, *, busy_timeout_ms: int = 5000, echo: bool = False):
        self.url = make_url(url)
        self.engine: AsyncEngine = create_async_engine(
            self.url, echo=echo, **_engine_options(self.url)
        )
        if self.is_sqlite:
            _prepare_sqlite_file(self.url)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for reading; nothing is committed."""
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self, *, immediate: bool = False) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error.

        ``immediate``: on SQLite, hold the write lock from the start (waiting up to the
        busy timeout for it), so nothing the transaction reads can change before it
        commits. PostgreSQL needs no such thing for that: lock rows or subjects there.
        """
        async with self.sessions.begin() as session:
            if immediate and self.is_sqlite:
                await hold_write_lock(await session.connection())
            yield session

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


async def hold_write_lock(connection: AsyncConnection) -> None:
    """On SQLite, take the database's write lock now, until the transaction ends.

    The driver starts SQLite's transaction itself just before the first write; once it
    has, this connection holds the write lock already. Otherwise ``BEGIN IMMEDIATE``
    takes it now, waiting for another writer as long as the busy timeout allows (then
    "database is locked", which the error layer turns into SERVICE_UNAVAILABLE).
    """
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection  # aiosqlite's, over sqlite3's (legacy mode)
    if not driver.in_transaction:
        await connection.exec_driver_sql("BEGIN IMMEDIATE")


def _engine_options(url: URL) -> dict[str, Any]:
    if url.get_backend_name() == "sqlite":
        return {}
    # Connections dropped by the server (restart, idle timeout) are detected before use.
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}


def _prepare_sqlite_file(url: URL) -> None:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    return on_connect
