"""Request-scoped DataLoaders: N lookups in one request become one SQL ``IN`` query.

Resolvers never query rows one by one. They ask the request's :class:`Loaders` for a
loader by a name that says what it loads, e.g.
``loaders.rows_by(models.Domain, models.Domain.slug)``; all ``load`` calls made in the same
tick are batched into one statement. Loaders live for one request only, so one request
never sees another's cached rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from strawberry.dataloader import DataLoader

from subgraphs.core.kit.database import Database

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

BatchFn = Callable[[list[Any]], Awaitable[Sequence[Any]]]
# A service function answering for all keys at once: a mapping by key.
Lookup = Callable[[AsyncSession, list[Any]], Awaitable[Mapping[Any, Any]]]
# What a loader gives instead of each row (e.g. a GraphQL type's ``from_row``).
Convert = Callable[[Any], Any]


class Loaders:
    """The DataLoaders of one request, created on first use."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._loaders: dict[Hashable, DataLoader[Any, Any]] = {}

    def get(self, name: Hashable, batch: BatchFn) -> DataLoader[Any, Any]:
        """The loader called ``name``, built from ``batch`` the first time it is asked for."""
        loader = self._loaders.get(name)
        if loader is None:
            loader = self._loaders[name] = DataLoader(load_fn=batch)
        return loader

    # rows_by and rows_grouped_by are asked for once per field of every row of a list:
    # a loader that exists already is returned before any batch function is built.

    def rows_by(
        self,
        model: type,
        column: InstrumentedAttribute[Any],
        *,
        convert: Convert | None = None,
    ) -> DataLoader[Any, Any]:
        """One row (or None) per key, where ``column`` is unique; ``convert(row)`` instead
        of the row when given (e.g. the GraphQL type's ``from_row``), None still None."""
        loader_name = ("rows_by", model, column.key, convert)
        loader = self._loaders.get(loader_name)
        if loader is not None:
            return loader

        async def batch(keys: list[Any]) -> list[Any]:
            async with self.db.session() as session:
                rows: Sequence[Any] = (
                    await session.scalars(select(model).where(column.in_(keys)))
                ).all()
            attribute = column.key
            found = {getattr(row, attribute): row for row in rows}
            if convert is not None:
                found = {key: convert(row) for key, row in found.items()}
            return [found.get(key) for key in keys]

        return self.get(loader_name, batch)

    def rows_grouped_by(
        self,
        model: type,
        column: InstrumentedAttribute[Any],
        *,
        order_by: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]] = (),
        where: Sequence[ColumnElement[bool]] = (),
        name: str = "",
        convert: Convert | None = None,
    ) -> DataLoader[Any, Any]:
        """A list of rows per key (one-to-many), in ``order_by`` order; ``convert(row)``
        for each row when given. ``name`` tells loaders of one column with different
        ``order_by`` or ``where`` apart."""
        loader_name = ("rows_grouped_by", model, column.key, name, convert)
        loader = self._loaders.get(loader_name)
        if loader is not None:
            return loader

        async def batch(keys: list[Any]) -> list[list[Any]]:
            stmt: Select[Any] = select(model).where(column.in_(keys), *where).order_by(*order_by)
            async with self.db.session() as session:
                rows = (await session.scalars(stmt)).all()
            groups: dict[Any, list[Any]] = defaultdict(list)
            attribute = column.key
            for row in rows:
                groups[getattr(row, attribute)].append(row if convert is None else convert(row))
            return [groups.get(key, []) for key in keys]

        return self.get(loader_name, batch)

    def keyed(self, name: Hashable, lookup: Lookup, default: Any = None) -> DataLoader[Any, Any]:
        """One value per key from ``lookup(session, keys)``, a service function that answers
        for all keys in one query and returns a mapping by key; ``default`` for a key it
        does not name (treat it as read-only: it is shared). For what ``rows_by`` and
        ``rows_grouped_by`` cannot say: counts, joins, rows filtered by a request
        argument (put the argument in ``name``)."""

        async def batch(keys: list[Any]) -> list[Any]:
            async with self.db.session() as session:
                found = await lookup(session, keys)
            return [found.get(key, default) for key in keys]

        return self.get(("keyed", name), batch)
