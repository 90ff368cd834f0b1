"""A subgraph as composition sees it: its SDL read into plain records.

Federation directives are recognised whatever the subgraph calls them: ``@link`` imports
may rename them (``{name: "@key", as: "@id"}``) and un-imported ones are spelled
``@federation__key``. A subgraph without a federation ``@link`` is a federation-1
subgraph: its value types and fields are shareable.

As in the reference composers: the fields a ``@key`` selects (at any depth) are
shareable; an ``@external`` field selected by a key declared on a type extension
(``extend type`` or ``@extends``) is an ordinary field of the subgraph (the legacy way of
writing an entity's key); a type-level ``@external`` (federation 2) makes every field of
the type external.

What ``@authenticated`` / ``@requiresScopes`` ask of an element is read into its
``access``; their misuses are found by ``authorization.SubgraphCheck``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from graphql import (
    ConstValueNode,
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumTypeExtensionNode,
    FieldDefinitionNode,
    FieldNode,
    InlineFragmentNode,
    InputObjectTypeDefinitionNode,
    InputObjectTypeExtensionNode,
    InputValueDefinitionNode,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ListValueNode,
    NamedTypeNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    ObjectValueNode,
    ScalarTypeDefinitionNode,
    ScalarTypeExtensionNode,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    SelectionSetNode,
    StringValueNode,
    TypeNode,
    UnionTypeDefinitionNode,
    UnionTypeExtensionNode,
    parse,
)

from gateway.composition.authorization import Access, SubgraphCheck, access_of
from gateway.composition.errors import CompositionError

FEDERATION_DIRECTIVES = {
    "key",
    "external",
    "requires",
    "provides",
    "shareable",
    "override",
    "inaccessible",
    "interfaceObject",
    "extends",
    "tag",
    "composeDirective",
    "authenticated",
    "requiresScopes",
    "policy",
    "context",
    "fromContext",
    "cost",
    "listSize",
}
# Federation-2 only (v2.5+): a federation-1 subgraph's @authenticated is its own directive.
FEDERATION2_ONLY = {"authenticated", "requiresScopes", "policy"}
# What a subgraph library adds for federation, never part of the composed schema.
FEDERATION_TYPES = {
    "_Any",
    "_Entity",
    "_Service",
    "_FieldSet",
    "FieldSet",
    "link__Import",
    "link__Purpose",
}
FEDERATION_FIELDS = {"_entities", "_service"}

KINDS = {
    ObjectTypeDefinitionNode: "object",
    ObjectTypeExtensionNode: "object",
    InterfaceTypeDefinitionNode: "interface",
    InterfaceTypeExtensionNode: "interface",
    UnionTypeDefinitionNode: "union",
    UnionTypeExtensionNode: "union",
    EnumTypeDefinitionNode: "enum",
    EnumTypeExtensionNode: "enum",
    InputObjectTypeDefinitionNode: "input",
    InputObjectTypeExtensionNode: "input",
    ScalarTypeDefinitionNode: "scalar",
    ScalarTypeExtensionNode: "scalar",
}


@dataclass(frozen=True)
class SubgraphSDL:
    name: str
    url: str
    sdl: str


@dataclass
class KeyDirective:
    fields: str
    resolvable: bool = True
    on_extension: bool = False  # declared on an `extend type` node


@dataclass
class SubField:
    name: str
    type: TypeNode
    description: str | None = None
    arguments: dict[str, InputValueDefinitionNode] = field(default_factory=dict)
    default: ConstValueNode | None = None  # input fields
    external: bool = False  # after the rules above (see read_subgraph)
    marked_external: bool = False  # the field itself carries @external
    shareable: bool = False
    inaccessible: bool = False
    requires: str | None = None
    provides: str | None = None
    override_from: str | None = None
    access: Access = field(default_factory=Access)


@dataclass
class SubType:
    name: str
    kind: str
    description: str | None = None
    fields: dict[str, SubField] = field(default_factory=dict)
    keys: list[KeyDirective] = field(default_factory=list)
    interfaces: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    values: dict[str, str | None] = field(default_factory=dict)  # enum value -> description
    inaccessible_values: set[str] = field(default_factory=set)
    shareable: bool = False
    inaccessible: bool = False
    interface_object: bool = False
    extends: bool = False  # carries @extends
    external: bool = False  # carries @external (type level)
    defined: bool = False  # has a definition (not only `extend type` nodes)
    # What @join__type(extension:) says: @extends, or (federation 2) only `extend type`.
    extension: bool = False
    access: Access = field(default_factory=Access)


@dataclass
class Subgraph:
    name: str
    url: str
    federation2: bool
    types: dict[str, SubType]
    roots: dict[str, str]  # "query" -> this subgraph's root type name
    auth_specs: frozenset[str] = frozenset()  # the authorization directives it uses


class _Names:
    """Local directive name -> federation directive name, from the subgraph's @link."""

    def __init__(self, document: DocumentNode) -> None:
        self.local: dict[str, str] = {}
        self.federation2 = False
        self.version: tuple[int, int] | None = None  # of the federation spec it links
        for definition in document.definitions:
            if not isinstance(definition, (SchemaDefinitionNode, SchemaExtensionNode)):
                continue
            for directive in definition.directives or ():
                if directive.name.value != "link":
                    continue
                args = {a.name.value: a.value for a in directive.arguments or ()}
                url = args.get("url")
                if not isinstance(url, StringValueNode) or "/federation/" not in url.value:
                    continue
                self.federation2 = True
                if found := re.search(r"/federation/v(\d+)\.(\d+)", url.value):
                    self.version = (int(found[1]), int(found[2]))
                imports = args.get("import")
                for item in imports.values if isinstance(imports, ListValueNode) else ():
                    if isinstance(item, StringValueNode):
                        name = item.value.lstrip("@")
                        self.local[name] = name
                    elif isinstance(item, ObjectValueNode):
                        values = {
                            f.name.value: getattr(f.value, "value", None) for f in item.fields
                        }
                        name = str(values.get("name", "")).lstrip("@")
                        self.local[str(values.get("as") or name).lstrip("@")] = name
        if not self.federation2:
            for name in FEDERATION_DIRECTIVES - FEDERATION2_ONLY:
                self.local.setdefault(name, name)

    def canonical(self, local: str) -> str | None:
        if local in self.local:
            return self.local[local]
        if local.startswith("federation__"):
            return local[len("federation__") :]
        return None


