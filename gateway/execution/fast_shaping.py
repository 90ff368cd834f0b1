"""Shaping without errors: the common case, compiled.

:class:`gateway.execution.shaping.Shaper` is exact for every case: null propagation,
errors placed at the client's paths, refused fields, enum values the client's schema
lacks. It pays for that on every field of every request, building two paths per field
and looking up pending errors at each.

When a request's run recorded no error, most of that work cannot matter. This module
then shapes with functions compiled once per selection set (and kept with it, so with
the cached plan): per field, a response key, a data key and, only where a check is
needed, a function for its value. The moment anything would need an error (a null for a
non-null field, a value of the wrong kind, an enum value the client's schema does not
have, a refused field, a type the client cannot see) the fast path gives up
(:class:`Bail`) and the exact shaper shapes the whole response again from the same
merged tree, which the fast path never changes. So the fast path is never wrong, only
sometimes wasted, and only on requests that have errors anyway.

``HUBGRAPH_CHECK_SHAPING=1`` makes the engine shape every response both ways and fail
the request if they differ (the test suite runs with it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLOutputType,
    get_named_type,
)

from gateway.operation import ALWAYS, Conditions, Field, Operation, SelectionSet, conditions_hold

Variables = Mapping[str, Any]
# (raw value, variables) -> the client's value; raises Bail
ValueFn = Callable[[Any, Variables], Any]
# (merged object, variables) -> the client's object; raises Bail
ObjectFn = Callable[[dict[str, Any], Variables], dict[str, Any]]
# response key, data key, conditions (None: always), value function (None: the raw
# value as it is), whether the field is __typename
Step = tuple[str, str, Conditions | None, ValueFn | None, bool]


class Bail(Exception):
    """The response needs the exact shaper."""


_BAIL = Bail()
_NOT_COMPILABLE = object()  # a selection with a refused field: never fast
_ATTRIBUTE = "_hubgraph_fast_shape"


def shape_clean(
    operation: Operation,
    data: dict[str, Any],
    variables: Variables,
    abstract_types: frozenset[str],
    visible_types: frozenset[str] | None,
) -> dict[str, Any] | None:
    """The client's data when shaping needs no error; None when the exact shaper must
    shape (``data`` is left as it was either way)."""
    shape = compiled(operation.selection, operation.root_type, abstract_types, visible_types)
    if shape is None:
        return None
    try:
        return shape(data, variables)
    except Bail:
        return None


def compiled(
    selection: SelectionSet,
    static_type: str,
    abstract_types: frozenset[str],
    visible_types: frozenset[str] | None,
) -> ObjectFn | None:
    """The selection's object function, compiled on first use and kept on the selection
    (it lives as long as the plan that holds it); None when it cannot be fast."""
    # A selection set is shaped against one static type by one gateway, so one slot.
    cached = getattr(selection, _ATTRIBUTE, None)
    if cached is None:
        try:
            cached = _Compiler(abstract_types, visible_types).object_fn(selection, static_type)
        except _Refused:
            cached = _NOT_COMPILABLE
        setattr(selection, _ATTRIBUTE, cached)
    return None if cached is _NOT_COMPILABLE else cached


class _Refused(Exception):
    """A selection holds a refused field: its shaping always has an error."""


def _raw(raw: Any, variables: Variables) -> Any:
    return raw


def _non_null_leaf(raw: Any, variables: Variables) -> Any:
    if raw is None:
        raise _BAIL
    return raw


class _Compiler:
    def __init__(self, abstract_types: frozenset[str], visible_types: frozenset[str] | None):
        self.abstract_types = abstract_types
        self.visible_types = visible_types

    def object_fn(self, selection: SelectionSet, static_type: str) -> ObjectFn:
        steps_by_type = {
            runtime: tuple(self.step(item) for item in fields)
            for runtime, fields in selection.by_type.items()
        }
        visible = self.visible_types
        if static_type not in self.abstract_types:
            if visible is not None and static_type not in visible:
                raise _Refused  # every object here is an error
            # as the exact shaper: the static type's fields, else (an @interfaceObject
            # answer whose implementations all select the same fields) the first type's
            runtime: str | None = static_type
            if static_type not in steps_by_type:
                runtime = next(iter(steps_by_type), None)
            steps = steps_by_type[runtime] if runtime is not None else ()

            def concrete(obj: dict[str, Any], variables: Variables) -> dict[str, Any]:
                out: dict[str, Any] = {}
                for key, data_key, conditions, value_fn, typename in steps:
                    if conditions is not None and not conditions_hold(conditions, variables):
                        continue
                    if typename:
                        out[key] = runtime
                        continue
                    raw = obj.get(data_key)
                    out[key] = raw if value_fn is None else value_fn(raw, variables)
                return out

            return concrete

        first = next(iter(steps_by_type), None)

        def abstract(obj: dict[str, Any], variables: Variables) -> dict[str, Any]:
            # the runtime type as the exact shaper finds it
            runtime = obj.get("__typename")
            if visible is not None and isinstance(runtime, str) and runtime not in visible:
                raise _BAIL
            if not isinstance(runtime, str) or runtime not in steps_by_type:
                if static_type in steps_by_type:
                    runtime = static_type
                elif runtime == static_type and first is not None:
                    runtime = first
                else:
                    return {}
            out: dict[str, Any] = {}
            for key, data_key, conditions, value_fn, typename in steps_by_type[runtime]:
                if conditions is not None and not conditions_hold(conditions, variables):
                    continue
                if typename:
                    out[key] = runtime
                    continue
                raw = obj.get(data_key)
                out[key] = raw if value_fn is None else value_fn(raw, variables)
            return out

        return abstract

    def step(self, item: Field) -> Step:
        if item.refused is not None:
            raise _Refused
        conditions = None if item.conditions == ALWAYS else item.conditions
        if item.is_typename:
            return (item.response_key, item.data_key, conditions, None, True)
        value_fn = self.value_fn(item, item.type)
        return (
            item.response_key,
            item.data_key,
            conditions,
            None if value_fn is _raw else value_fn,
            False,
        )

    def value_fn(self, item: Field, type_: GraphQLOutputType) -> ValueFn:
        if isinstance(type_, GraphQLNonNull):
            inner = self.value_fn(item, type_.of_type)
            if inner is _raw:
                return _non_null_leaf

            def non_null(raw: Any, variables: Variables) -> Any:
                if raw is None:
                    raise _BAIL
                value = inner(raw, variables)
                if value is None:
                    raise _BAIL
                return value

            return non_null
        if isinstance(type_, GraphQLList):
            element = self.value_fn(item, type_.of_type)

            def list_of(raw: Any, variables: Variables) -> Any:
                if raw is None:
                    return None
                if not isinstance(raw, list):
                    raise _BAIL
                if element is _raw:
                    return list(raw)
                return [element(value, variables) for value in raw]

            return list_of
        named = get_named_type(type_)
        if isinstance(named, GraphQLEnumType):
            values = named.values

            def enum(raw: Any, variables: Variables) -> Any:
                if raw is None:
                    return None
                if not isinstance(raw, str) or raw not in values:
                    raise _BAIL
                return raw

            return enum
        if isinstance(named, GraphQLLeafType):
            return _raw
        if item.selection is None:
            raise _Refused  # the exact shaper reports an object field without selection
        shape = self.object_fn(item.selection, named.name)

        def object_(raw: Any, variables: Variables) -> Any:
            if raw is None:
                return None
            if not isinstance(raw, dict):
                raise _BAIL
            return shape(raw, variables)

        return object_
