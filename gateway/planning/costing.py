"""What a way through the query graph costs: fetches, then sequential levels.

Where the planner has a choice — which subgraph answers a shared root field, which
subgraph a key jump goes to — it asks ``Costing.cost`` what each alternative would take
to answer the whole selection below it, and takes the cheapest. The walk follows the
query graph's edges (``query_graph.py``) as the planner sees them:

* a **field edge** ``(T, S) --f--> (U, S)`` costs nothing: the field rides in the fetch
  that is there already; its selection is costed at ``(U, S)``;
* a **key edge** ``(T, S) --key(k)--> (T, S2)`` costs one fetch and one level, plus what
  its condition costs from ``(T, S)`` (the key's fields, themselves a selection that may
  need jumps), plus the field's ``@requires`` from there; jumps from one place to the
  same subgraph share their fetch, so it is counted once;
* a **cycle** (a condition that needs itself) and a field no edge reaches cost
  ``UNREACHABLE``.

Costs are ``(fetches, levels)`` tuples, compared in that order: fewest fetches first,
then fewest requests in sequence. They estimate the plan the planner will build from
there (which shares fetches beyond what is seen here, never fewer), and are remembered
per planner: the same question comes back at every level above a selection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.operation import ALWAYS, Field
from gateway.supergraph import Key

if TYPE_CHECKING:
    from gateway.planning.planner import Planner, Provided

Cost = tuple[int, int]  # (fetches, sequential levels)
FREE: Cost = (0, 0)
UNREACHABLE: Cost = (1 << 30, 1 << 30)


def _plus(a: Cost, b: Cost) -> Cost:
    """``b`` after ``a``'s fetches: fetches add up, levels too (``b`` waits for ``a``)."""
    return (min(a[0] + b[0], UNREACHABLE[0]), min(a[1] + b[1], UNREACHABLE[1]))


def _beside(a: Cost, b: Cost) -> Cost:
    """``a`` and ``b`` side by side: fetches add up, levels are the longer of the two."""
    return (min(a[0] + b[0], UNREACHABLE[0]), max(a[1], b[1]))


def shape(fields: list[Field]) -> tuple[object, ...]:
    """What identifies a list of fields structurally: names, arguments and the shape
    below, not the objects (requirements are normalised afresh at each use)."""
    return tuple(
        (
            f.name,
            f.signature[1] if f.arguments else "",
            None
            if f.selection is None
            else tuple((t, shape(items)) for t, items in f.selection.by_type.items()),
        )
        for f in fields
    )


class Costing:
    """Costs of answering selections from a subgraph, for one planner (one supergraph)."""

    def __init__(self, planner: Planner) -> None:
        self.planner = planner
        self.supergraph = planner.supergraph
        self._known: dict[tuple[object, ...], Cost] = {}
        self._on_the_way: set[tuple[object, ...]] = set()
        self._key_fields: dict[tuple[str, str], list[Field]] = {}

    def cost(
        self,
        service: str,
        type_name: str,
        fields: list[Field],
        provided: Provided | None = None,
        satisfied: frozenset[str] = frozenset(),
    ) -> Cost:
        """What answering ``fields`` of a ``type_name`` from a fetch to ``service`` adds:
        the fetches it needs beyond that one, and how many levels they run in."""
        # @provides depends on the path taken: remembered only without it
        key = (service, type_name, shape(fields), satisfied) if not provided else None
        if key is not None:
            known = self._known.get(key)
            if known is not None:
                return known
            if key in self._on_the_way:
                return UNREACHABLE  # needs itself: this way never closes
            self._on_the_way.add(key)
        try:
            result = self._cost(service, type_name, fields, provided, satisfied)
        finally:
            if key is not None:
                self._on_the_way.discard(key)
        if key is not None:
            self._known[key] = result
        return result

    def _cost(
        self,
        service: str,
        type_name: str,
        fields: list[Field],
        provided: Provided | None,
        satisfied: frozenset[str],
    ) -> Cost:
        planner = self.planner
        total = FREE
        # jump target -> the dearest of what goes there (one fetch, shared)
        jumps: dict[str, Cost] = {}
        for item in fields:
            if item.is_typename:
                continue
            via = item.via or None
            local = planner.can_resolve(service, type_name, item.name, provided, via) and (
                item.name in satisfied or planner.requires_of(service, type_name, item.name) is None
            )
            if local:
                total = _beside(total, self.below(service, type_name, item, provided))
                continue
            best: tuple[Cost, str] | None = None
            for target, entity in planner.jump_targets(type_name, item.name, via):
                if target == service and planner.requires_of(target, type_name, item.name) is None:
                    continue
                way = self.jump(service, type_name, target, entity, item, provided)
                if best is None or way < best[0]:
                    best = (way, target)
            if best is None:
                return UNREACHABLE
            way, target = best
            jumps[target] = max(jumps.get(target, FREE), way)
        for way in jumps.values():
            total = _beside(total, _plus((1, 1), way))
        return total

    def below(self, service: str, type_name: str, item: Field, provided: Provided | None) -> Cost:
        """What ``item``'s own selection costs once ``service`` resolves the field."""
        if item.selection is None:
            return FREE
        planner = self.planner
        inner = planner.provided_below(service, type_name, item.name, provided)
        total = FREE
        for concrete, children in item.selection.by_type.items():
            if planner.returns_type_in(service, item.selection.parent_type, concrete):
                total = _beside(total, self.cost(service, concrete, children, inner))
        return total

    def jump(
        self,
        service: str,
        type_name: str,
        target: str,
        entity: str,
        item: Field,
        provided: Provided | None,
    ) -> Cost:
        """A key jump from ``service`` to ``target`` for ``item``, without its own fetch:
        its condition (the cheapest key, and the field's @requires) gathered from
        ``service`` first, then the field's selection in ``target``."""
        conditions = UNREACHABLE
        for key in self.supergraph.types[entity].keys_in(target):
            if key.resolvable:
                fields = self.key_fields(type_name, key)
                conditions = min(conditions, self.cost(service, type_name, fields, provided))
        requires = self.planner.requires_of(target, type_name, item.name)
        if requires is not None:
            needed = self.planner.internal.selection_set(
                type_name, [(requires, ALWAYS)], internal=True
            ).fields_of(type_name)
            conditions = _beside(conditions, self.cost(service, type_name, needed, provided))
        there = self.cost(target, type_name, [item], None, frozenset((item.name,)))
        return _plus(conditions, there)

    def key_fields(self, type_name: str, key: Key) -> list[Field]:
        found = self._key_fields.get((type_name, key.fields))
        if found is None:
            selection = self.planner.internal.selection_set(
                type_name, [(key.selection, ALWAYS)], internal=True
            )
            found = self._key_fields[(type_name, key.fields)] = selection.fields_of(type_name)
        return found
