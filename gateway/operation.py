"""A client operation, normalised for planning and response shaping.

Fragments and inline fragments are gone: every selection set is "exploded" into the
fields each possible concrete runtime type would execute (GraphQL's CollectFields), with
fields of the same response name merged. ``@skip`` / ``@include`` are kept as
conditions on fields (decided per request from the variables, never by re-planning).

Each field has a ``data_key``: the key it has in the merged subgraph results. It is the
response key, except where one selection set uses one response key for fields of
different shapes on different types (``... on Book { x: title } ... on Movie { x: length }``),
which no subgraph would accept in one document: those get internal aliases, and the
response shaper maps them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    ArgumentNode,
    BooleanValueNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    print_ast,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef

_META_FIELDS = {
    "__typename": TypeNameMetaFieldDef,
    "__schema": SchemaMetaFieldDef,
    "__type": TypeMetaFieldDef,
}

# A condition is (include?, value): ``@include(if: $x)`` -> (True, VariableNode x).
Condition = tuple[bool, Any]
# Alternatives (OR) of conjunctions (AND); ((),) means "always".
Conditions = tuple[tuple[Condition, ...], ...]
ALWAYS: Conditions = ((),)


class OperationError(ValueError):
    """The document cannot be executed (no such operation, several without a name...)."""


class TooManySelections(OperationError):
    """Normalising the operation would produce more fields than its budget allows."""

    def __init__(self, budget: int) -> None:
        super().__init__(f"the operation expands to more than {budget} field selections")
        self.budget = budget


@dataclass(eq=False)
class Field:
    response_key: str
    name: str
    parent_type: str
    arguments: tuple[ArgumentNode, ...]
    type: GraphQLOutputType
    data_key: str = ""
    # client directives other than @skip/@include, forwarded to the subgraph
    directives: tuple[DirectiveNode, ...] = ()
    # when this occurrence is included (OR of ANDs) ...
    conditions: Conditions = ALWAYS
    # ... and when it is, together with every enclosing field (for fetch conditions)
    path_conditions: Conditions = ALWAYS
    selection: SelectionSet | None = None
    internal: bool = False
    # (code, message) when the caller may not see this field (gateway/authorization.py):
    # it is not fetched and is answered null with that error
    refused: tuple[str, str] | None = None
    # the type the field was selected on: an interface (``{ accounts { isActive } }``) or
    # the concrete type itself (``... on Admin { isActive }``); "" when not known
    via: str = ""

    @property
    def signature(self) -> tuple[str, str, str]:
        arguments = ",".join(
            print_ast(a) for a in sorted(self.arguments, key=lambda a: a.name.value)
        )
        return (self.name, arguments, str(self.type))

    @property
    def is_typename(self) -> bool:
        return self.name == "__typename"


@dataclass(eq=False)
class SelectionSet:
    """The fields each concrete type selects, in the client's order."""

    parent_type: str  # the static type (object, interface or union)
    by_type: dict[str, list[Field]] = field(default_factory=dict)

    def fields_of(self, type_name: str) -> list[Field]:
        return self.by_type.get(type_name, [])


@dataclass(eq=False)
class Operation:
    kind: str  # "query" | "mutation" | "subscription"
    name: str | None
    root_type: str
    selection: SelectionSet
    definition: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    # root fields answered by the gateway itself (__schema, __type)
    introspection: list[FieldNode] = field(default_factory=list)


def select_operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        for operation in operations:
            if operation.name and operation.name.value == operation_name:
                return operation
        raise OperationError(f"unknown operation named {operation_name!r}")
    if len(operations) != 1:
        raise OperationError("the document has several operations; give operationName")
    return operations[0]


def _and(a: Conditions, b: Conditions) -> Conditions:
    return tuple(x + y for x in a for y in b)


def either(a: Conditions, b: Conditions) -> Conditions:
    """Conditions that hold when ``a`` or ``b`` holds."""
    if a == ALWAYS or b == ALWAYS:
        return ALWAYS
    return tuple(dict.fromkeys(a + b))


def _own_conditions(directives: Iterable[DirectiveNode]) -> Conditions:
    conjunction: list[Condition] = []
    for directive in directives:
        if directive.name.value not in ("skip", "include"):
            continue
        value = next((a.value for a in directive.arguments or () if a.name.value == "if"), None)
        include = directive.name.value == "include"
        if isinstance(value, BooleanValueNode):
            if value.value != include:
                return ()  # statically excluded
            continue
        conjunction.append((include, value))
    return (tuple(conjunction),)


