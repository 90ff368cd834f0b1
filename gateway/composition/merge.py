"""Merging subgraphs into a supergraph, by the federation spec's rules.

* Object and interface types: the union of their fields. A field resolved by several
  subgraphs must be ``@shareable`` in each (key fields, nested ones too, are;
  federation-1 subgraphs' fields are), unless ``@override`` moved it. Output types merge
  to the most general one (a union or an interface over a member or implementation, the
  most permissive nullability; each subgraph's own type goes in ``@join__field(type:)``);
  argument and input types to the strictest.
* Unions: the union of members. Enums: the union of values if only returned, the
  intersection if only received, identical if both (but for values @inaccessible
  somewhere). Input types: the intersection of fields (a required field missing anywhere
  is an error).
* ``@override``: the subgraph a field is taken from keeps it only where it still uses it
  (``usedOverridden``: a key field, an interface's field) or where it is @external;
  ``from:`` naming no composed subgraph overrides nothing.
* ``@interfaceObject`` types are interfaces in the supergraph; the fields they add are
  added (unresolvable by any one subgraph) to every implementation.
* Every element marked ``@inaccessible`` anywhere is ``@inaccessible`` in the supergraph.
* ``@authenticated`` / ``@requiresScopes``: every subgraph's requirement holds in the
  supergraph, and interfaces get those of their implementations (see ``authorization``).

The supergraph is printed with ``join`` v0.3 and ``inaccessible`` v0.2, which standard
gateways (ours, Apollo's, Hive's) load, plus ``authenticated`` v0.1 / ``requiresScopes``
v0.1 when a subgraph uses them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    InlineFragmentNode,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    SelectionSetNode,
    TypeNode,
    build_ast_schema,
    parse,
    print_ast,
    validate_schema,
)

from gateway.composition.authorization import (
    Access,
    combined,
    header_definitions,
    header_links,
)
from gateway.composition.errors import CompositionError, CompositionFailed
from gateway.composition.subgraph import SubField, Subgraph, SubgraphSDL, SubType, read_subgraph

ROOTS = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}

SUPERGRAPH_LINKS = [
    '@link(url: "https://specs.apollo.dev/link/v1.0")',
    '@link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION)',
    '@link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY)',
]

SUPERGRAPH_DEFINITIONS = """
directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION

directive @join__enumValue(graph: join__Graph!) repeatable on ENUM_VALUE

directive @join__field(graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, external: Boolean, override: String, usedOverridden: Boolean) repeatable on FIELD_DEFINITION | INPUT_FIELD_DEFINITION

directive @join__graph(name: String!, url: String!) on ENUM_VALUE

directive @join__implements(graph: join__Graph!, interface: String!) repeatable on OBJECT | INTERFACE

directive @join__type(graph: join__Graph!, key: join__FieldSet, extension: Boolean! = false, resolvable: Boolean! = true, isInterfaceObject: Boolean! = false) repeatable on OBJECT | INTERFACE | UNION | ENUM | INPUT_OBJECT | SCALAR

directive @join__unionMember(graph: join__Graph!, member: String!) repeatable on UNION

directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA

scalar join__FieldSet

scalar link__Import

