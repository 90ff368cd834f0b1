"""The kit's cheaper resolvers (kit.resolvers) answer exactly as Strawberry's own.

Each case runs one document on a schema built by ``hub_schema`` (cheaper resolvers
installed) and on the same types in a schema without them, and compares data, errors
and the loaders' batches.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from typing import Any

import pytest
import strawberry
from strawberry.dataloader import DataLoader

from subgraphs.core.kit import resolvers
from subgraphs.core.kit.federation import FEDERATION_VERSION, HubSchema, hub_schema
from subgraphs.core.kit.resolvers import direct, prefetch, selected

ROWS = {"a": "Alpha", "b": "Beta", "c": "Gamma"}


@dataclass
class Context:
    calls: list[list[str]] = field(default_factory=list)
    identity: Any = None
    selected: set[str] = field(default_factory=set)
    _loader: DataLoader[str, Any] | None = None

    def names(self) -> DataLoader[str, Any]:
        if self._loader is None:

            async def batch(keys: list[str]) -> list[Any]:
                self.calls.append(list(keys))
                if "boom" in keys:
                    # one key's failure fails that key only
                    return [ValueError("no such row") if k == "boom" else _found(k) for k in keys]
                return [_found(k) for k in keys]

            self._loader = DataLoader(load_fn=batch)
        return self._loader


def _found(key: str) -> Thing | None:
    return Thing.of(key) if key in ROWS else None


@strawberry.federation.type(keys=["key"])
class Thing:
    key: str
    display_name: str

    @classmethod
    def of(cls, key: str) -> Thing:
        return cls(key=key, display_name=ROWS.get(key, "?"))

    @classmethod
    def resolve_reference(cls, info: strawberry.Info, key: str) -> Thing | None:
        future: Any = info.context.names().load(key)
        return future  # type: ignore[no-any-return]

    @strawberry.field
    @direct
    def next(self, info: strawberry.Info) -> Thing | None:
        following = "boom" if self.key == "z" else chr(ord(self.key[0]) + 1)
        future: Any = info.context.names().load(following)
        return future  # type: ignore[no-any-return]

    @strawberry.field
    @direct
    def siblings(self, info: strawberry.Info) -> list[Thing]:
        return [Thing.of(k) for k in ROWS if k != self.key]


@strawberry.federation.type(keys=["id"])
class Other:
    id: strawberry.ID

    @classmethod
    async def resolve_reference(cls, info: strawberry.Info, id: strawberry.ID) -> Other | None:
        await asyncio.sleep(0)
        return None if id == "none" else cls(id=id)


@strawberry.type
class WithArguments:
    x: int

    @strawberry.field
    @direct
    def doubled(self, info: strawberry.Info, times: int) -> int:
        return self.x * times


@strawberry.type
class Asynchronous:
    x: int

    @strawberry.field
    @direct
    async def later(self, info: strawberry.Info) -> int:
        return self.x


@strawberry.type
class WithArgumentsQuery:
    bad: WithArguments


@strawberry.type
class AsynchronousQuery:
    bad: Asynchronous


@strawberry.type
class Query:
    @strawberry.field
    def things(self) -> list[Thing]:
        return [Thing.of(k) for k in ROWS]

    @strawberry.field
    async def page(self, info: strawberry.Info) -> list[Thing]:
        """Prefetches what is selected below it; "z"'s next fails in the loader."""
        things = [Thing.of(k) for k in [*ROWS, "z"]]
        info.context.selected = selected(info)
        await prefetch(info, Thing, things, info.context.selected)
        info.context.calls.append(["page returned"])
        return things

    @strawberry.field
    def selections(self, info: strawberry.Info) -> Thing:
        info.context.selected = selected(info, "next")
        return Thing.of("a")


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    kit = hub_schema(Query, types=[Thing, Other])
    # the kit's schema class (the same error messages), without the kit's resolvers
    plain = HubSchema(query=Query, types=[Thing, Other], federation_version=FEDERATION_VERSION)
    return kit, plain


async def _both(query: str, variables: dict[str, Any] | None = None) -> list[Any]:
    answers = []
    for schema in _schemas():
        context = Context()
        # a copy each: Strawberry takes __typename out of the representations
        result = await schema.execute(
            query, variable_values=copy.deepcopy(variables), context_value=context
        )
        errors = sorted((tuple(error.path or ()), error.message) for error in result.errors or ())
        answers.append((result.data, errors, context.calls, context.selected))
    return answers


