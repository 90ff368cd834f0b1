"""Hostile operations are refused with a clear error before any subgraph is called."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.engine import Gateway, GatewaySettings, RequestError
from gateway.limits import OperationLimits
from tests.gateway.failing_subgraphs import SUPERGRAPH, Switch, apps

LIMITS = OperationLimits(
    max_depth=4, max_aliases=3, max_root_fields=2, max_tokens=200, max_cost=40, assumed_list_size=10
)


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[Gateway, Switch, Switch]]:
    switches, products, reviews = apps()
    gateway = Gateway(
        SUPERGRAPH.read_text(), subgraph_apps=switches, settings=GatewaySettings(limits=LIMITS)
    )
    yield gateway, products, reviews
    await gateway.close()


async def refused(gateway: Gateway, query: str, variables: dict | None = None) -> dict:
    with pytest.raises(RequestError) as failure:
        await gateway.execute(query, variables)
    assert failure.value.status == 400
    [error] = failure.value.errors
    return error


@pytest.mark.parametrize(
    ("query", "code", "words"),
    [
        (
            "{ a: topProducts { name } b: topProducts { name } c: topProducts { name } d: topProducts { name } }",
            "MAX_ROOT_FIELDS_EXCEEDED",
            "root fields",
        ),
        ("{ topProducts { a: name b: name c: name d: name } }", "MAX_ALIASES_EXCEEDED", "aliases"),
        ("{ topProducts { name " + "upc " * 200 + "} }", "MAX_TOKENS_EXCEEDED", "tokens"),
        # 10 products x 10 reviews x 1 field + ... > 40
        ("{ topProducts { reviews { body } } }", "COST_LIMIT_EXCEEDED", "cost"),
    ],
)
async def test_each_limit_refuses_before_any_subgraph_call(
    gateway, query: str, code: str | None, words: str
) -> None:
    gw, products, reviews = gateway
    if code is None:  # within the depth limit: allowed (but costly) — check the depth case below
        return
    error = await refused(gw, query)
    assert error["extensions"]["code"] == code
    assert words in error["message"]
    assert products.calls == 0 and reviews.calls == 0


async def test_depth_is_counted_through_fragments() -> None:
    switches, products, _ = apps()
    limits = OperationLimits(max_depth=2, max_cost=None)
    gw = Gateway(
        SUPERGRAPH.read_text(), subgraph_apps=switches, settings=GatewaySettings(limits=limits)
    )
    try:
        body, _ = await gw.execute("{ topProducts { name } }")
        assert "errors" not in body
        error = await refused(
            gw, "{ topProducts { ...R } } fragment R on Product { reviews { body } }"
        )
        assert error["extensions"]["code"] == "MAX_DEPTH_EXCEEDED"
        assert "3 levels" in error["message"]
        assert products.calls == 1  # only the allowed query reached the subgraph
    finally:
        await gw.close()


async def test_cost_without_size_arguments_assumes_the_list_size() -> None:
    switches, products, _ = apps()
    limits = OperationLimits(max_cost=100, max_depth=None, assumed_list_size=10)
    gw = Gateway(
        SUPERGRAPH.read_text(), subgraph_apps=switches, settings=GatewaySettings(limits=limits)
    )
    try:
        # topProducts has no size argument: 1 + 10 x (1 + 10 x 1) = 111 > 100
        error = await refused(gw, "{ topProducts { reviews { body } } }")
        assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED" and "111" in error["message"]
        body, _ = await gw.execute("{ topProducts { name } }")  # 1 + 10 = 11
        assert "errors" not in body and products.calls == 1
    finally:
        await gw.close()


def test_cost_follows_size_arguments_literals_and_variables() -> None:
    from graphql import build_schema, parse

    from gateway.limits import check

    schema = build_schema(
        "type Query { items(first: Int): [Item] } type Item { name: String children(first: Int): [Item] }"
    )
    limits = OperationLimits(max_cost=1000, assumed_list_size=10)

    def cost_verdict(query: str, variables: dict | None = None):
        operation = parse(query).definitions[0]
        return check(schema, operation, {}, limits, variables)  # type: ignore[arg-type]

    # 1 (items) + 5 x (1 name + 1 children + 5 x 4 x 1 name) ... exact: 1 + 5*(1 + 1 + 4*1) = 31
    small = cost_verdict("{ items(first: 5) { name children(first: 4) { name } } }")
    assert small.exceeded is None and not small.depends_on_variables
    big = cost_verdict("{ items(first: 100) { name children(first: 100) { name } } }")
    assert big.exceeded is not None and big.exceeded.code == "COST_LIMIT_EXCEEDED"
    by_variable = "query($n: Int = 2) { items(first: $n) { children(first: $n) { name } } }"
    assert cost_verdict(by_variable).depends_on_variables
    assert cost_verdict(by_variable).exceeded is None  # the default, 2
    assert cost_verdict(by_variable, {"n": 50}).exceeded is not None  # 1 + 50 x (1 + 50)


async def test_limits_can_be_turned_off() -> None:
    switches, _, _ = apps()
    off = OperationLimits(
        max_depth=None, max_aliases=None, max_root_fields=None, max_tokens=None, max_cost=None
    )
    gw = Gateway(
        SUPERGRAPH.read_text(), subgraph_apps=switches, settings=GatewaySettings(limits=off)
    )
    try:
        query = (
            "{ " + " ".join(f"a{i}: topProducts {{ reviews {{ body }} }}" for i in range(60)) + " }"
        )
        body, _ = await gw.execute(query)
        assert "errors" not in body and len(body["data"]) == 60
    finally:
        await gw.close()


async def test_introspection_can_be_turned_off() -> None:
    switches, _, _ = apps()
    gw = Gateway(
        SUPERGRAPH.read_text(),
        subgraph_apps=switches,
        settings=GatewaySettings(introspection=False),
    )
    try:
        error = await refused(gw, "{ __schema { types { name } } }")
        assert error["extensions"]["code"] == "INTROSPECTION_DISABLED"
        body, _ = await gw.execute(
            "{ __typename topProducts { name } }"
        )  # __typename is not introspection
        assert body["data"]["__typename"] == "Query"
    finally:
        await gw.close()
