"""The kit's enforcement of @authenticated / @requiresScopes, on a small hub schema.

Executed in-process with an identity on the context, as a hub's resolvers see it: which
fields get a guard, what a refusal looks like, and that open fields are left alone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
import strawberry
from graphql import GraphQLObjectType

from identity.access import Requirement
from identity.validation import Identity
from subgraphs.core.kit.auth import (
    GuardedEntities,
    GuardedResolver,
    protect_schema,
    requirement_of,
)
from subgraphs.core.kit.federation import FEDERATION_VERSION, HubSchema, hub_schema

resolved_references: list[str] = []


@strawberry.federation.type(keys=["id"], requires_scopes=[["hub:read"]])
class Secret:
    id: strawberry.ID
    text: str

    @classmethod
    def resolve_reference(cls, id: strawberry.ID, **_: Any) -> Secret:
        resolved_references.append(str(id))
        return cls(id=id, text=f"secret {id}")


@strawberry.federation.interface(authenticated=True)
class Named:
    name: str


@strawberry.federation.type(keys=["id"])
class Note(Named):
    id: strawberry.ID
    body: str
    owner: str = strawberry.federation.field(authenticated=True)
    budget: str = strawberry.federation.field(requires_scopes=[["fin:read"], ["admin"]])
    secret: Secret

    @classmethod
    def resolve_reference(cls, id: strawberry.ID, **_: Any) -> Note:
        resolved_references.append(str(id))
        return note(id)


def note(id: str) -> Note:
    return Note(
        id=strawberry.ID(id),
        name=f"note {id}",
        body="hello",
        owner="ada",
        budget="12 EUR",
        secret=Secret(id=strawberry.ID("s1"), text="hidden"),
    )


@strawberry.type
class Query:
    @strawberry.field
    def open(self) -> str:
        return "open"

    @strawberry.field
    async def note(self, id: strawberry.ID) -> Note:
        return note(id)

    @strawberry.federation.field(requires_scopes=[["hub:read"]])
    async def count(self) -> int:
        return 3


@strawberry.type
class Mutation:
    @strawberry.federation.mutation(requires_scopes=[["hub:write"]])
    def write(self) -> str:
        return "written"


def unprotected_schema() -> HubSchema:
    """The same schema as hub_schema builds, before protect_schema has run on it."""
    return HubSchema(
        query=Query,
        mutation=Mutation,
        types=[Note, Secret],
        federation_version=FEDERATION_VERSION,
    )


SCHEMA = hub_schema(Query, Mutation, types=[Note, Secret])


@dataclass
class Context:
    identity: Identity | None


def caller(*scopes: str) -> Identity:
    return Identity(
        subject="user-1", roles=frozenset(), scopes=frozenset(scopes), claims={}, token="t"
    )


async def run(
    query: str, identity: Identity | None, variables: dict[str, Any] | None = None
) -> tuple[Any, list[dict[str, Any]]]:
    # A copy: Strawberry's _entities takes __typename out of each representation in place.
    variables = copy.deepcopy(variables)
    result = await SCHEMA.execute(query, variables, context_value=Context(identity))
    errors = [
        {"message": e.message, "path": e.path, "code": (e.extensions or {}).get("code")}
        for e in result.errors or []
    ]
    return result.data, errors


def fields(schema: strawberry.Schema) -> dict[str, Any]:
    """Every object field's resolver, by coordinate."""
    return {
        f"{t.name}.{name}": field.resolve
        for t in schema._schema.type_map.values()
        if isinstance(t, GraphQLObjectType) and not t.name.startswith("__")
        for name, field in t.fields.items()
    }


# --- which fields are protected ----------------------------------------------------------


