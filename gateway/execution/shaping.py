"""From the merged subgraph results to the client's response.

Walks the normalised operation over the merged tree: picks each field by its data key
and writes it under the client's response key, in the client's order; answers
``__typename``; applies ``@skip`` / ``@include``; drops everything the gateway fetched for
itself (keys, required fields, internal aliases). GraphQL's null propagation applies: a
null (or missing) value for a non-null field nulls the nearest nullable parent, with an
error at the field's path unless an error already explains it. Subgraph errors recorded
against data paths get the client's path here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLOutputType,
    get_named_type,
)

from gateway.operation import Field, Operation, SelectionSet, conditions_hold

DataPath = tuple[str | int, ...]
_INVALID = object()  # "this value is null where null is not allowed"
_MISSING = object()


class Shaper:
    def __init__(
        self,
        operation: Operation,
        variables: Mapping[str, Any],
        errors: list[tuple[DataPath | None, dict[str, Any]]],
        abstract_types: frozenset[str],
        visible_types: frozenset[str] | None = None,
    ) -> None:
        self.operation = operation
        self.variables = variables
        self.abstract_types = abstract_types
        # the client's schema's types: an object of another one (@inaccessible) is null
        self.visible_types = visible_types
        self.pending: dict[DataPath, list[dict[str, Any]]] = {}
        self.unplaced: list[dict[str, Any]] = []
        for path, error in errors:
            if path is None:
                self.unplaced.append(error)
            else:
                self.pending.setdefault(path, []).append(error)
        self.errors: list[dict[str, Any]] = []
        self.error_prefixes: set[tuple[str | int, ...]] = set()

    def shape(self, data: dict[str, Any]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        root = self.complete_object(
            self.operation.selection, data, self.operation.root_type, (), ()
        )
        for path, errors in self.pending.items():
            # errors about fields the client did not ask for (keys, required fields)
            for error in errors:
                visible = [p for p in path if isinstance(p, int) or not str(p).startswith("__hg")]
                if len(visible) == len(path):
                    error = {**error, "path": list(path)}
                self.unplaced.append(error)
        return (None if root is _INVALID else root), self.unplaced + self.errors

    def _place(self, data_path: DataPath, out_path: tuple[str | int, ...]) -> None:
        errors = self.pending.pop(data_path, None)
        if not errors:
            return
        for error in errors:
            self.errors.append(
                {"message": error.get("message"), "path": list(out_path), **_rest(error)}
            )
        for i in range(1, len(out_path) + 1):
            self.error_prefixes.add(out_path[:i])

    def complete_object(
        self,
        selection: SelectionSet,
        obj: dict[str, Any],
        static_type: str,
        data_path: DataPath,
        out_path: tuple[str | int, ...],
    ) -> Any:
        runtime = obj.get("__typename") if static_type in self.abstract_types else static_type
        if (
            self.visible_types is not None
            and isinstance(runtime, str)
            and runtime not in self.visible_types
        ):
            self._error(
                f'Abstract type "{static_type}" resolved to a type the schema does not '
                f'expose: "{runtime}".',
                out_path,
            )
            return _INVALID
        if not isinstance(runtime, str) or runtime not in selection.by_type:
            if static_type in selection.by_type:
                runtime = static_type
            elif runtime == static_type and selection.by_type:
                # an @interfaceObject answer where every implementation selects the
                # same fields (the planner checked): any of them shapes it
                runtime = next(iter(selection.by_type))
            else:
                runtime = None
        fields: list[Field] = selection.by_type.get(runtime, []) if runtime else []
        result: dict[str, Any] = {}
        for item in fields:
            if item.conditions != ((),) and not conditions_hold(item.conditions, self.variables):
                continue
            if item.is_typename:
                result[item.response_key] = runtime
                continue
            field_data_path = data_path + (item.data_key,)
            field_out_path = out_path + (item.response_key,)
            if item.refused is not None:
                # Not fetched: the caller may not see it. Null (propagating if non-null),
                # with the refusal as the one error at this path.
                code, message = item.refused
                self._error(message, field_out_path, code)
                raw: Any = None
            else:
                self._place(field_data_path, field_out_path)
                raw = obj.get(item.data_key, _MISSING)
            value = self.complete_value(item, item.type, raw, field_data_path, field_out_path)
            if value is _INVALID:
                return _INVALID
            result[item.response_key] = value
        return result

    def complete_value(
        self,
        item: Field,
        type_: GraphQLOutputType,
        raw: Any,
        data_path: DataPath,
        out_path: tuple[str | int, ...],
    ) -> Any:
        if isinstance(type_, GraphQLNonNull):
            value = self.complete_value(item, type_.of_type, raw, data_path, out_path)
            if value is None:
                if out_path not in self.error_prefixes:
                    self._error(
                        f"Cannot return null for non-nullable field {item.parent_type}.{item.name}.",
                        out_path,
                    )
                return _INVALID
            return value
        if raw is None or raw is _MISSING or raw is _INVALID:
            return None
        if isinstance(type_, GraphQLList):
            if not isinstance(raw, list):
                self._error(f"Expected a list for {item.parent_type}.{item.name}.", out_path)
                return None
            items = []
            for index, element in enumerate(raw):
                self._place(data_path + (index,), out_path + (index,))
                value = self.complete_value(
                    item, type_.of_type, element, data_path + (index,), out_path + (index,)
                )
                if value is _INVALID:
                    return None
                items.append(value)
            return items
        named = get_named_type(type_)
        if isinstance(named, GraphQLEnumType) and (
            not isinstance(raw, str) or raw not in named.values
        ):
            # A value the client's schema does not have (@inaccessible in the supergraph,
            # or one subgraph's own): null with an error, never leaked.
            self._error(f'Enum "{named.name}" cannot represent value: {raw!r}', out_path)
            return None
        if isinstance(named, GraphQLLeafType):
            return raw
        if not isinstance(raw, dict) or item.selection is None:
            self._error(f"Expected an object for {item.parent_type}.{item.name}.", out_path)
            return None
        value = self.complete_object(item.selection, raw, named.name, data_path, out_path)
        return None if value is _INVALID else value

    def _error(
        self, message: str, out_path: tuple[str | int, ...], code: str | None = None
    ) -> None:
        error: dict[str, Any] = {"message": message, "path": list(out_path)}
        if code is not None:
            error["extensions"] = {"code": code}
        self.errors.append(error)
        for i in range(1, len(out_path) + 1):
            self.error_prefixes.add(out_path[:i])


def _rest(error: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in error.items() if k not in ("message", "path", "locations")}
