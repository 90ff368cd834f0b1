"""The supergraph: which subgraph resolves what, read from a composed supergraph SDL.

A supergraph (as written by any standard composer) is a GraphQL schema annotated with
the ``join`` spec: ``@join__graph`` names the subgraphs, ``@join__type`` says which
subgraphs know a type and by which keys, ``@join__field`` which subgraphs resolve a
field (with ``requires`` / ``provides`` / ``external`` / ``override``),
``@join__implements`` and ``@join__unionMember`` how abstract types differ per subgraph.
This module turns those annotations into plain lookups for the planner; nothing here
knows about queries.

``@authenticated`` and ``@requiresScopes`` (the authorization specs) are read into
``Supergraph.requirements`` for the gateway's authorization step.

Directive names follow the schema's ``@link`` imports, so a composer that renamed the
join spec (``@link(url: ".../join/v0.3", as: "j")``) is read correctly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from graphql import (
    ArgumentNode,
    BooleanValueNode,
    DirectiveDefinitionNode,
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumTypeExtensionNode,
    EnumValueNode,
    FieldDefinitionNode,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ListValueNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    OperationDefinitionNode,
    ScalarTypeDefinitionNode,
    SchemaDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    UnionTypeDefinitionNode,
    UnionTypeExtensionNode,
    parse,
)
from graphql.language import Node

from identity.access import Requirement


class SupergraphError(ValueError):
    """The SDL is not a supergraph this gateway can serve; the message says why."""


@dataclass(frozen=True)
class Subgraph:
    name: str  # the name composers were given ("products")
    enum_value: str  # its join__Graph value ("PRODUCTS")
    url: str


@dataclass(frozen=True)
class Key:
    """One ``@key`` of an entity in one subgraph."""

    graph: str
    fields: str
    selection: SelectionSetNode
    resolvable: bool = True


@dataclass
class FieldInGraph:
    """What one subgraph says about one field."""

    graph: str
    external: bool = False
    requires: SelectionSetNode | None = None
    provides: SelectionSetNode | None = None
    type: str | None = None  # the field's type in that subgraph, when it differs
    override_from: str | None = None
    used_overridden: bool = False

    @property
    def resolves(self) -> bool:
        return not self.external and not self.used_overridden


@dataclass
class FieldInfo:
    name: str
    # subgraph name -> what it says; empty means "every subgraph that knows the type"
    graphs: dict[str, FieldInGraph] = field(default_factory=dict)
    # @join__field without a graph: no subgraph resolves it (e.g. an interface object's field)
    unresolvable: bool = False


@dataclass
class TypeInfo:
    name: str
    kind: str  # "object", "interface", "union", "input", "enum", "scalar"
    graphs: set[str] = field(default_factory=set)  # subgraphs that know the type
    keys: list[Key] = field(default_factory=list)
    interface_object_graphs: set[str] = field(default_factory=set)
    fields: dict[str, FieldInfo] = field(default_factory=dict)
    # interface name -> subgraphs in which this type implements it
    implements: dict[str, set[str]] = field(default_factory=dict)
    # union member -> subgraphs in which the union has it
    members: dict[str, set[str]] = field(default_factory=dict)

    def keys_in(self, graph: str) -> list[Key]:
        return [key for key in self.keys if key.graph == graph]

    @property
    def is_entity(self) -> bool:
        return bool(self.keys)


@dataclass(frozen=True)
class SpecNames:
    """The local names of the link-imported specs (composers may rename them)."""

    join: str = "join"
    link: str = "link"
    inaccessible: str = "inaccessible"
    authenticated: str = "authenticated"
    requires_scopes: str = "requiresScopes"
    link_urls: tuple[str, ...] = ()

    def join_directive(self, name: str) -> str:
        return f"{self.join}__{name}"


@dataclass
class Supergraph:
    sdl: str
    document: DocumentNode
    subgraphs: dict[str, Subgraph]
    types: dict[str, TypeInfo]
    query_type: str = "Query"
    mutation_type: str | None = None
    subscription_type: str | None = None
    specs: SpecNames = field(default_factory=lambda: SpecNames())
    # What @authenticated / @requiresScopes ask for, by "Type" and "Type.field"; only
    # protected elements are present.
    requirements: dict[str, Requirement] = field(default_factory=dict)

    # --- lookups the planner asks ------------------------------------------------

    def field_graphs(self, type_name: str, field_name: str) -> dict[str, FieldInGraph]:
        """Subgraph -> what it says about ``type_name.field_name``, for every subgraph that has it."""
        info = self.types[type_name]
        entry = info.fields.get(field_name)
        if entry is None or entry.unresolvable:
            return {}
        if entry.graphs:
            return entry.graphs
        return {graph: FieldInGraph(graph) for graph in sorted(info.graphs)}

    def resolving_graphs(self, type_name: str, field_name: str) -> list[str]:
        """Subgraphs that can resolve the field themselves (not external, not overridden)."""
        return [g for g, f in self.field_graphs(type_name, field_name).items() if f.resolves]

    def possible_types(self, type_name: str, graph: str | None = None) -> list[str]:
        """Concrete object types a value of ``type_name`` can have (in ``graph`` if given)."""
        info = self.types[type_name]
        if info.kind == "object":
            return [type_name] if graph is None or graph in info.graphs else []
        if info.kind == "union":
            return sorted(
                member
                for member, graphs in info.members.items()
                if graph is None or graph in graphs
            )
        if info.kind == "interface":
            return sorted(
                t.name
                for t in self.types.values()
                if t.kind == "object"
                and type_name in t.implements
                and (graph is None or graph in t.implements[type_name])
            )
        return []


# --- loading ---------------------------------------------------------------------------

_TYPE_KINDS: dict[type[Node], str] = {
    ObjectTypeDefinitionNode: "object",
    ObjectTypeExtensionNode: "object",
    InterfaceTypeDefinitionNode: "interface",
    InterfaceTypeExtensionNode: "interface",
    UnionTypeDefinitionNode: "union",
    UnionTypeExtensionNode: "union",
    EnumTypeDefinitionNode: "enum",
    EnumTypeExtensionNode: "enum",
    InputObjectTypeDefinitionNode: "input",
    ScalarTypeDefinitionNode: "scalar",
}


@lru_cache(maxsize=4096)
def parse_field_set(text: str) -> SelectionSetNode:
    """A ``FieldSet`` string (``"id organization { id }"``) as a selection set."""
    try:
        document = parse("{" + text + "}", no_location=True)
    except Exception as exc:
        raise SupergraphError(f"invalid field set {text!r}: {exc}") from None
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    return operation.selection_set


def _arguments(directive: DirectiveNode) -> dict[str, object]:
    values: dict[str, object] = {}
    for argument in directive.arguments or ():
        values[argument.name.value] = _literal(argument)
    return values


def _literal(argument: ArgumentNode) -> object:
    value = argument.value
    if isinstance(value, (StringValueNode, EnumValueNode)):
        return value.value
    if isinstance(value, BooleanValueNode):
        return value.value
    return getattr(value, "value", None)


def _spec_names(document: DocumentNode) -> SpecNames:
    names = {
        "join": "join",
        "link": "link",
        "inaccessible": "inaccessible",
        "authenticated": "authenticated",
        "requiresScopes": "requiresScopes",
    }
    urls = []
    for definition in document.definitions:
        if not isinstance(definition, SchemaDefinitionNode):
            continue
        for directive in definition.directives or ():
            args = _arguments(directive)
            url = args.get("url")
            if not isinstance(url, str):
                continue
            urls.append(url)
            parts = url.rstrip("/").split("/")
            spec = parts[-2] if len(parts) >= 2 and parts[-1].startswith("v") else parts[-1]
            if spec in names:
                alias = args.get("as")
                names[spec] = alias if isinstance(alias, str) else spec
    return SpecNames(
        join=names["join"],
        link=names["link"],
        inaccessible=names["inaccessible"],
        authenticated=names["authenticated"],
        requires_scopes=names["requiresScopes"],
        link_urls=tuple(urls),
    )


def load_supergraph(sdl: str, document: DocumentNode | None = None) -> Supergraph:
    """Read a supergraph SDL (``document``: its AST, when already parsed);
    SupergraphError says what is wrong with it."""
    if document is None:
        try:
            document = parse(sdl, no_location=True)
        except Exception as exc:
            raise SupergraphError(f"the supergraph is not valid GraphQL SDL: {exc}") from None
    names = _spec_names(document)
    if not any("/join/" in url for url in names.link_urls):
        raise SupergraphError(
            "not a supergraph: no @link to the join spec (https://specs.apollo.dev/join/...); "
            "compose the subgraphs first (hubgraph schema compose, or a standard composer)"
        )
    subgraphs = _read_subgraphs(document, names)
    by_enum = {s.enum_value: s.name for s in subgraphs.values()}
    types: dict[str, TypeInfo] = {}
    roots = {"query": "Query", "mutation": None, "subscription": None}
    for definition in document.definitions:
        if isinstance(definition, SchemaDefinitionNode):
            for operation_type in definition.operation_types:
                roots[operation_type.operation.value] = operation_type.type.name.value
            continue
        kind = _TYPE_KINDS.get(type(definition))
        if kind is None:
            continue
        name = definition.name.value  # type: ignore[attr-defined]
        if name.startswith(f"{names.join}__") or name.startswith(f"{names.link}__"):
            continue
        info = types.setdefault(name, TypeInfo(name, kind))
        _read_type(info, definition, names, by_enum)
    if "Mutation" in types and roots["mutation"] is None and not _has_schema_definition(document):
        roots["mutation"] = "Mutation"
    if (
        "Subscription" in types
        and roots["subscription"] is None
        and not _has_schema_definition(document)
    ):
        roots["subscription"] = "Subscription"
    query_type = roots["query"] or "Query"
    if query_type not in types:
        raise SupergraphError(f"the supergraph has no {query_type} type")
    return Supergraph(
        sdl=sdl,
        document=document,
        subgraphs=subgraphs,
        types=types,
        query_type=query_type,
        mutation_type=roots["mutation"],
        subscription_type=roots["subscription"],
        specs=names,
        requirements=_read_requirements(document, names),
    )


def _requirement(node: Node, names: SpecNames) -> Requirement:
    requirement = Requirement()
    for directive in getattr(node, "directives", None) or ():
        name = directive.name.value
        if name == names.authenticated:
            requirement &= Requirement(authenticated=True)
        elif name == names.requires_scopes:
            for argument in directive.arguments or ():
                if argument.name.value == "scopes":
                    requirement &= Requirement.of_scopes(_scope_lists(argument.value))
    return requirement


def _scope_lists(value: object) -> list[list[str]]:
    """``[["a", "b"], ["c"]]`` as lists of strings (a lone string counts as a one-item list,
    as input coercion would make it)."""

    def strings(node: object) -> list[str]:
        if isinstance(node, ListValueNode):
            return [v.value for v in node.values if isinstance(v, StringValueNode)]
        return [node.value] if isinstance(node, StringValueNode) else []

    if isinstance(value, ListValueNode):
        return [strings(item) for item in value.values]
    return [strings(value)]


def _read_requirements(document: DocumentNode, names: SpecNames) -> dict[str, Requirement]:
    """Only supergraphs that link the authorization specs can carry them."""
    if not any("/authenticated/" in url or "/requiresScopes/" in url for url in names.link_urls):
        return {}
    found: dict[str, Requirement] = {}
    for definition in document.definitions:
        name_node = getattr(definition, "name", None)
        if name_node is None or isinstance(definition, DirectiveDefinitionNode):
            continue
        type_name = name_node.value
        own = _requirement(definition, names)
        if not own.is_open:
            found[type_name] = found.get(type_name, Requirement()) & own
        for field_node in getattr(definition, "fields", None) or ():
            if isinstance(field_node, FieldDefinitionNode):
                required = _requirement(field_node, names)
                if not required.is_open:
                    key = f"{type_name}.{field_node.name.value}"
                    found[key] = found.get(key, Requirement()) & required
    return found


def _has_schema_definition(document: DocumentNode) -> bool:
    return any(isinstance(d, SchemaDefinitionNode) for d in document.definitions)


def _read_subgraphs(document: DocumentNode, names: SpecNames) -> dict[str, Subgraph]:
    graph_enum = f"{names.join}__Graph"
    subgraphs: dict[str, Subgraph] = {}
    for definition in document.definitions:
        if (
            not isinstance(definition, EnumTypeDefinitionNode)
            or definition.name.value != graph_enum
        ):
            continue
        for value in definition.values or ():
            for directive in value.directives or ():
                if directive.name.value != names.join_directive("graph"):
                    continue
                args = _arguments(directive)
                name, url = (
                    str(args.get("name") or value.name.value.lower()),
                    str(args.get("url") or ""),
                )
                subgraphs[name] = Subgraph(name=name, enum_value=value.name.value, url=url)
    if not subgraphs:
        raise SupergraphError(
            f"the supergraph names no subgraphs (enum {graph_enum} is missing or empty)"
        )
    return subgraphs


def _directives(node: Node, name: str) -> Iterable[dict[str, object]]:
    for directive in getattr(node, "directives", None) or ():
        if directive.name.value == name:
            yield _arguments(directive)


def _graph(args: dict[str, object], by_enum: dict[str, str]) -> str | None:
    value = args.get("graph")
    if value is None:
        return None
    graph = by_enum.get(str(value))
    if graph is None:
        raise SupergraphError(f"unknown join__Graph value {value!r}")
    return graph


def _read_type(info: TypeInfo, definition: Node, names: SpecNames, by_enum: dict[str, str]) -> None:
    for args in _directives(definition, names.join_directive("type")):
        graph = _graph(args, by_enum)
        if graph is None:
            continue
        info.graphs.add(graph)
        key = args.get("key")
        if isinstance(key, str) and key.strip():
            info.keys.append(
                Key(
                    graph, key, parse_field_set(key), resolvable=args.get("resolvable") is not False
                )
            )
        if args.get("isInterfaceObject") is True:
            info.interface_object_graphs.add(graph)
    for args in _directives(definition, names.join_directive("implements")):
        graph = _graph(args, by_enum)
        interface = str(args.get("interface"))
        if graph:
            info.implements.setdefault(interface, set()).add(graph)
    for args in _directives(definition, names.join_directive("unionMember")):
        graph = _graph(args, by_enum)
        member = str(args.get("member"))
        if graph:
            info.members.setdefault(member, set()).add(graph)
    if isinstance(definition, (UnionTypeDefinitionNode, UnionTypeExtensionNode)):
        for member_type in definition.types or ():
            # Without @join__unionMember (older join versions) a member is in every
            # subgraph that knows both the union and the member; filled in lazily below.
            info.members.setdefault(member_type.name.value, set())
    if isinstance(
        definition,
        (
            ObjectTypeDefinitionNode,
            ObjectTypeExtensionNode,
            InterfaceTypeDefinitionNode,
            InterfaceTypeExtensionNode,
        ),
    ):
        for interface_node in definition.interfaces or ():
            info.implements.setdefault(interface_node.name.value, set())
        for field_node in definition.fields or ():
            entry = info.fields.setdefault(field_node.name.value, FieldInfo(field_node.name.value))
            for args in _directives(field_node, names.join_directive("field")):
                graph = _graph(args, by_enum)
                if graph is None:
                    entry.unresolvable = not entry.graphs
                    continue
                entry.unresolvable = False
                requires, provides = args.get("requires"), args.get("provides")
                entry.graphs[graph] = FieldInGraph(
                    graph=graph,
                    external=args.get("external") is True,
                    requires=parse_field_set(requires)
                    if isinstance(requires, str) and requires.strip()
                    else None,
                    provides=parse_field_set(provides)
                    if isinstance(provides, str) and provides.strip()
                    else None,
                    type=args.get("type") if isinstance(args.get("type"), str) else None,  # type: ignore[arg-type]
                    override_from=args.get("override")
                    if isinstance(args.get("override"), str)
                    else None,  # type: ignore[arg-type]
                    used_overridden=args.get("usedOverridden") is True,
                )


def complete_membership(supergraph: Supergraph) -> None:
    """Fill what older join versions leave implicit: without @join__implements or
    @join__unionMember, a relation holds in every subgraph that knows both types."""
    for info in supergraph.types.values():
        for relations in (info.implements, info.members):
            for other, graphs in relations.items():
                if not graphs and other in supergraph.types:
                    graphs.update(info.graphs & supergraph.types[other].graphs)


def read_supergraph(sdl: str, document: DocumentNode | None = None) -> Supergraph:
    """Load and complete a supergraph (the entry point the gateway uses)."""
    supergraph = load_supergraph(sdl, document)
    complete_membership(supergraph)
    return supergraph


__all__ = [
    "FieldInGraph",
    "FieldInfo",
    "Key",
    "Subgraph",
    "Supergraph",
    "SupergraphError",
    "TypeInfo",
    "parse_field_set",
    "read_supergraph",
]
