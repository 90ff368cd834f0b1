"""A tool's default selection as one caller may ask it.

A tool's default selection (``ToolSpec.default_selection``) is what a caller who may see
everything gets. Fields the caller may not see — another hub's money on an ops
``Service`` for a caller without ``fin:read`` — would come back null with a FORBIDDEN
error each, for fields the caller never asked for; so they are left out of the default
selection for that caller. A caller who names them in ``fields`` still gets the error,
which says what is missing. Selections are built once per tool and set of scopes.
"""

from __future__ import annotations

from collections.abc import Mapping

from graphql import GraphQLField, GraphQLSchema, get_named_type

from gateway.mcp.selection import default_selection
from gateway.mcp.spec import ToolSpec
from identity.access import Requirement
from identity.validation import Identity

# Tools times the distinct sets of scopes callers hold: a handful in practice; past this
# the cache starts over rather than grow without bound.
MAX_ENTRIES = 4096

_OPEN = Requirement()


class CallerSelections:
    """Default selections per caller for the tools of one gateway's API schema."""

    def __init__(
        self, schema: GraphQLSchema, requirements: Mapping[str, Requirement], depth: int
    ) -> None:
        self.schema = schema
        self.requirements = requirements
        self.depth = depth
        self._cache: dict[tuple[str, frozenset[str] | None], str | None] = {}

    def selection(self, spec: ToolSpec, identity: Identity | None) -> str | None:
        """``spec``'s default selection without the fields ``identity`` may not see."""
        if not self.requirements or spec.default_selection is None:
            return spec.default_selection
        key = (spec.name, None if identity is None else identity.scopes)
        if key in self._cache:
            return self._cache[key]
        root = self.schema.query_type if spec.kind == "query" else self.schema.mutation_type
        field = root.fields.get(spec.field) if root else None
        if field is None:  # the spec was made from this schema: cannot happen
            return spec.default_selection

        def refused(type_name: str, name: str, definition: GraphQLField) -> bool:
            return self.requirement(type_name, name, definition).denial(identity) is not None

        selection = default_selection(self.schema, field.type, self.depth, refused)
        if len(self._cache) >= MAX_ENTRIES:
            self._cache.clear()
        self._cache[key] = selection
        return selection

    def requirement(self, type_name: str, name: str, definition: GraphQLField) -> Requirement:
        """What a field asks: its type's, its own and its return type's requirements."""
        get = self.requirements.get
        returned = get_named_type(definition.type).name
        return get(type_name, _OPEN) & get(f"{type_name}.{name}", _OPEN) & get(returned, _OPEN)
