"""Request-scoped DataLoaders: N lookups in one request become one SQL ``IN`` query.

Resolvers never query rows one by one. They ask the request's :class:`Loaders` for a
loader by a name that says what it loads, e.g.
``loaders.rows_by(models.Domain, models.Domain.slug)``; all ``load`` calls made in the same
tick are batched into one statement. Loaders live for one request only, so one request
never sees another's cached rows.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ColumnProperty, InstrumentedAttribute
from strawberry.dataloader import DataLoader

from subgraphs.core.kit.database import Database

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

BatchFn = Callable[[list[Any]], Awaitable[Sequence[Any]]]
# A service function answering for all keys at once: a mapping by key.
Lookup = Callable[[AsyncSession, list[Any]], Awaitable[Mapping[Any, Any]]]
# What a loader gives instead of each row (e.g. a GraphQL type's ``from_row``).
Convert = Callable[[Any], Any]


@functools.cache
def _columns(model: type) -> tuple[ColumnElement[Any], ...]:
    """The model's mapped columns, each labelled with its attribute's name."""
    attributes: Sequence[ColumnProperty[Any]] = sa_inspect(model).column_attrs
    return tuple(attribute.columns[0].label(attribute.key) for attribute in attributes)


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

    async def _rows(
        self,
        model: type,
        convert: Convert | None,
        *where: ColumnElement[bool],
        order_by: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]] = (),
    ) -> Sequence[Any]:
        """ORM instances, or, for a ``convert``, the mapped columns' values as named rows:
        a ``from_row`` reads attributes only, and a row costs a fraction of an instance
        to load (identity map, instance state), which counts at hundreds of rows."""
        stmt: Select[Any] = (
            select(*_columns(model)) if convert is not None else select(model)
        ).where(*where)
        if order_by:
            stmt = stmt.order_by(*order_by)
        async with self.db.session() as session:
            if convert is not None:
                return (await session.execute(stmt)).all()
            return (await session.scalars(stmt)).all()

    def rows_by(
        self,
        model: type,
        column: InstrumentedAttribute[Any],
        *,
        convert: Convert | None = None,
    ) -> DataLoader[Any, Any]:
        """One row (or None) per key, where ``column`` is unique; ``convert(row)`` instead
        of the row when given (e.g. the GraphQL type's ``from_row``), None still None.
        ``convert`` is given a named row of the model's mapped columns, by attribute name,
        not an ORM instance: it may read columns only (no relationships, no methods)."""
        loader_name = ("rows_by", model, column.key, convert)
        loader = self._loaders.get(loader_name)
        if loader is not None:
            return loader

        async def batch(keys: list[Any]) -> list[Any]:
            rows = await self._rows(model, convert, column.in_(keys))
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
        for each row when given (a named row of columns, as for ``rows_by``). ``name`` tells loaders of one column with different
        ``order_by`` or ``where`` apart."""
        loader_name = ("rows_grouped_by", model, column.key, name, convert)
        loader = self._loaders.get(loader_name)
        if loader is not None:
            return loader

        async def batch(keys: list[Any]) -> list[list[Any]]:
            rows = await self._rows(model, convert, column.in_(keys), *where, order_by=order_by)
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
