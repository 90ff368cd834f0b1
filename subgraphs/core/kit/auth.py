"""Who is calling, and what they may see: every hub checks both itself
(docs/architecture.md §5).

Two halves, both hub-agnostic:

* :class:`AuthenticateRequests` wraps the ``/graphql`` endpoint. A request without an
  ``Authorization`` header is anonymous; one with a valid bearer token carries an
  :class:`~identity.validation.Identity`; any other gets a 401 before the body is even
  read, so a mutation sent with a forged token runs nothing.
* :func:`protect_schema` enforces the schema's own ``@authenticated`` /
  ``@requiresScopes``. It reads them from the Strawberry definitions (the same
  directives the gateway sees in the SDL) and wraps the resolvers of protected fields
  only; an open field keeps its resolver, untouched. A field's requirement is its own
  directive's, and its named return type's, and its parent type's, combined with
  :class:`~identity.access.Requirement`'s ``&`` — the rule the gateway applies too, so a
  caller gets the same code and message from either.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from inspect import isawaitable
from typing import Any

import strawberry
from graphql import (
    GraphQLField,
    GraphQLFieldResolver,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLUnionType,
    default_field_resolver,
    get_named_type,
)
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.federation.schema_directives import Authenticated, RequiresScopes
from strawberry.schema.schema_converter import GraphQLCoreConverter

from identity.access import UNAUTHORIZED, Requirement, denial_message
from identity.authenticate import Authenticator, unauthenticated_body, www_authenticate
from identity.validation import Identity, InvalidToken
from subgraphs.core.kit.errors import Forbidden, HubError, Unauthorized

log = logging.getLogger("hubgraph.auth")

_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF
ENTITIES_FIELD = "_entities"
ENTITY_UNION = "_Entity"


# --- authentication ------------------------------------------------------------------


class AuthenticateRequests:
    """ASGI wrapper: authenticate every request, refuse bad tokens with a 401 (RFC 6750).

    The identity (None when anonymous) goes to ``request.state.identity``, where the
    GraphQL view picks it up for the resolvers' context.
    """

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            identity = await self.authenticator.authenticate(Headers(scope=scope))
        except InvalidToken as exc:
            # The reason code only: the message may quote claims, never the token, but
            # the log has no need for either.
            log.info("refused a bearer token (%s)", exc.code, extra={"reason": exc.code})
            response = JSONResponse(
                unauthenticated_body(exc),
                status_code=401,
                headers={"WWW-Authenticate": www_authenticate(exc)},
            )
            await response(scope, receive, send)
            return
        # Starlette's request.state is this dict, one per request.
        scope.setdefault("state", {})["identity"] = identity
        await self.app(scope, receive, send)


def identity_of(connection: HTTPConnection) -> Identity | None:
    """The caller :class:`AuthenticateRequests` found; None (anonymous) if it never ran."""
    identity: Identity | None = getattr(connection.state, "identity", None)
    return identity


# --- authorization: requirements from the schema's directives ------------------------


def requirement_of(directives: Iterable[object]) -> Requirement:
    """What ``@authenticated`` / ``@requiresScopes`` among ``directives`` ask for."""
    requirement = Requirement()
    for directive in directives:
        if isinstance(directive, Authenticated):
            requirement &= Requirement(authenticated=True)
        elif isinstance(directive, RequiresScopes):
            requirement &= Requirement.of_scopes(directive.scopes)
    return requirement


def _definition_directives(schema: strawberry.Schema, name: str) -> list[object]:
    # Object types, interfaces, enums and scalars all keep their directives on their
    # Strawberry definition; unions and built-in scalars have none.
    definition = schema.get_type_by_name(name)
    return list(getattr(definition, "directives", None) or ())


def type_requirement(schema: strawberry.Schema, graphql_type: GraphQLNamedType) -> Requirement:
    """A named type's own requirement, and, for an object type, its interfaces'."""
    requirement = requirement_of(_definition_directives(schema, graphql_type.name))
    if isinstance(graphql_type, GraphQLObjectType):
        for interface in graphql_type.interfaces:
            requirement &= requirement_of(_definition_directives(schema, interface.name))
    return requirement


def field_requirement(
    schema: strawberry.Schema, parent: GraphQLObjectType, field: GraphQLField
) -> Requirement:
    """The field's own requirement & its named return type's & its parent type's."""
    definition = field.extensions.get(_BACKREF)
    own = requirement_of(getattr(definition, "directives", None) or ())
    returned = type_requirement(schema, get_named_type(field.type))
    return own & returned & type_requirement(schema, parent)


def _identity(info: GraphQLResolveInfo) -> Identity | None:
    # A context without an identity (e.g. a schema executed outside a hub app) is
    # anonymous: protected fields are refused rather than opened.
    identity: Identity | None = getattr(info.context, "identity", None)
    return identity