def test_a_fields_requirement_combines_its_own_its_types_and_its_parents() -> None:
    protected = protect_schema(unprotected_schema())
    read = Requirement.of_scopes([["hub:read"]])
    signed_in = Requirement(authenticated=True)
    assert protected == {
        # Note implements Named (@authenticated): every Note field inherits it.
        "Note.id": signed_in,
        "Note.name": signed_in,
        "Note.body": signed_in,
        "Note.owner": signed_in,
        "Note.budget": Requirement.of_scopes([["fin:read"], ["admin"]]) & signed_in,
        # The field's return type's requirement, then its parent's.
        "Note.secret": read & signed_in,
        "Secret.id": read,
        "Secret.text": read,
        "Query.note": signed_in,
        "Query.count": read,
        "Mutation.write": Requirement.of_scopes([["hub:write"]]),
    }


def test_requirement_of_reads_only_the_access_directives() -> None:
    from strawberry.federation.schema_directives import Authenticated, RequiresScopes, Shareable

    assert requirement_of([Shareable()]).is_open
    both = requirement_of([Authenticated(), RequiresScopes(scopes=[["a", "b"], ["c"]])])
    assert both == Requirement(True, ((frozenset({"a", "b"}), frozenset({"c"})),))


def test_open_fields_keep_their_resolvers_and_protected_ones_wrap_the_original() -> None:
    schema = unprotected_schema()
    before = fields(schema)
    protected = protect_schema(schema)
    after = fields(schema)
    assert set(before) == set(after)
    for coordinate, resolver in after.items():
        if coordinate in protected:
            assert isinstance(resolver, GuardedResolver), coordinate
            assert resolver.original is before[coordinate]
            assert resolver.requirement == protected[coordinate]
        elif coordinate == "Query._entities":
            assert isinstance(resolver, GuardedEntities)
            assert resolver.original is before[coordinate]
        else:
            assert resolver is before[coordinate], coordinate  # the very same function
    assert {"Query.open", "Query._service", "_Service.sdl"} <= set(after) - set(protected)


def test_protecting_twice_changes_nothing() -> None:
    schema = unprotected_schema()
    first = protect_schema(schema)
    resolvers = fields(schema)
    assert protect_schema(schema) == first
    assert fields(schema) == resolvers


@strawberry.federation.type(keys=["id"])
class Plain:
    id: strawberry.ID


@strawberry.type
class PlainQuery:
    @strawberry.federation.field(authenticated=True)
    def plain(self) -> Plain:
        return Plain(id=strawberry.ID("1"))


def test_entities_is_left_alone_when_no_entity_type_is_protected() -> None:
    schema = HubSchema(query=PlainQuery, types=[Plain], federation_version=FEDERATION_VERSION)
    before = fields(schema)["Query._entities"]
    protect_schema(schema)
    assert fields(schema)["Query._entities"] is before


# --- what callers get --------------------------------------------------------------------


async def test_anonymous_callers_get_null_and_unauthorized_on_protected_fields() -> None:
    data, errors = await run("{ open count }", None)
    assert data is None  # count is non-null: its error nulls the whole result
    assert errors == [
        {
            "message": "Query.count requires authentication",
            "path": ["count"],
            "code": "UNAUTHORIZED",
        }
    ]
    data, errors = await run("{ open }", None)
    assert data == {"open": "open"} and errors == []


async def test_scopes_decide_between_data_and_forbidden() -> None:
    query = '{ note(id: "n1") { name owner budget } }'
    data, errors = await run(query, caller("hub:read"))
    assert data is None
    assert errors == [
        {
            "message": "Note.budget requires scope fin:read or admin",
            "path": ["note", "budget"],
            "code": "FORBIDDEN",
        }
    ]
    # Either alternative of the requirement will do.
    for scope in ("fin:read", "admin"):
        data, errors = await run(query, caller(scope))
        assert errors == []
        assert data == {"note": {"name": "note n1", "owner": "ada", "budget": "12 EUR"}}


async def test_authenticated_needs_an_identity_but_no_scope() -> None:
    data, errors = await run('{ note(id: "n1") { owner } }', caller())
    assert errors == [] and data == {"note": {"owner": "ada"}}


async def test_nested_protected_type_is_refused_below_an_allowed_parent() -> None:
    data, errors = await run('{ note(id: "n1") { body secret { text } } }', caller("fin:read"))
    assert data is None
    assert errors == [
        {
            "message": "Note.secret requires scope hub:read",
            "path": ["note", "secret"],
            "code": "FORBIDDEN",
        }
    ]