def test_the_kit_installs_its_resolvers() -> None:
    kit, plain = _schemas()
    thing = kit._schema.type_map["Thing"]
    assert thing.fields["displayName"].resolve.__name__ == "resolve"  # type: ignore[union-attr]
    assert type(thing.fields["next"].resolve).__name__ == "_Direct"
    entities = kit._schema.query_type.fields["_entities"]  # type: ignore[union-attr]
    assert type(entities.resolve).__name__ == "_GatheredEntities"
    before = thing.fields["next"].resolve
    resolvers.install(kit)  # idempotent
    assert thing.fields["next"].resolve is before
    assert type(plain._schema.type_map["Thing"].fields["next"].resolve).__name__ == "function"


async def test_fields_answer_as_strawberrys() -> None:
    kit, plain = await _both(
        "{ things { key displayName next { key displayName } siblings { key } } }"
    )
    assert kit == plain
    data, errors, calls, _ = kit
    assert errors == []
    assert data["things"][0]["next"] == {"key": "b", "displayName": "Beta"}
    assert data["things"][2]["next"] is None  # "d" is not a row
    assert calls == [["b", "c", "d"]]  # the three nexts in one batch


async def test_entities_answer_as_strawberrys() -> None:
    query = (
        "query($r: [_Any!]!) { _entities(representations: $r) "
        "{ __typename ... on Thing { key displayName } ... on Other { id } } }"
    )
    representations = [
        {"__typename": "Thing", "key": "c"},
        {"__typename": "Thing", "key": "x"},  # no such row: null, no error
        {"__typename": "Thing", "key": "boom"},  # the loader fails it: error at its index
        {"__typename": "Thing"},  # no key: error at its index
        {"__typename": "Thing", "key": "a"},
        {"__typename": "Thing", "key": "c"},  # asked twice: loaded once
    ]
    kit, plain = await _both(query, {"r": representations})
    assert kit == plain
    data, errors, calls, _ = kit
    assert [e and e.get("key") for e in data["_entities"]] == ["c", None, None, None, "a", "c"]
    assert [path for path, _ in errors] == [("_entities", 2), ("_entities", 3)]
    assert calls == [["c", "x", "boom", "a"]]


async def test_entities_with_coroutine_references_are_left_as_they_were() -> None:
    query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Other { id } } }"
    reps = [{"__typename": "Other", "id": "1"}, {"__typename": "Other", "id": "none"}]
    kit, plain = await _both(query, {"r": reps})
    assert kit == plain
    assert kit[0] == {"_entities": [{"id": "1"}, None]}


def test_a_direct_resolver_with_arguments_is_refused() -> None:
    with pytest.raises(TypeError, match=r"WithArguments\.doubled"):
        hub_schema(WithArgumentsQuery)


def test_an_async_direct_resolver_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Asynchronous\.later"):
        hub_schema(AsynchronousQuery)


async def test_prefetched_fields_answer_as_resolved_ones() -> None:
    query = "{ page { key next { key displayName } } }"
    kit, plain = await _both(query)
    assert kit[:2] == plain[:2]  # data and errors
    data, errors, calls, wanted = kit
    assert wanted == {"key", "next"}
    assert [t["next"] and t["next"]["key"] for t in data["page"]] == ["b", "c", None, None]
    # the failure is the field's, at its own path, as when it resolves itself
    assert [path for path, _ in errors] == [("page", 3, "next")]
    # prefetched: the one batch before the page returned; else after it
    assert calls == [["b", "c", "d", "boom"], ["page returned"]]
    assert plain[2] == [["page returned"], ["b", "c", "d", "boom"]]


async def test_selected_follows_fragments() -> None:
    query = (
        "{ selections { key next { ...F ... on Thing { siblings { key } } } } } "
        "fragment F on Thing { displayName next { key } }"
    )
    kit, plain = await _both(query)
    assert kit == plain
    assert kit[3] == {"displayName", "next", "siblings"}


async def test_selected_leaves_out_what_skip_and_include_leave_out() -> None:
    query = (
        "query Q($no: Boolean!, $yes: Boolean!) { selections { next { "
        "displayName @skip(if: $yes) key @include(if: $yes) "
        "siblings @include(if: $no) { key } ...F @skip(if: $no) "
        "... on Thing @include(if: $no) { next { key } } } } } "
        "fragment F on Thing { other: displayName }"
    )
    kit, plain = await _both(query, {"no": False, "yes": True})
    assert kit == plain
    assert kit[3] == {"key", "displayName"}  # displayName through F (aliased), not skipped
    # the same fields with the conditions the other way round
    kit, plain = await _both(query, {"no": True, "yes": False})
    assert kit == plain
    assert kit[3] == {"displayName", "siblings", "next"}


