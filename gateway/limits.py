"""Limits on hostile operations, checked before planning (so before any subgraph is called).

* depth: how deeply fields nest (fragments followed);
* aliases: how many aliased fields a document has (alias floods multiply work);
* root fields: how many fields the operation asks at its root;
* tokens: enforced while parsing (graphql-core stops reading past the limit);
* cost: fields weighted by the list sizes above them. A list's size is the value of a
  ``first`` / ``last`` / ``limit`` / ``top`` / ``pageSize`` argument when one is given
  (a variable counts with its default, or the assumed size), else the assumed size.

Each limit is optional (None turns it off) and each violation is a clear error with a
stable code: ``MAX_DEPTH_EXCEEDED``, ``MAX_ALIASES_EXCEEDED``, ``MAX_ROOT_FIELDS_EXCEEDED``,
``MAX_TOKENS_EXCEEDED``, ``COST_LIMIT_EXCEEDED``.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)

SIZE_ARGUMENTS = ("first", "last", "limit", "top", "pageSize")


@dataclass(frozen=True)
class OperationLimits:
    max_depth: int | None = 20
    max_aliases: int | None = 50
    max_root_fields: int | None = 50
    max_tokens: int | None = 20_000
    max_cost: int | None = 50_000
    assumed_list_size: int = 10


@dataclass(frozen=True)
class LimitExceeded:
    code: str
    message: str


@dataclass(frozen=True)
class Verdict:
    exceeded: LimitExceeded | None
    # a list size came from a variable: the cost must be checked again per request
    depends_on_variables: bool


def check(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    limits: OperationLimits,
    variables: Mapping[str, object] | None = None,
) -> Verdict:
    """The first limit the operation exceeds (None if none), given the request's
    ``variables`` when known."""
    walker = _Walker(schema, fragments, operation, limits.assumed_list_size, variables)
    return Verdict(_first_exceeded(walker, operation, schema, limits), walker.variable_sizes)


def _first_exceeded(
    walker: _Walker,
    operation: OperationDefinitionNode,
    schema: GraphQLSchema,
    limits: OperationLimits,
) -> LimitExceeded | None:
    root = {
        "query": schema.query_type,
        "mutation": schema.mutation_type,
        "subscription": schema.subscription_type,
    }[operation.operation.value]
    walker.walk(operation.selection_set, root, depth=1, multiplier=1, root_level=True)
    if limits.max_root_fields is not None and walker.root_fields > limits.max_root_fields:
        return LimitExceeded(
            "MAX_ROOT_FIELDS_EXCEEDED",
            f"the operation asks {walker.root_fields} root fields; at most {limits.max_root_fields} are allowed",
        )
    if limits.max_depth is not None and walker.depth > limits.max_depth:
        return LimitExceeded(
            "MAX_DEPTH_EXCEEDED",
            f"the operation nests {walker.depth} levels deep; at most {limits.max_depth} are allowed",
        )
    if limits.max_aliases is not None and walker.aliases > limits.max_aliases:
        return LimitExceeded(
            "MAX_ALIASES_EXCEEDED",
            f"the operation uses {walker.aliases} aliases; at most {limits.max_aliases} are allowed",
        )
    if limits.max_cost is not None and walker.cost > limits.max_cost:
        return LimitExceeded(
            "COST_LIMIT_EXCEEDED",
            f"the operation's estimated cost is {walker.cost} (fields weighted by list sizes); "
            f"at most {limits.max_cost} is allowed: ask for smaller pages or fewer nested lists",
        )
    return None


class _Walker:
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
        self.depth = 0
        self.aliases = 0
        self.cost = 0
        self.root_fields = 0

    def walk(
        self,
        selection: SelectionSetNode,
        parent: object,
        depth: int,
        multiplier: int,
        root_level: bool = False,
        spread: frozenset[str] = frozenset(),
    ) -> None:
        for node in selection.selections:
            if isinstance(node, FieldNode):
                self.field(node, parent, depth, multiplier, root_level, spread)
            elif isinstance(node, InlineFragmentNode):
                condition = (
                    self.schema.get_type(node.type_condition.name.value)
                    if node.type_condition
                    else parent
                )
                self.walk(node.selection_set, condition, depth, multiplier, root_level, spread)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in spread:
                    continue
                condition = self.schema.get_type(fragment.type_condition.name.value)
                self.walk(
                    fragment.selection_set,
                    condition,
                    depth,
                    multiplier,
                    root_level,
                    spread | {name},
                )

    def field(
        self,
        node: FieldNode,
        parent: object,
        depth: int,
        multiplier: int,
        root_level: bool,
        spread: frozenset[str],
    ) -> None:
        self.depth = max(self.depth, depth)
        self.aliases += node.alias is not None
        self.root_fields += root_level
        self.cost += multiplier
        if node.selection_set is None or node.name.value.startswith("__"):
            return
        fields = (
            getattr(parent, "fields", None)
            if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType))
            else None
        )
        definition = fields.get(node.name.value) if fields else None
        child: object = None
        inner = multiplier
        if definition is not None:
            child = get_named_type(definition.type)
            inner = multiplier * self.list_size(node, definition.type)
        elif isinstance(parent, GraphQLUnionType):
            child = None
        self.walk(node.selection_set, child, depth + 1, min(inner, 10**12), False, spread)

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
        return max(size, 1) ** lists