enum link__Purpose {
  SECURITY
  EXECUTION
}
"""


def _header(roots: str, auth_specs: Iterable[str]) -> str:
    """The schema definition and the spec definitions (authorization ones only if used)."""
    links = "".join(f"  {link}\n" for link in SUPERGRAPH_LINKS + header_links(auth_specs))
    return f"schema\n{links}{{\n{roots}}}\n{SUPERGRAPH_DEFINITIONS}{header_definitions(auth_specs)}"


def _enum_value(name: str, taken: set[str]) -> str:
    value = re.sub(r"[^A-Za-z0-9_]", "_", name).upper()
    if not value or value[0].isdigit():
        value = "_" + value
    while value in taken:
        value += "_"
    taken.add(value)
    return value


def _string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _description(text: str | None, indent: str = "") -> str:
    if not text:
        return ""
    return (
        f'{indent}"""\n{indent}{text}\n{indent}"""\n'
        if "\n" in text
        else f"{indent}{_string(text)}\n"
    )


def _base(type_: TypeNode) -> str:
    while not isinstance(type_, NamedTypeNode):
        type_ = type_.type  # type: ignore[attr-defined]
    return type_.name.value


def _shape(type_: TypeNode) -> str:
    """The type without non-null marks: two fields of one shape can merge."""
    return print_ast(type_).replace("!", "")


def _merge_type(types: list[TypeNode], strict: bool) -> TypeNode:
    """Output types merge to the most permissive nullability, input types to the strictest."""
    non_null = [isinstance(t, NonNullTypeNode) for t in types]
    inner = [t.type if isinstance(t, NonNullTypeNode) else t for t in types]
    keep = all(non_null) if not strict else any(non_null)
    first = inner[0]
    merged: TypeNode
    if isinstance(first, ListTypeNode):
        merged = ListTypeNode(
            type=_merge_type([t.type for t in inner if isinstance(t, ListTypeNode)], strict)
        )
    else:
        merged = first
    return NonNullTypeNode(type=merged) if keep else merged  # type: ignore[arg-type]


def _merge_output(types: list[TypeNode], supertypes: dict[str, set[str]]) -> TypeNode | None:
    """The most general of a field's output types in its subgraphs, or None if they are
    not all subtypes of one of them: a type is a subtype of itself, of the unions that
    have it as a member and of the interfaces it implements (in any subgraph), and a
    non-null type of its nullable form. Lists must nest alike."""
    non_null = all(isinstance(t, NonNullTypeNode) for t in types)
    inner = [t.type if isinstance(t, NonNullTypeNode) else t for t in types]
    merged: TypeNode
    if all(isinstance(t, ListTypeNode) for t in inner):
        item = _merge_output([t.type for t in inner], supertypes)  # type: ignore[attr-defined]
        if item is None:
            return None
        merged = ListTypeNode(type=item)
    elif any(isinstance(t, ListTypeNode) for t in inner):
        return None
    else:
        names = list(dict.fromkeys(t.name.value for t in inner))  # type: ignore[attr-defined]
        general = next(
            (
                candidate
                for candidate in names
                if all(n == candidate or candidate in supertypes.get(n, ()) for n in names)
            ),
            None,
        )
        if general is None:
            return None
        merged = next(t for t in inner if t.name.value == general)  # type: ignore[attr-defined]
    return NonNullTypeNode(type=merged) if non_null else merged  # type: ignore[arg-type]


@lru_cache(maxsize=4096)
def _top_level(fields: str) -> list[str]:
    try:
        operation = parse("{" + fields + "}", no_location=True).definitions[0]
    except Exception:
        return []
    return [s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)]  # type: ignore[attr-defined]


@dataclass
class _Type:
    name: str
    kind: str
    graphs: dict[str, SubType] = field(default_factory=dict)


class Composer:
    def __init__(self, subgraphs: list[Subgraph]) -> None:
        self.subgraphs = subgraphs
        self.federation2 = {s.name: s.federation2 for s in subgraphs}
        self.errors: list[CompositionError] = []
        self.types: dict[str, _Type] = {}
        self.input_usage: set[str] = set()
        self.output_usage: set[str] = set()
        self._supertypes: dict[str, set[str]] | None = None

    def error(self, code: str, message: str, subgraph: str | None, coordinate: str | None) -> None:
        self.errors.append(CompositionError(code, message, subgraph, coordinate))

    # -- collecting ------------------------------------------------------------------

    def collect(self) -> None:
        for subgraph in self.subgraphs:
            renames = {local: ROOTS[op] for op, local in subgraph.roots.items()}
            for sub in subgraph.types.values():
                name = renames.get(sub.name, sub.name)
                if name in ROOTS.values() and not sub.fields and sub.kind == "object":
                    continue  # an empty root type (only federation fields): nothing to add
                kind = "interface" if sub.interface_object else sub.kind
                merged = self.types.setdefault(name, _Type(name, kind))
                if merged.kind != kind:
                    self.error(
                        "TYPE_KIND_MISMATCH",
                        f'type "{name}" is {_a(kind)} in subgraph "{subgraph.name}" but {_a(merged.kind)} in '
                        f"{_graph_list(merged.graphs)}; give it one kind everywhere",
                        subgraph.name,
                        name,
                    )
                    continue
                merged.graphs[subgraph.name] = sub
                for item in sub.fields.values():
                    usage = self.input_usage if sub.kind == "input" else self.output_usage
                    usage.add(_base(item.type))
                    for argument in item.arguments.values():
                        self.input_usage.add(_base(argument.type))
            # every subgraph answers queries (if only _service / _entities)
            self.types.setdefault("Query", _Type("Query", "object")).graphs.setdefault(
                subgraph.name, SubType("Query", "object")
            )

    # -- validation ----------------------------------------------------------------------

    def validate(self) -> None:
        self.check_implementations()
        for merged in self.types.values():
            if merged.kind in ("object", "interface"):
                self.check_interface_object(merged)
                for name in self.field_names(merged):
                    self.check_field(merged, name)
            elif merged.kind == "input":
                self.check_input(merged)
            elif merged.kind == "enum":
                self.check_enum(merged)

    def check_implementations(self) -> None:
        """In each subgraph, an object type has every field of the interfaces it implements there."""
        for subgraph in self.subgraphs:
            for sub in subgraph.types.values():
                for interface_name in sub.interfaces:
                    interface = subgraph.types.get(interface_name)
                    if interface is None:
                        continue
                    for name in interface.fields:
                        if name not in sub.fields:
                            self.error(
                                "INVALID_GRAPHQL",
                                f'interface field "{interface_name}.{name}" is expected, but type "{sub.name}" '
                                f'does not provide it in subgraph "{subgraph.name}"; add the field to {sub.name}',
                                subgraph.name,
                                sub.name,
                            )

    def check_interface_object(self, merged: _Type) -> None:
        for graph, sub in merged.graphs.items():
            if sub.interface_object and not sub.keys:
                self.error(
                    "INTERFACE_OBJECT_USAGE_ERROR",
                    f'type "{merged.name}" is an @interfaceObject in subgraph "{graph}" but has no @key there; '
                    "an @interfaceObject must be an entity: add the interface's @key",
                    graph,
                    merged.name,
                )
            if sub.interface_object and not any(
                s.kind == "interface" and s.keys for g, s in merged.graphs.items() if g != graph
            ):
                self.error(
                    "INTERFACE_OBJECT_USAGE_ERROR",
                    f'type "{merged.name}" is an @interfaceObject in subgraph "{graph}" but no other '
                    "subgraph defines it as an interface with a @key; define the interface (with @key) in its owner",
                    graph,
                    merged.name,
                )

    def field_names(self, merged: _Type) -> list[str]:
        names: dict[str, None] = {}
        for sub in merged.graphs.values():
            names.update(dict.fromkeys(sub.fields))
        return list(names)

    def definitions(self, merged: _Type, name: str) -> dict[str, SubField]:
        return {g: s.fields[name] for g, s in merged.graphs.items() if name in s.fields}

    def check_field(self, merged: _Type, name: str) -> None:
        coordinate = f"{merged.name}.{name}"
        defs = self.definitions(merged, name)
        shapes = {g: _shape(f.type) for g, f in defs.items()}
        if len(set(shapes.values())) > 1 and self.output_type(defs) is None:
            (first_graph, first), *rest = shapes.items()
            other_graph = next(g for g, shape in rest if shape != first)
            self.error(
                "FIELD_TYPE_MISMATCH",
                f'field "{coordinate}" has type "{print_ast(defs[first_graph].type)}" in subgraph "{first_graph}" '
                f'but "{print_ast(defs[other_graph].type)}" in subgraph "{other_graph}"; make them agree',
                other_graph,
                coordinate,
            )
        self.check_arguments(coordinate, defs)
        for graph, item in defs.items():
            if item.override_from == graph:
                self.error(
                    "OVERRIDE_FROM_SELF_ERROR",
                    f'field "{coordinate}" in subgraph "{graph}" overrides itself; name the subgraph it takes over from',
                    graph,
                    coordinate,
                )
            sub = merged.graphs[graph]
            for directive, fields in (("requires", item.requires), ("provides", item.provides)):
                if fields is not None:
                    target = (
                        sub if directive == "requires" else self.type_in(graph, _base(item.type))
                    )
                    self.check_field_set(graph, target, fields, coordinate, directive)
            if (
                item.external
                and not any(not other.external for g, other in defs.items() if g != graph)
                and not self.is_key_field(sub, name)
            ):
                self.error(
                    "EXTERNAL_MISSING_ON_BASE",
                    f'field "{coordinate}" is marked @external in subgraph "{graph}" but no other subgraph '
                    "resolves it; define it (without @external) in the subgraph that owns it",
                    graph,
                    coordinate,
                )
        resolvers = self.resolvers(merged, name, defs)
        # Interfaces resolve nothing themselves; their implementations are checked.
        if merged.kind == "object" and len(resolvers) > 1:
            not_shareable = [
                g for g in resolvers if not self.shareable(merged.graphs[g], defs[g], name)
            ]
            if not_shareable:
                others = [g for g in resolvers if g != not_shareable[0]]
                self.error(
                    "INVALID_FIELD_SHARING",
                    f'non-shareable field "{coordinate}" is resolved from subgraphs {_quoted(resolvers)} and is '
                    f'not @shareable in subgraph "{not_shareable[0]}"; mark it @shareable in every subgraph that '
                    f"resolves it, or resolve it only in {_quoted(others[:1])} (or use @override)",
                    not_shareable[0],
                    coordinate,
                )

    def output_type(self, defs: dict[str, SubField]) -> TypeNode | None:
        """The supergraph type of an object or interface field (None: incompatible)."""
        return _merge_output([f.type for f in defs.values()], self.supertypes())

    def supertypes(self) -> dict[str, set[str]]:
        """Type name -> the unions and interfaces it belongs to, over all subgraphs."""
        if self._supertypes is None:
            found: dict[str, set[str]] = {}
            for merged in self.types.values():
                for sub in merged.graphs.values():
                    for member in sub.members:
                        found.setdefault(member, set()).add(merged.name)
                    for interface in sub.interfaces:
                        found.setdefault(merged.name, set()).add(interface)
            # An interface's own interfaces are the implementations' too.
            changed = True
            while changed:
                changed = False
                for owners in found.values():
                    extra = set().union(*(found.get(o, set()) for o in owners)) - owners
                    if extra:
                        owners |= extra
                        changed = True
            self._supertypes = found
        return self._supertypes

    def check_arguments(self, coordinate: str, defs: dict[str, SubField]) -> None:
        seen: dict[str, tuple[str, str]] = {}
        for graph, item in defs.items():
            for name, argument in item.arguments.items():
                shape = _shape(argument.type)
                first = seen.setdefault(name, (graph, shape))
                if first[1] != shape:
                    self.error(
                        "FIELD_ARGUMENT_TYPE_MISMATCH",
                        f'argument "{coordinate}({name}:)" has type "{first[1]}" in subgraph "{first[0]}" but '
                        f'"{shape}" in subgraph "{graph}"; give it one type everywhere',
                        graph,
                        f"{coordinate}({name}:)",
                    )

    def check_keys(self) -> None:
        for merged in self.types.values():
            for graph, sub in merged.graphs.items():
                for key in sub.keys:
                    self.check_field_set(graph, sub, key.fields, merged.name, "key")

    def resolvers(self, merged: _Type, name: str, defs: dict[str, SubField]) -> list[str]:
        overridden = {f.override_from for f in defs.values() if f.override_from}
        return [g for g, f in defs.items() if not f.external and g not in overridden]

    def shareable(self, sub: SubType, item: SubField, name: str) -> bool:
        return item.shareable or sub.shareable or self.is_key_field(sub, name)

    def is_key_field(self, sub: SubType, name: str) -> bool:
        return any(name in _top_level(k.fields) for k in sub.keys)

    def type_in(self, graph: str, type_name: str) -> SubType | None:
        merged = self.types.get(type_name)
        return merged.graphs.get(graph) if merged else None

    def check_field_set(
        self, graph: str, sub: SubType | None, fields: str, coordinate: str, directive: str
    ) -> None:
        codes = {
            "key": "KEY_INVALID_FIELDS",
            "requires": "REQUIRES_INVALID_FIELDS",
            "provides": "PROVIDES_INVALID_FIELDS",
        }
        try:
            operation = parse("{" + fields + "}", no_location=True).definitions[0]
        except Exception as exc:
            self.error(
                codes[directive],
                f'@{directive}(fields: "{fields}") on "{coordinate}" does not parse: {exc}',
                graph,
                coordinate,
            )
            return
        missing = self.missing_fields(graph, sub, operation.selection_set)  # type: ignore[attr-defined]
        if directive == "requires" and not missing and sub is not None and self.federation2[graph]:
            local = self.local_leaves(graph, sub, operation.selection_set)  # type: ignore[attr-defined]
            if local:
                self.error(
                    "REQUIRES_FIELDS_MISSING_EXTERNAL",
                    f'@requires(fields: "{fields}") on "{coordinate}" in subgraph "{graph}" selects '
                    f"{_quoted(local)}, which {'is' if len(local) == 1 else 'are'} not marked @external "
                    "there; required fields come from other subgraphs: mark them @external",
                    graph,
                    coordinate,
                )
        if missing:
            self.error(
                codes[directive],
                f'@{directive}(fields: "{fields}") on "{coordinate}" in subgraph "{graph}" selects '
                f"{_quoted(missing)}, which {'does' if len(missing) == 1 else 'do'} not exist there; "
                "select fields the type has in this subgraph",
                graph,
                coordinate,
            )

    def local_leaves(
        self,
        graph: str,
        sub: SubType | None,
        selection: SelectionSetNode,
        under_external: bool = False,
    ) -> list[str]:
        """The leaf fields of a @requires selection the subgraph resolves itself.

        A required leaf must be @external unless a field above it is: the fields that
        merely lead to external ones (``comments(limit: 3) { authorId }``) may be local.
        """
        if sub is None:
            return []
        local = []
        for node in selection.selections:
            if isinstance(node, InlineFragmentNode):
                condition = node.type_condition.name.value if node.type_condition else sub.name
                local += self.local_leaves(
                    graph, self.type_in(graph, condition), node.selection_set, under_external
                )
                continue
            if not isinstance(node, FieldNode) or node.name.value not in sub.fields:
                continue
            item = sub.fields[node.name.value]
            if node.selection_set is None:
                if not item.external and not under_external:
                    local.append(f"{sub.name}.{node.name.value}")
                continue
            local += self.local_leaves(
                graph,
                self.type_in(graph, _base(item.type)),
                node.selection_set,
                under_external or item.external,
            )
        return local

    def missing_fields(
        self, graph: str, sub: SubType | None, selection: SelectionSetNode
    ) -> list[str]:
        if sub is None:
            return ["(its type)"]
        missing = []
        for node in selection.selections:
            if isinstance(node, InlineFragmentNode):
                condition = node.type_condition.name.value if node.type_condition else sub.name
                missing += self.missing_fields(
                    graph, self.type_in(graph, condition), node.selection_set
                )
                continue
            if not isinstance(node, FieldNode) or node.name.value == "__typename":
                continue
            item = sub.fields.get(node.name.value)
            if item is None:
                missing.append(f"{sub.name}.{node.name.value}")
            elif node.selection_set is not None:
                missing += self.missing_fields(
                    graph, self.type_in(graph, _base(item.type)), node.selection_set
                )
        return missing

    def check_input(self, merged: _Type) -> None:
        for name in self.field_names(merged):
            defs = self.definitions(merged, name)
            if len(defs) == len(merged.graphs):
                continue
            for graph, item in defs.items():
                if isinstance(item.type, NonNullTypeNode) and item.default is None:
                    absent = [g for g in merged.graphs if g not in defs]
                    self.error(
                        "REQUIRED_INPUT_FIELD_MISSING_IN_SOME_SUBGRAPH",
                        f'input field "{merged.name}.{name}" is required in subgraph "{graph}" but missing in '
                        f"{_quoted(absent)}; add it there or make it optional",
                        absent[0],
                        f"{merged.name}.{name}",
                    )
                    break

    def check_enum(self, merged: _Type) -> None:
        """An enum both received and returned must have the same values everywhere,
        except values @inaccessible somewhere (kept, inaccessible, where defined)."""
        if merged.name not in self.input_usage or merged.name not in self.output_usage:
            return
        hidden = {v for s in merged.graphs.values() for v in s.inaccessible_values}
        values = dict.fromkeys(v for s in merged.graphs.values() for v in s.values)
        for value in values:
            if value in hidden:
                continue
            defined = [g for g, s in merged.graphs.items() if value in s.values]
            absent = [g for g in merged.graphs if g not in defined]
            if absent:
                self.error(
                    "ENUM_VALUE_MISMATCH",
                    f'enum "{merged.name}" is used as an input and an output, so its values must be the '
                    f'same in every subgraph that defines it, but value "{value}" is defined in '
                    f"{_graph_list(defined)} and not in {_quoted(absent)}; add it there, "
                    "remove it, or mark it @inaccessible",
                    defined[0],
                    merged.name,
                )

    # -- authorization -------------------------------------------------------------------

    def resolve_access(self) -> None:
        """What every type and field asks of callers in the supergraph.

        In the reference composer's order: each element ANDs its subgraphs'
        requirements; an object's field then adds those of the same field of an
        interface that has an @interfaceObject (whose fields every implementation
        gets); last, each interface and interface field ANDs those of its
        implementations.
        """
        self.access: dict[str, Access] = {}
        for merged in self.types.values():
            self.access[merged.name] = combined(s.access for s in merged.graphs.values())
            for name in self.field_names(merged):
                defs = self.definitions(merged, name).values()
                self.access[f"{merged.name}.{name}"] = combined(f.access for f in defs)
        own = dict(self.access)  # before anything is passed between types
        for merged in self.objects():
            self.inherit_from_interface_objects(merged, own)
        for interface in self.types.values():
            if interface.kind == "interface":
                self.gather_from_implementations(interface)

    def objects(self) -> list[_Type]:
        return [t for t in self.types.values() if t.kind == "object"]

    def interfaces_of(self, merged: _Type) -> list[str]:
        names: dict[str, None] = {}
        for sub in merged.graphs.values():
            names.update(dict.fromkeys(sub.interfaces))
        return list(names)

    def inherit_from_interface_objects(self, merged: _Type, own: dict[str, Access]) -> None:
        for interface_name in self.interfaces_of(merged):
            interface = self.types.get(interface_name)
            if interface is None or not any(s.interface_object for s in interface.graphs.values()):
                continue
            present = set(self.field_names(merged))
            for name in self.field_names(interface):
                if name in present:
                    key = f"{merged.name}.{name}"
                    self.access[key] &= own[f"{interface_name}.{name}"]

    def gather_from_implementations(self, interface: _Type) -> None:
        """Reaching an object through an interface asks at least what reaching it does."""
        for implementation in self.objects():
            if interface.name not in self.interfaces_of(implementation):
                continue
            self.access[interface.name] &= self.access[implementation.name]
            present = set(self.field_names(implementation))
            for name in self.field_names(interface):
                if name in present:
                    key = f"{interface.name}.{name}"
                    self.access[key] &= self.access[f"{implementation.name}.{name}"]

    def auth(self, coordinate: str) -> str:
        """The element's printed @authenticated / @requiresScopes (or "")."""
        return self.access.get(coordinate, Access()).printed()

    # -- printing --------------------------------------------------------------------

    def print(self) -> str:
        taken: set[str] = set()
        enum_names = {s.name: _enum_value(s.name, taken) for s in self.subgraphs}
        self.enum_names = enum_names
        roots = "".join(f"  {op}: {name}\n" for op, name in ROOTS.items() if name in self.types)
        auth_specs = {spec for s in self.subgraphs for spec in s.auth_specs}
        out = [_header(roots, auth_specs), "enum join__Graph {"]
        for subgraph in self.subgraphs:
            out.append(
                f"  {enum_names[subgraph.name]} @join__graph(name: {_string(subgraph.name)}, url: {_string(subgraph.url)})"
            )
        out.append("}\n")
        self.add_interface_object_fields()
        for name in sorted(self.types):
            out.append(self.print_type(self.types[name]))
        return "\n".join(out)

    def join_type(self, merged: _Type) -> str:
        parts = []
        for graph, sub in merged.graphs.items():
            g = self.enum_names[graph]
            extras = ", extension: true" if sub.extension else ""
            extras += ", isInterfaceObject: true" if sub.interface_object else ""
            if sub.keys:
                for key in sub.keys:
                    resolvable = "" if key.resolvable else ", resolvable: false"
                    parts.append(
                        f"@join__type(graph: {g}, key: {_string(key.fields)}{extras}{resolvable})"
                    )
            else:
                parts.append(f"@join__type(graph: {g}{extras})")
        return " ".join(parts)

    def print_type(self, merged: _Type) -> str:
        subs = list(merged.graphs.values())
        description = next((s.description for s in subs if s.description), None)
        inaccessible = " @inaccessible" if any(s.inaccessible for s in subs) else ""
        head = _description(description)
        if merged.kind == "scalar":
            return f"{head}scalar {merged.name} {self.join_type(merged)}{inaccessible}{self.auth(merged.name)}\n"
        if merged.kind == "union":
            members: dict[str, list[str]] = {}
            for graph, sub in merged.graphs.items():
                for member in sub.members:
                    members.setdefault(member, []).append(graph)
            joins = " ".join(
                f"@join__unionMember(graph: {self.enum_names[g]}, member: {_string(m)})"
                for m, graphs in members.items()
                for g in graphs
            )
            return f"{head}union {merged.name} {self.join_type(merged)} {joins}{inaccessible} = {' | '.join(members)}\n"
        if merged.kind == "enum":
            return self.print_enum(merged, head, inaccessible)
        keyword = {"object": "type", "interface": "interface", "input": "input"}[merged.kind]
        interfaces: dict[str, list[str]] = {}
        for graph, sub in merged.graphs.items():
            for interface in sub.interfaces:
                interfaces.setdefault(interface, []).append(graph)
        implements = f" implements {' & '.join(interfaces)}" if interfaces else ""
        joins = self.join_type(merged)
        joins += "".join(
            f" @join__implements(graph: {self.enum_names[g]}, interface: {_string(i)})"
            for i, graphs in interfaces.items()
            for g in graphs
        )
        auth = self.auth(merged.name)
        lines = [f"{head}{keyword} {merged.name}{implements} {joins}{inaccessible}{auth} {{"]
        for name in self.field_names(merged):
            line = self.print_field(merged, name)
            if line:
                lines.append(line)
        for name, type_text, access in self.orphans.get(merged.name, []):
            lines.append(f"  {name}: {type_text} @join__field{access.printed()}")
        lines.append("}\n")
        return "\n".join(lines)

    def print_enum(self, merged: _Type, head: str, inaccessible: str) -> str:
        per_value: dict[str, list[str]] = {}
        for graph, sub in merged.graphs.items():
            for value in sub.values:
                per_value.setdefault(value, []).append(graph)
        if merged.name in self.input_usage and merged.name not in self.output_usage:
            per_value = {v: g for v, g in per_value.items() if len(g) == len(merged.graphs)}
        auth = self.auth(merged.name)
        lines = [f"{head}enum {merged.name} {self.join_type(merged)}{inaccessible}{auth} {{"]
        for value, graphs in per_value.items():
            hidden = (
                " @inaccessible"
                if any(value in merged.graphs[g].inaccessible_values for g in graphs)
                else ""
            )
            description = next(
                (merged.graphs[g].values[value] for g in graphs if merged.graphs[g].values[value]),
                None,
            )
            joins = " ".join(f"@join__enumValue(graph: {self.enum_names[g]})" for g in graphs)
            lines.append(f"{_description(description, '  ')}  {value} {joins}{hidden}")
        lines.append("}\n")
        return "\n".join(lines)

    def print_field(self, merged: _Type, name: str) -> str:
        defs = self.definitions(merged, name)
        if merged.kind == "input" and len(defs) != len(merged.graphs):
            return ""  # input types keep the fields every subgraph has
        types = [f.type for f in defs.values()]
        merged_type = (
            _merge_type(types, strict=True)
            if merged.kind == "input"
            else self.output_type(defs) or _merge_type(types, strict=False)
        )
        description = next((f.description for f in defs.values() if f.description), None)
        inaccessible = " @inaccessible" if any(f.inaccessible for f in defs.values()) else ""
        arguments = self.print_arguments(defs)
        default = ""
        first = next(iter(defs.values()))
        if merged.kind == "input" and first.default is not None:
            default = f" = {print_ast(first.default)}"
        joins = self.join_fields(merged, name, defs, print_ast(merged_type))
        auth = self.auth(f"{merged.name}.{name}")
        return f"{_description(description, '  ')}  {name}{arguments}: {print_ast(merged_type)}{default}{joins}{inaccessible}{auth}"

    def print_arguments(self, defs: dict[str, SubField]) -> str:
        names = [
            n
            for n in next(iter(defs.values())).arguments
            if all(n in f.arguments for f in defs.values())
        ]
        if not names:
            return ""
        parts = []
        for n in names:
            nodes = [f.arguments[n] for f in defs.values()]
            type_ = _merge_type([a.type for a in nodes], strict=True)
            default = next((a.default_value for a in nodes if a.default_value is not None), None)
            hidden = (
                " @inaccessible" if any(_has_directive(a, "inaccessible") for a in nodes) else ""
            )
            description = next((a.description.value for a in nodes if a.description), None)
            text = (
                (f"{_string(description)} " if description else "")
                + f"{n}: {print_ast(type_)}"
                + (f" = {print_ast(default)}" if default is not None else "")
                + hidden
            )
            parts.append(text)
        return "(" + ", ".join(parts) + ")"

    def join_fields(
        self, merged: _Type, name: str, defs: dict[str, SubField], supertype: str
    ) -> str:
        overridden = {f.override_from for f in defs.values() if f.override_from}
        entries = []
        special = False
        for graph, item in defs.items():
            if graph in overridden and not item.external:
                # An overridden field is kept only where its subgraph still uses it
                # (a key, an interface's field); an external one is just external.
                if self.used_overridden(merged.graphs[graph], graph, name):
                    entries.append((graph, ", usedOverridden: true"))
                special = True
                continue
            extra = ""
            if item.external:
                extra += ", external: true"
            if item.requires is not None:
                extra += f", requires: {_string(item.requires)}"
            if item.provides is not None:
                extra += f", provides: {_string(item.provides)}"
            if item.override_from and item.override_from in self.enum_names:
                # (@override from a subgraph that is not composed is ignored)
                extra += f", override: {_string(item.override_from)}"
            if print_ast(item.type) != supertype:
                extra += f", type: {_string(print_ast(item.type))}"
            special = special or bool(extra)
            entries.append((graph, extra))
        if (
            not special
            and len(defs) == len(merged.graphs)
            and not any(s.interface_object for s in merged.graphs.values())
        ):
            return ""
        return "".join(f" @join__field(graph: {self.enum_names[g]}{extra})" for g, extra in entries)

    def used_overridden(self, sub: SubType, graph: str, name: str) -> bool:
        """Whether the subgraph a field was overridden from still needs it: as a key
        field or as the field of an interface the type implements there."""
        if self.is_key_field(sub, name):
            return True
        interfaces = (self.type_in(graph, interface) for interface in sub.interfaces)
        return any(interface is not None and name in interface.fields for interface in interfaces)

    def add_interface_object_fields(self) -> None:
        """Fields an @interfaceObject adds to an interface also exist on its
        implementations, resolvable by no single subgraph (a bare ``@join__field``),
        asking what the interface field asks in the subgraphs that define it."""
        self.orphans: dict[str, list[tuple[str, str, Access]]] = {}
        for interface in self.types.values():
            if interface.kind != "interface" or not any(
                s.interface_object for s in interface.graphs.values()
            ):
                continue
            for implementation in self.types.values():
                if implementation.kind != "object" or not any(
                    interface.name in s.interfaces for s in implementation.graphs.values()
                ):
                    continue
                present = set(self.field_names(implementation))
                for name in self.field_names(interface):
                    if name not in present:
                        defs = self.definitions(interface, name)
                        type_text = print_ast(
                            self.output_type(defs)
                            or _merge_type([f.type for f in defs.values()], strict=False)
                        )
                        access = combined(f.access for f in defs.values())
                        self.orphans.setdefault(implementation.name, []).append(
                            (name, type_text, access)
                        )


