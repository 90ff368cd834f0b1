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

    def rows_by(self, model: type, column: InstrumentedAttribute[Any]) -> DataLoader[Any, Any]:
        """One row (or None) per key, where ``column`` is unique."""

        async def batch(keys: list[Any]) -> list[Any]:
            async with self.db.session() as session:
                rows: Sequence[Any] = (
                    await session.scalars(select(model).where(column.in_(keys)))
                ).all()
            found = {getattr(row, column.key): row for row in rows}
            return [found.get(key) for key in keys]

        return self.get(("rows_by", model, column.key), batch)

    def rows_grouped_by(
        self,
        model: type,
        column: InstrumentedAttribute[Any],
        *,
        order_by: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]] = (),
        where: Sequence[ColumnElement[bool]] = (),
        name: str = "",
    ) -> DataLoader[Any, Any]:
        """A list of rows per key (one-to-many), in ``order_by`` order."""

        async def batch(keys: list[Any]) -> list[list[Any]]:
            stmt: Select[Any] = select(model).where(column.in_(keys), *where).order_by(*order_by)
            async with self.db.session() as session:
                rows = (await session.scalars(stmt)).all()
            groups: dict[Any, list[Any]] = defaultdict(list)
            for row in rows:
                groups[getattr(row, column.key)].append(row)
            return [groups.get(key, []) for key in keys]

        return self.get(("rows_grouped_by", model, column.key, name), batch)

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