# -- prefetching protected fields: only for a caller the guard lets through -------------


@strawberry.type
class Guarded:
    key: str

    @strawberry.federation.field(requires_scopes=[["hub:read"]])
    @direct
    def next(self, info: strawberry.Info) -> Thing | None:
        future: Any = info.context.names().load(chr(ord(self.key[0]) + 1))
        return future  # type: ignore[no-any-return]


@strawberry.type
class GuardedQuery:
    @strawberry.field
    async def guarded(self, info: strawberry.Info) -> list[Guarded]:
        rows = [Guarded(key=k) for k in ROWS]
        await prefetch(info, Guarded, rows, selected(info))
        info.context.calls.append(["page returned"])
        return rows


async def test_a_protected_field_is_prefetched_only_for_a_caller_its_guard_lets_through() -> None:
    from identity.validation import Identity
    from subgraphs.core.kit.auth import GuardedResolver, may_see

    schema = hub_schema(GuardedQuery, types=[Thing])
    field = schema._schema.type_map["Guarded"].fields["next"]  # type: ignore[union-attr]
    assert isinstance(field.resolve, GuardedResolver)
    query = "{ guarded { key next { key } } }"

    reader = Context(
        identity=Identity(
            subject="u", roles=frozenset(), scopes=frozenset({"hub:read"}), claims={}, token="t"
        )
    )
    result = await schema.execute(query, context_value=reader)
    assert result.errors is None and result.data is not None
    assert [g["next"] and g["next"]["key"] for g in result.data["guarded"]] == ["b", "c", None]
    assert reader.calls == [["b", "c", "d"], ["page returned"]]  # loaded ahead, in one batch

    for identity in (
        None,
        Identity(subject="u", roles=frozenset(), scopes=frozenset(), claims={}, token="t"),
    ):
        refused = Context(identity=identity)
        result = await schema.execute(query, context_value=refused)
        # refused at the field, as ever
        assert result.data == {"guarded": [{"key": k, "next": None} for k in ROWS]}
        assert result.errors and len(result.errors) == 3
        assert refused.calls == [["page returned"]]  # and nothing was read ahead for it

    class Info:  # may_see takes Strawberry's info (and graphql-core's)
        def __init__(self, context: Context) -> None:
            self.schema, self.context = schema, context

    assert may_see(Info(reader), "Guarded", "next")
    assert not may_see(Info(Context()), "Guarded", "next")
    assert may_see(Info(Context()), "Thing", "next")  # not protected


# -- the combinators direct resolvers return ---------------------------------------------


async def test_then_answers_a_settled_load_at_once_and_a_pending_one_later() -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    done.set_result(2)
    assert resolvers.then(done, lambda v: v * 10) == 20  # a value: completed in place
    assert resolvers.then(4, lambda v: v * 10) == 40  # a plain value too

    pending: asyncio.Future[int] = loop.create_future()
    result = resolvers.then(pending, lambda v: v * 10)
    assert asyncio.isfuture(result) and not result.done()
    pending.set_result(3)
    assert await result == 30

    # ``after`` may return a future of its own: followed, its failure passed on
    inner: asyncio.Future[str] = loop.create_future()
    pending = loop.create_future()
    chained = resolvers.then(pending, lambda _: inner)
    pending.set_result(1)
    await asyncio.sleep(0)
    assert not chained.done()
    inner.set_exception(LookupError("gone"))
    with pytest.raises(LookupError, match="gone"):
        await chained

    # the load's own failure, and ``after``'s, are the future's
    failing: asyncio.Future[int] = loop.create_future()
    failed = resolvers.then(failing, lambda v: v)
    failing.set_exception(ValueError("no row"))
    with pytest.raises(ValueError, match="no row"):
        await failed
    pending = loop.create_future()
    broken = resolvers.then(pending, lambda v: 1 // v)
    pending.set_result(0)
    with pytest.raises(ZeroDivisionError):
        await broken


async def test_gathered_is_a_list_when_every_load_is_settled() -> None:
    loop = asyncio.get_running_loop()
    loads: list[asyncio.Future[int]] = [loop.create_future() for _ in range(3)]
    for i, load in enumerate(loads):
        load.set_result(i)
    assert resolvers.gathered(list(loads)) == [0, 1, 2]
    waiting: asyncio.Future[int] = loop.create_future()
    together = resolvers.gathered([*loads, waiting])
    assert not isinstance(together, list)
    waiting.set_result(3)
    assert await together == [0, 1, 2, 3]
