"""Query plan nodes: plain data, built by ``planner``, printed by ``display``, run by the executor.

A plan is a tree: ``Sequence`` runs its children one after another, ``Parallel`` at the
same time, ``Flatten`` runs a fetch for the entities found at a path of the response so
far (``products.@.reviews.@`` — ``@`` walks every list element), and ``Fetch`` sends one
GraphQL request to one subgraph.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.operation import ALWAYS, Conditions


@dataclass(frozen=True)
class InputField:
    """A key or required field: sent under ``name``, read from the merged result at ``data_key``."""

    name: str
    data_key: str
    fields: tuple[InputField, ...] = ()  # sub-selection, for nested keys and requires
    key: bool = False  # part of the @key: null means the entity cannot be fetched
    abstract: bool = False  # an interface or union: objects below carry their __typename


@dataclass(frozen=True)
class EntityInput:
    """How to build a representation from an object of one runtime type."""

    runtime_type: str  # the object's __typename in the merged result
    typename: str  # the __typename sent (the interface name for an @interfaceObject)
    fields: tuple[InputField, ...]  # key and required fields


@dataclass(eq=False)
class Fetch:
    id: int
    service: str
    operation_kind: str  # "query" | "mutation"
    document: str
    variable_names: tuple[str, ...]
    # entity fetches: the runtime types they accept and how to build representations
    inputs: tuple[EntityInput, ...] = ()
    # the path of the objects this entity fetch reads and writes (also kept by Flatten)
    path: tuple[str, ...] = ()
    # run only when these hold (from @skip / @include of the fields that need it)
    conditions: Conditions = ALWAYS
    # response keys of the root fields a root fetch answers (for error paths)
    root_keys: tuple[str, ...] = ()


@dataclass(eq=False)
class Flatten:
    path: tuple[str, ...]
    node: Fetch


@dataclass(eq=False)
class Sequence:
    nodes: list[PlanNode]


@dataclass(eq=False)
class Parallel:
    nodes: list[PlanNode]


PlanNode = Fetch | Flatten | Sequence | Parallel


@dataclass(eq=False)
class QueryPlan:
    node: PlanNode | None
    fetch_count: int
