"""The query planner: a normalised operation in, a tree of subgraph fetches out.

The planner walks the operation with a "current fetch" (one subgraph request being
built). A field the current subgraph can resolve joins that request; a field it cannot
resolve is an *entity jump*: the current request also selects the entity's key (and any
``@requires`` fields — themselves planned the same way, possibly through other
subgraphs), and a dependent ``_entities`` fetch to a subgraph that resolves the field is
created at the object's path. Rules:

* stay in the current subgraph whenever it can resolve a field (``@shareable``,
  ``@provides``), so no field is fetched twice and no jump is made without need;
* jumps to the same subgraph from the same fetch at the same path share one fetch
  (one ``_entities`` request per subgraph per plan node);
* a key is chosen among the target's resolvable keys, preferring one the current
  subgraph can provide; otherwise its fields are themselves fetched by jumps;
* abstract positions select ``__typename`` and one inline fragment per concrete type
  the subgraph knows there;
* mutation root fields run strictly in order, each one completely before the next.

Fetches form a DAG (a fetch depends on the fetches that write its inputs); it is laid
out as a ``Sequence`` of ``Parallel`` levels for display and execution.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from graphql import (
    ArgumentNode,
    DirectiveNode,
    FieldNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    print_ast,
)

from gateway.operation import (
    ALWAYS,
    Conditions,
    Field,
    Normalizer,
    Operation,
    SelectionSet,
    composite_name,
    either,
)
from gateway.planning.costing import FREE, Cost, Costing, shape
from gateway.planning.nodes import (
    EntityInput,
    Fetch,
    Flatten,
    InputField,
    Parallel,
    PlanNode,
    QueryPlan,
    Sequence,
)
from gateway.supergraph import Key, Supergraph


class PlanningError(ValueError):
    """No plan can answer the operation on this supergraph (the message says which field)."""


def _list_depth(type_: GraphQLOutputType) -> int:
    """How many list levels a field's value has (each is one ``@`` in a path)."""
    depth = 0
    while isinstance(type_, (GraphQLList, GraphQLNonNull)):
        depth += isinstance(type_, GraphQLList)
        type_ = type_.of_type
    return depth


# --- the documents being built -----------------------------------------------------


@dataclass(eq=False)
class FetchField:
    data_key: str
    name: str
    arguments: tuple[ArgumentNode, ...]
    directives: tuple[DirectiveNode, ...]
    sub: FetchSelection | None = None


@dataclass(eq=False)
class FetchSelection:
    """One selection set of a fetch document: fields, ``__typename``, inline fragments."""

    fields: dict[str, FetchField] = field(default_factory=dict)
    fragments: dict[str, FetchSelection] = field(default_factory=dict)
    typename: bool = False
    # response key -> (field, arguments, type in this subgraph), shared with the
    # fragments: one selection set of a document may not give a key two shapes
    shapes: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def fragment(self, type_name: str) -> FetchSelection:
        self.typename = True
        return self.fragments.setdefault(type_name, FetchSelection(shapes=self.shapes))

    def add(self, item: Field, composite: bool, subgraph_type: str) -> FetchField:
        """Add ``item``; if its key already has another shape here, alias it apart
        (the field's data key changes, and the response shaper follows it)."""
        shape = (item.name, item.signature[1], subgraph_type)
        taken = self.shapes.get(item.data_key)
        if taken is not None and taken != shape:
            index = len(self.shapes)
            while f"__hg{index}_{item.response_key}" in self.shapes:
                index += 1
            item.data_key = f"__hg{index}_{item.response_key}"
        self.shapes[item.data_key] = shape
        existing = self.fields.get(item.data_key)
        directives = () if item.internal else item.directives + _condition_directives(item)
        if existing is None:
            existing = self.fields[item.data_key] = FetchField(
                item.data_key, item.name, item.arguments, directives
            )
        elif existing.directives != directives:
            # Needed under different conditions (or unconditionally): fetch it always;
            # the response shaper still applies the client's @skip / @include.
            existing.directives = ()
        if composite and existing.sub is None:
            existing.sub = FetchSelection()
        return existing

    def print(self, out: list[str]) -> None:
        out.append("{")
        if self.typename or not (self.fields or self.fragments):
            out.append(" __typename")
        for item in self.fields.values():
            out.append(" ")
            if item.data_key != item.name:
                out.append(f"{item.data_key}: ")
            out.append(item.name)
            if item.arguments:
                out.append("(" + ", ".join(print_ast(a) for a in item.arguments) + ")")
            for directive in item.directives:
                out.append(" " + print_ast(directive))
            if item.sub is not None:
                out.append(" ")
                item.sub.print(out)
        for type_name, fragment in self.fragments.items():
            out.append(f" ... on {type_name} ")
            fragment.print(out)
        out.append(" }")

    def variables(self) -> Iterable[str]:
        for item in self.fields.values():
            for node in (*item.arguments, *item.directives):
                yield from _variables_in(node)
            if item.sub is not None:
                yield from item.sub.variables()
        for fragment in self.fragments.values():
            yield from fragment.variables()


def _condition_directives(item: Field) -> tuple[DirectiveNode, ...]:
    """The client's own @skip/@include of a field, forwarded when they are simple."""
    if item.conditions == ALWAYS or len(item.conditions) != 1:
        return ()
    nodes = []
    for include, value in item.conditions[0]:
        nodes.append(_directive("include" if include else "skip", value))
    return tuple(nodes)


def _directive(name: str, value: ValueNode) -> DirectiveNode:
    from graphql import NameNode

    return DirectiveNode(
        name=NameNode(value=name), arguments=(ArgumentNode(name=NameNode(value="if"), value=value),)
    )


def _variables_in(node: object) -> Iterable[str]:
    if isinstance(node, VariableNode):
        yield node.name.value
    elif isinstance(node, (ArgumentNode, DirectiveNode)):
        for child in (node.value,) if isinstance(node, ArgumentNode) else node.arguments or ():
            yield from _variables_in(child)
    elif isinstance(node, ListValueNode):
        for value in node.values:
            yield from _variables_in(value)
    elif isinstance(node, ObjectValueNode):
        for object_field in node.fields:
            yield from _variables_in(object_field.value)