def _string(directive: DirectiveNode, argument: str) -> str | None:
    for arg in directive.arguments or ():
        if arg.name.value == argument and isinstance(arg.value, StringValueNode):
            return arg.value.value
    return None


def _flag(directive: DirectiveNode, argument: str, default: bool) -> bool:
    for arg in directive.arguments or ():
        if arg.name.value == argument:
            return bool(getattr(arg.value, "value", default))
    return default


def _directives(node: object, names: _Names) -> list[tuple[str, DirectiveNode]]:
    result = []
    for directive in getattr(node, "directives", None) or ():
        canonical = names.canonical(directive.name.value)
        if canonical is not None:
            result.append((canonical, directive))
    return result


def read_subgraph(source: SubgraphSDL) -> tuple[Subgraph | None, list[CompositionError]]:
    """The subgraph's records, or the errors that prevent reading it."""
    try:
        document = parse(source.sdl, no_location=True)
    except Exception as exc:
        return None, [
            CompositionError("INVALID_GRAPHQL", f"the SDL does not parse: {exc}", source.name)
        ]
    names = _Names(document)
    check = SubgraphCheck(document, names, source.name)
    if check.errors:
        return None, check.errors
    types: dict[str, SubType] = {}
    roots = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}
    for definition in document.definitions:
        if isinstance(definition, (SchemaDefinitionNode, SchemaExtensionNode)):
            for operation in definition.operation_types or ():
                roots[operation.operation.value] = operation.type.name.value
            continue
        kind = KINDS.get(type(definition))
        if kind is None:
            continue
        name = definition.name.value  # type: ignore[attr-defined]
        if name in FEDERATION_TYPES or name.startswith(("link__", "federation__", "join__")):
            continue
        record = types.setdefault(name, SubType(name, kind))
        if record.kind != kind:
            return None, [
                CompositionError(
                    "TYPE_KIND_MISMATCH",
                    f"{name} is defined both as {record.kind} and {kind}",
                    source.name,
                    name,
                )
            ]
        description = getattr(definition, "description", None)
        if description is not None and record.description is None:
            record.description = description.value
        is_extension = "Extension" in type(definition).__name__
        record.defined = record.defined or not is_extension
        _read_type(record, definition, names, is_extension)
    for record in types.values():
        record.extension = record.extends or (
            names.federation2 and record.kind == "object" and not record.defined
        )
    _settle_external_and_shareable(types, names.federation2)
    subgraph = Subgraph(
        source.name, source.url, names.federation2, types, roots, frozenset(check.used)
    )
    return subgraph, []