def _has_directive(node: object, name: str) -> bool:
    return any(d.name.value == name for d in getattr(node, "directives", None) or ())


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _graph_list(graphs: Iterable[str]) -> str:
    names = list(graphs)
    return "subgraph " + _quoted(names) if len(names) == 1 else "subgraphs " + _quoted(names)


def compose_supergraph(sources: list[SubgraphSDL]) -> str:
    return compose_document(sources)[0]


def compose_document(sources: list[SubgraphSDL]) -> tuple[str, DocumentNode]:
    """The supergraph SDL and its parsed AST (to hand to a Gateway without re-parsing)."""
    subgraphs: list[Subgraph] = []
    errors: list[CompositionError] = []
    names = [s.name for s in sources]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        errors.append(
            CompositionError(
                "INVALID_SUBGRAPH_NAME",
                f'two subgraphs are named "{duplicate}"; names must be unique',
                duplicate,
            )
        )
    for source in sources:
        subgraph, problems = read_subgraph(source)
        errors += problems
        if subgraph is not None:
            subgraphs.append(subgraph)
    if errors:
        raise CompositionFailed(errors)
    composer = Composer(sorted(subgraphs, key=lambda s: s.name))
    composer.collect()
    composer.validate()
    composer.check_keys()
    if composer.errors:
        raise CompositionFailed(composer.errors)
    composer.resolve_access()
    sdl = composer.print()
    invalid: list[GraphQLError]
    document = parse(sdl, no_location=True)
    try:
        invalid = list(validate_schema(build_ast_schema(document, assume_valid_sdl=True)))
    except GraphQLError as exc:
        invalid = [exc]
    if invalid:
        raise CompositionFailed(
            [
                CompositionError("INVALID_GRAPHQL", f"the composed schema is invalid: {e.message}")
                for e in invalid
            ]
        )
    from gateway.composition.satisfiability import check_satisfiability
    from gateway.supergraph import read_supergraph

    if unsatisfiable := check_satisfiability(read_supergraph(sdl, document)):
        raise CompositionFailed(unsatisfiable)
    return sdl, document