@dataclass(eq=False)
class FetchBuilder:
    id: int
    service: str
    kind: str
    path: tuple[str, ...]
    entity: bool
    selection: FetchSelection = field(default_factory=FetchSelection)
    depends: set[FetchBuilder] = field(default_factory=set)
    conditions: Conditions = ()
    # runtime type -> (typename sent, input fields by real name)
    inputs: dict[str, tuple[str, dict[str, InputField]]] = field(default_factory=dict)
    root_keys: list[str] = field(default_factory=list)


# --- provided fields (@provides) ---------------------------------------------------

# field name -> what is provided beneath it; "... on T" -> what is provided for type T
Provided = dict[str, "Provided"]
_ON = "... on "


def _provided_tree(selection: SelectionSetNode) -> Provided:
    tree: Provided = {}
    for node in selection.selections:
        if isinstance(node, FieldNode):
            tree[node.name.value] = _provided_tree(node.selection_set) if node.selection_set else {}
        elif isinstance(node, InlineFragmentNode):
            if node.type_condition is None:
                tree.update(_provided_tree(node.selection_set))
            else:
                tree[_ON + node.type_condition.name.value] = _provided_tree(node.selection_set)
    return tree


# --- the planner -------------------------------------------------------------------


class Planner:
    def __init__(
        self, supergraph: Supergraph, api_schema: GraphQLSchema, supergraph_schema: GraphQLSchema
    ):
        self.supergraph = supergraph
        self.api_schema = api_schema
        self.internal = Normalizer(supergraph_schema, {})
        self._interface_object_owners: dict[tuple[str, str], frozenset[str]] = {}

    def plan(self, operation: Operation) -> QueryPlan:
        return _Build(self, operation).run()

    # -- what the supergraph allows ----------------------------------------------

    def interface_object_owners(self, via: str | None, field_name: str) -> frozenset[str]:
        """For a field selected through the interface ``via``: the ``@interfaceObject``
        subgraphs, when they alone resolve it on the interface. They own it for every
        implementation, over an implementation's own subgraph (which the composer let
        define it too); selected on the implementation itself, the field is its own."""
        if via is None:
            return frozenset()
        key = (via, field_name)
        owners = self._interface_object_owners.get(key)
        if owners is None:
            owners = frozenset()
            info = self.supergraph.types.get(via)
            if info is not None and info.kind == "interface" and info.interface_object_graphs:
                graphs = self.supergraph.field_graphs(via, field_name)
                resolving = {s for s, g in graphs.items() if g.resolves}
                if resolving and resolving <= info.interface_object_graphs:
                    owners = frozenset(resolving)
            self._interface_object_owners[key] = owners
        return owners

    def can_resolve(
        self,
        service: str,
        type_name: str,
        field_name: str,
        provided: Provided | None,
        via: str | None = None,
    ) -> bool:
        """``via``: the type the field was selected through (an interface, or the type)."""
        in_graph = self.supergraph.field_graphs(type_name, field_name).get(service)
        owners = self.interface_object_owners(via, field_name)
        if owners and service not in owners:
            return False
        if in_graph is not None:
            if in_graph.resolves:
                return True
            return bool(in_graph.external and field_name in self.provided_for(provided, type_name))
        # An @interfaceObject in this subgraph resolves the interface's fields for every implementation.
        for interface in self.supergraph.types[type_name].implements:
            info = self.supergraph.types.get(interface)
            if info and service in info.interface_object_graphs:
                graphs = self.supergraph.field_graphs(interface, field_name)
                if service in graphs and graphs[service].resolves:
                    return True
        return False

    def can_provide(
        self, service: str, type_name: str, selection: SelectionSetNode, provided: Provided | None
    ) -> bool:
        for node in selection.selections:
            if isinstance(node, InlineFragmentNode):
                condition = node.type_condition.name.value if node.type_condition else type_name
                if not self.can_provide(service, condition, node.selection_set, provided):
                    return False
                continue
            if not isinstance(node, FieldNode):
                return False
            name = node.name.value
            if name == "__typename":
                continue
            if not self.can_resolve(service, type_name, name, provided):
                return False
            if node.selection_set is not None:
                child = self.field_type_name(type_name, name)
                inner = self.provided_for(provided, type_name).get(name)
                if child is None or not self.can_provide(service, child, node.selection_set, inner):
                    return False
        return True

    def subgraph_type(self, service: str, type_name: str, item: Field) -> str:
        """The field's type as the subgraph declares it (it may be more nullable)."""
        in_graph = self.supergraph.field_graphs(type_name, item.name).get(service)
        return in_graph.type if in_graph is not None and in_graph.type else str(item.type)

    def field_type_name(self, type_name: str, field_name: str) -> str | None:
        named = self.internal.schema.get_type(type_name)
        definition = getattr(named, "fields", {}).get(field_name)
        return composite_name(definition.type) if definition is not None else None

    def provided_for(self, provided: Provided | None, type_name: str) -> Provided:
        """The provided fields that apply to an object of ``type_name`` (type conditions
        on it, or on an interface or union it belongs to, included)."""
        if not provided:
            return {}
        result = {k: v for k, v in provided.items() if not k.startswith(_ON)}
        info = self.supergraph.types.get(type_name)
        for key, below in provided.items():
            if not key.startswith(_ON):
                continue
            condition = key[len(_ON) :]
            applies = condition == type_name or (
                info is not None
                and (
                    condition in info.implements
                    or type_name in self.supergraph.possible_types(condition)
                )
            )
            if applies:
                result.update(self.provided_for(below, type_name))
        return result

    def provided_below(
        self, service: str, type_name: str, field_name: str, provided: Provided | None
    ) -> Provided | None:
        in_graph = self.supergraph.field_graphs(type_name, field_name).get(service)
        below = self.provided_for(provided, type_name).get(field_name)
        if in_graph is not None and in_graph.provides is not None:
            tree = _provided_tree(in_graph.provides)
            return {**(below or {}), **tree}
        return below or None

    def returns_type_in(self, service: str, static_type: str, concrete: str) -> bool:
        """Can ``service`` answer an object of type ``concrete`` where ``static_type`` is expected?"""
        if (
            concrete not in self.supergraph.types
            or service not in self.supergraph.types[concrete].graphs
        ):
            return False
        if static_type == concrete:
            return True
        return concrete in self.supergraph.possible_types(static_type, service)

    def jump_targets(
        self, type_name: str, field_name: str, via: str | None = None
    ) -> list[tuple[str, str]]:
        """(subgraph, entity type to ask it for) pairs that can resolve the field by key."""
        targets = []
        owners = self.interface_object_owners(via, field_name)
        for service in self.supergraph.resolving_graphs(type_name, field_name):
            if owners and service not in owners:
                continue
            if any(k.resolvable for k in self.supergraph.types[type_name].keys_in(service)):
                targets.append((service, type_name))
        for interface in sorted(self.supergraph.types[type_name].implements):
            info = self.supergraph.types.get(interface)
            if info is None:
                continue
            for service in sorted(info.interface_object_graphs):
                graphs = self.supergraph.field_graphs(interface, field_name)
                if (
                    service in graphs
                    and graphs[service].resolves
                    and any(k.resolvable for k in info.keys_in(service))
                ):
                    targets.append((service, interface))
        return targets

    def interface_owner(self, interface: str) -> str | None:
        """A subgraph where the interface is a real interface with a resolvable key."""
        info = self.supergraph.types[interface]
        for service in sorted(info.graphs - info.interface_object_graphs):
            if any(k.resolvable for k in info.keys_in(service)):
                return service
        return None

    def choose_key(
        self, service: str, entity_type: str, source: str, type_name: str, provided: Provided | None
    ) -> Key:
        keys = [k for k in self.supergraph.types[entity_type].keys_in(service) if k.resolvable]
        if not keys:
            raise PlanningError(f"{service} has no resolvable key for {entity_type}")
        for key in keys:
            if self.can_provide(source, type_name, key.selection, provided):
                return key
        return keys[0]

    def requires_of(self, service: str, type_name: str, field_name: str) -> SelectionSetNode | None:
        in_graph = self.supergraph.field_graphs(type_name, field_name).get(service)
        if in_graph is None:  # resolved through an @interfaceObject
            for interface in self.supergraph.types[type_name].implements:
                graphs = (
                    self.supergraph.field_graphs(interface, field_name)
                    if interface in self.supergraph.types
                    else {}
                )
                if service in graphs:
                    return graphs[service].requires
            return None
        return in_graph.requires


