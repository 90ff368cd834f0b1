"""kit.transitions: lifecycles, the compare-and-set step and subject locks, on real
SQLite and PostgreSQL databases (a small table of tickets made for these tests)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from subgraphs.core.kit.database import Database
from subgraphs.core.kit.errors import BadUserInput, Conflict, HubError, InvalidTransition, NotFound
from subgraphs.core.kit.orm import UTCDateTime, utcnow
from subgraphs.core.kit.transitions import (
    Lifecycle,
    Step,
    advisory_key,
    lock_subject,
    transition,
)
from tests.support import postgres_database

TICKET = Lifecycle(
    "ticket",
    {
        "open": ("working", "closed", "rejected"),
        "working": ("open", "closed"),
        "closed": (),
        "rejected": (),
    },
)


class Base(DeclarativeBase):
    pass


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    status: Mapped[str] = mapped_column(String(20), default="open")
    reason: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TicketChange(Base):
    __tablename__ = "ticket_changes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))


class Note(Base):
    """An event-sourced subject: its state is the notes recorded about it."""

    __tablename__ = "notes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    subject: Mapped[str] = mapped_column(String(100))


# --- the declared lifecycle ----------------------------------------------------------------


def test_a_lifecycle_lists_its_statuses_and_steps_in_declared_order() -> None:
    assert TICKET.statuses == ("open", "working", "closed", "rejected")
    assert TICKET.allowed("working") == ("open", "closed")
    assert TICKET.allowed("closed") == ()
    assert TICKET.can("open", "closed") and not TICKET.can("closed", "open")
    assert not TICKET.can("open", "open")


def test_a_step_to_an_undeclared_status_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match=r"ticket lifecycle steps to undeclared \['gone'\]"):
        Lifecycle("ticket", {"open": ("gone",)})


def test_parse_names_the_statuses() -> None:
    assert TICKET.parse("working") == "working"
    with pytest.raises(BadUserInput) as bad:
        TICKET.parse("wip", argument="to")
    assert (
        bad.value.message == "unknown ticket status 'wip'; one of: open, working, closed, rejected"
    )
    assert bad.value.details == {"argument": "to"}


def test_check_refuses_with_the_allowed_steps() -> None:
    TICKET.check("open", "working", "T-1")
    with pytest.raises(InvalidTransition) as refused:
        TICKET.check("working", "working", "T-1")
    assert refused.value.message == (
        "ticket T-1 is working and cannot become working (from working it can become: open, closed)"
    )
    assert refused.value.details == {
        "fromStatus": "working",
        "toStatus": "working",
        "allowed": ["closed", "open"],
    }
    with pytest.raises(InvalidTransition, match=r"\(closed is final\)"):
        TICKET.check("closed", "open", "T-1")


def test_advisory_keys_are_stable_signed_64_bit_and_scoped() -> None:
    key = advisory_key("alert", "disk full")
    assert key == advisory_key("alert", "disk full")
    assert -(2**63) <= key < 2**63
    assert key != advisory_key("risk", "disk full")
    # The separator keeps ("a", "b c") and ("a b", "c") apart.
    assert advisory_key("a", "b c") != advisory_key("a b", "c")


# --- on a database ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('transitions') / 'kit.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield database
    await database.dispose()


async def new_ticket(db: Database, status: str = "open") -> uuid.UUID:
    async with db.transaction() as session:
        ticket = Ticket(status=status)
        session.add(ticket)
    return ticket.id


async def status_of(db: Database, ticket_id: uuid.UUID) -> str | None:
    async with db.session() as session:
        return await session.scalar(select(Ticket.status).where(Ticket.id == ticket_id))


async def changes_of(db: Database, ticket_id: uuid.UUID) -> list[tuple[str, str]]:
    async with db.session() as session:
        rows = await session.execute(
            select(TicketChange.from_status, TicketChange.to_status).where(
                TicketChange.ticket_id == ticket_id
            )
        )
        return [(row.from_status, row.to_status) for row in rows]


async def move(db: Database, ticket_id: uuid.UUID, to: str) -> Step:
    """What a hub's mutation does: read, step, record the step, in one transaction."""
    async with db.transaction() as session:
        ticket = await session.get_one(Ticket, ticket_id)
        step = await transition(session, TICKET, ticket, to, label="T-1")
        session.add(TicketChange(ticket_id=ticket.id, from_status=step.before, to_status=to))
    return step


async def test_a_step_writes_the_row_and_refreshes_the_object(db: Database) -> None:
    ticket_id = await new_ticket(db)
    async with db.transaction() as session:
        ticket = await session.get_one(Ticket, ticket_id)
        read_at = ticket.updated_at
        step = await transition(session, TICKET, ticket, "working", values={"reason": "on it"})
        assert step == Step(before="open", after="working")
        # The object shows the database's row, the onupdate timestamp included.
        assert (ticket.status, ticket.reason) == ("working", "on it")
        assert ticket.updated_at > read_at
        assert ticket not in session.dirty
    assert await status_of(db, ticket_id) == "working"


