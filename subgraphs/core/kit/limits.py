"""The gateway's operation limits, enforced again by every hub before Strawberry runs.

Hubs are reachable directly (peers call them, and so can anyone on their network), so a
hub cannot rely on the gateway having refused a hostile document. Every hub applies the
same limits, with the same defaults, codes and messages (``gateway.limits``):
document size and tokens before parsing, then depth, aliases, root fields and cost on
the parsed document, all before Strawberry parses, validates or executes anything. The
order is the gateway's: what grows fastest with a hostile document is refused first.

The gateway sends hubs documents it generated from operations it already accepted under
the same limits. Two things in them are federation plumbing rather than the client's
asking, and are counted so that they never push a gateway-accepted operation over:

* ``_entities(representations:)`` is a list, so the cost would multiply everything below
  it by the assumed list size. It counts as a single object instead: the gateway has
  already weighed the lists above the entity in the client's operation, and the hub
  resolves all representations in one batch per type. (Counting the representations
  would refuse accepted operations whose lists are longer than the gateway assumed.)
  Its depth counts as is: ``_entities`` stands where the field that returned the entity
  stood in the client's operation, at depth 1 or more, so the fetch is never deeper.
* ``__typename`` without an alias is not counted: the gateway adds it to every selection
  with type conditions and every entity it will resolve elsewhere, and it costs nothing
  to answer. (An aliased one counts, so aliases cannot hide behind it.)
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    REMOVE,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Visitor,
    parse,
    visit,
)

from gateway.bounded_cache import BoundedCache, digest
from gateway.limits import LimitExceeded, OperationLimits, check, document_too_large

ENTITIES = "_entities"
# Not a GraphQL name, so no schema has it: the limits count a field they do not know as
# one object (no list above its selections), which is how `_entities` is to be counted.
_ONE_OBJECT = "_entities (one object)"

# Documents larger than this are parsed in a worker thread, so that parsing a hostile
# (though within limits) document does not hold up the event loop and /healthz with it.
PARSE_IN_THREAD_CHARS = 16 * 1024
CACHE_SIZE = 256
# Verdicts are small, but one whose cost is checked per request keeps its parsed
# operation (and so the document's text): counted at what a parsed document weighs.
CACHE_BYTES = 16 * 1024 * 1024
_VERDICT_BYTES = 256
_PARSED_BYTES_PER_CHAR = 200

# One GraphQL token each (strings, block strings, punctuators, names, numbers); comments
# are skipped as graphql-core skips them. Unterminated strings match as one token too. A
# number may swallow what graphql-core would read as two tokens: the count can only be
# lower than graphql-core's, never higher, so a document refused here would be refused
# by the parser as well.
_TOKEN = re.compile(
    r'"""(?:\\"""|[^"\\]|\\|"(?!""))*(?:"""|\Z)'  # block string
    r'|"(?:[^"\\\n\r]|\\.)*"?'  # string
    r"|#[^\n\r]*"  # comment (not a token)
    r"|\.\.\.|[!$&()\[\]{}:=@|]"  # punctuators
    r"|[_A-Za-z][_0-9A-Za-z]*"  # names
    r"|-?[0-9][0-9.eE+-]*"  # numbers
)


def more_tokens_than(query: str, limit: int) -> bool:
    """Whether ``query`` surely has more than ``limit`` tokens, found by a scan that
    stops at the first token past the limit (much cheaper than parsing that far)."""
    if len(query) <= limit:  # every token takes a character at least
        return False
    count = 0
    for match in _TOKEN.finditer(query):
        if match.group().startswith("#"):
            continue
        count += 1
        if count > limit:
            return True
    return False


def tokens_exceeded(limit: int) -> LimitExceeded:
    # graphql-core's own message, as the gateway reports it.
    return LimitExceeded(
        "MAX_TOKENS_EXCEEDED",
        f"Syntax Error: Document contains more than {limit} tokens. Parsing aborted.",
    )


class _TypenameRemover(Visitor):
    """Drops unaliased ``__typename`` selections (see the module's docstring)."""

    def enter_field(self, node: FieldNode, *_: Any) -> Any:
        if node.alias is None and node.name.value == "__typename":
            return REMOVE
        return None