class _Build:
    """The state of planning one operation."""

    def __init__(self, planner: Planner, operation: Operation):
        self.planner = planner
        self.supergraph = planner.supergraph
        self.operation = operation
        self.fetches: list[FetchBuilder] = []
        self.entity_fetches: dict[tuple[str, tuple[str, ...], int, int], FetchBuilder] = {}
        self.trail: list[str] = []  # what is being planned, outermost first (for errors)
        self.costing = Costing(planner)
        # the planning states on the way to the current one -> their place in the trail
        self.active: dict[tuple[object, ...], int] = {}
        # (subgraph, id of a selection set of the operation) -> reachable from there
        self._reachable_known: dict[tuple[str, int], tuple[SelectionSet, bool]] = {}
        # (fetch id, path) -> the subgraphs that could have answered the object there
        # (see ``candidates``)
        self.positions: dict[tuple[int, tuple[str, ...]], frozenset[str]] = {}

    def new_fetch(
        self, service: str, kind: str, path: tuple[str, ...], entity: bool
    ) -> FetchBuilder:
        fetch = FetchBuilder(len(self.fetches), service, kind, path, entity)
        self.fetches.append(fetch)
        return fetch

    # -- roots ----------------------------------------------------------------------

    def run(self) -> QueryPlan:
        operation = self.operation
        root = operation.root_type
        fields = [f for f in operation.selection.fields_of(root) if not f.is_typename]
        groups: list[tuple[str, list[Field]]] = []
        for item in fields:
            services = self.supergraph.resolving_graphs(root, item.name)
            if not services:
                raise PlanningError(f"no subgraph resolves {root}.{item.name}")
            if operation.kind == "mutation":
                # consecutive fields of one subgraph share a request; order is kept
                if groups and groups[-1][0] in services:
                    groups[-1][1].append(item)
                else:
                    groups.append((self.best_service(services, root, [item]), [item]))
            else:
                # subgraphs that can answer the whole selection (themselves or by key
                # jumps) first; a subgraph already asked is preferred among them
                able = [s for s in services if self.reaches(s, root, item, None)] or services
                chosen = self.cheapest_root(able, root, item, {g[0] for g in groups})
                for service, part in self.split_root(chosen, services, root, item):
                    existing = next((g for g in groups if g[0] == service), None)
                    if existing is None:
                        groups.append((service, [part]))
                    else:
                        existing[1].append(part)
        previous: list[FetchBuilder] = []
        for service, group in groups:
            fetch = self.new_fetch(
                service, operation.kind if operation.kind != "subscription" else "query", (), False
            )
            fetch.root_keys = [f.response_key for f in group]
            for item in group:
                fetch.conditions = either(fetch.conditions, item.path_conditions)
            start = len(self.fetches) - 1
            if operation.kind == "mutation":
                fetch.depends.update(previous)
            self.plan_fields(fetch, fetch.selection, root, group, (), None, operation.selection)
            if operation.kind == "mutation":
                previous = self.fetches[start:]
        return self.finish()

    def split_root(
        self, chosen: str, services: list[str], root: str, item: Field
    ) -> list[tuple[str, Field]]:
        """A shared root field whose selection ``chosen`` cannot reach (a value type, no
        key to jump through): asked of several subgraphs, each for the fields it answers,
        the answers merged. Otherwise the field as it is, from ``chosen``."""
        selection = item.selection
        if selection is None or len(services) < 2:
            return [(chosen, item)]
        below = self.planner.provided_below(chosen, root, item.name, None)
        if self.reachable(chosen, selection, below):
            return [(chosen, item)]
        order = [chosen, *(s for s in services if s != chosen)]
        parts: dict[str, dict[str, list[Field]]] = {}
        for concrete, children in selection.by_type.items():
            for child in children:
                owner = chosen
                if not child.is_typename:
                    owner = next(
                        (s for s in order if self.answers(s, root, item, concrete, child)), chosen
                    )
                parts.setdefault(owner, {}).setdefault(concrete, []).append(child)
        if len(parts) < 2:
            return [(chosen, item)]
        return [
            (service, replace(item, selection=SelectionSet(selection.parent_type, by_type)))
            for service, by_type in parts.items()
        ]

    def answers(self, service: str, root: str, item: Field, concrete: str, child: Field) -> bool:
        """Can ``service``'s ``root.item`` answer ``child`` of its ``concrete`` value?"""
        provided = self.planner.provided_below(service, root, item.name, None)
        if not self.planner.returns_type_in(service, item.selection.parent_type, concrete):  # type: ignore[union-attr]
            return False
        if not self.planner.can_resolve(service, concrete, child.name, provided, child.via or None):
            return self.supergraph.types[concrete].is_entity
        if child.selection is None:
            return True
        inner = self.planner.provided_below(service, concrete, child.name, provided)
        return self.reachable(service, child.selection, inner)

    def cheapest_root(self, services: list[str], root: str, item: Field, asked: set[str]) -> str:
        """The subgraph to ask a root field of: the one whose way through the query graph
        answers the field's whole selection with fewest fetches, then fewest levels (a
        subgraph already ``asked`` costs no new fetch); ties go to one already asked,
        then to the one that answers most of the selection itself."""
        if len(services) == 1:
            return services[0]
        ranked = {s: i for i, s in enumerate(self.by_coverage(services, root, [item]))}

        def rank(service: str) -> tuple[Cost, bool, int]:
            fetches, levels = self.costing.cost(service, root, [item])
            own = 0 if service in asked else 1
            return (fetches + own, levels), service not in asked, ranked[service]

        return min(services, key=rank)

    def by_coverage(self, services: list[str], type_name: str, fields: list[Field]) -> list[str]:
        """``services``, the one answering most of the selection itself first."""
        return sorted(
            services,
            key=lambda s: (-self.coverage(s, type_name, fields, None), services.index(s)),
        )

    def best_service(self, services: list[str], type_name: str, fields: list[Field]) -> str:
        """Among subgraphs that can all resolve ``fields`` (``@shareable``), the one that
        answers most of what is selected below them, so fewest jumps follow."""
        if len(services) == 1:
            return services[0]
        return self.by_coverage(services, type_name, fields)[0]

    def coverage(
        self, service: str, type_name: str, fields: list[Field], provided: Provided | None
    ) -> int:
        count = 0
        for item in fields:
            if item.is_typename or not self.planner.can_resolve(
                service, type_name, item.name, provided, item.via or None
            ):
                continue
            count += 1
            if item.selection is not None:
                below = self.planner.provided_below(service, type_name, item.name, provided)
                for concrete, children in item.selection.by_type.items():
                    count += self.coverage(service, concrete, children, below)
        return count

    # -- fields -----------------------------------------------------------------------

    def plan_selection(
        self,
        fetch: FetchBuilder,
        target: FetchSelection,
        static_type: str,
        selection: SelectionSet,
        path: tuple[str, ...],
        provided: Provided | None,
    ) -> set[FetchBuilder]:
        writers: set[FetchBuilder] = {fetch}
        info = self.supergraph.types[static_type]
        if fetch.service in info.interface_object_graphs:
            return self.plan_interface_object(fetch, target, static_type, selection, path, provided)
        abstract = info.kind != "object"
        answering = self.positions.get((fetch.id, path), frozenset((fetch.service,)))
        for concrete, fields in selection.by_type.items():
            if not self.planner.returns_type_in(fetch.service, static_type, concrete):
                continue
            if abstract and not all(
                self.planner.returns_type_in(s, static_type, concrete) for s in answering
            ):
                # Several subgraphs could have answered this shared position; only the
                # members all of them have are certain (the others' fields stay null).
                continue
            place = target.fragment(concrete) if abstract else target
            writers |= self.plan_fields(fetch, place, concrete, fields, path, provided, selection)
        if abstract:
            target.typename = True
        return writers

    def plan_interface_object(
        self,
        fetch: FetchBuilder,
        target: FetchSelection,
        interface: str,
        selection: SelectionSet,
        path: tuple[str, ...],
        provided: Provided | None,
    ) -> set[FetchBuilder]:
        """An interface that this subgraph knows only as an ``@interfaceObject``.

        The subgraph answers the interface's own fields on objects typed as the
        interface; it cannot tell Book from Movie. What it cannot answer — the concrete
        type, type-specific fields, fields of the interface's owner — comes from a
        subgraph that owns the interface, through the interface's key; fields of this
        subgraph that ``@requires`` something follow from there.
        """
        writers: set[FetchBuilder] = {fetch}
        target.typename = True
        local: dict[str, Field] = {}
        rest: dict[str, list[Field]] = {}
        needs_requires: dict[str, list[Field]] = {}
        for concrete, fields in selection.by_type.items():
            for item in fields:
                resolvable = not item.is_typename and self.planner.can_resolve(
                    fetch.service, interface, item.name, provided
                )
                if (
                    resolvable
                    and self.planner.requires_of(fetch.service, interface, item.name) is None
                ):
                    local.setdefault(item.data_key, item)
                elif resolvable:
                    needs_requires.setdefault(concrete, []).append(item)
                else:
                    rest.setdefault(concrete, []).append(item)
        if local:
            writers |= self.plan_fields(
                fetch, target, interface, list(local.values()), path, provided, selection
            )
        if not rest and not needs_requires and _uniform(selection):
            return writers  # every implementation selects the same: no concrete type needed
        owner = self.planner.interface_owner(interface)
        if owner is None:
            raise PlanningError(
                f"no subgraph owns the interface {interface} with a resolvable @key"
            )
        key = self.planner.choose_key(owner, interface, fetch.service, interface, provided)
        key_fields = self.planner.internal.selection_set(
            interface, [(key.selection, ALWAYS)], internal=True
        )
        inputs = next(iter(key_fields.by_type.values()), [])
        _internal_data_keys(inputs, selection, interface)
        built = list(_input_fields(inputs, {i.name for i in inputs}))
        key_writers = self.plan_fields(fetch, target, interface, inputs, path, provided, selection)
        resolve = self.entity_fetch(owner, path, fetch, interface, built, _upstream(key_writers))
        resolve.depends |= key_writers
        resolve.inputs.setdefault(interface, (interface, {i.name: i for i in built}))
        resolve.conditions = ALWAYS
        resolve.selection.typename = True
        remaining = SelectionSet(interface, {c: rest.get(c, []) for c in selection.by_type})
        writers.add(resolve)
        writers |= self.plan_selection(resolve, resolve.selection, interface, remaining, path, None)
        for concrete, fields in needs_requires.items():
            place = resolve.selection.fragment(concrete)
            writers |= self.plan_jumps(resolve, place, concrete, fields, path, None, selection)
        return writers

    def plan_fields(
        self,
        fetch: FetchBuilder,
        target: FetchSelection,
        type_name: str,
        fields: list[Field],
        path: tuple[str, ...],
        provided: Provided | None,
        client: SelectionSet | None,
        satisfied: frozenset[str] = frozenset(),
    ) -> set[FetchBuilder]:
        """Place ``fields`` of an object of ``type_name`` in ``fetch``, jumping where needed.

        ``satisfied`` names the fields whose ``@requires`` this fetch's representations
        already carry (the fields an entity fetch was created for).
        """
        # Planning a set of fields may need other fields first (keys, @requires), planned
        # the same way: the same fields of the same subgraph at the same path, needed
        # again while they are being planned, are a cycle — each way to them needs
        # themselves. The states are finite (the operation's and the supergraph's
        # selections), so this bounds the recursion; no depth guard is needed.
        state = (fetch.service, type_name, path, shape(fields), satisfied)
        names = ", ".join(f.name for f in fields if not f.is_typename)
        self.trail.append(f"{type_name} {{ {names} }} from {fetch.service}")
        if state in self.active:
            start = self.active[state]
            raise PlanningError(
                f"cannot plan {type_name} at {'.'.join(p for p in path if p != '@') or 'the root'}: "
                f"each way to it needs itself again ({' -> '.join(self.trail[start:])})"
            )
        self.active[state] = len(self.trail) - 1
        try:
            writers: set[FetchBuilder] = {fetch}
            remote: list[Field] = []
            for item in fields:
                if item.is_typename:
                    continue
                if not self.local(fetch, type_name, item, provided, satisfied):
                    remote.append(item)
                    continue
                stuck = self.stuck_part(fetch.service, type_name, item, provided)
                if stuck is not None:
                    # What this subgraph cannot reach below the field, nor jump to from
                    # there, is asked of another subgraph through this entity's key.
                    item, elsewhere = stuck
                    remote.append(elsewhere)
                child = composite_name(item.type)
                subgraph_type = self.planner.subgraph_type(fetch.service, type_name, item)
                placed = target.add(item, child is not None, subgraph_type)
                if child is not None and item.selection is not None and placed.sub is not None:
                    below = self.planner.provided_below(
                        fetch.service, type_name, item.name, provided
                    )
                    child_path = path + (item.data_key,) + ("@",) * _list_depth(item.type)
                    self.positions[(fetch.id, child_path)] = self.candidates(
                        fetch, type_name, item, path
                    )
                    selection = item.selection
                    own = subgraph_type.strip("[]!")
                    own_info = self.supergraph.types.get(own)
                    if own != child and own_info is not None and own_info.kind == "object":
                        # The subgraph types the field as one member (Book where the
                        # supergraph has a union): its document is written against that
                        # type — fragments on other members would not validate there —
                        # and __typename still tells the gateway which member it is.
                        placed.sub.typename = True
                        child = own
                        selection = SelectionSet(own, {own: selection.by_type.get(own, [])})
                    writers |= self.plan_selection(
                        fetch, placed.sub, child, selection, child_path, below
                    )
            if remote:
                writers |= self.plan_jumps(fetch, target, type_name, remote, path, provided, client)
            return writers
        finally:
            del self.active[state]
            self.trail.pop()

    def local(
        self,
        fetch: FetchBuilder,
        type_name: str,
        item: Field,
        provided: Provided | None,
        satisfied: frozenset[str],
    ) -> bool:
        """Can ``fetch`` itself answer ``item``?"""
        planner = self.planner
        if not planner.can_resolve(fetch.service, type_name, item.name, provided, item.via or None):
            return False
        if (
            item.name not in satisfied
            and planner.requires_of(fetch.service, type_name, item.name) is not None
        ):
            return False  # only _entities with the required fields can answer it
        # A value object this subgraph cannot complete, under an entity: fetch the whole
        # field from a subgraph that can, through the entity's key.
        named = composite_name(item.type)
        incomplete_value = (
            named is not None
            and item.selection is not None
            and not self.supergraph.types[named].is_entity
            and self.supergraph.types[type_name].is_entity
            and not self.reachable(
                fetch.service,
                item.selection,
                planner.provided_below(fetch.service, type_name, item.name, provided),
            )
            and any(
                s != fetch.service
                for s, _ in planner.jump_targets(type_name, item.name, item.via or None)
            )
        )
        return not incomplete_value

    def candidates(
        self, fetch: FetchBuilder, type_name: str, item: Field, path: tuple[str, ...]
    ) -> frozenset[str]:
        """The subgraphs that could answer ``item`` where ``fetch`` answers it: on an
        entity or a root, every subgraph resolving it that the object could be taken to
        (by a key); on a value object, those of the object's own position resolving it."""
        info = self.supergraph.types[type_name]
        via = item.via or None
        resolving = {
            s
            for s in self.supergraph.resolving_graphs(type_name, item.name)
            if self.planner.can_resolve(s, type_name, item.name, None, via)
        }
        if type_name == self.operation.root_type:
            found = resolving
        elif info.is_entity:
            found = {s for s in resolving if any(k.resolvable for k in info.keys_in(s))}
        else:
            found = resolving & self.positions.get((fetch.id, path), frozenset((fetch.service,)))
        return frozenset(found | {fetch.service})

    def stuck_part(
        self, service: str, type_name: str, item: Field, provided: Provided | None
    ) -> tuple[Field, Field] | None:
        """For a composite ``item`` of an entity: when some fields below it can neither be
        resolved by ``service`` nor reached by a key jump from there (a value type, or an
        entity without a key in the subgraph that has the field), and another subgraph
        resolves ``item`` through this entity's key, the field split in two: what stays
        here and what is asked there. None when nothing is stuck."""
        selection = item.selection
        if selection is None or not self.supergraph.types[type_name].is_entity:
            return None
        below = self.planner.provided_below(service, type_name, item.name, provided)
        kept: dict[str, list[Field]] = {}
        moved: dict[str, list[Field]] = {}
        for concrete, children in selection.by_type.items():
            kept[concrete] = []
            if not self.planner.returns_type_in(service, selection.parent_type, concrete):
                kept[concrete] = children  # never one here: planning drops them
                continue
            for child in children:
                if child.is_typename or self.reaches(service, concrete, child, below):
                    kept[concrete].append(child)
                else:
                    moved.setdefault(concrete, []).append(child)
        if not moved or not any(
            s != service
            for s, _ in self.planner.jump_targets(type_name, item.name, item.via or None)
        ):
            return None
        here = replace(item, selection=SelectionSet(selection.parent_type, kept))
        there = replace(item, selection=SelectionSet(selection.parent_type, moved))
        return here, there

    def reaches(self, service: str, type_name: str, item: Field, provided: Provided | None) -> bool:
        """Can ``service`` answer ``item`` of a ``type_name``, itself or by a key jump?"""
        if not self.planner.can_resolve(service, type_name, item.name, provided, item.via or None):
            return self.jumpable(service, type_name, item.name, provided, item.via or None)
        if item.selection is None:
            return True
        below = self.planner.provided_below(service, type_name, item.name, provided)
        return self.reachable(service, item.selection, below)

    def jumpable(
        self,
        service: str,
        type_name: str,
        field_name: str,
        provided: Provided | None,
        via: str | None = None,
    ) -> bool:
        """Can ``service`` hand an object of ``type_name`` to another subgraph that
        resolves the field, with a key ``service`` itself can give?"""
        if not self.supergraph.types[type_name].is_entity:
            return False
        for target, entity in self.planner.jump_targets(type_name, field_name, via):
            if target == service:
                continue
            for key in self.supergraph.types[entity].keys_in(target):
                if key.resolvable and self.planner.can_provide(
                    service, type_name, key.selection, provided
                ):
                    return True
        return False

    def reachable(self, service: str, selection: SelectionSet, provided: Provided | None) -> bool:
        """Whether ``service`` can answer ``selection``, entities below it being jump points."""
        if provided:
            return self._reachable(service, selection, provided)
        # asked again for the same subtree at every level above it: remembered
        key = (service, id(selection))
        known = self._reachable_known.get(key)
        if known is None or known[0] is not selection:  # (kept alive: ids are not reused)
            known = self._reachable_known[key] = (
                selection,
                self._reachable(service, selection, None),
            )
        return known[1]

    def _reachable(self, service: str, selection: SelectionSet, provided: Provided | None) -> bool:
        for concrete, fields in selection.by_type.items():
            if not self.planner.returns_type_in(service, selection.parent_type, concrete):
                continue  # never an object of this type here: nothing to reach
            for item in fields:
                if item.is_typename:
                    continue
                if not self.planner.can_resolve(
                    service, concrete, item.name, provided, item.via or None
                ):
                    if not self.reaches(service, concrete, item, provided):
                        return False
                    continue
                named = composite_name(item.type)
                if (
                    named is not None
                    and item.selection is not None
                    and not self.supergraph.types[named].is_entity
                ):
                    below = self.planner.provided_below(service, concrete, item.name, provided)
                    if not self.reachable(service, item.selection, below):
                        return False
        return True

    def plan_jumps(
        self,
        fetch: FetchBuilder,
        target: FetchSelection,
        type_name: str,
        fields: list[Field],
        path: tuple[str, ...],
        provided: Provided | None,
        client: SelectionSet | None,
    ) -> set[FetchBuilder]:
        groups: dict[tuple[str, str], list[Field]] = {}
        choices: list[tuple[Field, list[tuple[str, str]]]] = []
        for item in fields:
            targets = [
                (service, entity)
                for service, entity in self.planner.jump_targets(
                    type_name, item.name, item.via or None
                )
                # the same subgraph again only for a field that needs its @requires
                if service != fetch.service
                or self.planner.requires_of(service, type_name, item.name) is not None
            ]
            if not targets:
                raise PlanningError(
                    f"cannot resolve {type_name}.{item.name} from subgraph {fetch.service}: "
                    "no other subgraph resolves it through a resolvable @key"
                )
            choices.append((item, targets))
        # A jump some field has no alternative to is made anyway: the others may share it.
        for item, targets in choices:
            if len(targets) == 1:
                groups.setdefault(targets[0], []).append(item)
        for item, targets in choices:
            if len(targets) > 1:
                chosen = self.cheapest_jump(fetch, type_name, item, targets, groups, path, provided)
                groups.setdefault(chosen, []).append(item)
        writers: set[FetchBuilder] = set()
        for (service, entity_type), group in groups.items():
            key = self.planner.choose_key(service, entity_type, fetch.service, type_name, provided)
            # Fields whose requirements clash (the same field with other arguments) go to
            # separate fetches: one representation holds one value per field name.
            for batch in self.requirement_batches(service, type_name, group, key):
                writers.update(
                    self.jump(
                        fetch,
                        target,
                        type_name,
                        service,
                        entity_type,
                        key,
                        batch,
                        path,
                        provided,
                        client,
                    )
                )
        return writers

    def cheapest_jump(
        self,
        fetch: FetchBuilder,
        type_name: str,
        item: Field,
        targets: list[tuple[str, str]],
        groups: dict[tuple[str, str], list[Field]],
        path: tuple[str, ...],
        provided: Provided | None,
    ) -> tuple[str, str]:
        """The key jump to take for ``item``: the one whose way through the query graph
        (its key and @requires gathered first, then the field's selection there) costs
        fewest fetches, then fewest levels; a jump to a subgraph this fetch already jumps
        to at this path shares that fetch. Ties go to a shared jump, then to the subgraph
        answering most of the selection itself."""
        if len(targets) == 1:
            return targets[0]
        services = [t[0] for t in targets]
        ranked = {s: i for i, s in enumerate(self.by_coverage(services, type_name, [item]))}

        def rank(target: tuple[str, str]) -> tuple[Cost, bool, int]:
            service, entity = target
            shared = target in groups or (service, path, fetch.id, 0) in self.entity_fetches
            way = self.costing.jump(fetch.service, type_name, service, entity, item, provided)
            own = FREE if shared else (1, 0)
            return (way[0] + own[0], way[1] + 1), not shared, ranked[service]

        return min(targets, key=rank)

    def requirement_batches(
        self, service: str, type_name: str, group: list[Field], key: Key
    ) -> list[list[Field]]:
        # Fields that need no requirement go first, on their own: a requirement fetched
        # from ``service`` itself (its own field, completed elsewhere) then shares their
        # fetch, and so does what the client selects below them, instead of both being
        # asked again after the requirement (``entity_fetch`` merges the batches whenever
        # the requirement allows).
        free = [i for i in group if self.planner.requires_of(service, type_name, i.name) is None]
        batches: list[tuple[dict[str, str], list[Field]]] = []
        if free and len(free) < len(group):
            batches.append(({}, free))
            group = [i for i in group if i not in free]
        for item in group:
            requires = self.planner.requires_of(service, type_name, item.name)
            wanted = _signatures(requires) if requires is not None else {}
            for signatures, members in batches:
                if signatures and all(
                    signatures.get(name, sig) == sig for name, sig in wanted.items()
                ):
                    signatures.update(wanted)
                    members.append(item)
                    break
            else:
                batches.append((dict(_signatures(key.selection)) | wanted, [item]))
        return [members for _, members in batches]

    def jump(
        self,
        fetch: FetchBuilder,
        target: FetchSelection,
        type_name: str,
        service: str,
        entity_type: str,
        key: Key,
        group: list[Field],
        path: tuple[str, ...],
        provided: Provided | None,
        client: SelectionSet | None,
    ) -> set[FetchBuilder]:
        needs = [(key.selection, True)]
        for item in group:
            requires = self.planner.requires_of(service, type_name, item.name)
            if requires is not None:
                needs.append((requires, False))
        input_fields: list[Field] = []
        key_names: set[str] = set()
        for selection, is_key in needs:
            normalized = self.planner.internal.selection_set(
                type_name, [(selection, ALWAYS)], internal=True
            )
            for item in normalized.fields_of(type_name):
                if is_key:
                    key_names.add(item.name)
                input_fields.append(item)
        _internal_data_keys(input_fields, client, type_name)
        built = list(_input_fields(input_fields, key_names))
        if fetch.entity and path == fetch.path and type_name in fetch.inputs:
            # At the top of an entity fetch, what its own representations carry is in
            # the tree already: not asked again (this subgraph may not even have it).
            carried = fetch.inputs[type_name][1]
            input_fields = [
                f
                for f in input_fields
                if not (
                    f.selection is None
                    and f.name in carried
                    and carried[f.name].data_key == f.data_key
                )
            ]
        # The inputs first: the fetch that needs them is then one that none of their
        # writers waits for (a requirement fetched from the same subgraph at the same
        # path would otherwise be merged into the very fetch that needs it).
        writers = self.plan_fields(fetch, target, type_name, input_fields, path, provided, client)
        carried_only = (
            fetch.entity
            and path == fetch.path
            and type_name in fetch.inputs
            and all(f.is_typename for f in input_fields)
        )
        if carried_only:
            # Everything the jump sends is in the representations ``fetch`` was sent:
            # written by the fetches ``fetch`` waits for, on objects they put there. The
            # jump waits for those, not for ``fetch`` — the two run side by side.
            writers = (writers - {fetch}) | fetch.depends
        jump = self.entity_fetch(
            service, path, fetch, type_name, built, _upstream(writers), not carried_only
        )
        jump.depends |= writers
        _typename, known = jump.inputs.setdefault(type_name, (entity_type, {}))
        for input_field in built:
            known.setdefault(input_field.name, input_field)
        for item in group:
            jump.conditions = either(jump.conditions, item.path_conditions)
        place = jump.selection.fragment(entity_type)
        satisfied = frozenset(item.name for item in group)
        # every fetch writing below the fields, not only the jump: a fetch whose inputs
        # these fields are waits for their whole data
        return self.plan_fields(jump, place, type_name, group, path, None, client, satisfied)

    def entity_fetch(
        self,
        service: str,
        path: tuple[str, ...],
        parent: FetchBuilder,
        type_name: str,
        inputs: list[InputField],
        upstream: frozenset[int] = frozenset(),
        after_parent: bool = True,
    ) -> FetchBuilder:
        """The fetch to ``service`` at ``path`` from ``parent``, shared unless inputs clash
        or it is ``upstream`` of the fetches writing the inputs (it would wait for itself).
        It runs after ``parent`` unless ``after_parent`` is false (and no other use of
        the shared fetch needs it to)."""
        variant = 0
        while True:
            key = (service, path, parent.id, variant)
            fetch = self.entity_fetches.get(key)
            if fetch is None:
                fetch = self.entity_fetches[key] = self.new_fetch(service, "query", path, True)
                if after_parent:
                    fetch.depends.add(parent)
                return fetch
            known = fetch.inputs.get(type_name, ("", {}))[1]
            if fetch.id not in upstream and all(
                known.get(i.name, i).data_key == i.data_key for i in inputs
            ):
                if after_parent:
                    fetch.depends.add(parent)
                return fetch
            variant += 1

    # -- layout ---------------------------------------------------------------------

    def finish(self) -> QueryPlan:
        level: dict[int, int] = {}

        def level_of(fetch: FetchBuilder, seen: frozenset[int]) -> int:
            if fetch.id in level:
                return level[fetch.id]
            if fetch.id in seen:
                raise PlanningError(
                    "the fetches depend on each other in a cycle (@requires bouncing between subgraphs)"
                )
            deps = [level_of(d, seen | {fetch.id}) for d in fetch.depends if d is not fetch]
            level[fetch.id] = 1 + max(deps) if deps else 0
            return level[fetch.id]

        for fetch in self.fetches:
            level_of(fetch, frozenset())
        layers: dict[int, list[PlanNode]] = {}
        for fetch in self.fetches:
            node = self.to_node(fetch)
            layers.setdefault(level[fetch.id], []).append(node)
        steps: list[PlanNode] = []
        for index in sorted(layers):
            nodes = layers[index]
            steps.append(nodes[0] if len(nodes) == 1 else Parallel(nodes))
        root: PlanNode | None = None
        if len(steps) == 1:
            root = steps[0]
        elif steps:
            root = Sequence(steps)
        return QueryPlan(root, len(self.fetches))

    def to_node(self, fetch: FetchBuilder) -> PlanNode:
        operation = self.operation
        name = f"{operation.name or 'Anonymous'}__{fetch.service}__{fetch.id}"
        body: list[str] = []
        fetch.selection.print(body)
        selection_text = "".join(body)
        used = list(dict.fromkeys(fetch.selection.variables()))
        definitions = {
            d.variable.name.value: print_ast(d)
            for d in operation.definition.variable_definitions or ()
        }
        variable_text = ", ".join(definitions[v] for v in used if v in definitions)
        if fetch.entity:
            variables = "$representations: [_Any!]!" + (
                ", " + variable_text if variable_text else ""
            )
            document = (
                f"query {name}({variables}) "
                f"{{ _entities(representations: $representations) {selection_text} }}"
            )
        else:
            signature = f"({variable_text})" if variable_text else ""
            document = f"{fetch.kind} {name}{signature} {selection_text}"
        inputs = tuple(
            EntityInput(runtime, typename, tuple(known.values()))
            for runtime, (typename, known) in fetch.inputs.items()
        )
        node = Fetch(
            id=fetch.id,
            service=fetch.service,
            operation_kind=fetch.kind,
            document=document,
            variable_names=tuple(v for v in used if v in definitions),
            inputs=inputs,
            path=fetch.path,
            conditions=fetch.conditions or ALWAYS,
            root_keys=tuple(fetch.root_keys),
        )
        return Flatten(fetch.path, node) if fetch.entity else node


