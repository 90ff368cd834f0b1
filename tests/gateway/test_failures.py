"""A subgraph that is down, slow or answers garbage: partial data plus errors, never a 500 or a hang."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.engine import Gateway, GatewaySettings
from gateway.execution.subgraphs import SubgraphSettings
from tests.gateway.failing_subgraphs import SUPERGRAPH, Switch, apps, products, reviews, served
from tests.support import LiveServer

QUERY = "{ topProducts { name reviews { body } } }"
FAST_FAIL = SubgraphSettings(timeout_s=0.3, retries=0, breaker_failures=1000)


def gateway_with(switches: dict, settings: SubgraphSettings = FAST_FAIL) -> Gateway:
    return Gateway(
        SUPERGRAPH.read_text(), subgraph_apps=switches, settings=GatewaySettings(subgraph=settings)
    )


@pytest.fixture
async def setup() -> AsyncIterator[tuple[Gateway, Switch, Switch]]:
    switches, product_switch, review_switch = apps()
    gateway = gateway_with(switches)
    yield gateway, product_switch, review_switch
    await gateway.close()


def _names_with_null_reviews(body: dict) -> list[dict]:
    return [{"name": f"Product {i}", "reviews": None} for i in range(1, 4)]


async def test_healthy_subgraphs_answer_everything(setup) -> None:
    gateway, _, review_switch = setup
    body, _ = await gateway.execute(QUERY)
    assert body == {
        "data": {
            "topProducts": [
                {"name": "Product 1", "reviews": [{"body": "good"}, {"body": "great"}]},
                {"name": "Product 2", "reviews": [{"body": "meh"}]},
                {"name": "Product 3", "reviews": []},
            ]
        }
    }
    assert review_switch.calls == 1  # one _entities request for the three products


@pytest.mark.parametrize(
    ("mode", "code", "message"),
    [
        (
            "html",
            "SUBREQUEST_MALFORMED_RESPONSE",
            "subgraph 'reviews' answered HTTP 200 with a body that is not JSON",
        ),
        ("error500", "SUBREQUEST_HTTP_ERROR", "subgraph 'reviews' answered HTTP 500"),
        ("sleep", "SUBGRAPH_TIMEOUT", "subgraph 'reviews' did not answer within 0.3 s"),
        (
            "short_entities",
            "SUBREQUEST_MALFORMED_RESPONSE",
            "subgraph 'reviews' returned 1 entities for 3 representations",
        ),
        (
            "wrong_shape",
            "SUBREQUEST_MALFORMED_RESPONSE",
            "subgraph 'reviews' answered with JSON that is not a GraphQL response",
        ),
    ],
)
async def test_a_misbehaving_subgraph_nulls_only_its_fields(
    setup, mode: str, code: str, message: str
) -> None:
    gateway, _, review_switch = setup
    review_switch.mode = mode
    review_switch.sleep_s = 2.0
    body, _ = await gateway.execute(QUERY)
    assert body["data"] == {"topProducts": _names_with_null_reviews(body)}
    assert body["errors"] == [
        {
            "message": message,
            "path": ["topProducts", 0],
            "extensions": {"code": code, "serviceName": "reviews"},
        }
    ]


async def test_a_failing_root_subgraph_errors_its_root_fields_only(setup) -> None:
    gateway, product_switch, _ = setup
    product_switch.mode = "error500"
    body, _ = await gateway.execute("{ topProducts { name } reviewPing }")
    assert body["data"] is None  # topProducts is non-null, so the whole data is null
    assert body["errors"] == [
        {
            "message": "subgraph 'products' answered HTTP 500",
            "path": ["topProducts"],
            "extensions": {"code": "SUBREQUEST_HTTP_ERROR", "serviceName": "products"},
        }
    ]


async def test_non_null_field_from_failed_subgraph_propagates_to_nearest_nullable(setup) -> None:
    gateway, _, review_switch = setup
    review_switch.mode = "error500"
    body, _ = await gateway.execute("{ topProducts { name reviewCount } }")
    # reviewCount is Int!, the list items are Product!, topProducts is [Product!]! -> data is null
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "SUBREQUEST_HTTP_ERROR"


async def test_queries_are_retried_after_a_transient_failure() -> None:
    switches, _, review_switch = apps()
    gateway = gateway_with(switches, SubgraphSettings(timeout_s=2, retries=2, backoff_s=0.001))
    try:
        review_switch.mode = "once503"
        body, _ = await gateway.execute(QUERY)
        assert "errors" not in body
        assert review_switch.calls == 2
    finally:
        await gateway.close()


async def test_mutations_are_never_retried() -> None:
    switches, product_switch, _ = apps()
    gateway = gateway_with(switches, SubgraphSettings(timeout_s=2, retries=3, backoff_s=0.001))
    try:
        product_switch.mode = "once503"
        body, _ = await gateway.execute('mutation { rename(upc: "p1", name: "New") { name } }')
        assert body["data"] == {"rename": None}
        assert body["errors"][0]["extensions"]["code"] == "SUBREQUEST_HTTP_ERROR"
        assert product_switch.calls == 1
    finally:
        await gateway.close()


async def test_circuit_breaker_stops_calling_a_dead_subgraph() -> None:
    switches, _, review_switch = apps()
    gateway = gateway_with(
        switches,
        SubgraphSettings(timeout_s=2, retries=0, breaker_failures=2, breaker_cooldown_s=60),
    )
    try:
        review_switch.mode = "error500"
        for _ in range(2):
            await gateway.execute(QUERY)
        assert review_switch.calls == 2
        body, _ = await gateway.execute(QUERY)
        assert review_switch.calls == 2  # not called: the circuit is open
        assert body["errors"][0]["extensions"]["code"] == "SUBGRAPH_UNAVAILABLE"
        assert [p["name"] for p in body["data"]["topProducts"]] == [
            "Product 1",
            "Product 2",
            "Product 3",
        ]
    finally:
        await gateway.close()


async def test_a_subgraph_killed_mid_run_over_real_http() -> None:
    product_server = LiveServer(served(products)).start()
    review_server = LiveServer(served(reviews)).start()
    gateway = Gateway(
        SUPERGRAPH.read_text(),
        subgraph_urls={
            "products": f"{product_server.url}/graphql",
            "reviews": f"{review_server.url}/graphql",
        },
        settings=GatewaySettings(subgraph=FAST_FAIL),
    )
    try:
        body, _ = await gateway.execute(QUERY)
        assert body["data"]["topProducts"][0]["reviews"] == [{"body": "good"}, {"body": "great"}]
        review_server.stop()
        body, _ = await gateway.execute(QUERY)
        assert body["data"]["topProducts"][0] == {"name": "Product 1", "reviews": None}
        assert body["errors"][0]["extensions"] == {
            "code": "SUBGRAPH_UNREACHABLE",
            "serviceName": "reviews",
        }
    finally:
        await gateway.close()
        product_server.stop()