def _read_type(record: SubType, definition: object, names: _Names, is_extension: bool) -> None:
    for directive_name, directive in _directives(definition, names):
        if directive_name == "key":
            record.keys.append(
                KeyDirective(
                    _string(directive, "fields") or "",
                    _flag(directive, "resolvable", True),
                    on_extension=is_extension,
                )
            )
        elif directive_name == "shareable":
            record.shareable = True
        elif directive_name == "inaccessible":
            record.inaccessible = True
        elif directive_name == "interfaceObject":
            record.interface_object = True
        elif directive_name == "extends":
            record.extends = True
        elif directive_name == "external":
            record.external = True
    record.access &= access_of(_directives(definition, names))
    for interface in getattr(definition, "interfaces", None) or ():
        if interface.name.value not in record.interfaces:
            record.interfaces.append(interface.name.value)
    for member in getattr(definition, "types", None) or ():
        if member.name.value not in record.members:
            record.members.append(member.name.value)
    for value in getattr(definition, "values", None) or ():
        record.values[value.name.value] = value.description.value if value.description else None
        if any(n == "inaccessible" for n, _ in _directives(value, names)):
            record.inaccessible_values.add(value.name.value)
    for node in getattr(definition, "fields", None) or ():
        if node.name.value in FEDERATION_FIELDS:
            continue
        sub = SubField(
            name=node.name.value,
            type=node.type,
            description=node.description.value if node.description else None,
            default=getattr(node, "default_value", None),
        )
        if isinstance(node, FieldDefinitionNode):
            sub.arguments = {a.name.value: a for a in node.arguments or ()}
        sub.access = access_of(_directives(node, names))
        for directive_name, directive in _directives(node, names):
            if directive_name == "external":
                sub.marked_external = True
            elif directive_name == "shareable":
                sub.shareable = True
            elif directive_name == "inaccessible":
                sub.inaccessible = True
            elif directive_name == "requires":
                sub.requires = _string(directive, "fields")
            elif directive_name == "provides":
                sub.provides = _string(directive, "fields")
            elif directive_name == "override":
                sub.override_from = _string(directive, "from")
        if not names.federation2:
            sub.shareable = True  # federation 1: anything may be resolved by several subgraphs
        record.fields[sub.name] = sub
    if not names.federation2:
        record.shareable = True


def _base_name(type_: TypeNode) -> str:
    while not isinstance(type_, NamedTypeNode):
        type_ = type_.type  # type: ignore[attr-defined]
    return type_.name.value


def key_field_coordinates(
    types: dict[str, SubType], type_name: str, fields: str
) -> list[tuple[str, str]]:
    """(type, field) of every field a key's selection selects in this subgraph, at any depth."""
    try:
        operation = parse("{" + fields + "}", no_location=True).definitions[0]
    except Exception:
        return []
    found: list[tuple[str, str]] = []

    def walk(record: SubType | None, selection: SelectionSetNode) -> None:
        if record is None:
            return
        for node in selection.selections:
            if isinstance(node, InlineFragmentNode):
                condition = node.type_condition.name.value if node.type_condition else record.name
                walk(types.get(condition), node.selection_set)
            elif isinstance(node, FieldNode) and node.name.value in record.fields:
                found.append((record.name, node.name.value))
                if node.selection_set is not None:
                    item = record.fields[node.name.value]
                    walk(types.get(_base_name(item.type)), node.selection_set)

    walk(types.get(type_name), operation.selection_set)  # type: ignore[attr-defined]
    return found


def _settle_external_and_shareable(types: dict[str, SubType], federation2: bool) -> None:
    """Which fields are external and which shareable, once every definition is read.

    * A field a key selects (at any depth) is shareable (objects only; interfaces are
      checked through their implementations).
    * An @external field selected by a key declared on an extension (``extend type`` with
      the @key, or a type with @extends) is not external: the legacy spelling of an
      entity's key in a subgraph that extends it.
    * A type-level @external (federation 2) makes every field of the type external,
      except such key fields marked @external themselves.
    """
    legacy_keys: set[tuple[str, str]] = set()
    for record in types.values():
        for key in record.keys:
            selected = key_field_coordinates(types, record.name, key.fields)
            for type_name, field_name in selected:
                if types[type_name].kind == "object":
                    types[type_name].fields[field_name].shareable = True
            if key.on_extension or record.extends:
                legacy_keys.update(selected)
    for record in types.values():
        type_external = record.external and federation2
        for item in record.fields.values():
            legacy = item.marked_external and (record.name, item.name) in legacy_keys
            item.external = (item.marked_external or type_external) and not legacy