def _upstream(writers: set[FetchBuilder]) -> frozenset[int]:
    """The ids of ``writers`` and of every fetch they wait for."""
    seen: set[int] = set()
    stack = list(writers)
    while stack:
        fetch = stack.pop()
        if fetch.id not in seen:
            seen.add(fetch.id)
            stack.extend(fetch.depends)
    return frozenset(seen)


def _internal_data_keys(fields: list[Field], client: SelectionSet | None, type_name: str) -> None:
    """Data keys for key and required fields: their own names unless that would collide."""
    taken: dict[str, tuple[str, str, str]] = {}
    client_fields: dict[str, Field] = {}
    if client is not None:
        for items in client.by_type.values():
            for item in items:
                taken.setdefault(item.data_key, item.signature)
        client_fields = {f.data_key: f for f in client.fields_of(type_name)}
    for item in fields:
        key = item.name
        if item.arguments:
            digest = hashlib.sha1(item.signature[1].encode()).hexdigest()[:8]
            key = f"__hg_{item.name}_{digest}"
        if key in taken and taken[key] != item.signature:
            key = f"__hg_{item.name}"
        item.data_key = key
        if item.selection is not None:
            match = client_fields.get(key)
            below = (
                match.selection if match is not None and match.signature == item.signature else None
            )
            for concrete in item.selection.by_type:
                _internal_data_keys(item.selection.by_type[concrete], below, concrete)


