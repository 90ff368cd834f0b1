"""A tool's default selection as one caller may ask it.

A tool's default selection (``ToolSpec.default_selection``) is what a caller who may see
everything gets. Fields the caller may not see — another hub's money on an ops
``Service`` for a caller without ``fin:read`` — would come back null with a FORBIDDEN
error each, for fields the caller never asked for; so they are left out of the default
selection for that caller. A caller who names them in ``fields`` still gets the error,
which says what is missing. Selections are built once per tool and set of scopes.
"""

from __future__ import annotations

from graphql import GraphQLField, GraphQLSchema, get_named_type

from gateway.authorization import Requirements
from gateway.bounded_cache import BoundedCache
from gateway.mcp.selection import default_selection
from gateway.mcp.spec import ToolSpec
from identity.validation import Identity

# Tools times the distinct sets of scopes callers hold: a handful in practice; bounded
# in bytes as every cache a client can fill (issuers decide the sets of scopes).
MAX_ENTRIES = 4096
MAX_BYTES = 4 * 1024 * 1024


class CallerSelections:
    """Default selections per caller for the tools of one gateway's API schema."""

    def __init__(self, schema: GraphQLSchema, requirements: Requirements, depth: int) -> None:
        self.schema = schema
        self.requirements = requirements
        self.depth = depth
        self._cache: BoundedCache[tuple[str, frozenset[str] | None], str] = BoundedCache(
            MAX_BYTES, MAX_ENTRIES
        )

    def selection(self, spec: ToolSpec, identity: Identity | None) -> str | None:
        """``spec``'s default selection without the fields ``identity`` may not see."""
        if not self.requirements.enabled or spec.default_selection is None:
            return spec.default_selection
        key = (spec.name, None if identity is None else identity.scopes)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        root = self.schema.query_type if spec.kind == "query" else self.schema.mutation_type
        field = root.fields.get(spec.field) if root else None
        if field is None:  # the spec was made from this schema: cannot happen
            return spec.default_selection

        def refused(type_name: str, name: str, definition: GraphQLField) -> bool:
            returned = get_named_type(definition.type).name
            requirement = self.requirements.of_field(type_name, name, returned)
            return requirement.denial(identity) is not None

        selection = default_selection(self.schema, field.type, self.depth, refused)
        if selection is None:  # cannot happen: the full selection exists
            return spec.default_selection
        scopes = sum(len(scope) for scope in key[1] or ())
        self._cache.put(key, selection, len(selection) + len(spec.name) + scopes + 200)
        return selection
