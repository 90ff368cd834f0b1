"""Cursor pagination (``first`` / ``after``, ``totalCount``) over any SELECT.

Cursors are keyset cursors: they hold the sort-key values of the last row seen, so a
page never skips or repeats rows when rows are inserted before it (offsets would).
They are opaque to clients (base64 of JSON) and a tampered cursor is a
``BAD_USER_INPUT`` error, not a server error.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import orjson
import strawberry
from sqlalchemy import Select, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from subgraphs.core.kit.errors import BadUserInput

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[R]):
    """One page of rows plus what a connection needs to describe it."""

    rows: list[R]
    cursors: list[str]
    total_count: int
    has_next_page: bool
    has_previous_page: bool


def _encode(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([str(v) for v in values])).decode()


def _decode(cursor: str, keys: Sequence[InstrumentedAttribute[Any]]) -> list[Any]:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(raw, list) or len(raw) != len(keys):
            raise ValueError("wrong shape")
        return [_parse(value, key) for value, key in zip(raw, keys, strict=True)]
    except (ValueError, binascii.Error, orjson.JSONDecodeError, TypeError):
        raise BadUserInput(
            "invalid cursor; use a cursor returned by this field", argument="after"
        ) from None


def _parse(value: str, key: InstrumentedAttribute[Any]) -> Any:
    python_type = key.type.python_type
    if python_type is datetime:
        moment = datetime.fromisoformat(value)
        if getattr(key.type, "timezone", False) and moment.tzinfo is None:
            # a zone-aware column: a naive time (another field's cursor, or a tampered
            # one) would only be refused by the database driver, as an internal error
            raise ValueError("a time without its zone")
        return moment
    if python_type is date:  # e.g. fin's cost entries, paged by day
        return date.fromisoformat(value)
    if python_type is uuid.UUID:
        return uuid.UUID(value)
    if python_type is int:
        return int(value)
    return value


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    keys: Sequence[InstrumentedAttribute[Any]],
    *,
    first: int | None,
    after: str | None,
    descending: bool = False,
) -> Page[Any]:
    """Run ``stmt`` ordered by ``keys`` (unique together), one page at a time."""
    size = DEFAULT_PAGE_SIZE if first is None else first
    if size < 0 or size > MAX_PAGE_SIZE:
        raise BadUserInput(f"first must be between 0 and {MAX_PAGE_SIZE}", argument="first")
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    page_stmt = stmt
    if after:
        position = tuple_(*keys)
        # Bound with each column's own type, so values are stored-format identical.
        values = tuple_(
            *(
                literal(value, key.type)
                for value, key in zip(_decode(after, keys), keys, strict=True)
            )
        )
        page_stmt = page_stmt.where(position < values if descending else position > values)
    order = [key.desc() if descending else key.asc() for key in keys]
    rows = list((await session.scalars(page_stmt.order_by(*order).limit(size + 1))).all())
    has_next = len(rows) > size
    rows = rows[:size]
    cursors = [_encode([getattr(row, key.key) for key in keys]) for row in rows]
    return Page(rows, cursors, total or 0, has_next, bool(after))


# Shareable: every hub serves this same value type, and the supergraph merges them.
@strawberry.federation.type(shareable=True, description="Where a page sits in the whole list.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="One item of a page and the cursor that points at it.")
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A page of a list: pass `pageInfo.endCursor` as `after` for the next.")
class Connection(Generic[T]):
    total_count: int = strawberry.field(description="Items in the whole list, not this page.")
    page_info: PageInfo
    edges: list[Edge[T]]
    nodes: list[T] = strawberry.field(description="The page's items, without cursors.")

    @classmethod
    def from_page(cls, page: Page[Any], convert: Callable[[Any], T]) -> Connection[T]:
        nodes = [convert(row) for row in page.rows]
        return cls(
            total_count=page.total_count,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            edges=[Edge(cursor=c, node=n) for c, n in zip(page.cursors, nodes, strict=True)],
            nodes=nodes,
        )
