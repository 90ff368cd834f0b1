"""Cheaper resolvers for the fields that need nothing of Strawberry's at request time.

Strawberry wraps every resolver it is given: for each field of each object it builds an
``Info``, converts the (absent) arguments, runs the (absent) field extensions and only
then calls the resolver; an ``async`` resolver adds a coroutine and an ``await`` on top,
and a field without a resolver goes through three calls to read one attribute. A list of
200 domains with four nested lists is ~1,000 such calls and their allocations.

:func:`install` (called by ``kit.federation.hub_schema`` before the authorization
guards are put around resolvers) replaces them in the built graphql-core schema where
that changes nothing but the cost:

* A field without a resolver, extensions or permission classes reads its attribute in
  one call (Strawberry's default resolver is ``getattr`` of the Python name, as here).
* A resolver marked :func:`direct` is called by graphql-core itself, as
  ``resolver(source, info)``, where ``info`` is graphql-core's ``GraphQLResolveInfo``:
  such a resolver takes no arguments, uses ``info.context`` only and is synchronous
  (it may return an awaitable, e.g. a DataLoader's ``load``, which graphql-core
  awaits). A marked field that does not fit (arguments, extensions) is refused when
  the schema is built rather than served differently.
* A direct resolver's future that is settled already (:func:`prefetch` ran its loads
  before graphql-core got to the field) is answered with its value.
* ``_entities``: when every resolved reference is a future (``resolve_reference``
  returning a DataLoader's ``load``) or a value, the list becomes one awaitable that
  waits for the futures in order, instead of one task per representation in
  graphql-core. A reference whose future fails is an error at its index as before; a
  schema with coroutine references is left as it was (their loads only start when
  awaited, so waiting in order would not batch them).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from inspect import isawaitable
from typing import Any, TypeVar, cast

import strawberry
from graphql import GraphQLObjectType, GraphQLResolveInfo
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.base import get_object_definition
from strawberry.types.field import StrawberryField
from strawberry.types.nodes import SelectedField, Selection

from subgraphs.core.kit.auth import GuardedResolver, allowed

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF
_DIRECT = "__hub_direct__"
ENTITIES_FIELD = "_entities"


def direct(resolver: F) -> F:
    """Mark a resolver ``(self, info) -> value or awaitable`` to be called by graphql-core
    directly (see the module's docstring); put it under ``@strawberry.field``."""
    setattr(resolver, _DIRECT, True)
    return resolver


def _attribute(name: str) -> Callable[[Any, GraphQLResolveInfo], Any]:
    def resolve(source: Any, _info: GraphQLResolveInfo, **_: Any) -> Any:
        return getattr(source, name)

    resolve._is_default = True  # type: ignore[attr-defined]  # as Strawberry marks its own
    return resolve


class _Direct:
    __slots__ = ("resolver",)

    def __init__(self, resolver: Callable[[Any, Any], Any]) -> None:
        self.resolver = resolver

    def __call__(self, source: Any, info: GraphQLResolveInfo) -> Any:
        return settled(self.resolver(source, info))


# -- what a direct resolver returns: a loader's future, or a value made from one --------
#
# A direct resolver is synchronous; graphql-core awaits what it returns. These keep a
# settled future's value a value (completed in place) and never add a task.


def later(value: Awaitable[T]) -> T:
    """An awaitable of a resolver's value, returned for graphql-core to await (as the
    type checker cannot be told of a resolver of ``T`` that may return one)."""
    return cast(T, value)


def then(value: Any, after: Callable[[Any], Any]) -> Any:
    """``after`` of ``value``: at once when ``value`` is a plain value or a future settled
    with one, else a future of it (following ``after``'s own future, if it returns one).
    A failure is the future's own exception, as awaiting the loader would raise it."""
    if not isawaitable(value):
        return after(value)
    future = asyncio.ensure_future(value)  # a loader's future, as it is
    if _has_value(future):
        return after(future.result())
    result: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def copy(done: asyncio.Future[Any]) -> None:  # done's outcome, as result's
        if result.done():
            return
        if done.cancelled():
            result.cancel()
        elif (error := done.exception()) is not None:
            result.set_exception(error)
        else:
            result.set_result(done.result())

    def loaded(done: asyncio.Future[Any]) -> None:
        if not _has_value(done):
            copy(done)
            return
        try:
            following = after(done.result())
        except Exception as failure:
            result.set_exception(failure)
            return
        if asyncio.isfuture(following):
            following.add_done_callback(copy)
        else:
            result.set_result(following)

    future.add_done_callback(loaded)
    return result


def gathered(loads: list[Awaitable[Any]]) -> Any:
    """The loads' values: a list at once when all are settled with one, else their
    gather (as a loader's ``load_many``)."""
    futures = [asyncio.ensure_future(load) for load in loads]  # futures already
    if all(_has_value(f) for f in futures):
        return [f.result() for f in futures]
    return asyncio.gather(*futures)


def settled(result: Any) -> Any:
    """A future that has its value already (e.g. a loader's, after :func:`prefetch`) as
    that value, for graphql-core to complete at once instead of in a task of its own;
    anything else (a pending or failed future, a value) as it is."""
    return result.result() if asyncio.isfuture(result) and _has_value(result) else result


def _has_value(future: asyncio.Future[Any]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


async def prefetch(info: Any, type_: type, sources: Sequence[Any], fields: Iterable[str]) -> None:
    """Resolve the direct-resolver ``fields`` (GraphQL names) of ``type_`` for each of
    ``sources`` now and wait for their loaders, so that when graphql-core resolves those
    fields the loaders' futures are settled and each value is completed in place (no
    task per field and row). ``info`` is the Strawberry info of the field that returns
    ``sources``; ``fields`` typically what :func:`selected` found below it.

    The loads are the same ones, batched the same way, as when the fields resolve
    themselves. Fields that are not direct are left to resolve themselves; a protected
    field is prefetched only for a caller its guard lets through (the guard still runs
    when the field resolves), so nothing is read that the caller may not see. A failure
    is not raised here: the failed future stays in its loader, and the field that asks
    for it reports it at its own path, as without prefetching.
    """
    if not sources:
        return
    graphql_type = info.schema._schema.type_map[get_object_definition(type_, strict=True).name]
    pending = []
    for name in fields:
        field = graphql_type.fields.get(name)
        resolve = field.resolve if field is not None else None
        if isinstance(resolve, GuardedResolver):
            if not allowed(resolve, info):
                continue
            resolve = resolve.resolve
        if not isinstance(resolve, _Direct):
            continue
        for source in sources:
            result = resolve.resolver(source, info)
            if asyncio.isfuture(result) and not result.done():
                pending.append(result)
    for future in pending:
        with contextlib.suppress(Exception):
            await future


def selected(info: Any, *path: str) -> set[str]:
    """The names of the fields selected at ``path`` below the current field, through
    fragments, leaving out what ``@skip`` / ``@include`` leave out (Strawberry has put
    the variables' values into the directives' arguments). ``info`` is Strawberry's."""
    # Strawberry's selected_fields are the current field's own nodes (one per time
    # the field is asked for under this response key).
    level: list[Selection] = [
        inner for field in _fields(info.selected_fields) for inner in field.selections
    ]
    for name in path:
        level = [
            inner
            for selection in _fields(level)
            if selection.name == name
            for inner in selection.selections
        ]
    return {selection.name for selection in _fields(level)}


def selected_nodes(info: Any) -> set[str]:
    """The fields selected of the nodes of the connection the current field returns, as
    ``nodes`` or as ``edges { node }``."""
    return selected(info, "nodes") | selected(info, "edges", "node")


def _fields(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    for selection in selections:
        if not _included(selection):
            continue
        if isinstance(selection, SelectedField):
            yield selection
        else:  # a fragment spread or an inline fragment
            yield from _fields(selection.selections)


def _included(selection: Selection) -> bool:
    directives = selection.directives
    if not directives:
        return True
    if "skip" in directives and directives["skip"].get("if") is True:
        return False
    return not ("include" in directives and directives["include"].get("if") is False)


class _GatheredEntities:
    """``_entities`` as one awaitable when its references are futures or values."""

    __slots__ = ("original",)

    def __init__(self, original: Callable[..., Any]) -> None:
        self.original = original

    def __call__(self, root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        results = self.original(root, info, **args)
        if isawaitable(results) or not isinstance(results, list):
            return results
        futures = False
        for result in results:
            if asyncio.isfuture(result):
                futures = True
            elif isawaitable(result):
                return results  # coroutines: graphql-core runs them side by side
        return _in_order(results) if futures else results


async def _in_order(results: Sequence[Any]) -> list[Any]:
    # Every load was made before the first await, so the loaders batch them all.
    values: list[Any] = []
    for result in results:
        if asyncio.isfuture(result):
            try:
                result = await result
            except Exception as error:  # an error at its index, as graphql-core reports it
                result = error
        values.append(result)
    return values


def install(schema: strawberry.Schema) -> None:
    """Put the cheaper resolvers into ``schema``'s graphql-core schema; idempotent."""
    graphql_schema = schema._schema
    for graphql_type in graphql_schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("__"):
            continue
        for name, field in graphql_type.fields.items():
            definition = field.extensions.get(_BACKREF)
            if not isinstance(definition, StrawberryField):
                continue
            # Strawberry's own path for a field without resolver, extensions or exception
            # handlers (a permission class is an extension).
            if getattr(field.resolve, "__name__", "") == "_get_basic_result":
                if schema.config.default_resolver is getattr:
                    field.resolve = _attribute(definition.python_name)
                continue
            resolver = definition.base_resolver
            if resolver is None or not getattr(resolver.wrapped_func, _DIRECT, False):
                continue
            parameters = list(resolver.signature.parameters)
            if parameters != ["self", "info"] or definition.arguments or definition.extensions:
                raise TypeError(
                    f"{graphql_type.name}.{name}: a direct resolver is (self, info), "
                    "without arguments, extensions or permission classes"
                )
            if resolver.is_async:
                raise TypeError(f"{graphql_type.name}.{name}: a direct resolver is not async")
            function = resolver.wrapped_func
            if not isinstance(field.resolve, _Direct) and callable(function):
                field.resolve = _Direct(function)
    query = graphql_schema.query_type
    entities = query.fields.get(ENTITIES_FIELD) if query else None
    if (
        entities is not None
        and entities.resolve is not None
        and not isinstance(entities.resolve, _GatheredEntities)
    ):
        entities.resolve = _GatheredEntities(entities.resolve)
