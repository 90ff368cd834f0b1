"""A supergraph no plan can fully serve: the planner says which field and why, the
gateway answers a coded GraphQL error (never an opaque 500), and the rest still works.

Our own composer refuses such supergraphs (SATISFIABILITY_ERROR, a cycle of
``@requires``); a supergraph *file* from elsewhere is taken as it is, so planning is
where the problem shows. ``unplannable_supergraph.graphql`` has two:

* ``Book.rank`` (a) requires ``score``, which b resolves only with ``rank``: a cycle;
* ``Shelf.label``: a value type's field only b has, and no key leads from a to b.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.engine import Gateway, RequestError
from gateway.planning.planner import PlanningError
from gateway.server import create_gateway_app
from tests.support import LiveServer

SUPERGRAPH = Path(__file__).with_name("unplannable_supergraph.graphql")
CYCLE = "{ books { title rank } }"
UNREACHABLE = "{ shelf { size label } }"


@pytest.fixture(scope="module")
def gateway() -> Gateway:
    return Gateway(SUPERGRAPH.read_text())


@pytest.fixture(scope="module")
def live(gateway: Gateway) -> Iterator[LiveServer]:
    server = LiveServer(create_gateway_app(gateway)).start()
    yield server
    server.stop()


def planning_error(gateway: Gateway, query: str) -> dict:
    with pytest.raises(RequestError) as caught:
        gateway.prepare(query, None)
    assert isinstance(caught.value.__context__, PlanningError)
    [error] = caught.value.errors
    assert error["extensions"] == {"code": "QUERY_PLANNING_FAILED"}
    return error


def test_a_requires_cycle_is_found_and_named(gateway: Gateway) -> None:
    message = planning_error(gateway, CYCLE)["message"]
    assert message.startswith("cannot plan this operation: cannot plan Book at books:")
    # the loop itself, from where it starts back to where it closes
    assert message.endswith(
        "each way to it needs itself again "
        "(Book { id, score } from a -> Book { id, rank } from a -> Book { id, score } from a)"
    )


def test_an_unreachable_field_is_named(gateway: Gateway) -> None:
    assert planning_error(gateway, UNREACHABLE)["message"] == (
        "cannot plan this operation: cannot resolve Shelf.label from subgraph a: "
        "no other subgraph resolves it through a resolvable @key"
    )


def test_what_can_be_planned_still_is(gateway: Gateway) -> None:
    assert gateway.prepare("{ books { id title } shelf { size } }", None).plan.fetch_count == 1


def test_over_http_a_coded_error_not_a_500(live: LiveServer) -> None:
    # application/json: every well-formed request gets 200 (GraphQL over HTTP)
    for query in (CYCLE, UNREACHABLE):
        response = live.client.post(
            "/graphql", json={"query": query}, headers={"accept": "application/json"}
        )
        assert response.status_code == 200
        body = response.json()
        assert "data" not in body
        assert body["errors"][0]["extensions"]["code"] == "QUERY_PLANNING_FAILED"
    # application/graphql-response+json: a request that cannot start is a server failure
    response = live.client.post(
        "/graphql",
        json={"query": CYCLE},
        headers={"accept": "application/graphql-response+json"},
    )
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_PLANNING_FAILED"
    # the failure is remembered like any other request error, and counted as the gateway's
    again = live.client.post("/graphql", json={"query": CYCLE})
    assert again.status_code == 500  # Accept */*: the newer media type
    assert again.json() == response.json()
    metrics = live.client.get("/metrics").text
    assert 'outcome="internal_error"' in metrics
