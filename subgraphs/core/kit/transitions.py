"""State transitions that hold under concurrency: a declared lifecycle, one atomic step.

A status column changes only by compare-and-set, ``UPDATE ... SET status = :to WHERE
id = :id AND status = :from``, with the status the caller read as ``:from``. Of N
requests that read the same status and try to move it, the database lets exactly one
UPDATE match (PostgreSQL re-checks the condition once the winner commits; SQLite runs
one writer at a time); the others match nothing and get ``CONFLICT``. No lock is held
across the read, so this works the same on both backends whether or not the read ran
inside the write transaction. What the caller writes after a step in the same
transaction (a history row, an outbox event) commits with the winning step or not at
all.

Lifecycles kept as a sequence of events instead of a status column (the core hub's
risks and alerts) have no row to compare; :func:`lock_subject` serialises the read,
check and append for one subject instead: a transaction-scoped advisory lock on
PostgreSQL, the database's write lock on SQLite.

Usage, for any hub::

    TICKET = Lifecycle("ticket", {"open": {"closed"}, "closed": {"open"}})
    to = TICKET.parse(status)                              # BAD_USER_INPUT if unknown
    step = await transition(session, TICKET, ticket, to, label=ticket.key)
    session.add(TicketChange(ticket_id=ticket.id, from_status=step.before, ...))
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy import ColumnElement, inspect, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.core.kit.database import hold_write_lock
from subgraphs.core.kit.errors import BadUserInput, Conflict, InvalidTransition, NotFound


@dataclass(frozen=True, eq=False)
class Lifecycle:
    """The statuses of one kind of row and the steps allowed between them.

    ``steps`` maps each status to the statuses it may become, in the order they are
    best listed to a user; a status with no steps is final. ``noun`` names the row in
    messages ("task", "capability request"); ``column`` is the mapped attribute that
    holds the status.
    """

    noun: str
    steps: Mapping[str, Iterable[str]]
    column: str = "status"
    _order: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen copies: a lifecycle is module-level configuration shared by every request.
        steps = {status: tuple(targets) for status, targets in self.steps.items()}
        unknown = {t for targets in steps.values() for t in targets} - steps.keys()
        if unknown:
            raise ValueError(f"{self.noun} lifecycle steps to undeclared {sorted(unknown)}")
        object.__setattr__(self, "steps", MappingProxyType(steps))
        object.__setattr__(self, "_order", tuple(steps))

    @property
    def statuses(self) -> tuple[str, ...]:
        return self._order

    def allowed(self, status: str) -> tuple[str, ...]:
        """The statuses ``status`` may become, in declared order (none: it is final)."""
        return tuple(self.steps.get(status, ()))

    def can(self, before: str, after: str) -> bool:
        return after in self.allowed(before)

    def parse(self, value: str, argument: str = "status") -> str:
        """``value`` if it is one of the statuses; BAD_USER_INPUT naming them otherwise."""
        if value not in self.steps:
            listed = ", ".join(self.statuses)
            raise BadUserInput(
                f"unknown {self.noun} status {value!r}; one of: {listed}", argument=argument
            )
        return value

    def check(self, before: str, after: str, label: str) -> None:
        """Raise INVALID_TRANSITION, naming the allowed steps, unless the step is allowed."""
        if not self.can(before, after):
            raise InvalidTransition(
                f"{self.noun} {label} is {before} and cannot become {after} "
                f"({self.describe_steps(before)})",
                fromStatus=before,
                toStatus=after,
                allowed=sorted(self.allowed(before)),
            )

    def describe_steps(self, status: str) -> str:
        options = self.allowed(status)
        if not options:
            return f"{status} is final"
        return f"from {status} it can become: {', '.join(options)}"


@dataclass(frozen=True)
class Step:
    """The step a transition took: what the status was and what it became."""

    before: str
    after: str


async def transition(
    session: AsyncSession,
    lifecycle: Lifecycle,
    row: Any,
    to: str,
    *,
    label: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> Step:
    """Move ``row`` from the status it was read with to ``to``, atomically.

    INVALID_TRANSITION if the lifecycle has no such step from the status read; CONFLICT
    if another transaction changed the status since (its new value and the steps open
    from it are in the error); NOT_FOUND if the row is gone. ``values`` are further
    mapped attributes written by the same UPDATE (a reason, a timestamp). On success the
    row object holds what the database now holds, ``updated_at`` included.
    """
    name = label if label is not None else _identity_label(row)
    before = getattr(row, lifecycle.column)
    lifecycle.check(before, to, name)
    model = type(row)
    status = getattr(model, lifecycle.column)
    stmt = (
        update(model)
        .where(*_is_row(row), status == before)
        .values({**(values or {}), lifecycle.column: to})
        .returning(model)
        # The RETURNING row refreshes the object in the session, onupdate columns too.
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if (await session.execute(stmt)).scalar_one_or_none() is None:
        await _lost(session, lifecycle, row, before, to, name)
    return Step(before=before, after=to)


async def _lost(
    session: AsyncSession, lifecycle: Lifecycle, row: Any, before: str, to: str, name: str
) -> None:
    """Explain why the compare-and-set matched nothing: gone, or changed under us."""
    status = getattr(type(row), lifecycle.column)
    now = await session.scalar(select(status).where(*_is_row(row)))
    if now is None:
        raise NotFound(f"{lifecycle.noun} {name} no longer exists", argument="id")
    raise Conflict(
        f"{lifecycle.noun} {name} changed from {before} to {now} while this request ran, "
        f"so it did not become {to} ({lifecycle.describe_steps(now)})",
        fromStatus=before,
        currentStatus=now,
        toStatus=to,
        allowed=sorted(lifecycle.allowed(now)),
    )


def _is_row(row: Any) -> list[ColumnElement[bool]]:
    mapper = inspect(type(row))
    key = mapper.primary_key_from_instance(row)
    return [column == value for column, value in zip(mapper.primary_key, key, strict=True)]


def _identity_label(row: Any) -> str:
    key = inspect(type(row)).primary_key_from_instance(row)
    return "/".join(str(part) for part in key)


async def lock_subject(session: AsyncSession, scope: str, key: str) -> None:
    """Hold, until the transaction ends, the right to change subject ``key`` of ``scope``.

    For lifecycles with no status row to compare-and-set: take this lock first, then
    read the subject's state, check the step and append it. A second transaction asking
    for the same subject waits until the first commits or rolls back, then reads what
    it wrote. PostgreSQL locks just that subject; SQLite, which has one writer at a
    time anyway, takes the database's write lock (waiting up to the busy timeout).
    """
    connection = await session.connection()
    backend = connection.dialect.name
    if backend == "postgresql":
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(scope, key)}
        )
    elif backend == "sqlite":
        await hold_write_lock(connection)
    else:
        raise NotImplementedError(f"no subject lock for {backend}")


def advisory_key(scope: str, key: str) -> int:
    """A stable signed 64-bit number for (scope, key), as ``pg_advisory_xact_lock`` takes.

    Stable across processes and restarts (unlike ``hash()``), so every replica of a hub
    locks the same number for the same subject.
    """
    digest = hashlib.blake2b(f"{scope}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
