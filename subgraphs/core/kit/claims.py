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
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

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