async def test_mutations_are_refused_before_they_run() -> None:
    data, errors = await run("mutation { write }", caller("hub:read"))
    assert data is None
    assert errors == [
        {
            "message": "Mutation.write requires scope hub:write",
            "path": ["write"],
            "code": "FORBIDDEN",
        }
    ]
    data, errors = await run("mutation { write }", caller("hub:write"))
    assert data == {"write": "written"} and errors == []


async def test_a_context_without_identity_is_anonymous() -> None:
    result = await SCHEMA.execute("{ count }", context_value=object())
    assert result.errors and result.errors[0].extensions == {"code": "UNAUTHORIZED"}


ENTITIES = """
query($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Secret { id text }
    ... on Note { id body }
  }
}
"""


async def test_entities_of_a_protected_type_are_refused_before_their_reference_resolves() -> None:
    resolved_references.clear()
    reps = [
        {"__typename": "Secret", "id": "s1"},
        {"__typename": "Note", "id": "n1"},
        {"__typename": "Secret", "id": "s2"},
    ]
    data, errors = await run(ENTITIES, caller(), {"reps": reps})
    # Only the Note's reference was resolved; each Secret is one error at its index.
    assert resolved_references == ["n1"]
    assert data == {"_entities": [None, {"id": "n1", "body": "hello"}, None]}
    assert errors == [
        {
            "message": "Secret requires scope hub:read",
            "path": ["_entities", 0],
            "code": "FORBIDDEN",
        },
        {
            "message": "Secret requires scope hub:read",
            "path": ["_entities", 2],
            "code": "FORBIDDEN",
        },
    ]
    # Anonymous: Note is protected too (by its interface), so nothing is resolved.
    resolved_references.clear()
    data, errors = await run(ENTITIES, None, {"reps": reps})
    assert resolved_references == []
    assert data == {"_entities": [None, None, None]}
    assert [(e["message"], e["code"]) for e in errors] == [
        ("Secret requires authentication", "UNAUTHORIZED"),
        ("Note requires authentication", "UNAUTHORIZED"),
        ("Secret requires authentication", "UNAUTHORIZED"),
    ]


async def test_entities_of_a_protected_type_resolve_for_a_caller_with_the_scope() -> None:
    resolved_references.clear()
    reps = [{"__typename": "Secret", "id": "s1"}, {"__typename": "Note", "id": "n1"}]
    data, errors = await run(ENTITIES, caller("hub:read"), {"reps": reps})
    assert errors == []
    assert data == {"_entities": [{"id": "s1", "text": "secret s1"}, {"id": "n1", "body": "hello"}]}
    assert resolved_references == ["s1", "n1"]


# --- the guard itself --------------------------------------------------------------------


async def test_a_field_without_resolver_is_resolved_by_default_when_guarded() -> None:
    schema = unprotected_schema()
    # graphql-core fields may have no resolver at all (resolve=None): graphql-core then
    # reads the attribute. A guard around such a field must do the same.
    schema._schema.type_map["Note"].fields["body"].resolve = None  # type: ignore[union-attr]
    protect_schema(schema)
    guard = schema._schema.type_map["Note"].fields["body"].resolve  # type: ignore[union-attr]
    assert isinstance(guard, GuardedResolver) and guard.original is None
    result = await schema.execute('{ note(id: "n1") { body } }', context_value=Context(caller()))
    assert result.errors is None and result.data == {"note": {"body": "hello"}}
    refused = await schema.execute('{ note(id: "n1") { body } }', context_value=Context(None))
    assert refused.errors and refused.errors[0].message == "Query.note requires authentication"


@pytest.mark.parametrize("identity", [None, caller("hub:read")])
def test_the_guard_returns_what_the_original_returns(identity: Identity | None) -> None:
    sentinel = object()
    guard = GuardedResolver(lambda root, info, **args: (sentinel, args), "T.f", Requirement())

    class Info:
        context = Context(identity)

    assert guard(None, Info(), x=1) == (sentinel, {"x": 1})  # type: ignore[arg-type]
