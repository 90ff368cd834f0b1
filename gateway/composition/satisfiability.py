"""Satisfiability: every field of the API schema can be fetched on every path to it.

Walks the API schema from its root types (``@inaccessible`` elements left out) alongside
the federated query graph (``gateway.planning.query_graph``). At each position of the
walk the *state* is the set of vertices ``(type, subgraph)`` where the value at that
position can be: at a root, the root type in every subgraph that has it. A field is
taken from any vertex of the state's *closure* — the state plus every vertex reachable
by key edges whose key fields can be given there (by the vertices already reached, the
same object in other subgraphs), by root edges, by interface-object edges, and by the
abstract edges down to the position's own type. A field ``@external`` in a subgraph is
taken there only where a ``@provides`` above gives it; a field with ``@requires`` only
where the required selection can itself be fetched from that vertex (jumps allowed).

A field no vertex of the closure resolves is a ``SATISFIABILITY_ERROR`` naming the
field's coordinate, the subgraphs the walk was in, the path and why no subgraph that
resolves the field could be reached; each field is reported once, on the first path
found. The walk is the reference composer's (``@theguild/federation-composition``):
depth first, fields in schema order, a field not taken twice on one path, and a
position not walked again with a state whose subgraphs include those of a state it was
already walked with. That last rule makes it accept some sets where a deeper path to an
entity would fail (the entity was walked first from a root in the subgraph that
resolves the field): the reference accepts those too, and this check must never
refuse what the reference composes.

Where the rule is unsure it accepts: an ``@external`` field that is part of a key of its
type in that subgraph counts as known when giving a key (federation-1 extensions), an
inline fragment no vertex can be counts as satisfied, and a field of an interface no
subgraph of the state resolves as an interface field is satisfied when every
implementation the state can be resolves it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from graphql import FieldNode, InlineFragmentNode, SelectionSetNode, print_ast

from gateway.composition.errors import CompositionError
from gateway.planning.query_graph import ABSTRACT, ROOT, QueryGraph, build_query_graph
from gateway.supergraph import Supergraph

# What a @provides gives below a field: (type condition or None, field, what it gives below)
Provided = tuple[tuple[str | None, str, "Provided"], ...]
Node = tuple[str, str, Provided | None]  # (type, subgraph, what a @provides gave here)
State = frozenset[Node]

CODE = "SATISFIABILITY_ERROR"


def _provided(selection: SelectionSetNode | None, condition: str | None = None) -> Provided:
    if selection is None:
        return ()
    found: list[tuple[str | None, str, Provided]] = []
    for item in selection.selections:
        if isinstance(item, FieldNode):
            found.append((condition, item.name.value, _provided(item.selection_set)))
        elif isinstance(item, InlineFragmentNode):
            inner = item.type_condition.name.value if item.type_condition else condition
            found += _provided(item.selection_set, inner)
    return tuple(found)


@dataclass
class _Failure:
    coordinate: str
    path: list[str]
    subgraphs: list[str]


class Satisfiability:
    def __init__(self, supergraph: Supergraph, graph: QueryGraph) -> None:
        self.supergraph = supergraph
        self.graph = graph
        self.types = supergraph.types
        self._closures: dict[tuple[State, str], State] = {}
        self._active: set[tuple[State, str]] = set()
        self._hidden = self._inaccessible()

    # --- the API schema -------------------------------------------------------------

    def _inaccessible(self) -> set[str]:
        """``Type`` and ``Type.field`` coordinates marked @inaccessible."""
        name = self.supergraph.specs.inaccessible
        hidden: set[str] = set()

        def marked(node: object) -> bool:
            return any(d.name.value == name for d in getattr(node, "directives", None) or ())

        for definition in self.supergraph.document.definitions:
            type_name = getattr(getattr(definition, "name", None), "value", None)
            if type_name is None:
                continue
            if marked(definition):
                hidden.add(type_name)
            for node in getattr(definition, "fields", None) or ():
                if marked(node):
                    hidden.add(f"{type_name}.{node.name.value}")
        return hidden

    def api_fields(self, type_name: str) -> list[str]:
        info = self.types.get(type_name)
        if info is None or info.kind not in ("object", "interface"):
            return []
        return [
            f
            for f in info.fields
            if f"{type_name}.{f}" not in self._hidden
            and self.graph.field_types.get(type_name, {}).get(f) not in self._hidden
        ]

    def api_members(self, type_name: str) -> list[str]:
        return [t for t in self.supergraph.possible_types(type_name) if t not in self._hidden]

    def composite(self, type_name: str) -> bool:
        info = self.types.get(type_name)
        return info is not None and info.kind in ("object", "interface", "union")

    # --- moving in the graph -----------------------------------------------------------

    def closure(self, state: State, position: str) -> State:
        """``state`` and every vertex reachable from it without taking a field."""
        memo = (state, position)
        if memo in self._closures:
            return self._closures[memo]
        if memo in self._active:  # a condition needing itself: no jump from here
            return state
        self._active.add(memo)
        nodes = dict.fromkeys(state)
        seen = {(t, g) for t, g, _ in state}
        changed = True
        while changed:
            changed = False
            for node in list(nodes):
                for edge in self.graph.jumps.get((node[0], node[1]), ()):
                    if edge.head in seen:
                        continue
                    if edge.kind == ABSTRACT and edge.head[0] != position:
                        continue
                    if (
                        edge.kind not in (ROOT, ABSTRACT)
                        and edge.condition is not None
                        and not self.can_select(
                            frozenset(nodes), edge.condition, node[0], True, closed=True
                        )
                    ):
                        continue
                    seen.add(edge.head)
                    nodes[(edge.head[0], edge.head[1], None)] = None
                    changed = True
        self._active.discard(memo)
        result = frozenset(nodes)
        self._closures[memo] = result
        return result

    def take(self, closed: State, field_name: str, giving_key: bool = False) -> State:
        """The vertices where ``field_name`` leads from the vertices of ``closed``."""
        found: set[Node] = set()
        for type_name, graph, provided in closed:
            edge = self.graph.fields.get((type_name, graph), {}).get(field_name)
            if edge is None:
                continue
            given = self._given(provided, type_name, field_name)
            if edge.external and given is None:
                if not (giving_key and self._key_field(type_name, graph, field_name)):
                    continue
                given = None
            if edge.condition is not None and not self.can_select(
                frozenset({(type_name, graph, None)}), edge.condition, type_name
            ):
                continue
            below = _provided(edge.provides) if edge.provides is not None else given
            found.add((edge.head[0], graph, below))
        return frozenset(found)

    def _given(self, provided: Provided | None, type_name: str, field_name: str) -> Provided | None:
        if not provided:
            return None
        for condition, name, below in provided:
            if name == field_name and self._within(type_name, condition):
                return below
        return None

    def _within(self, type_name: str, condition: str | None) -> bool:
        """Whether an object of ``type_name`` matches a fragment on ``condition``."""
        if condition is None or condition == type_name:
            return True
        return condition in self.types and type_name in self.supergraph.possible_types(condition)

    def _key_field(self, type_name: str, graph: str, field_name: str) -> bool:
        info = self.types.get(type_name)
        return info is not None and any(
            any(
                isinstance(s, FieldNode) and s.name.value == field_name
                for s in k.selection.selections
            )
            for k in info.keys_in(graph)
        )

    def downcast(self, closed: State, member: str) -> State:
        found: set[Node] = set()
        for type_name, graph, provided in closed:
            if type_name == member:
                found.add((type_name, graph, provided))
            elif self.composite(type_name) and member in self.supergraph.possible_types(
                type_name, graph
            ):
                found.add((member, graph, provided))
        return frozenset(found)

    def can_select(
        self,
        state: State,
        selection: SelectionSetNode,
        position: str,
        giving_key: bool = False,
        closed: bool = False,
    ) -> bool:
        """Whether ``selection`` can be fetched from the vertices of ``state`` (``closed``:
        ``state`` is already all that is reachable there)."""
        here = state if closed else self.closure(state, position)
        for item in selection.selections:
            if isinstance(item, FieldNode):
                if item.name.value == "__typename":
                    continue
                reached = self.take(here, item.name.value, giving_key)
                if not reached:
                    return False
                if item.selection_set is not None:
                    below = self.graph.field_types.get(position, {}).get(item.name.value)
                    below = below or next(iter(reached))[0]
                    if not self.can_select(reached, item.selection_set, below, giving_key):
                        return False
            elif isinstance(item, InlineFragmentNode):
                member = item.type_condition.name.value if item.type_condition else position
                narrowed = self.downcast(self.closure(here, member), member)
                if narrowed and not self.can_select(
                    narrowed, item.selection_set, member, giving_key
                ):
                    return False
        return True

    # --- the walk ----------------------------------------------------------------------

    def check(self) -> list[CompositionError]:
        """Depth first, fields in schema order, as the reference composer walks: a position
        is not walked again with a state whose subgraphs include those of a state it was
        already walked with, nor a field again on a path that already took it."""
        failures: dict[str, _Failure] = {}
        walked: dict[str, list[frozenset[tuple[str, bool]]]] = {}
        stack: list[Iterator[tuple[str, State, list[str]]]] = []
        for kind, vertices in self.graph.roots.items():
            root = self.graph.root_types[kind]
            if vertices and root not in self._hidden:
                start = frozenset((t, g, None) for t, g in vertices)
                stack.append(iter([(root, start, [])]))
        while stack:
            step = next(stack[-1], None)
            if step is None:
                stack.pop()
                continue
            position, state, path = step
            combo = frozenset((g, provided is not None) for _, g, provided in state)
            earlier = walked.setdefault(position, [])
            if any(seen <= combo for seen in earlier):
                continue
            earlier.append(combo)
            stack.append(self.moves(position, state, path, failures))
        return [self.error(f) for f in failures.values()]

    def moves(
        self, position: str, state: State, path: list[str], failures: dict[str, _Failure]
    ) -> Iterator[tuple[str, State, list[str]]]:
        """The positions one field (or fragment) below, in schema order; a field no vertex
        can take is recorded in ``failures``."""
        closed = self.closure(state, position)
        info = self.types[position]
        for field_name in self.api_fields(position):
            coordinate = f"{position}.{field_name}"
            if coordinate in path:
                continue
            reached: State | None = self.take(closed, field_name)
            if not reached:
                reached = (
                    self.through_implementations(closed, position, field_name)
                    if info.kind == "interface"
                    else None
                )
            if reached is None:
                if coordinate not in failures:
                    graphs = sorted({g for _, g, _ in closed})
                    failures[coordinate] = _Failure(coordinate, path, graphs)
                continue
            below = self.graph.field_types.get(position, {}).get(field_name, "")
            if reached and self.composite(below):
                yield below, reached, [*path, coordinate]
        if info.kind in ("interface", "union"):
            for member in self.api_members(position):
                fragment = f"... on {member}"
                if fragment in path:
                    continue
                narrowed = self.downcast(self.closure(state, member), member)
                if narrowed:
                    yield member, narrowed, [*path, fragment]

    def through_implementations(
        self, closed: State, position: str, field_name: str
    ) -> State | None:
        """A field of an interface taken, on each implementation the state can be, there
        (None: some implementation cannot; an empty state: the state can be none)."""
        found: set[Node] = set()
        for member in self.supergraph.possible_types(position):
            narrowed = self.downcast(self.closure(closed, member), member)
            if not narrowed:
                continue
            reached = self.take(self.closure(narrowed, member), field_name)
            if not reached:
                return None
            found |= reached
        return frozenset(found)

    # --- errors ------------------------------------------------------------------------

    def error(self, failure: _Failure) -> CompositionError:
        type_name, field_name = failure.coordinate.split(".", 1)
        resolvers = sorted(
            g
            for g, f in self.supergraph.field_graphs(type_name, field_name).items()
            if not f.external and not f.used_overridden
        )
        path = " -> ".join(failure.path) if failure.path else "(a root field)"
        query = _query(failure.path, field_name)
        subgraphs = _listed(failure.subgraphs)
        reasons = [self.why_not(type_name, field_name, g, failure.subgraphs) for g in resolvers]
        if not resolvers:
            reasons = [f'no subgraph resolves "{failure.coordinate}"']
        message = (
            f'field "{failure.coordinate}" cannot be satisfied when queried as {query} '
            f"(path {path}): the query is in {subgraphs} there, none of which can resolve it; "
            + "; ".join(reasons)
            + ". Add a resolvable @key that those subgraphs can give, resolve the field "
            "where the path is, or mark it @inaccessible"
        )
        subgraph = (resolvers or failure.subgraphs or [""])[0] or None
        return CompositionError(CODE, message, subgraph, failure.coordinate)

    def why_not(self, type_name: str, field_name: str, graph: str, sources: list[str]) -> str:
        info = self.types[type_name]
        entry = self.supergraph.field_graphs(type_name, field_name)[graph]
        keys = [k for k in info.keys_in(graph) if k.resolvable]
        if graph in sources and entry.requires is not None:
            return (
                f'subgraph "{graph}" resolves it with @requires({_text(entry.requires)}), '
                "which cannot be fetched from there"
            )
        if not keys:
            return (
                f'subgraph "{graph}" resolves it, but "{type_name}" has no resolvable @key '
                f'in subgraph "{graph}" to jump there'
            )
        shown = ", ".join(f"@key({k.fields})" for k in keys)
        return (
            f'subgraph "{graph}" resolves it, reached by {shown} of "{type_name}", '
            f"whose fields {_listed(sources)} cannot give"
        )


def _text(selection: SelectionSetNode) -> str:
    return " ".join(" ".join(print_ast(s).split()) for s in selection.selections)


def _listed(graphs: list[str]) -> str:
    quoted = ", ".join(f'"{g}"' for g in graphs)
    return f"subgraph {quoted}" if len(graphs) == 1 else f"subgraphs {quoted}"


def _query(path: list[str], field_name: str) -> str:
    """``{ a { b { c } } }`` for the path ``Query.a -> A.b`` and field ``c``."""
    parts = [p.split(".", 1)[1] if "." in p and not p.startswith("...") else p for p in path]
    text = field_name
    for part in reversed(parts):
        text = f"{part} {{ {text} }}"
    return "{ " + text + " }"


def check_satisfiability(
    supergraph: Supergraph, graph: QueryGraph | None = None
) -> list[CompositionError]:
    """The SATISFIABILITY_ERROR of every API field some path cannot fetch (none: it can)."""
    return Satisfiability(supergraph, graph or build_query_graph(supergraph)).check()


__all__ = ["CODE", "Satisfiability", "check_satisfiability"]
