"""Running a query plan: subgraph requests in plan order, results merged into one tree.

The merged tree is keyed by *data keys* (see ``gateway.operation``) and still holds key
fields, ``__typename`` and required fields; ``shaping`` turns it into the client's
response. Errors are recorded against data paths (with list indexes) so the shaper can
give them the client's paths.

An entity fetch collects the objects at its path, builds one representation per object
(identical representations are sent once), skips objects whose key is null, and merges
each returned entity back into every object it was built from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from gateway import tracing
from gateway.execution.subgraphs import SubgraphFailure, SubgraphPool
from gateway.operation import conditions_hold
from gateway.planning.nodes import (
    EntityInput,
    Fetch,
    Flatten,
    InputField,
    Parallel,
    PlanNode,
    Sequence,
)

DataPath = tuple[str | int, ...]


def merge_into(
    target: dict[str, Any], source: Mapping[str, Any], abstract: frozenset[str] = frozenset()
) -> None:
    """Deep-merge a subgraph result into the tree.

    A ``__typename`` already there is kept, unless it names an interface (an
    ``@interfaceObject`` subgraph's answer), which the owner's concrete type replaces.
    """
    for key, value in source.items():
        current = target.get(key)
        if current is None:  # most keys: new to the tree
            target[key] = value
            continue
        if key == "__typename" and current not in abstract:
            continue
        if isinstance(current, dict) and isinstance(value, dict):
            merge_into(current, value, abstract)
        elif isinstance(current, list) and isinstance(value, list) and len(current) == len(value):
            for index, item in enumerate(value):
                if isinstance(current[index], dict) and isinstance(item, dict):
                    merge_into(current[index], item, abstract)
                else:
                    current[index] = item
        else:
            target[key] = value


def objects_at(
    value: Any, path: tuple[str, ...], prefix: DataPath = ()
) -> Iterator[tuple[dict[str, Any], DataPath]]:
    """Every object at ``path`` (``@`` walks list elements), with its concrete data path."""
    if not path:
        if isinstance(value, dict):
            yield value, prefix
        elif isinstance(value, list):  # a list field at the end of a path
            for index, item in enumerate(value):
                yield from objects_at(item, (), prefix + (index,))
        return
    head, rest = path[0], path[1:]
    if head == "@":
        if isinstance(value, list):
            for index, item in enumerate(value):
                yield from objects_at(item, rest, prefix + (index,))
        return
    if isinstance(value, dict) and head in value:
        yield from objects_at(value[head], rest, prefix + (head,))


def objects_along(value: Any, path: tuple[str, ...]) -> list[dict[str, Any]]:
    """The objects of :func:`objects_at`, in the same order, without their data paths
    (only an error needs those): one pass per path step instead of a generator per
    object."""
    current = [value]
    for head in path:
        following: list[Any] = []
        if head == "@":
            for item in current:
                if isinstance(item, list):
                    following.extend(item)
        else:
            for item in current:
                if isinstance(item, dict) and head in item:
                    following.append(item[head])
        current = following
    found: list[dict[str, Any]] = []
    _collect_objects(current, found)
    return found


def _collect_objects(values: list[Any], found: list[dict[str, Any]]) -> None:
    for item in values:
        if isinstance(item, dict):
            found.append(item)
        elif isinstance(item, list):  # a list field at the end of a path
            _collect_objects(item, found)


_NULL_KEY = object()


def _input_value(obj: Any, fields: tuple[InputField, ...], typename: bool = False) -> Any:
    """The part of ``obj`` a representation carries; _NULL_KEY when a key part is missing."""
    if isinstance(obj, list):
        items = [_input_value(item, fields, typename) for item in obj]
        return _NULL_KEY if any(i is _NULL_KEY for i in items) else items
    if not isinstance(obj, dict):
        return obj
    result: dict[str, Any] = {}
    if typename and "__typename" in obj:
        result["__typename"] = obj["__typename"]
    for item in fields:
        if item.data_key not in obj:
            if item.key:
                return _NULL_KEY
            continue  # a required field another type of this position does not have
        value = obj[item.data_key]
        if value is None and item.key:
            return _NULL_KEY
        if item.fields and value is not None:
            value = _input_value(value, item.fields, item.abstract)
            if value is _NULL_KEY:
                return _NULL_KEY
        result[item.name] = value
    return result


def representation(obj: dict[str, Any], spec: EntityInput) -> dict[str, Any] | None:
    """The representation of ``obj`` for an entity fetch, or None when its key is missing."""
    values = _input_value(obj, spec.fields)
    if values is _NULL_KEY:
        return None
    rep = {"__typename": spec.typename, **values}
    return rep


class Execution:
    """One request's run of a plan."""

    def __init__(
        self,
        pool: SubgraphPool,
        variables: Mapping[str, Any],
        headers: Mapping[str, str],
        propagate_headers: frozenset[str] = frozenset(),
        abstract_types: frozenset[str] = frozenset(),
    ) -> None:
        self.abstract_types = abstract_types
        self.pool = pool
        self.variables = variables
        self.headers = headers
        self.data: dict[str, Any] = {}
        self.errors: list[tuple[DataPath | None, dict[str, Any]]] = []
        self.propagate_headers = propagate_headers
        self.response_headers: list[tuple[str, str]] = []

    async def run(self, node: PlanNode | None) -> None:
        if node is None:
            return
        if isinstance(node, Sequence):
            for child in node.nodes:
                await self.run(child)
        elif isinstance(node, Parallel):
            await asyncio.gather(*(self.run(child) for child in node.nodes))
        elif isinstance(node, Flatten):
            await self.entity_fetch(node.node)
        else:
            await self.root_fetch(node)

    def _variables(self, fetch: Fetch) -> dict[str, Any]:
        return {
            name: self.variables[name] for name in fetch.variable_names if name in self.variables
        }

    async def _call(self, fetch: Fetch, variables: dict[str, Any]) -> dict[str, Any]:
        if not tracing.active():
            payload, response_headers = await self.pool[fetch.service].request(
                fetch.document,
                variables,
                None,
                mutation=fetch.operation_kind == "mutation",
                headers=self.headers,
            )
            if self.propagate_headers:
                self._propagate(response_headers)
            return payload
        with tracing.span(
            "subgraph.fetch",
            "client",
            **{
                "subgraph.name": fetch.service,
                "hubgraph.fetch.entities": len(variables.get("representations") or ()) or None,
                "graphql.operation.type": fetch.operation_kind,
            },
        ) as current:
            outgoing = dict(self.headers)
            tracing.inject(outgoing)  # the subgraph's spans join this trace
            try:
                payload, response_headers = await self.pool[fetch.service].request(
                    fetch.document,
                    variables,
                    None,
                    mutation=fetch.operation_kind == "mutation",
                    headers=outgoing,
                )
            except SubgraphFailure as failure:
                tracing.mark_error(current, failure.code)
                raise
        if self.propagate_headers:
            self._propagate(response_headers)
        return payload

    def _propagate(self, response_headers: list[tuple[str, str]]) -> None:
        for name, value in response_headers:
            if name.lower() in self.propagate_headers:
                self.response_headers.append((name, value))

    def _failure(self, failure: SubgraphFailure, path: DataPath | None) -> None:
        self.errors.append(
            (
                path,
                {
                    "message": failure.message,
                    "extensions": {"code": failure.code, "serviceName": failure.service},
                },
            )
        )

    def _subgraph_error(self, error: Any, service: str) -> dict[str, Any]:
        if not isinstance(error, dict):
            return {
                "message": str(error),
                "extensions": {"code": "DOWNSTREAM_SERVICE_ERROR", "serviceName": service},
            }
        extensions = dict(error.get("extensions") or {})
        extensions.setdefault("code", "DOWNSTREAM_SERVICE_ERROR")
        extensions["serviceName"] = service
        result = {"message": str(error.get("message", "subgraph error")), "extensions": extensions}
        return result

    async def root_fetch(self, fetch: Fetch) -> None:
        if not conditions_hold(fetch.conditions, self.variables):
            return
        try:
            payload = await self._call(fetch, self._variables(fetch))
        except SubgraphFailure as failure:
            for key in fetch.root_keys:
                self._failure(failure, (key,))
            return
        data = payload.get("data")
        if isinstance(data, dict):
            merge_into(self.data, data)
        for error in payload.get("errors") or ():
            path = error.get("path") if isinstance(error, dict) else None
            self.errors.append(
                (
                    tuple(path) if isinstance(path, list) and path else None,
                    self._subgraph_error(error, fetch.service),
                )
            )

    async def entity_fetch(self, fetch: Fetch) -> None:
        if not conditions_hold(fetch.conditions, self.variables):
            return
        builders, only = _builders(fetch)
        representations: list[dict[str, Any]] = []
        # per representation, the positions of its objects in ``objects``
        targets: list[list[int]] = []
        seen: dict[Any, int] = {}
        objects = objects_along(self.data, fetch.path)
        for position, obj in enumerate(objects):
            runtime = obj.get("__typename")
            build = builders.get(runtime) if isinstance(runtime, str) else only
            if build is None:
                continue
            built = build(obj)
            if built is None:
                continue
            rep, identity = built
            index = seen.setdefault(identity, len(representations))
            if index == len(representations):
                representations.append(rep)
                targets.append([])
            targets[index].append(position)
        if not representations:
            return
        variables = {"representations": representations, **self._variables(fetch)}
        try:
            payload = await self._call(fetch, variables)
        except SubgraphFailure as failure:
            self._failure(failure, self._paths(fetch)[targets[0][0]])
            return
        data = payload.get("data")
        entities = data.get("_entities") if isinstance(data, dict) else None
        if data is not None and (
            not isinstance(entities, list) or len(entities) != len(representations)
        ):
            self._failure(
                SubgraphFailure(
                    fetch.service,
                    "SUBREQUEST_MALFORMED_RESPONSE",
                    f"subgraph '{fetch.service}' returned {len(entities) if isinstance(entities, list) else 'no'} "
                    f"entities for {len(representations)} representations",
                ),
                self._paths(fetch)[targets[0][0]],
            )
            return
        errors = payload.get("errors") or ()
        # the data paths of the objects, found before merging changes the tree
        paths = self._paths(fetch) if errors else []
        for index, entity in enumerate(entities or ()):
            if isinstance(entity, dict):
                for position in targets[index]:
                    merge_into(objects[position], entity, self.abstract_types)
        for error in errors:
            shaped = self._subgraph_error(error, fetch.service)
            error_path = error.get("path") if isinstance(error, dict) else None
            if (
                isinstance(error_path, list)
                and len(error_path) >= 2
                and error_path[0] == "_entities"
                and isinstance(error_path[1], int)
                and 0 <= error_path[1] < len(targets)
            ):
                for position in targets[error_path[1]]:
                    self.errors.append((paths[position] + tuple(error_path[2:]), dict(shaped)))
            else:
                self.errors.append((paths[targets[0][0]], shaped))

    def _paths(self, fetch: Fetch) -> list[DataPath]:
        """The data path of each object at the fetch's path, in the order (and so at the
        positions) of :func:`objects_along`."""
        return [path for _, path in objects_at(self.data, fetch.path)]


# an object -> its representation and identity (see _identity), or None: key missing
Builder = Callable[[dict[str, Any]], tuple[dict[str, Any], Any] | None]
_BUILDERS = "_hubgraph_builders"


def _builders(fetch: Fetch) -> tuple[dict[str, Builder], Builder | None]:
    """The fetch's representation builders by runtime type, and the one to use for an
    object without ``__typename`` (when there is a single input); made once per fetch
    and kept with it (so with the cached plan)."""
    cached = getattr(fetch, _BUILDERS, None)
    if cached is None:
        builders = {spec.runtime_type: _builder(spec) for spec in fetch.inputs}
        only = builders[fetch.inputs[0].runtime_type] if len(fetch.inputs) == 1 else None
        cached = (builders, only)
        setattr(fetch, _BUILDERS, cached)
    return cached


def _builder(spec: EntityInput) -> Builder:
    fields = spec.fields
    typename = spec.typename
    if len(fields) == 1 and fields[0].key and not fields[0].fields:
        # the usual entity: one scalar key (an ID)
        name, data_key = fields[0].name, fields[0].data_key

        def single_key(obj: dict[str, Any]) -> tuple[dict[str, Any], Any] | None:
            value = obj.get(data_key)
            if value is None:
                return None
            rep = {"__typename": typename, name: value}
            if type(value) is str:
                return rep, (typename, value)
            return rep, orjson.dumps(rep, option=orjson.OPT_SORT_KEYS)

        return single_key

    def general(obj: dict[str, Any]) -> tuple[dict[str, Any], Any] | None:
        rep = representation(obj, spec)
        return None if rep is None else (rep, _identity(rep))

    return general


def _identity(rep: dict[str, Any]) -> Any:
    """What two representations share exactly when they are the same. Built from one
    spec, the keys of two representations of one type come in the same order, so the
    values alone decide: as a tuple when they are all strings (IDs, the usual key),
    else the canonical JSON (which keeps 1, 1.0 and true apart)."""
    values = tuple(rep.values())
    for value in values:
        if type(value) is not str:
            return orjson.dumps(rep, option=orjson.OPT_SORT_KEYS)
    return values
