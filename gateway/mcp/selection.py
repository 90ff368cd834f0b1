"""Default selections: what a tool returns when the caller gives no ``fields``."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from graphql import (
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
    is_leaf_type,
)

from gateway.mcp.json_schema import (
    is_required,
)
from gateway.mcp.naming import is_connection

# -- default selections ----------------------------------------------------------------

# The leaf fields that say which object a nested one is; when a type has none, all its
# leaves stand in. A nested object is a reference, not the answer: the agent asks more
# with `fields` (or the object's own tool).
IDENTIFYING_FIELDS = ("id", "key", "slug", "number", "name", "title", "subject", "status")
PAGE_INFO_FIELDS = ("hasNextPage", "endCursor")


def default_selection(
    schema: GraphQLSchema,
    type_: GraphQLOutputType,
    depth: int = 2,
    refused: Refused | None = None,
) -> str | None:
    """A selection set for a field of this type: None for scalars and enums.

    ``depth`` counts object levels, the returned object being level 1: its scalar and
    enum fields, then its nested objects by their identifying fields, ``depth`` levels in
    all. A connection is transparent (its ``nodes`` are the returned objects, with
    ``totalCount`` and ``pageInfo``); a self-reference (a domain's ``parent``) is not
    followed further; a back-reference to an enclosing type is left out, the enclosing
    object being there already.

    ``refused(type, field, definition)`` leaves fields out: the ones the caller may not
    see (another hub's money on an ops ``Service`` for a caller without ``fin:read``), so
    nobody gets FORBIDDEN errors for fields they did not ask for."""
    named = get_named_type(type_)
    if is_leaf_type(named):
        return None
    selector = _Selector(schema, refused or _nothing_refused)
    return selector.selection_set(named, max(depth, 1), (), full=True)


Refused = Callable[[str, str, GraphQLField], bool]


def _nothing_refused(_type: str, _field: str, _definition: GraphQLField) -> bool:
    return False


def _selectable(field_def: GraphQLField) -> bool:
    """Fields a default selection may ask: no required arguments, not deprecated."""
    if field_def.deprecation_reason is not None:
        return False
    return not any(is_required(argument) for argument in field_def.args.values())


_Composite = GraphQLObjectType | GraphQLInterfaceType


def _head(part: str) -> str:
    """The field name a selection starts with: ``author`` of ``author { name }``."""
    return part.split(" ", 1)[0]


def _alias(part: str, type_name: str) -> str:
    name = _head(part)
    return f"{type_name[0].lower()}{type_name[1:]}{name[0].upper()}{name[1:]}: {part}"


class _Selector:
    def __init__(self, schema: GraphQLSchema, refused: Refused) -> None:
        self.schema = schema
        self.refused = refused

    def selectable(self, type_: _Composite, name: str, field_def: GraphQLField) -> bool:
        return _selectable(field_def) and not self.refused(type_.name, name, field_def)

    def leaves(self, type_: _Composite, wanted: Iterable[str] = ()) -> list[str]:
        """The selectable scalar and enum fields, only the ``wanted`` ones when any exist."""
        leaves = [
            name
            for name, field_def in type_.fields.items()
            if is_leaf_type(get_named_type(field_def.type))
            and self.selectable(type_, name, field_def)
        ]
        chosen = [name for name in leaves if name in wanted]
        return chosen or leaves

    def selection_set(
        self,
        type_: GraphQLNamedType,
        levels: int,
        path: tuple[str, ...],
        *,
        full: bool,
        clashing: frozenset[str] = frozenset(),
    ) -> str:
        """``levels``: object levels left, this one included; ``full``: every leaf field
        (the returned objects) rather than the identifying ones (nested objects);
        ``clashing``: fields to alias (see ``members``)."""
        parts = self.selections(type_, levels, path, full=full)
        parts = [_alias(part, type_.name) if _head(part) in clashing else part for part in parts]
        return "{ " + " ".join(parts or ["__typename"]) + " }"

    def selections(
        self, type_: GraphQLNamedType, levels: int, path: tuple[str, ...], *, full: bool
    ) -> list[str]:
        if isinstance(type_, GraphQLUnionType):
            return ["__typename", *self.members(type_, levels, path, full=full)]
        if not isinstance(type_, _Composite):
            return []
        if is_connection(type_):
            return self.connection(type_, levels, path, full=full)
        leaves = self.leaves(type_, () if full else IDENTIFYING_FIELDS)
        if not leaves:
            # An object with no scalar of its own (a money total: its amounts) is a value,
            # not a reference: shown one level further, not as a bare __typename.
            levels = max(levels, 2)
        typename = ["__typename"] if isinstance(type_, GraphQLInterfaceType) else []
        return typename + leaves + self.nested(type_, levels, path)

    def members(
        self, type_: GraphQLUnionType, levels: int, path: tuple[str, ...], *, full: bool
    ) -> list[str]:
        """One inline fragment per member. A field name that members type differently
        (``String`` here, ``String!`` there) cannot be merged into one response key:
        those fields are aliased by member, ``title`` -> ``bookTitle``."""
        members = self.schema.get_possible_types(type_)
        types: dict[str, set[str]] = {}
        for member in members:
            for name, field_def in member.fields.items():
                types.setdefault(name, set()).add(str(field_def.type))
        clashing = frozenset(name for name, seen in types.items() if len(seen) > 1)
        return [
            f"... on {member.name} "
            + self.selection_set(member, levels, path, full=full, clashing=clashing)
            for member in members
        ]

    def nested(self, type_: _Composite, levels: int, path: tuple[str, ...]) -> list[str]:
        if levels <= 1:
            return []
        parts = []
        for name, field_def in type_.fields.items():
            target = get_named_type(field_def.type)
            if is_leaf_type(target) or target.name in path:
                continue
            if not self.selectable(type_, name, field_def):
                continue
            # a self-reference is not followed further: no parent of a parent of ...
            left = 1 if target.name == type_.name else levels - 1
            inner = self.selection_set(target, left, (*path, type_.name), full=False)
            parts.append(f"{name} {inner}")
        return parts

    def connection(
        self, type_: _Composite, levels: int, path: tuple[str, ...], *, full: bool
    ) -> list[str]:
        """Counts, where the next page starts, and the nodes (through ``edges`` only
        when there is no ``nodes``) at the connection's own level."""
        parts = self.leaves(type_)
        page_info = get_named_type(type_.fields["pageInfo"].type)
        if isinstance(page_info, _Composite):
            parts.append("pageInfo { " + " ".join(self.leaves(page_info, PAGE_INFO_FIELDS)) + " }")
        if "nodes" in type_.fields:
            node = get_named_type(type_.fields["nodes"].type)
            parts.append(f"nodes {self.selection_set(node, levels, path, full=full)}")
            return parts
        edge = get_named_type(type_.fields["edges"].type)
        if isinstance(edge, _Composite) and "node" in edge.fields:
            node = get_named_type(edge.fields["node"].type)
            inner = self.selection_set(node, levels, path, full=full)
            parts.append("edges { " + " ".join([*self.leaves(edge), f"node {inner}"]) + " }")
        return parts