def _size(conditions: Conditions) -> int:
    """How many single conditions ``conditions`` holds (the work of combining them)."""
    return sum(map(len, conditions)) or 1


def conditions_hold(conditions: Conditions, variables: Mapping[str, Any]) -> bool:
    for conjunction in conditions:
        if all(_condition(c, variables) == c[0] for c in conjunction):
            return True
    return False


def _condition(condition: Condition, variables: Mapping[str, Any]) -> bool:
    value = condition[1]
    if isinstance(value, VariableNode):
        return bool(variables.get(value.name.value))
    return bool(getattr(value, "value", False))


class Normalizer:
    """Builds :class:`SelectionSet` trees against one schema (API or supergraph).

    Its work is bounded: a fragment spread again into the same selection set under the
    same conditions adds nothing and is not collected again, and ``budget`` (when given)
    caps the fields and spreads it may visit in all, raising TooManySelections past it —
    a few hundred bytes of fragments spreading each other under varying conditions
    could otherwise expand to millions of fields.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        budget: int | None = None,
    ):
        self.schema = schema
        self.fragments = fragments
        self.budget = budget
        self.spent = 0

    def _spend(self, units: int = 1) -> None:
        # a unit is a field or spread visited, or one @skip/@include condition combined
        # for it (conditions multiply too, when fragments are spread under varying ones)
        self.spent += units
        if self.budget is not None and self.spent > self.budget:
            raise TooManySelections(self.budget)

    def possible_types(self, type_name: str) -> list[str]:
        named = self.schema.get_type(type_name)
        if isinstance(named, GraphQLObjectType):
            return [type_name]
        if isinstance(named, (GraphQLInterfaceType, GraphQLUnionType)):
            found = [t.name for t in self.schema.get_possible_types(named)]
            if not found and isinstance(named, GraphQLInterfaceType):
                # An interface no object implements in this schema (its implementations
                # live behind an @interfaceObject): answered as the interface itself.
                return [type_name]
            return found
        return []

    def applies(self, condition: str | None, type_name: str) -> bool:
        if condition is None or condition == type_name:
            return True
        named = self.schema.get_type(condition)
        concrete = self.schema.get_type(type_name)
        if isinstance(named, (GraphQLInterfaceType, GraphQLUnionType)) and isinstance(
            concrete, GraphQLObjectType
        ):
            return self.schema.is_sub_type(named, concrete)
        return False

    def selection_set(
        self,
        parent_type: str,
        nodes: Sequence[tuple[SelectionSetNode, Conditions]],
        path_conditions: Conditions = ALWAYS,
        internal: bool = False,
    ) -> SelectionSet:
        result = SelectionSet(parent_type)
        for concrete in self.possible_types(parent_type):
            merged: dict[str, Field] = {}
            pending: dict[str, dict[int, tuple[SelectionSetNode, Conditions]]] = {}
            collected: set[tuple[str, Conditions]] = set()
            for node, conditions in nodes:
                self._collect(
                    concrete,
                    node,
                    conditions,
                    merged,
                    pending,
                    set(),
                    internal,
                    collected,
                    parent_type,
                )
            for key, item in merged.items():
                self._spend(_size(path_conditions) * len(item.conditions))
                item.path_conditions = _and(path_conditions, item.conditions)
                named = get_named_type(item.type)
                if isinstance(
                    named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)
                ) and pending.get(key):
                    item.selection = self.selection_set(
                        named.name, list(pending[key].values()), item.path_conditions, internal
                    )
            result.by_type[concrete] = list(merged.values())
        _assign_data_keys(result)
        return result

    def _collect(
        self,
        concrete: str,
        node: SelectionSetNode,
        conditions: Conditions,
        merged: dict[str, Field],
        pending: dict[str, dict[int, tuple[SelectionSetNode, Conditions]]],
        visited: set[str],
        internal: bool,
        collected: set[tuple[str, Conditions]],
        scope: str,
    ) -> None:
        """``scope``: the type the selection set is written against (for ``Field.via``)."""
        for selection in node.selections:
            own = _and(conditions, _own_conditions(selection.directives or ()))
            self._spend(_size(own))
            if not own:
                continue
            if isinstance(selection, FieldNode):
                self._add_field(concrete, selection, own, merged, pending, internal, scope)
            elif isinstance(selection, InlineFragmentNode):
                condition = (
                    selection.type_condition.name.value if selection.type_condition else None
                )
                if self.applies(condition, concrete):
                    self._collect(
                        concrete,
                        selection.selection_set,
                        own,
                        merged,
                        pending,
                        visited,
                        internal,
                        collected,
                        condition or scope,
                    )
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in visited or (name, own) in collected:
                    continue
                self._spend()
                collected.add((name, own))
                if self.applies(fragment.type_condition.name.value, concrete):
                    self._collect(
                        concrete,
                        fragment.selection_set,
                        own,
                        merged,
                        pending,
                        visited | {name},
                        internal,
                        collected,
                        fragment.type_condition.name.value,
                    )

    def _add_field(
        self,
        concrete: str,
        node: FieldNode,
        conditions: Conditions,
        merged: dict[str, Field],
        pending: dict[str, dict[int, tuple[SelectionSetNode, Conditions]]],
        internal: bool,
        scope: str,
    ) -> None:
        self._spend()
        name = node.name.value
        key = node.alias.value if node.alias else name
        existing = merged.get(key)
        if existing is None:
            definition = self._field_definition(concrete, name)
            existing = merged[key] = Field(
                response_key=key,
                name=name,
                parent_type=concrete,
                arguments=tuple(node.arguments or ()),
                type=definition.type,
                directives=tuple(
                    d for d in node.directives or () if d.name.value not in ("skip", "include")
                ),
                conditions=conditions,
                internal=internal,
                via=scope,
            )
        else:
            self._spend(_size(existing.conditions) + _size(conditions))
            existing.conditions = either(existing.conditions, conditions)
            if scope == concrete:
                existing.via = concrete  # asked of the type itself too: its own field
        if node.selection_set is not None:
            # one selection set met again (a fragment spread under other conditions) is
            # merged once: merging it twice would add nothing but work
            pending.setdefault(key, {})[id(node.selection_set)] = (node.selection_set, ALWAYS)

    def _field_definition(self, type_name: str, field_name: str) -> GraphQLField:
        if field_name in _META_FIELDS:
            return _META_FIELDS[field_name]
        named = self.schema.get_type(type_name)
        definition = getattr(named, "fields", {}).get(field_name)
        if definition is None:
            raise OperationError(f"{type_name} has no field {field_name}")
        return definition


def _assign_data_keys(selection: SelectionSet) -> None:
    """Data key = response key, unless types disagree about a response key's shape."""
    shapes: dict[str, tuple[str, str, str]] = {}
    counter = 0
    for fields in selection.by_type.values():
        for item in fields:
            if item.is_typename:
                item.data_key = item.response_key
                continue
            first = shapes.setdefault(item.response_key, item.signature)
            if first == item.signature:
                item.data_key = item.response_key
            else:
                counter += 1
                item.data_key = f"__hg{counter}_{item.response_key}"