async def test_a_refused_step_writes_nothing(db: Database) -> None:
    ticket_id = await new_ticket(db, "closed")
    with pytest.raises(InvalidTransition) as refused:
        await move(db, ticket_id, "open")
    assert refused.value.details["fromStatus"] == "closed"
    # Labelled by primary key unless told otherwise.
    async with db.transaction() as session:
        ticket = await session.get_one(Ticket, ticket_id)
        with pytest.raises(InvalidTransition, match=f"ticket {ticket_id} is closed"):
            await transition(session, TICKET, ticket, "open")
    assert await status_of(db, ticket_id) == "closed"
    assert await changes_of(db, ticket_id) == []


async def test_a_status_changed_since_it_was_read_is_a_conflict(db: Database) -> None:
    ticket_id = await new_ticket(db)
    with pytest.raises(Conflict) as conflict:
        async with db.transaction() as session:
            stale = await session.get_one(Ticket, ticket_id)
            await move(db, ticket_id, "working")  # another request, committed meanwhile
            await transition(session, TICKET, stale, "closed", label="T-1")
    assert conflict.value.message == (
        "ticket T-1 changed from open to working while this request ran, so it did not "
        "become closed (from working it can become: open, closed)"
    )
    assert conflict.value.details == {
        "fromStatus": "open",
        "currentStatus": "working",
        "toStatus": "closed",
        "allowed": ["closed", "open"],
    }
    assert await status_of(db, ticket_id) == "working"
    assert await changes_of(db, ticket_id) == [("open", "working")]


async def test_a_row_deleted_since_it_was_read_is_not_found(db: Database) -> None:
    ticket_id = await new_ticket(db)
    with pytest.raises(NotFound, match="ticket T-1 no longer exists"):
        async with db.transaction() as session:
            stale = await session.get_one(Ticket, ticket_id)
            async with db.transaction() as other:
                await other.delete(await other.get_one(Ticket, ticket_id))
            await transition(session, TICKET, stale, "working", label="T-1")


async def outcomes(db: Database, ticket_id: uuid.UUID, targets: list[str]) -> list[str]:
    """Every target tried at once; each outcome "won" or the error's code."""

    async def attempt(to: str) -> str:
        try:
            await move(db, ticket_id, to)
        except HubError as error:
            return error.code
        return "won"

    return list(await asyncio.gather(*(attempt(to) for to in targets)))


# Targets no winner can be followed by: a later request, reading the winner's status,
# would be a legitimate second step (open -> working, then working -> closed).
@pytest.mark.parametrize("targets", [["closed"] * 20, ["closed", "rejected"] * 10])
async def test_of_concurrent_steps_from_one_status_exactly_one_wins(
    db: Database, targets: list[str]
) -> None:
    for _ in range(5):
        ticket_id = await new_ticket(db)
        results = await outcomes(db, ticket_id, targets)
        assert results.count("won") == 1, results
        assert set(results) <= {"won", "CONFLICT", "INVALID_TRANSITION"}
        history = await changes_of(db, ticket_id)
        assert len(history) == 1
        assert await status_of(db, ticket_id) == history[0][1]


async def test_the_subject_lock_serialises_read_check_append(db: Database) -> None:
    """Twenty writers each append a note only if the subject has none: one note."""
    subject = f"subject-{uuid.uuid4()}"

    async def open_once() -> bool:
        async with db.transaction() as session:
            await lock_subject(session, "note", subject)
            count = await session.scalar(
                select(func.count()).select_from(Note).where(Note.subject == subject)
            )
            await asyncio.sleep(0.005)  # widen the window a missing lock would leave open
            if count:
                return False
            session.add(Note(subject=subject))
            return True

    assert sum(await asyncio.gather(*(open_once() for _ in range(20)))) == 1


async def test_an_immediate_sqlite_transaction_holds_the_write_lock_from_its_start(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'lock.db'}", busy_timeout_ms=100)
    other = Database(f"sqlite+aiosqlite:///{tmp_path / 'lock.db'}", busy_timeout_ms=100)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        async with db.transaction(immediate=True) as session:
            await session.scalar(select(func.count()).select_from(Ticket))  # only a read
            started = time.monotonic()
            # A second writer waits out its busy timeout, then is told the database is
            # locked: the first transaction has not written anything, yet holds the lock.
            with pytest.raises(OperationalError, match="database is locked"):
                async with other.transaction(immediate=True) as second:
                    second.add(Ticket())
            assert time.monotonic() - started >= 0.09
        async with other.transaction(immediate=True) as second:
            second.add(Ticket())  # free again once the first has committed
    finally:
        await db.dispose()
        await other.dispose()
