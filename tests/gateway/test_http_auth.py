"""Authentication at the gateway's HTTP layer: a bad token is a 401 before anything runs.

The gateway is served on loopback over the ``authorization`` fixture subgraphs (counted,
so "nothing ran" is observable) and trusts a real issuer on loopback.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from gateway.engine import Gateway
from gateway.server import create_gateway_app
from identity.authenticate import Authenticator
from tests.auth_support import TestIssuer
from tests.bad_tokens import BAD_TOKENS
from tests.gateway.fixtures import supergraph_path
from tests.gateway.fixtures.authorization import SUBGRAPHS, reset
from tests.gateway.test_fixture_cases import Counted, _served
from tests.support import LiveServer

QUERY = '{ domain(slug: "payments") { name owner budget { amount } } }'
MUTATION = 'mutation { setBudget(slug: "payments", amount: 1) }'


class Served:
    def __init__(self, server: LiveServer, counter: Counter[str]) -> None:
        self.server, self.counter = server, counter

    def post(self, query: str, headers: dict[str, str] | None = None) -> dict:
        response = self.server.client.post("/graphql", json={"query": query}, headers=headers)
        return {
            "status": response.status_code,
            "headers": response.headers,
            "body": response.json(),
        }


def serve(authenticator: Authenticator | None) -> Served:
    counter: Counter[str] = Counter()
    apps = {name: Counted(_served(schema), name, counter) for name, schema in SUBGRAPHS.items()}
    gateway = Gateway(supergraph_path("authorization").read_text(), subgraph_apps=apps)
    app = create_gateway_app(gateway, authenticator=authenticator)
    return Served(LiveServer(app).start(), counter)


@pytest.fixture(scope="module")
def gateway(issuer: TestIssuer) -> Iterator[Served]:
    served = serve(Authenticator(issuer.auth_settings()))
    yield served
    served.server.stop()


def test_a_valid_token_sees_what_its_scopes_allow(gateway: Served, issuer: TestIssuer) -> None:
    anonymous = gateway.post(QUERY)
    assert anonymous["status"] == 200
    assert anonymous["body"]["data"] == {
        "domain": {"name": "Payments", "owner": None, "budget": None}
    }
    assert [e["extensions"]["code"] for e in anonymous["body"]["errors"]] == [
        "UNAUTHORIZED",
        "UNAUTHORIZED",
    ]
    reader = gateway.post(QUERY, issuer.headers("reader"))["body"]
    assert reader["data"]["domain"]["owner"] == "ada"
    assert [e["extensions"]["code"] for e in reader["errors"]] == ["FORBIDDEN"]
    finreader = gateway.post(QUERY, issuer.headers("finreader"))["body"]
    assert "errors" not in finreader
    assert finreader["data"]["domain"]["budget"] == {"amount": 120000}


@pytest.mark.parametrize(("make", "reason"), BAD_TOKENS, ids=[m.__name__ for m, _ in BAD_TOKENS])
def test_a_bad_token_is_a_401_and_no_subgraph_is_asked(
    gateway: Served, issuer: TestIssuer, make: Callable[[TestIssuer], str], reason: str
) -> None:
    reset()
    headers = {"Authorization": f"Bearer {make(issuer)}"}
    gateway.counter.clear()
    for query in (QUERY, "{ domains { slug } }", MUTATION):
        answer = gateway.post(query, headers)
        assert answer["status"] == 401, answer
        assert answer["headers"]["www-authenticate"].startswith('Bearer error="invalid_token"')
        assert answer["body"]["errors"][0]["extensions"] == {
            "code": "UNAUTHENTICATED",
            "reason": reason,
        }
        assert "data" not in answer["body"]
    assert sum(gateway.counter.values()) == 0


@pytest.mark.parametrize("authorization", ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer a b"])
def test_an_unreadable_authorization_header_is_an_invalid_request(
    gateway: Served, authorization: str
) -> None:
    gateway.counter.clear()
    answer = gateway.post(QUERY, {"Authorization": authorization})
    assert answer["status"] == 401
    assert answer["headers"]["www-authenticate"].startswith('Bearer error="invalid_request"')
    assert sum(gateway.counter.values()) == 0


def test_the_unauthenticated_outcome_is_counted(gateway: Served) -> None:
    gateway.post(QUERY, {"Authorization": "Bearer not.a.token"})
    metrics = gateway.server.client.get("/metrics").text
    assert 'outcome="unauthenticated"' in metrics


def test_without_an_issuer_callers_are_anonymous_and_tokens_are_refused(
    issuer: TestIssuer,
) -> None:
    served = serve(None)
    try:
        anonymous = served.post(QUERY)
        assert anonymous["status"] == 200
        assert anonymous["body"]["data"]["domain"]["owner"] is None
        with_token = served.post(QUERY, issuer.headers("admin"))
        assert with_token["status"] == 401
        assert with_token["body"]["errors"][0]["extensions"]["reason"] == "no_issuer"
    finally:
        served.server.stop()
