"""The plan checker (gateway/planning/checker.py) over every fixture case, and proof that
it sees the mistakes it is for.

Every plan the planner makes for a fixture case must hold (and take the number of
sequential levels the case names, if it names one): each entity fetch's inputs
written by fetches that finish before it, each field asked for fetched; and each fetch
document must be valid against the subgraph's *own* schema (not the supergraph's: a
fragment on a union member the subgraph's field cannot return is refused there).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, validate

from gateway.engine import Gateway
from gateway.planning.checker import check_plan
from gateway.planning.display import plan_text
from gateway.planning.nodes import Fetch, Flatten, Parallel, Sequence
from tests.gateway.fixtures import SETS, supergraph_path

_gateways: dict[str, Gateway] = {}


def gateway_of(set_name: str) -> Gateway:
    if set_name not in _gateways:
        _gateways[set_name] = Gateway(supergraph_path(set_name).read_text())
    return _gateways[set_name]


def fetches(node: Any) -> list[Fetch]:
    if isinstance(node, Fetch):
        return [node]
    if isinstance(node, Flatten):
        return [node.node]
    if isinstance(node, (Sequence, Parallel)):
        return [f for child in node.nodes for f in fetches(child)]
    return []


CASES = [
    pytest.param(set_name, case, id=f"{set_name}-{case.name}")
    for set_name, module in SETS.items()
    for case in module.CASES
]


@pytest.mark.parametrize(("set_name", "case"), CASES)
def test_every_fixture_plan_holds(set_name: str, case: Any) -> None:
    gateway = gateway_of(set_name)
    try:
        prepared = gateway.prepare(case.query, None)
    except Exception:  # cases about request errors have no plan
        pytest.skip("no plan: the case is about a request error")
    assert check_plan(prepared.plan, prepared.operation) == []
    if case.levels is not None:
        root = prepared.plan.node
        levels = len(root.nodes) if isinstance(root, Sequence) else int(root is not None)
        assert levels == case.levels, plan_text(prepared.plan)
    subgraphs = SETS[set_name].SUBGRAPHS
    for fetch in fetches(prepared.plan.node):
        schema = subgraphs[fetch.service]._schema
        errors = validate(schema, parse(fetch.document))
        assert errors == [], (fetch.service, fetch.document, [e.message for e in errors])


def test_the_checker_sees_a_fetch_that_runs_before_its_inputs() -> None:
    """The requires set's plan for a field that @requires another subgraph's field,
    with its steps run side by side instead of one after another."""
    gateway = gateway_of("requires")
    query = next(c.query for c in SETS["requires"].CASES if c.fetches and len(c.fetches) > 1)
    prepared = gateway.prepare(query, None)
    assert check_plan(prepared.plan, prepared.operation) == []
    root = prepared.plan.node
    assert isinstance(root, Sequence)
    prepared.plan.node = Parallel(list(root.nodes))
    try:
        problems = check_plan(prepared.plan, prepared.operation)
    finally:
        prepared.plan.node = root
    assert problems and all("before any fetch has written it" in p for p in problems)


def test_the_checker_sees_a_field_nobody_fetches() -> None:
    gateway = gateway_of("basic")
    prepared = gateway.prepare(SETS["basic"].CASES[0].query, None)
    root = prepared.plan.node
    prepared.plan.node = None
    try:
        problems = check_plan(prepared.plan, prepared.operation)
    finally:
        prepared.plan.node = root
    assert problems and all(p.startswith("no fetch asks for ") for p in problems)


def test_gateway_plan_check_on_the_command_line(tmp_path: Path) -> None:
    query = tmp_path / "q.graphql"
    query.write_text(SETS["requires"].CASES[0].query)
    done = subprocess.run(
        [sys.executable, "-m", "hubgraph", "gateway", "plan", str(query), "--check",
         "--supergraph", str(supergraph_path("requires"))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "QueryPlan" in done.stdout and "no problem found" in done.stderr