def refusal(
    requirement: Requirement, coordinate: str, identity: Identity | None
) -> HubError | None:
    """The error for a caller who may not see ``coordinate``, or None if they may."""
    code = requirement.denial(identity)
    if code is None:
        return None
    error = Unauthorized if code == UNAUTHORIZED else Forbidden
    return error(denial_message(code, coordinate, requirement))


def may_see(info: Any, type_name: str, field_name: str) -> bool:
    """Whether the caller of ``info`` (Strawberry's or graphql-core's) passes the guard of
    ``type_name.field_name``; an unguarded field: True. For work done ahead of a field
    (a prefetch), which must not load what the field would then refuse."""
    schema = getattr(info.schema, "_schema", info.schema)  # Strawberry's wraps graphql-core's
    return allowed(schema.type_map[type_name].fields[field_name].resolve, info)


def allowed(resolve: Any, info: Any) -> bool:
    """Whether ``resolve`` (a field's resolver in the built schema) lets the caller of
    ``info`` through: not a guard, or a guard the caller passes."""
    if not isinstance(resolve, GuardedResolver):
        return True
    return refusal(resolve.requirement, resolve.coordinate, _identity(info)) is None


# --- authorization: the wrapped resolvers -----------------------------------------------


class GuardedResolver:
    """A protected field's resolver: the caller is checked, then the original runs.

    Synchronous on purpose: it returns whatever the original returns (a value or an
    awaitable), so graphql-core treats the field exactly as before, and a refusal is an
    error at the field's path with nothing resolved below it.
    """

    __slots__ = ("coordinate", "original", "requirement", "resolve")

    def __init__(
        self,
        original: GraphQLFieldResolver | None,
        coordinate: str,
        requirement: Requirement,
    ) -> None:
        self.original = original
        # A field without a resolver of its own is resolved by graphql-core's default
        # (attribute or key lookup); wrapped, it must still be.
        self.resolve = original or default_field_resolver
        self.coordinate = coordinate
        self.requirement = requirement

    def __call__(self, root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        if error := refusal(self.requirement, self.coordinate, _identity(info)):
            raise error
        return self.resolve(root, info, **args)


class GuardedEntities:
    """``_entities``: each representation is checked against its entity type first.

    The fields of a protected type are guarded already; checking here as well refuses a
    representation before its reference is resolved (no row is read for a caller who may
    not see it), with one error at ``_entities.<index>`` instead of one per field.
    """

    __slots__ = ("original", "requirements")

    def __init__(
        self, original: GraphQLFieldResolver, requirements: Mapping[str, Requirement]
    ) -> None:
        self.original = original
        self.requirements = requirements

    def __call__(
        self, root: Any, info: GraphQLResolveInfo, representations: list[Any], **args: Any
    ) -> Any:
        identity = _identity(info)
        results: list[Any] = [None] * len(representations)
        allowed: list[Any] = []
        positions: list[int] = []
        for index, representation in enumerate(representations):
            name = representation.get("__typename") if isinstance(representation, dict) else None
            requirement = self.requirements.get(name) if isinstance(name, str) else None
            error = refusal(requirement, str(name), identity) if requirement else None
            if error is not None:
                results[index] = error  # graphql-core reports an exception item at its index
            else:
                allowed.append(representation)
                positions.append(index)
        if not allowed:
            return results
        resolved = self.original(root, info, representations=allowed, **args)

        def merge(values: Iterable[Any]) -> list[Any]:
            for index, value in zip(positions, values, strict=True):
                results[index] = value
            return results

        if isawaitable(resolved):

            async def merged() -> list[Any]:
                return merge(await resolved)

            return merged()
        return merge(resolved)


def protect_schema(schema: strawberry.Schema) -> dict[str, Requirement]:
    """Enforce the schema's authorization directives; idempotent.

    Returns the requirement of every protected field by coordinate (``Type.field``).
    """
    graphql_schema = schema._schema
    protected: dict[str, Requirement] = {}
    for graphql_type in graphql_schema.type_map.values():
        # Introspection types are open, and only object types' resolvers ever run.
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("__"):
            continue
        for name, field in graphql_type.fields.items():
            requirement = field_requirement(schema, graphql_type, field)
            if requirement.is_open:
                continue
            coordinate = f"{graphql_type.name}.{name}"
            protected[coordinate] = requirement
            if not isinstance(field.resolve, GuardedResolver):
                field.resolve = GuardedResolver(field.resolve, coordinate, requirement)
    _protect_entities(schema)
    return protected


def _protect_entities(schema: strawberry.Schema) -> None:
    graphql_schema = schema._schema
    union = graphql_schema.type_map.get(ENTITY_UNION)
    query = graphql_schema.query_type
    field = query.fields.get(ENTITIES_FIELD) if query else None
    if not isinstance(union, GraphQLUnionType) or field is None or field.resolve is None:
        return
    requirements = {
        member.name: requirement
        for member in union.types
        if not (requirement := type_requirement(schema, member)).is_open
    }
    # Only a schema with a protected entity type pays for the check.
    if requirements and not isinstance(field.resolve, GuardedEntities):
        field.resolve = GuardedEntities(field.resolve, requirements)
