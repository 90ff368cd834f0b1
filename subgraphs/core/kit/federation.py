"""Building a hub's federation-2 schema the same way everywhere.

Every schema built here enforces its own ``@authenticated`` / ``@requiresScopes``
(:func:`subgraphs.core.kit.auth.protect_schema`): a hub declares access in its types and
fields, and gets the enforcement without writing any.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.federation import Schema
from strawberry.types import ExecutionContext

from subgraphs.core.kit import resolvers
from subgraphs.core.kit.auth import protect_schema
from subgraphs.core.kit.errors import classify_errors
from subgraphs.core.kit.logs import set_operation_name

if TYPE_CHECKING:
    from subgraphs.core.kit.events.outbox import HubEvents

# Strawberry's default link is v2.11, which some standard composers still reject.
# 2.7 has everything the hubs use (@key, @shareable, @override, @interfaceObject,
# @authenticated / @requiresScopes) and every current composer accepts it.
FEDERATION_VERSION: Final = "2.7"

# Parsing and validating a document costs milliseconds; gateways send the same few
# documents over and over, so both are cached (bounded, so hostile input cannot grow it).
DOCUMENT_CACHE_SIZE = 512


class OperationName(SchemaExtension):
    """Puts the operation name into the request's log context."""

    def on_operation(self) -> Iterator[None]:
        yield
        # Afterwards, when the document is parsed: the name may come from the document
        # itself rather than from the request's operationName.
        try:
            set_operation_name(self.execution_context.operation_name)
        except Exception:  # an unparsable document has no name
            set_operation_name(None)


class HubSchema(Schema):
    """A federation schema whose errors all carry ``extensions.code`` (see kit.errors)."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        classify_errors(errors)


def hub_schema(
    query: type,
    mutation: type | None = None,
    types: Sequence[type] = (),
    *,
    cache_documents: bool = True,
    events: HubEvents | None = None,
) -> Schema:
    """A federation schema with the kit's extensions, its authorization enforced, and
    the kit's cheaper resolvers where they change nothing but the cost (kit.resolvers).

    ``events``: the hub's outbox, whose undelivered events and their retry the schema
    then serves (kit/events/graphql.py). ``cache_documents=False`` exists for the
    benchmark that measures what the caches buy.
    """
    if events is not None:
        from strawberry.tools import merge_types

        from subgraphs.core.kit.events.graphql import event_fields

        events_query, events_mutation = event_fields(events)
        query = merge_types(query.__name__, (query, events_query))
        mutation = merge_types(
            mutation.__name__ if mutation else "Mutation",
            (mutation, events_mutation) if mutation else (events_mutation,),
        )
    extensions: list[Any] = [OperationName]
    if cache_documents:
        extensions[:0] = [
            lambda: ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
            lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
        ]
    schema = HubSchema(
        query=query,
        mutation=mutation,
        types=list(types),
        extensions=extensions,
        federation_version=FEDERATION_VERSION,
    )
    # First the cheaper resolvers (kit.resolvers), then the guards around them.
    resolvers.install(schema)
    protect_schema(schema)
    return schema


def sdl(schema: Schema) -> str:
    """The SDL a gateway sees through ``_service { sdl }``, newline-terminated."""
    return schema.as_str().rstrip() + "\n"
