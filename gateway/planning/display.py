"""Printing query plans: a readable text form and a JSON form for ``extensions.queryPlan``."""

from __future__ import annotations

from typing import Any

from graphql import parse, print_ast

from gateway.planning.nodes import (
    EntityInput,
    Fetch,
    Flatten,
    InputField,
    Parallel,
    PlanNode,
    QueryPlan,
    Sequence,
)


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.splitlines())


def _input_text(fields: tuple[InputField, ...]) -> str:
    parts = []
    for item in fields:
        parts.append(item.name + (" { " + _input_text(item.fields) + " }" if item.fields else ""))
    return " ".join(parts)


def _inputs(inputs: tuple[EntityInput, ...]) -> str:
    lines = [f"... on {i.typename} {{ __typename {_input_text(i.fields)} }}" for i in inputs]
    return "{\n" + _indent("\n".join(lines), 2) + "\n} =>\n"


def _fetch(fetch: Fetch) -> str:
    document = print_ast(parse(fetch.document))
    body = (_inputs(fetch.inputs) if fetch.inputs else "") + document
    conditions = ""
    if fetch.conditions != ((),):
        conditions = f", if: {_conditions(fetch)}"
    return f'Fetch(service: "{fetch.service}"{conditions}) {{\n{_indent(body, 2)}\n}}'


def _conditions(fetch: Fetch) -> str:
    alternatives = []
    for conjunction in fetch.conditions:
        terms = []
        for include, value in conjunction:
            text = print_ast(value)
            terms.append(text if include else f"!{text}")
        alternatives.append(" && ".join(terms) or "true")
    return " || ".join(alternatives)


def _node(node: PlanNode) -> str:
    if isinstance(node, Fetch):
        return _fetch(node)
    if isinstance(node, Flatten):
        path = ".".join(node.path)
        return f'Flatten(path: "{path}") {{\n{_indent(_node(node.node), 2)}\n}}'
    kind = "Sequence" if isinstance(node, Sequence) else "Parallel"
    children = ",\n".join(_node(child) for child in node.nodes)
    return f"{kind} {{\n{_indent(children, 2)}\n}}"


def plan_text(plan: QueryPlan) -> str:
    """The plan as text, in the spirit of Apollo's query plan display."""
    if plan.node is None:
        return "QueryPlan {}"
    return "QueryPlan {\n" + _indent(_node(plan.node), 2) + "\n}"


def plan_json(node: PlanNode | None) -> dict[str, Any] | None:
    """The plan as JSON (for ``extensions.queryPlan``)."""
    if node is None:
        return None
    if isinstance(node, Fetch):
        result: dict[str, Any] = {
            "kind": "Fetch",
            "serviceName": node.service,
            "operation": node.document,
            "variableUsages": list(node.variable_names),
        }
        if node.inputs:
            result["requires"] = [
                {"typeCondition": i.typename, "selection": _input_text(i.fields)}
                for i in node.inputs
            ]
        return result
    if isinstance(node, Flatten):
        return {"kind": "Flatten", "path": list(node.path), "node": plan_json(node.node)}
    kind = "Sequence" if isinstance(node, Sequence) else "Parallel"
    assert isinstance(node, (Sequence, Parallel))
    return {"kind": kind, "nodes": [plan_json(child) for child in node.nodes]}
