"""Schema-declared authorization at the gateway: refused fields are cut before planning.

The supergraph carries ``@authenticated`` / ``@requiresScopes`` (see
``Supergraph.requirements``). A field in an operation needs what its own definition asks,
what its parent type and (when selected through an interface) the interface field ask,
and what the type it returns asks. For a caller who lacks it, the field is removed from
the operation that is planned — no subgraph is ever asked for it — and answered ``null``
with one error (``UNAUTHORIZED`` for an anonymous caller, ``FORBIDDEN`` for a missing
scope), GraphQL's null propagation applying to non-null fields. That is what the
established gateways do; each hub enforces the same rule again.

The costly part — finding which fields of an operation are protected at all — is done
once per cached operation (:func:`guards_of`); most operations have none and pay nothing
per request. Per request only those guards are checked, and the operations cut for one
combination of refusals are cached on the prepared operation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from graphql import get_named_type
from graphql.type.introspection import TypeNameMetaFieldDef

from gateway.operation import Field, Operation, SelectionSet
from gateway.supergraph import Supergraph
from identity.access import Requirement, denial_message
from identity.validation import Identity

_OPEN = Requirement()

# How many cut variants of one operation are kept (callers differ in scopes, not much more).
MAX_VARIANTS = 16


@dataclass(frozen=True)
class Guard:
    """One protected field occurrence in an operation."""

    field_id: int  # id() of the Field in the normalised operation
    coordinate: str  # "Type.field", for the error message
    requirement: Requirement


@dataclass(frozen=True)
class Refusal:
    code: str  # UNAUTHORIZED | FORBIDDEN
    message: str


class Requirements:
    """The requirement of every field coordinate, from the supergraph's directives."""

    def __init__(self, supergraph: Supergraph) -> None:
        self.by_coordinate = supergraph.requirements
        self.enabled = bool(self.by_coordinate)

    def of(self, static_type: str, item: Field) -> Requirement:
        requirement = self.of_field(item.parent_type, item.name, get_named_type(item.type).name)
        if static_type != item.parent_type:
            requirement &= self.by_coordinate.get(f"{static_type}.{item.name}", _OPEN)
        return requirement

    def of_field(self, parent_type: str, name: str, returned: str) -> Requirement:
        """What ``parent_type.name`` asks: its type's, its own and its return type's."""
        get = self.by_coordinate.get
        return get(parent_type, _OPEN) & get(f"{parent_type}.{name}", _OPEN) & get(returned, _OPEN)


def guards_of(requirements: Requirements, operation: Operation) -> tuple[Guard, ...]:
    """Every protected field occurrence of ``operation``, outermost first."""
    if not requirements.enabled:
        return ()
    found: list[Guard] = []

    def walk(selection: SelectionSet) -> None:
        for fields in selection.by_type.values():
            for item in fields:
                if item.is_typename:
                    continue
                requirement = requirements.of(selection.parent_type, item)
                if not requirement.is_open:
                    found.append(Guard(id(item), f"{item.parent_type}.{item.name}", requirement))
                    continue  # nothing below a refused field is fetched or reported
                if item.selection is not None:
                    walk(item.selection)

    walk(operation.selection)
    return tuple(found)


def refusals(guards: tuple[Guard, ...], identity: Identity | None) -> dict[int, Refusal]:
    """The guarded fields ``identity`` may not see, by field id."""
    refused: dict[int, Refusal] = {}
    for guard in guards:
        code = guard.requirement.denial(identity)
        if code is not None:
            message = denial_message(code, guard.coordinate, guard.requirement)
            refused[guard.field_id] = Refusal(code, message)
    return refused


@dataclass(frozen=True)
class CutOperation:
    """``planned``: what is fetched (refused fields removed); ``shaped``: what is answered
    (refused fields kept, marked, so they come back null with their error)."""

    planned: Operation
    shaped: Operation
    empty: bool  # nothing left to fetch at all


def cut(operation: Operation, refused: dict[int, Refusal]) -> CutOperation:
    planned_root = _cut_selection(operation.selection, refused, for_planning=True)
    shaped_root = _cut_selection(operation.selection, refused, for_planning=False)
    empty = not any(
        not item.is_typename for fields in planned_root.by_type.values() for item in fields
    )
    return CutOperation(
        replace(operation, selection=planned_root),
        replace(operation, selection=shaped_root),
        empty,
    )


def _cut_selection(
    selection: SelectionSet, refused: dict[int, Refusal], *, for_planning: bool
) -> SelectionSet:
    by_type: dict[str, list[Field]] = {}
    for concrete, fields in selection.by_type.items():
        kept: list[Field] = []
        for item in fields:
            refusal = refused.get(id(item))
            if refusal is not None:
                if not for_planning:
                    kept.append(replace(item, refused=(refusal.code, refusal.message)))
                continue
            if item.selection is not None:
                item = replace(
                    item,
                    selection=_cut_selection(item.selection, refused, for_planning=for_planning),
                )
            kept.append(item)
        if for_planning and fields and not any(not f.is_typename for f in kept):
            # A selection set may not be empty: ask for __typename instead.
            kept.append(_typename(concrete))
        by_type[concrete] = kept
    return SelectionSet(selection.parent_type, by_type)


def _typename(concrete: str) -> Field:
    return Field(
        response_key="__typename",
        name="__typename",
        parent_type=concrete,
        arguments=(),
        type=TypeNameMetaFieldDef.type,
        data_key="__typename",
        internal=True,
    )
