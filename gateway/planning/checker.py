"""What must hold of any plan, checked after planning.

A planner bug rarely fails loudly: a fetch sent before the fetch that writes its inputs
computes from missing data, a field no fetch asks for comes back null. This module checks
a finished plan against the operation it answers:

* every entity fetch's representation fields are written by fetches that have finished
  before it starts (``Sequence`` orders, ``Parallel`` does not);
* every field the client asks for is written by some fetch (below an interface or a
  union only where the plan fetches that position at all: members no subgraph returns
  there are legitimately absent).

Paths are compared without list markers (``feed.author.id``). The tests run it on every
fixture case (and validate each fetch document against the subgraph's own schema there);
``hubgraph gateway plan --check`` and ``HUBGRAPH_CHECK_PLANS=1`` run it on demand.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from graphql import FieldNode, InlineFragmentNode, OperationDefinitionNode, SelectionSetNode, parse

from gateway.operation import Operation, SelectionSet
from gateway.planning.nodes import (
    Fetch,
    Flatten,
    InputField,
    PlanNode,
    QueryPlan,
    Sequence,
)

Path = tuple[str, ...]


def check_plan(plan: QueryPlan, operation: Operation) -> list[str]:
    """The problems found; empty when the plan holds."""
    fetches = list(_fetches(plan.node))
    written = {fetch.id: set(_written(fetch)) for fetch in fetches}
    before = _finished_before(plan.node)
    problems: list[str] = []
    for fetch in fetches:
        if not fetch.inputs:
            continue
        available: set[Path] = set()
        for earlier in before.get(fetch.id, ()):
            available |= written[earlier]
        base = _plain(fetch.path)
        for entity_input in fetch.inputs:
            for path in _input_paths(entity_input.fields, base):
                if path not in available:
                    problems.append(
                        f"fetch {fetch.id} ({fetch.service}) reads {'.'.join(path)} for "
                        f"{entity_input.runtime_type} before any fetch has written it"
                    )
    everything: set[Path] = set().union(*written.values()) if written else set()
    for path in _client_paths(operation.selection, (), everything):
        if path not in everything:
            problems.append(f"no fetch asks for {'.'.join(path)}")
    return problems


def _fetches(node: PlanNode | None) -> Iterator[Fetch]:
    if node is None:
        return
    if isinstance(node, Fetch):
        yield node
    elif isinstance(node, Flatten):
        yield node.node
    else:
        for child in node.nodes:
            yield from _fetches(child)


def _finished_before(node: PlanNode | None) -> dict[int, set[int]]:
    """For each fetch, the fetches certain to have finished when it starts."""
    result: dict[int, set[int]] = {}

    def walk(item: PlanNode | None, done: frozenset[int]) -> frozenset[int]:
        """Runs ``item`` after ``done``; returns what has finished once it has."""
        if item is None:
            return done
        if isinstance(item, (Fetch, Flatten)):
            fetch = item if isinstance(item, Fetch) else item.node
            result[fetch.id] = set(done)
            return done | {fetch.id}
        if isinstance(item, Sequence):
            for child in item.nodes:
                done = walk(child, done)
            return done
        finished = done
        for child in item.nodes:  # Parallel: each starts after what came before it only
            finished |= walk(child, done)
        return finished

    walk(node, frozenset())
    return result


def _plain(path: Iterable[str]) -> Path:
    return tuple(p for p in path if p != "@")


def _written(fetch: Fetch) -> Iterator[Path]:
    """Every data path a fetch's document writes into the merged result."""
    document = parse(fetch.document, no_location=True)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    selection = operation.selection_set
    base: Path = ()
    if fetch.inputs:  # _entities: its objects are written at the fetch's path
        entities = next(
            s
            for s in selection.selections
            if isinstance(s, FieldNode) and s.name.value == "_entities"
        )
        assert entities.selection_set is not None
        selection, base = entities.selection_set, _plain(fetch.path)
    yield from _selection_paths(selection, base)


def _selection_paths(selection: SelectionSetNode, base: Path) -> Iterator[Path]:
    for node in selection.selections:
        if isinstance(node, InlineFragmentNode):
            yield from _selection_paths(node.selection_set, base)
        elif isinstance(node, FieldNode) and node.name.value != "__typename":
            path = (*base, node.alias.value if node.alias else node.name.value)
            yield path
            if node.selection_set is not None:
                yield from _selection_paths(node.selection_set, path)


def _input_paths(fields: tuple[InputField, ...], base: Path) -> Iterator[Path]:
    for item in fields:
        path = (*base, item.data_key)
        if item.fields:
            yield from _input_paths(item.fields, path)
        else:
            yield path


def _client_paths(selection: SelectionSet, base: Path, written: set[Path]) -> Iterator[Path]:
    abstract = len(selection.by_type) > 1 or selection.parent_type not in selection.by_type
    seen: set[Path] = set()
    for fields in selection.by_type.values():
        for item in fields:
            if item.is_typename or item.refused is not None:
                continue
            path = (*base, item.data_key)
            if path in seen:
                continue
            seen.add(path)
            if abstract and path not in written:
                continue  # a member no subgraph returns here: nothing to fetch
            if item.selection is not None:
                yield from _client_paths(item.selection, path, written)
            else:
                yield path
