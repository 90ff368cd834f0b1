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
    (it lives as long as the plan that holds it); None when it cannot be fast. Its
    memory, a few kilobytes per object type, is within what the plan cache's size
    estimate counts per character of the document (gateway/engine.py)."""
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
        code = _Code()
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
                lines.append(f"    if holds({code.name('c', item.conditions)}, variables):")
                indent = "        "
            if item.is_typename:
                value = repr(runtime)
            else:
                value = f"v{index}"
                lines.append(f"{indent}{value} = get({item.data_key!r})")
                self.value(code, lines, indent, value, item.type, item)
            if conditional:
                lines.append(f"{indent}out[{key}] = {value}")
            else:
                entries.append(f"{key}: {value}")
        lines.append("    return out" if conditional else f"    return {{{', '.join(entries)}}}")
        exec("\n".join(lines), code.namespace)
        return cast(ObjectFn, code.namespace["shape"])

    def value(
        self,
        code: _Code,
        lines: list[str],
        indent: str,
        var: str,
        type_: GraphQLOutputType,
        item: Field,
    ) -> None:
        """Lines turning the raw value in ``var`` into the client's, in place, or raising
        BAIL where the exact shaper would report an error."""
        if isinstance(type_, GraphQLNonNull):
            lines += [f"{indent}if {var} is None:", f"{indent}    raise BAIL"]
            self.present(code, lines, indent, var, type_.of_type, item)
            return
        inner: list[str] = []
        self.present(code, inner, indent + "    ", var, type_, item)
        if inner:
            lines.append(f"{indent}if {var} is not None:")
            lines += inner

    def present(
        self,
        code: _Code,
        lines: list[str],
        indent: str,
        var: str,
        type_: GraphQLOutputType,
        item: Field,
    ) -> None:
        """``value``'s lines for a ``var`` known not to be null (none for a leaf)."""
        if isinstance(type_, GraphQLList):
            lines += [f"{indent}if type({var}) is not list:", f"{indent}    raise BAIL"]
            element, shaped = code.fresh("x"), code.fresh("l")
            per_element: list[str] = []
            self.value(code, per_element, indent + "    ", element, type_.of_type, item)
            if not per_element:  # nullable leaves: the list as it is
                lines.append(f"{indent}{var} = list({var})")
                return
            lines += [f"{indent}{shaped} = []", f"{indent}for {element} in {var}:"]
            lines += per_element
            lines += [f"{indent}    {shaped}.append({element})", f"{indent}{var} = {shaped}"]
            return
        named = get_named_type(type_)
        if isinstance(named, GraphQLEnumType):
            values = code.name("e", frozenset(named.values))
            lines += [
                f"{indent}if type({var}) is not str or {var} not in {values}:",
                f"{indent}    raise BAIL",
            ]
            return
        if isinstance(named, GraphQLLeafType):
            return
        if item.selection is None:
            raise _Refused  # the exact shaper reports an object field without selection
        shape = code.name("s", self.object_fn(item.selection, named.name))
        lines += [
            f"{indent}if type({var}) is not dict:",
            f"{indent}    raise BAIL",
            f"{indent}{var} = {shape}({var}, variables)",
        ]


class _Code:
    """The names a generated function uses: the objects it refers to by name, and fresh
    local names."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"BAIL": _BAIL, "holds": conditions_hold}
        self._count = 0

    def fresh(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    def name(self, prefix: str, value: Any) -> str:
        name = self.fresh(prefix)
        self.namespace[name] = value
        return name


def _empty(obj: dict[str, Any], variables: Variables) -> dict[str, Any]:
    return {}
