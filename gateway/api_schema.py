"""The API schema: the supergraph as clients see it.

Everything that exists only for composition and planning is removed — the ``link`` and
``join`` machinery, spec directives such as ``@tag`` and ``@inaccessible``, and every
element marked ``@inaccessible``. What remains is what introspection shows and what client
operations are validated against.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DirectiveDefinitionNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumTypeExtensionNode,
    GraphQLSchema,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    SchemaDefinitionNode,
    TypeDefinitionNode,
    UnionTypeDefinitionNode,
    UnionTypeExtensionNode,
    build_ast_schema,
)
from graphql.language import Node

from gateway.supergraph import SpecNames, Supergraph, SupergraphError

# Directives of the federation specs: meaningful to composition and planning, never to clients.
SPEC_DIRECTIVES = {
    "link",
    "inaccessible",
    "tag",
    "authenticated",
    "requiresScopes",
    "policy",
    "cost",
    "listSize",
    "context",
    "fromContext",
    "composeDirective",
}
SPEC_PREFIXES = ("join__", "link__", "federation__", "inaccessible__", "tag__", "connect__")
FEDERATION_TYPES = {"_Any", "_Entity", "_Service", "FieldSet", "_FieldSet", "link__Import"}


class _Filter:
    """What to remove, given the names this supergraph's @link imports use."""

    def __init__(self, specs: SpecNames) -> None:
        self.directives = SPEC_DIRECTIVES | {specs.link, specs.inaccessible}
        self.prefixes = (*SPEC_PREFIXES, f"{specs.join}__", f"{specs.link}__")
        self.inaccessible_name = specs.inaccessible

    def is_spec_name(self, name: str) -> bool:
        return name in self.directives or name.startswith(self.prefixes)

    def inaccessible(self, node: Node) -> bool:
        directives = getattr(node, "directives", None) or ()
        return any(d.name.value == self.inaccessible_name for d in directives)


def _copy(node: Any, **changes: Any) -> Any:
    """A copy of an (immutable) AST node with some attributes replaced."""
    values = {key: getattr(node, key) for key in node.keys if key != "loc"}
    values.update(changes)
    return type(node)(**values)


def _clean(node: Any, spec: _Filter) -> Any:
    """The node without spec directive usages."""
    directives = getattr(node, "directives", None)
    if not directives:
        return node
    kept = tuple(d for d in directives if not spec.is_spec_name(d.name.value))
    return _copy(node, directives=kept)


def _visible_fields(fields: Any, spec: _Filter) -> tuple[Any, ...]:
    result = []
    for field in fields or ():
        if spec.inaccessible(field):
            continue
        if hasattr(field, "arguments"):
            arguments = tuple(
                _clean(a, spec) for a in field.arguments or () if not spec.inaccessible(a)
            )
            field = _copy(field, arguments=arguments)
        result.append(_clean(field, spec))
    return tuple(result)


def api_document(supergraph: Supergraph) -> DocumentNode:
    """The supergraph's AST with federation machinery and inaccessible elements removed."""
    spec = _Filter(supergraph.specs)
    hidden_types = {
        d.name.value
        for d in supergraph.document.definitions
        if isinstance(d, TypeDefinitionNode) and spec.inaccessible(d)
    }
    definitions = []
    for definition in supergraph.document.definitions:
        if isinstance(definition, SchemaDefinitionNode):
            definitions.append(_copy(definition, directives=()))
            continue
        name = definition.name.value  # type: ignore[attr-defined]
        if spec.is_spec_name(name) or name in FEDERATION_TYPES or name in hidden_types:
            continue
        if isinstance(definition, DirectiveDefinitionNode):
            definitions.append(definition)
        elif isinstance(
            definition,
            (
                ObjectTypeDefinitionNode,
                ObjectTypeExtensionNode,
                InterfaceTypeDefinitionNode,
                InterfaceTypeExtensionNode,
            ),
        ):
            interfaces = tuple(
                i for i in definition.interfaces or () if i.name.value not in hidden_types
            )
            fields = _visible_fields(definition.fields, spec)
            definitions.append(
                _clean(_copy(definition, fields=fields, interfaces=interfaces), spec)
            )
        elif isinstance(definition, InputObjectTypeDefinitionNode):
            definitions.append(
                _clean(_copy(definition, fields=_visible_fields(definition.fields, spec)), spec)
            )
        elif isinstance(definition, (EnumTypeDefinitionNode, EnumTypeExtensionNode)):
            values = tuple(
                _clean(v, spec) for v in definition.values or () if not spec.inaccessible(v)
            )
            definitions.append(_clean(_copy(definition, values=values), spec))
        elif isinstance(definition, (UnionTypeDefinitionNode, UnionTypeExtensionNode)):
            members = tuple(t for t in definition.types or () if t.name.value not in hidden_types)
            definitions.append(_clean(_copy(definition, types=members), spec))
        else:
            definitions.append(_clean(definition, spec))
    return DocumentNode(definitions=tuple(definitions))


def build_api_schema(supergraph: Supergraph) -> GraphQLSchema:
    try:
        return build_ast_schema(api_document(supergraph), assume_valid_sdl=True)
    except Exception as exc:
        raise SupergraphError(f"cannot build the API schema from the supergraph: {exc}") from None


__all__ = ["api_document", "build_api_schema"]
