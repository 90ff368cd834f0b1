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
    ScalarTypeDefinitionNode,
    SchemaDefinitionNode,
    UnionTypeDefinitionNode,
    UnionTypeExtensionNode,
    build_ast_schema,
)
from graphql.language import Node

from gateway.supergraph import Supergraph, SupergraphError

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


def _is_spec_name(name: str) -> bool:
    return name in SPEC_DIRECTIVES or name.startswith(SPEC_PREFIXES)


def _inaccessible(node: Node) -> bool:
    return any(d.name.value == "inaccessible" for d in getattr(node, "directives", None) or ())


def _clean(node: Any) -> Any:
    """The node without spec directive usages."""
    directives = getattr(node, "directives", None)
    if not directives:
        return node
    kept = tuple(d for d in directives if not _is_spec_name(d.name.value))
    return _copy(node, directives=kept)


def _copy(node: Any, **changes: Any) -> Any:
    """A copy of an (immutable) AST node with some attributes replaced."""
    values = {key: getattr(node, key) for key in node.keys if key != "loc"}
    values.update(changes)
    return type(node)(**values)


def _visible_fields(fields: Any) -> tuple[Any, ...]:
    result = []
    for field in fields or ():
        if _inaccessible(field):
            continue
        arguments = tuple(
            _clean(a) for a in getattr(field, "arguments", None) or () if not _inaccessible(a)
        )
        if hasattr(field, "arguments"):
            result.append(_clean(_copy(field, arguments=arguments)))
        else:
            result.append(_clean(field))
    return tuple(result)


def api_document(supergraph: Supergraph) -> DocumentNode:
    """The supergraph's AST with federation machinery and inaccessible elements removed."""
    hidden_types = {
        d.name.value
        for d in supergraph.document.definitions
        if hasattr(d, "name") and d.name is not None and _inaccessible(d)
    }
    definitions = []
    for definition in supergraph.document.definitions:
        if isinstance(definition, SchemaDefinitionNode):
            definitions.append(_copy(definition, directives=()))
            continue
        name = definition.name.value  # type: ignore[attr-defined]
        if _is_spec_name(name) or name in FEDERATION_TYPES or name in hidden_types:
            continue
        if isinstance(definition, DirectiveDefinitionNode):
            definitions.append(definition)
            continue
        if isinstance(
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
            definitions.append(
                _clean(
                    _copy(
                        definition, fields=_visible_fields(definition.fields), interfaces=interfaces
                    )
                )
            )
        elif isinstance(definition, InputObjectTypeDefinitionNode):
            definitions.append(_clean(_copy(definition, fields=_visible_fields(definition.fields))))
        elif isinstance(definition, (EnumTypeDefinitionNode, EnumTypeExtensionNode)):
            values = tuple(_clean(v) for v in definition.values or () if not _inaccessible(v))
            definitions.append(_clean(_copy(definition, values=values)))
        elif isinstance(definition, (UnionTypeDefinitionNode, UnionTypeExtensionNode)):
            members = tuple(t for t in definition.types or () if t.name.value not in hidden_types)
            definitions.append(_clean(_copy(definition, types=members)))
        elif isinstance(definition, ScalarTypeDefinitionNode):
            definitions.append(_clean(definition))
        else:
            definitions.append(_clean(definition))
    return DocumentNode(definitions=tuple(definitions))


def build_api_schema(supergraph: Supergraph) -> GraphQLSchema:
    try:
        return build_ast_schema(api_document(supergraph), assume_valid_sdl=True)
    except Exception as exc:
        raise SupergraphError(f"cannot build the API schema from the supergraph: {exc}") from None


__all__ = ["api_document", "build_api_schema"]
