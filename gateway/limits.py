"""Limits on hostile operations, checked on the parsed document before validation,
normalisation and planning (so before any subgraph is called, and before any work that
grows with how often fragments are spread).

* document size: refused before parsing (``max_document_bytes``);
* tokens: enforced while parsing (graphql-core stops reading past the limit);
* depth: how deeply fields nest (fragments followed);
* aliases: how many aliased fields the operation has, counted as often as they are spread;
* root fields: how many fields the operation asks at its root;
* cost: fields weighted by the list sizes above them. A list's size is the value of a
  ``first`` / ``last`` / ``limit`` / ``top`` / ``pageSize`` argument when one is given
  (a variable counts with its default, or the assumed size), else the assumed size;
* selections: how many fields normalisation may produce (``gateway.operation``), the
  budget that bounds the one step whose work grows with the expanded operation.

The figures are those of the fully expanded operation, but computed without expanding
it: each fragment is summarised once (its depth, aliases, cost per unit of multiplier and
fields at its own level) and a spread adds its fragment's summary, so a document whose
fragments spread each other twice per level (2^n fields from n fragments) costs n
summaries, not 2^n walks. Fragments are summarised leaves first, iteratively, so a long
chain of fragments cannot exhaust Python's stack either.

Each limit is optional (None turns it off) and each violation is a clear error with a
stable code: ``MAX_DOCUMENT_SIZE_EXCEEDED``, ``MAX_TOKENS_EXCEEDED``, ``MAX_DEPTH_EXCEEDED``,
``MAX_ALIASES_EXCEEDED``, ``MAX_ROOT_FIELDS_EXCEEDED``, ``COST_LIMIT_EXCEEDED``,
``MAX_SELECTIONS_EXCEEDED``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)

from gateway import defaults

SIZE_ARGUMENTS = ("first", "last", "limit", "top", "pageSize")
# Figures are capped here: past it they only say "far too much", and the numbers of a
# 2^1000 fan-out would cost time just to multiply.
_CAP = 10**15


@dataclass(frozen=True)
class OperationLimits:
    max_depth: int | None = defaults.MAX_DEPTH
    max_aliases: int | None = defaults.MAX_ALIASES
    max_root_fields: int | None = defaults.MAX_ROOT_FIELDS
    max_tokens: int | None = defaults.MAX_TOKENS
    max_cost: int | None = defaults.MAX_COST
    assumed_list_size: int = defaults.ASSUMED_LIST_SIZE
    # a document's size in UTF-8 bytes, refused before it is parsed
    max_document_bytes: int | None = defaults.MAX_DOCUMENT_BYTES
    # fields the gateway's normalisation may produce (per concrete type, merged)
    max_selections: int | None = defaults.MAX_SELECTIONS


@dataclass(frozen=True)
class LimitExceeded:
    code: str
    message: str


@dataclass(frozen=True)
class Verdict:
    exceeded: LimitExceeded | None
    # a list size came from a variable: the cost must be checked again per request
    depends_on_variables: bool


def document_too_large(query: str, limits: OperationLimits) -> LimitExceeded | None:
    """The size refusal for a document not yet parsed (None when it may be parsed)."""
    limit = limits.max_document_bytes
    # len(str) <= UTF-8 bytes <= 4 * len(str): encode only when it could matter
    if limit is None or len(query) <= limit // 4:
        return None
    size = len(query) if len(query) > limit else len(query.encode("utf-8", "surrogatepass"))
    if size <= limit:
        return None
    return LimitExceeded(
        "MAX_DOCUMENT_SIZE_EXCEEDED",
        f"the document is {size} bytes; at most {limit} are allowed",
    )


def selections_exceeded(limit: int) -> LimitExceeded:
    return LimitExceeded(
        "MAX_SELECTIONS_EXCEEDED",
        f"the operation expands to more than {limit} field selections (fragments spread "
        "over and over); spread each fragment fewer times",
    )


def check(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    limits: OperationLimits,
    variables: Mapping[str, object] | None = None,
) -> Verdict:
    """The first limit the operation exceeds (None if none), given the request's
    ``variables`` when known. The document need not be valid: unknown fields and types
    count as fields without a list, unknown fragments as empty."""
    summarizer = _Summarizer(schema, fragments, operation, limits.assumed_list_size, variables)
    root = {
        "query": schema.query_type,
        "mutation": schema.mutation_type,
        "subscription": schema.subscription_type,
    }[operation.operation.value]
    total = summarizer.summarize(operation.selection_set, root)
    return Verdict(_first_exceeded(total, limits), summarizer.variable_sizes)


def _first_exceeded(total: _Summary, limits: OperationLimits) -> LimitExceeded | None:
    if limits.max_root_fields is not None and total.fields > limits.max_root_fields:
        return LimitExceeded(
            "MAX_ROOT_FIELDS_EXCEEDED",
            f"the operation asks {total.fields} root fields; at most {limits.max_root_fields} are allowed",
        )
    if limits.max_depth is not None and total.depth > limits.max_depth:
        return LimitExceeded(
            "MAX_DEPTH_EXCEEDED",
            f"the operation nests {total.depth} levels deep; at most {limits.max_depth} are allowed",
        )
    if limits.max_aliases is not None and total.aliases > limits.max_aliases:
        return LimitExceeded(
            "MAX_ALIASES_EXCEEDED",
            f"the operation uses {total.aliases} aliases; at most {limits.max_aliases} are allowed",
        )
    if limits.max_cost is not None and total.cost > limits.max_cost:
        return LimitExceeded(
            "COST_LIMIT_EXCEEDED",
            f"the operation's estimated cost is {total.cost} (fields weighted by list sizes); "
            f"at most {limits.max_cost} is allowed: ask for smaller pages or fewer nested lists",
        )
    return None


@dataclass
class _Summary:
    """What a selection set adds where it is spread, per unit of multiplier."""

    depth: int = 0  # levels of fields below (and including) this level
    aliases: int = 0
    cost: int = 0  # fields weighted by list sizes, for a multiplier of 1
    fields: int = 0  # fields at this very level (root fields, when at the root)

    def add(self, other: _Summary) -> None:
        self.depth = max(self.depth, other.depth)
        self.aliases = min(self.aliases + other.aliases, _CAP)
        self.cost = min(self.cost + other.cost, _CAP)
        self.fields = min(self.fields + other.fields, _CAP)


class _Summarizer:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        operation: OperationDefinitionNode,
        assumed: int,
        variables: Mapping[str, object] | None,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.assumed = assumed
        self.variables = variables
        self.variable_sizes = False
        self.defaults = {
            d.variable.name.value: d.default_value.value
            for d in operation.variable_definitions or ()
            if isinstance(d.default_value, IntValueNode)
        }
        self.memo: dict[str, _Summary] = {}
        for name in _leaves_first(operation.selection_set, fragments):
            fragment = fragments[name]
            condition = self.schema.get_type(fragment.type_condition.name.value)
            self.memo[name] = self.summarize(fragment.selection_set, condition)

    def summarize(self, selection: SelectionSetNode, parent: object) -> _Summary:
        """The summary of one selection set, its spreads taken from the memo (a spread of
        a fragment on a cycle, which validation refuses, counts as empty)."""
        total = _Summary()
        for node in selection.selections:
            if isinstance(node, FieldNode):
                total.add(self.field(node, parent))
            elif isinstance(node, InlineFragmentNode):
                condition = (
                    self.schema.get_type(node.type_condition.name.value)
                    if node.type_condition
                    else parent
                )
                total.add(self.summarize(node.selection_set, condition))
            elif isinstance(node, FragmentSpreadNode):
                known = self.memo.get(node.name.value)
                if known is not None:
                    total.add(known)
        return total

    def field(self, node: FieldNode, parent: object) -> _Summary:
        own = _Summary(depth=1, aliases=node.alias is not None, cost=1, fields=1)
        if node.selection_set is None or node.name.value.startswith("__"):
            return own
        fields = (
            getattr(parent, "fields", None)
            if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType))
            else None
        )
        definition = fields.get(node.name.value) if fields else None
        child: object = None
        size = 1
        if definition is not None:
            child = get_named_type(definition.type)
            size = self.list_size(node, definition.type)
        below = self.summarize(node.selection_set, child)
        own.depth = 1 + below.depth
        own.aliases = min(own.aliases + below.aliases, _CAP)
        own.cost = min(1 + size * below.cost, _CAP)
        return own

    def list_size(self, node: FieldNode, type_: GraphQLOutputType) -> int:
        lists = 0
        while isinstance(type_, (GraphQLList, GraphQLNonNull)):
            lists += isinstance(type_, GraphQLList)
            type_ = type_.of_type
        if not lists:
            return 1
        size = self.assumed
        for argument in node.arguments or ():
            if argument.name.value not in SIZE_ARGUMENTS:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                size = int(value.value)
            elif isinstance(value, VariableNode):
                self.variable_sizes = True
                given = (self.variables or {}).get(value.name.value)
                default = self.defaults.get(value.name.value)
                if isinstance(given, int):
                    size = given
                elif default is not None:
                    size = int(default)
        return min(min(max(size, 1), _CAP) ** lists, _CAP)


def _spreads(selection: SelectionSetNode) -> Iterator[str]:
    """The names of the fragments spread anywhere inside ``selection`` (not following
    the spreads), walked with an explicit stack."""
    stack: list[SelectionSetNode] = [selection]
    while stack:
        for node in stack.pop().selections:
            if isinstance(node, FragmentSpreadNode):
                yield node.name.value
            elif isinstance(node, (FieldNode, InlineFragmentNode)) and node.selection_set:
                stack.append(node.selection_set)


def _leaves_first(
    selection: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> Iterable[str]:
    """The fragments reachable from ``selection``, each after every fragment it spreads
    (an iterative depth-first post-order; a fragment met again while open is a cycle and
    is skipped there)."""
    order: list[str] = []
    state: dict[str, bool] = {}  # name -> finished
    for start in dict.fromkeys(_spreads(selection)):
        if start in state or start not in fragments:
            continue
        state[start] = False
        stack: list[tuple[str, Iterator[str]]] = [
            (start, iter(list(_spreads(fragments[start].selection_set))))
        ]
        while stack:
            name, pending = stack[-1]
            child = next(pending, None)
            if child is None:
                stack.pop()
                state[name] = True
                order.append(name)
            elif child not in state and child in fragments:
                state[child] = False
                stack.append((child, iter(list(_spreads(fragments[child].selection_set)))))
    return order