def counted(document: DocumentNode, query: str) -> DocumentNode:
    """The document parsed from ``query`` as the limits are to count it: unaliased
    ``__typename`` dropped and each root ``_entities`` counted as one object."""
    if "__typename" in query:  # else there is nothing to drop: spare the visit
        document = visit(document, _TypenameRemover())
    return DocumentNode(
        definitions=tuple(
            _entities_as_one_object(d) if isinstance(d, OperationDefinitionNode) else d
            for d in document.definitions
        )
    )


def _entities_as_one_object(operation: OperationDefinitionNode) -> OperationDefinitionNode:
    selections = tuple(
        _renamed(node, _ONE_OBJECT)
        if isinstance(node, FieldNode) and node.name.value == ENTITIES
        else node
        for node in operation.selection_set.selections
    )
    return OperationDefinitionNode(
        operation=operation.operation,
        name=operation.name,
        variable_definitions=operation.variable_definitions,
        directives=operation.directives,
        selection_set=SelectionSetNode(selections=selections),
        loc=operation.loc,
    )


def _renamed(node: FieldNode, name: str) -> FieldNode:
    return FieldNode(
        alias=node.alias,
        name=NameNode(value=name),
        arguments=node.arguments,
        directives=node.directives,
        selection_set=node.selection_set,
        loc=node.loc,
    )


Checked = tuple[OperationDefinitionNode, Mapping[str, FragmentDefinitionNode]]


@dataclass(frozen=True)
class Prepared:
    """What the limits say of one document, before the request's variables are known."""

    refusal: LimitExceeded | None = None
    # operations whose cost depends on list sizes given by variables: checked per request
    per_request: tuple[Checked, ...] = ()


class OperationGuard:
    """Checks each document against the limits once (cached), before Strawberry runs.

    Every operation of the document is checked, not only the one named: Strawberry
    validates the whole document, so an operation that is not run could still cost
    the validation's time.
    """

    def __init__(
        self, schema: GraphQLSchema, limits: OperationLimits, cache_size: int = CACHE_SIZE
    ) -> None:
        self.schema = schema
        self.limits = limits
        # keyed by digests, bounded in bytes: clients choose the documents
        self._cache: BoundedCache[bytes, Prepared] = BoundedCache(CACHE_BYTES, cache_size)

    async def refusal(
        self, query: str, variables: Mapping[str, object] | None = None
    ) -> LimitExceeded | None:
        """The first limit this request exceeds, or None (then Strawberry takes over;
        a syntax error found within the limits is left for Strawberry to report)."""
        key = digest(query)
        prepared = self._cache.get(key)
        if prepared is None:
            if len(query) > PARSE_IN_THREAD_CHARS:
                prepared = await asyncio.to_thread(self.prepare, query)
            else:
                prepared = self.prepare(query)
            size = _VERDICT_BYTES + (
                _PARSED_BYTES_PER_CHAR * len(query) if prepared.per_request else 0
            )
            self._cache.put(key, prepared, size)
        if prepared.refusal is not None:
            return prepared.refusal
        for operation, fragments in prepared.per_request:
            verdict = check(self.schema, operation, fragments, self.limits, variables)
            if verdict.exceeded is not None:
                return verdict.exceeded
        return None

    def prepare(self, query: str) -> Prepared:
        """Size, tokens, then the limits of every operation (without variables)."""
        limits = self.limits
        too_large = document_too_large(query, limits)
        if too_large is not None:
            return Prepared(too_large)
        if limits.max_tokens is not None and more_tokens_than(query, limits.max_tokens):
            return Prepared(tokens_exceeded(limits.max_tokens))
        try:
            document = parse(query, max_tokens=limits.max_tokens)
        except GraphQLError as error:
            if limits.max_tokens is not None and "tokens" in error.message:
                return Prepared(tokens_exceeded(limits.max_tokens))
            return Prepared()  # Strawberry parses it again, as far, and reports the error
        return self._check_document(counted(document, query))

    def _check_document(self, document: DocumentNode) -> Prepared:
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        per_request: list[Checked] = []
        for definition in document.definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            verdict = check(self.schema, definition, fragments, self.limits)
            if verdict.exceeded is not None:
                return Prepared(verdict.exceeded)
            if verdict.depends_on_variables:
                per_request.append((definition, fragments))
        return Prepared(per_request=tuple(per_request))
