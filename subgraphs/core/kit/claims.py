"""Work that several replicas of a hub could each do, done by one: who claims it, and
the clock claims are judged by.

Replicas of a hub (processes on one PostgreSQL database) coordinate through the
database only — no membership, no leader. A piece of work (a delivery of the outbox,
a probe's run in its interval, ...) is claimed by a conditional write that only one of
them can win (``UPDATE ... WHERE <still claimable>``, with ``FOR UPDATE SKIP LOCKED``
where many rows are taken at once), and the claim records who won (``claimant_name``)
and, for work that may be abandoned, until when (a lease).

Times of a claim are the database's (``database_now``) on PostgreSQL, so replicas on
hosts whose clocks differ still agree on what is due; SQLite is one process, on its host's
clock.

A job that spans many transactions and must not run twice at once (a workplan sync
with its write-back) runs inside ``one_at_a_time(db, name)``: a PostgreSQL session
advisory lock on a connection of its own, held for the job (released when it ends, or
when the process dies and its connection with it), and in the process an asyncio lock
(SQLite: the one process there is).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.transitions import advisory_key

CLAIMANT_LENGTH = 120


def claimant_name(hub: str, role: str = "") -> str:
    """Who claims, as recorded in a claim: hub (and role), host, process and a random
    part, so two claimants in one process differ too."""
    who = f"{hub}/{role}" if role else hub
    name = f"{who}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return name[-CLAIMANT_LENGTH:]


async def database_now(session: AsyncSession) -> datetime:
    """Now by the database's clock (PostgreSQL: ``statement_timestamp()``), else this
    host's; always timezone-aware UTC."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        value = (await connection.execute(text("SELECT statement_timestamp()"))).scalar_one()
        return value.astimezone(UTC)
    return datetime.now(UTC)


_local_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _local_lock(key: str) -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    locks = _local_locks.setdefault(loop, {})
    if key not in locks:
        locks[key] = asyncio.Lock()
    return locks[key]


@contextlib.asynccontextmanager
async def one_at_a_time(db: Database, name: str) -> AsyncIterator[None]:
    """Run the body while no other process (or task of this one) on ``db`` runs a job
    of the same ``name``; waits for one that does."""
    where = db.url.render_as_string(hide_password=True)
    async with _local_lock(f"{where}\x00{name}"):
        if db.is_sqlite:
            yield
            return
        key = advisory_key("hubgraph_job", name)
        async with db.engine.connect() as connection:
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            await connection.commit()  # the lock is the session's: no transaction left open
            try:
                yield
            finally:
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                await connection.commit()