def _input_fields(fields: list[Field], key_names: set[str]) -> Iterable[InputField]:
    """Representation fields; those named in ``key_names`` (and everything below them) are
    key fields: a null there means the entity cannot be fetched."""
    for item in fields:
        if item.is_typename:
            continue
        is_key = item.name in key_names
        below: tuple[InputField, ...] = ()
        if item.selection is not None:
            merged: dict[str, InputField] = {}
            for items in item.selection.by_type.values():
                nested_keys = {child.name for child in items} if is_key else set()
                for child in _input_fields(items, nested_keys):
                    merged.setdefault(child.name, child)
            below = tuple(merged.values())
        named = composite_name(item.type)
        abstract = (
            named is not None
            and item.selection is not None
            and (list(item.selection.by_type) != [named])
        )
        yield InputField(item.name, item.data_key, below, is_key, abstract)


def _uniform(selection: SelectionSet) -> bool:
    """Do all concrete types select the same fields (so any of them can shape the object)?"""
    shapes = {
        tuple((f.response_key, f.signature) for f in fields if not f.is_typename)
        for fields in selection.by_type.values()
    }
    asks_typename = any(f.is_typename for fields in selection.by_type.values() for f in fields)
    return len(shapes) <= 1 and not asks_typename


def _signatures(selection: SelectionSetNode) -> dict[str, str]:
    """Top-level field name -> printed arguments, for spotting clashing requirements."""
    result: dict[str, str] = {}
    for node in selection.selections:
        if isinstance(node, FieldNode):
            result[node.name.value] = ",".join(print_ast(a) for a in node.arguments or ())
        elif isinstance(node, InlineFragmentNode):
            result.update(_signatures(node.selection_set))
    return result
