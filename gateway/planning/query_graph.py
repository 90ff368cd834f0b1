"""The federated query graph: where a value of each type can be, and how to move on.

Derived once per supergraph, in one pass over ``Supergraph``, as plain data:

* a **vertex** is a ``(type, subgraph)`` pair: an object of ``type`` as ``subgraph`` sees
  it. The vertices of a root type (``Query@products``, ``Mutation@orders``) are the
  graph's **roots**, one per root type and subgraph that has it;
* a **field edge** ``(T, S) --f--> (U, S)``: ``S`` resolves ``T.f``, whose named type is
  ``U`` there (the subgraph's own type when it differs from the supergraph's). It carries
  the field's ``@requires`` selection as its condition and notes its ``@provides``;
  ``@external`` fields have edges too, flagged, usable only where a ``@provides`` above
  gives them;
* a **key edge** ``(T, S1) --key(k)--> (T, S2)``: ``S2`` resolves ``T`` by its key ``k``;
  the condition is ``k``, which the data at ``(T, S1)`` must be able to give;
* a **root edge** ``(Query, S1) --root--> (Query, S2)``: a new operation to ``S2``;
* an **abstract edge** ``(I, S) --as--> (M, S)``: ``S`` returns ``M`` where it returns the
  interface or union ``I``; and **interface-object edges**
  ``(M, S) --key(k)--> (I, A)`` from an implementation to the interface that ``A``
  declares with ``@interfaceObject`` (through the interface's key ``k`` in ``A``).
  Back from ``(I, A)`` to the implementations goes through ``I``'s key in the subgraph
  that owns the interface (a key edge), then its abstract edges.

``QueryGraph.describe()`` prints one line per edge, e.g.
``Product@reviews --key(id)--> Product@products``; ``hubgraph gateway graph`` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphql import (
    FieldDefinitionNode,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    NamedTypeNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    SelectionSetNode,
    TypeNode,
    print_ast,
)

from gateway.supergraph import Supergraph

Vertex = tuple[str, str]  # (type name, subgraph name)

FIELD, KEY, ROOT, ABSTRACT, INTERFACE_OBJECT = "field", "key", "root", "as", "interface_object"


@dataclass(frozen=True)
class Edge:
    kind: str  # FIELD, KEY, ROOT, ABSTRACT or INTERFACE_OBJECT
    tail: Vertex
    head: Vertex
    field: str | None = None  # field edges: the field's name
    # key edges: the key's fields; field edges: the @requires selection (None if none)
    condition: SelectionSetNode | None = None
    condition_text: str | None = None
    provides: SelectionSetNode | None = None  # field edges: the @provides selection
    provides_text: str | None = None
    external: bool = False  # field edges: @external here (usable only when provided)

    def label(self) -> str:
        if self.kind == FIELD:
            text = str(self.field)
            if self.condition_text:
                text += f" @requires({self.condition_text})"
            if self.provides_text:
                text += f" @provides({self.provides_text})"
            if self.external:
                text += " @external"
            return text
        if self.kind in (KEY, INTERFACE_OBJECT):
            prefix = "key" if self.kind == KEY else "interfaceObject key"
            return f"{prefix}({self.condition_text})"
        return self.kind

    def __str__(self) -> str:
        return f"{_name(self.tail)} --{self.label()}--> {_name(self.head)}"


def _name(vertex: Vertex) -> str:
    return f"{vertex[0]}@{vertex[1]}"


@dataclass
class QueryGraph:
    vertices: set[Vertex] = field(default_factory=set)
    # root kind ("query", "mutation", "subscription") -> its vertices, one per subgraph
    roots: dict[str, list[Vertex]] = field(default_factory=dict)
    root_types: dict[str, str] = field(default_factory=dict)  # root kind -> type name
    # vertex -> field name -> its field edge from there
    fields: dict[Vertex, dict[str, Edge]] = field(default_factory=dict)
    # vertex -> the key, root, abstract and interface-object edges leaving it
    jumps: dict[Vertex, list[Edge]] = field(default_factory=dict)
    # supergraph type -> field -> the named type the supergraph gives it
    field_types: dict[str, dict[str, str]] = field(default_factory=dict)

    def edges(self, vertex: Vertex) -> list[Edge]:
        return [*self.fields.get(vertex, {}).values(), *self.jumps.get(vertex, [])]

    def all_edges(self) -> list[Edge]:
        return [edge for vertex in sorted(self.vertices) for edge in self.edges(vertex)]

    def describe(self, type_name: str | None = None) -> list[str]:
        """One line per vertex and edge (only those leaving or reaching ``type_name``'s
        vertices if given), vertices sorted by type then subgraph."""
        lines = []
        for vertex in sorted(self.vertices):
            edges = self.edges(vertex)
            if type_name is not None:
                edges = [e for e in edges if type_name in (e.tail[0], e.head[0])]
                if vertex[0] != type_name and not edges:
                    continue
            root = next((kind for kind, vs in self.roots.items() if vertex in vs), None)
            lines.append(_name(vertex) + (f"  (root: {root})" if root else ""))
            lines += [f"  {edge}" for edge in edges]
        return lines


def _named(type_node: TypeNode) -> str:
    while not isinstance(type_node, NamedTypeNode):
        type_node = type_node.type  # type: ignore[attr-defined]
    return type_node.name.value


def _named_text(text: str) -> str:
    return text.replace("[", "").replace("]", "").replace("!", "").strip()


def _text(selection: SelectionSetNode) -> str:
    """A selection set as a field set string (``id org { id }``)."""
    return " ".join(" ".join(print_ast(s).split()) for s in selection.selections)


def _field_types(supergraph: Supergraph) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    kinds = (
        ObjectTypeDefinitionNode,
        ObjectTypeExtensionNode,
        InterfaceTypeDefinitionNode,
        InterfaceTypeExtensionNode,
    )
    for definition in supergraph.document.definitions:
        if isinstance(definition, kinds):
            own = found.setdefault(definition.name.value, {})
            for node in definition.fields or ():
                if isinstance(node, FieldDefinitionNode):
                    own[node.name.value] = _named(node.type)
    return found


def build_query_graph(supergraph: Supergraph) -> QueryGraph:
    """The query graph of ``supergraph`` (one pass over its types)."""
    graph = QueryGraph(field_types=_field_types(supergraph))
    types = supergraph.types
    roots = {
        "query": supergraph.query_type,
        "mutation": supergraph.mutation_type,
        "subscription": supergraph.subscription_type,
    }
    root_names = {name for name in roots.values() if name}
    for kind, name in roots.items():
        if name and name in types:
            graph.root_types[kind] = name
            graph.roots[kind] = [(name, g) for g in sorted(types[name].graphs)]
    # implementations per interface, per subgraph: (I, S) -> members
    members: dict[Vertex, set[str]] = {}
    for info in types.values():
        if info.kind == "object":
            for interface, graphs in info.implements.items():
                for g in graphs:
                    members.setdefault((interface, g), set()).add(info.name)
        elif info.kind == "union":
            for member, graphs in info.members.items():
                for g in graphs:
                    members.setdefault((info.name, g), set()).add(member)
    vertices = graph.vertices
    for info in types.values():
        if info.kind not in ("object", "interface", "union"):
            continue
        for g in info.graphs:
            vertices.add((info.name, g))
    for info in types.values():
        if info.kind not in ("object", "interface", "union"):
            continue
        own_types = graph.field_types.get(info.name, {})
        resolvable_keys = [k for k in info.keys if k.resolvable]
        for g in info.graphs:
            tail = (info.name, g)
            if info.kind != "union":
                edges: dict[str, Edge] = {}
                for field_name in info.fields:
                    entry = supergraph.field_graphs(info.name, field_name).get(g)
                    if entry is None or entry.used_overridden:
                        continue
                    target = (
                        _named_text(entry.type) if entry.type else own_types.get(field_name, "")
                    )
                    edges[field_name] = Edge(
                        FIELD,
                        tail,
                        (target, g),
                        field=field_name,
                        condition=entry.requires,
                        condition_text=_text(entry.requires) if entry.requires else None,
                        provides=entry.provides,
                        provides_text=_text(entry.provides) if entry.provides else None,
                        external=entry.external,
                    )
                if edges:
                    graph.fields[tail] = edges
            jumps = [
                Edge(
                    KEY,
                    tail,
                    (info.name, key.graph),
                    condition=key.selection,
                    condition_text=key.fields,
                )
                for key in resolvable_keys
                if key.graph != g
            ]
            if info.name in root_names:
                jumps += [
                    Edge(ROOT, tail, (info.name, other))
                    for other in sorted(types[info.name].graphs)
                    if other != g
                ]
            jumps += [
                Edge(ABSTRACT, tail, (member, g))
                for member in sorted(members.get(tail, ()))
                if (member, g) in vertices
            ]
            if info.kind == "object":
                for interface in info.implements:
                    interface_info = types.get(interface)
                    if interface_info is None:
                        continue
                    for a in sorted(interface_info.interface_object_graphs):
                        jumps += [
                            Edge(
                                INTERFACE_OBJECT,
                                tail,
                                (interface, a),
                                condition=key.selection,
                                condition_text=key.fields,
                            )
                            for key in interface_info.keys_in(a)
                            if key.resolvable and a != g
                        ]
            if jumps:
                graph.jumps[tail] = jumps
    return graph


__all__ = ["Edge", "QueryGraph", "Vertex", "build_query_graph"]
