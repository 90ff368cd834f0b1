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

Each object type of a selection becomes one generated Python function: a local per
field read straight from the merged object, ``None`` checks inline for non-null leaves,
and one dict display for the result, in the client's order. Generated code because it
is what CPython runs fastest: no per-field call, no loop over field descriptions. The
source is built only from ``repr()`` of strings, so whatever a field is called, it is
a string literal in the code, never code.

``HUBGRAPH_CHECK_SHAPING=1`` makes the engine shape every response both ways and fail
the request if they differ (the test suite runs with it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from graphql import (
    GraphQLEnumType,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLOutputType,
    get_named_type,
)

from gateway.operation import ALWAYS, Field, Operation, SelectionSet, conditions_hold

Variables = Mapping[str, Any]
# (raw value, variables) -> the client's value; raises Bail
ValueFn = Callable[[Any, Variables], Any]
# (merged object, variables) -> the client's object; raises Bail
ObjectFn = Callable[[dict[str, Any], Variables], dict[str, Any]]


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
    cached: Any = getattr(selection, _ATTRIBUTE, None)
    if cached is None:
        try:
            cached = _Compiler(abstract_types, visible_types).object_fn(selection, static_type)
        except _Refused:
            cached = _NOT_COMPILABLE
        setattr(selection, _ATTRIBUTE, cached)
    return None if cached is _NOT_COMPILABLE else cast(ObjectFn, cached)


class _Refused(Exception):
    """A selection holds a refused field: its shaping always has an error."""


_RAW = object()  # a nullable leaf: the raw value as it is
_NON_NULL_LEAF = object()  # a non-null leaf: the raw value unless null


class _Compiler:
    def __init__(self, abstract_types: frozenset[str], visible_types: frozenset[str] | None):
        self.abstract_types = abstract_types
        self.visible_types = visible_types

    def object_fn(self, selection: SelectionSet, static_type: str) -> ObjectFn:
        by_type = {
            runtime: self.generate(runtime, fields) for runtime, fields in selection.by_type.items()
        }
        visible = self.visible_types
        if static_type not in self.abstract_types:
            if visible is not None and static_type not in visible:
                raise _Refused  # every object here is an error
            # as the exact shaper: the static type's fields, else (an @interfaceObject
            # answer whose implementations all select the same fields) the first type's
            if static_type in by_type:
                return by_type[static_type]
            return next(iter(by_type.values()), _empty)

        first = next(iter(by_type.values()), None)

        def abstract(obj: dict[str, Any], variables: Variables) -> dict[str, Any]:
            # the runtime type as the exact shaper finds it
            runtime = obj.get("__typename")
            if visible is not None and isinstance(runtime, str) and runtime not in visible:
                raise _BAIL
            shape = by_type.get(runtime) if isinstance(runtime, str) else None
            if shape is None:
                if static_type in by_type:
                    shape = by_type[static_type]
                elif runtime == static_type and first is not None:
                    shape = first
                else:
                    return {}
            return shape(obj, variables)

        return abstract

    def generate(self, runtime: str, fields: list[Field]) -> ObjectFn:
        """One function shaping an object of type ``runtime`` with ``fields``."""
        namespace: dict[str, Any] = {"BAIL": _BAIL, "holds": conditions_hold}
        lines = ["def shape(obj, variables):", "    get = obj.get"]
        entries: list[str] = []  # the result's "key: value" pairs, in order
        conditional = any(item.conditions != ALWAYS for item in fields)
        if conditional:
            lines.append("    out = {}")
        for index, item in enumerate(fields):
            if item.refused is not None:
                raise _Refused
            key = repr(item.response_key)
            indent = "    "
            if item.conditions != ALWAYS:
                namespace[f"c{index}"] = item.conditions
                lines.append(f"    if holds(c{index}, variables):")
                indent = "        "
            if item.is_typename:
                value = repr(runtime)
            else:
                read = f"get({item.data_key!r})"
                kind = self.value_fn(item, item.type)
                value = f"v{index}"
                if kind is _RAW:
                    lines.append(f"{indent}v{index} = {read}")
                elif kind is _NON_NULL_LEAF:
                    lines.append(f"{indent}v{index} = {read}")
                    lines.append(f"{indent}if v{index} is None:")
                    lines.append(f"{indent}    raise BAIL")
                else:
                    namespace[f"f{index}"] = kind
                    lines.append(f"{indent}v{index} = f{index}({read}, variables)")
            if conditional:
                lines.append(f"{indent}out[{key}] = {value}")
            else:
                entries.append(f"{key}: {value}")
        lines.append("    return out" if conditional else f"    return {{{', '.join(entries)}}}")
        exec("\n".join(lines), namespace)
        return namespace["shape"]

    def value_fn(self, item: Field, type_: GraphQLOutputType) -> Any:
        """_RAW, _NON_NULL_LEAF or a ValueFn for a value of ``type_``."""
        if isinstance(type_, GraphQLNonNull):
            inner = self.value_fn(item, type_.of_type)
            if inner is _RAW:
                return _NON_NULL_LEAF
            return _non_null(inner)
        if isinstance(type_, GraphQLList):
            return _list_of(self.value_fn(item, type_.of_type))
        named = get_named_type(type_)
        if isinstance(named, GraphQLEnumType):
            return _enum(named.values)
        if isinstance(named, GraphQLLeafType):
            return _RAW
        if item.selection is None:
            raise _Refused  # the exact shaper reports an object field without selection
        return _object(self.object_fn(item.selection, named.name))


def _empty(obj: dict[str, Any], variables: Variables) -> dict[str, Any]:
    return {}


def _non_null(inner: ValueFn) -> ValueFn:
    def non_null(raw: Any, variables: Variables) -> Any:
        if raw is None:
            raise _BAIL
        value = inner(raw, variables)
        if value is None:
            raise _BAIL
        return value

    return non_null


def _list_of(element: Any) -> ValueFn:
    if element is _RAW:

        def leaves(raw: Any, variables: Variables) -> Any:
            if raw is None:
                return None
            if not isinstance(raw, list):
                raise _BAIL
            return list(raw)

        return leaves
    if element is _NON_NULL_LEAF:

        def non_null_leaves(raw: Any, variables: Variables) -> Any:
            if raw is None:
                return None
            if not isinstance(raw, list) or None in raw:
                raise _BAIL
            return list(raw)

        return non_null_leaves

    def values(raw: Any, variables: Variables) -> Any:
        if raw is None:
            return None
        if not isinstance(raw, list):
            raise _BAIL
        return [element(value, variables) for value in raw]

    return values


def _enum(values: Mapping[str, Any]) -> ValueFn:
    def enum(raw: Any, variables: Variables) -> Any:
        if raw is None:
            return None
        if not isinstance(raw, str) or raw not in values:
            raise _BAIL
        return raw

    return enum


def _object(shape: ObjectFn) -> ValueFn:
    def object_(raw: Any, variables: Variables) -> Any:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise _BAIL
        return shape(raw, variables)

    return object_