def normalize(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    budget: int | None = None,
) -> Operation:
    """The operation ``operation_name`` of ``document``, normalised; ``budget`` bounds the
    fields and spreads normalisation may visit (TooManySelections past it)."""
    definition = select_operation(document, operation_name)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    kind = definition.operation.value
    root = {
        "query": schema.query_type,
        "mutation": schema.mutation_type,
        "subscription": schema.subscription_type,
    }[kind]
    if root is None:
        raise OperationError(f"the schema does not support {kind} operations")
    normalizer = Normalizer(schema, fragments, budget)
    selection = normalizer.selection_set(root.name, [(definition.selection_set, ALWAYS)])
    introspection = [
        node
        for node in _root_field_nodes(definition.selection_set, fragments)
        if node.name.value in ("__schema", "__type")
    ]
    fields = selection.by_type[root.name]
    selection.by_type[root.name] = [f for f in fields if f.name not in ("__schema", "__type")]
    return Operation(
        kind=kind,
        name=definition.name.value if definition.name else None,
        root_type=root.name,
        selection=selection,
        definition=definition,
        fragments=fragments,
        introspection=introspection,
    )


def _root_field_nodes(
    node: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> Iterable[FieldNode]:
    for selection in node.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _root_field_nodes(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
            yield from _root_field_nodes(fragments[selection.name.value].selection_set, fragments)


def composite_name(type_: GraphQLOutputType) -> str | None:
    named = get_named_type(type_)
    return (
        named.name
        if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType))
        else None
    )


__all__ = [
    "ALWAYS",
    "Conditions",
    "Field",
    "Normalizer",
    "Operation",
    "OperationError",
    "SelectionSet",
    "TooManySelections",
    "composite_name",
    "conditions_hold",
    "either",
    "normalize",
]
