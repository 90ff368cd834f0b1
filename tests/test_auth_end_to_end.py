"""Tokens end to end: issuer -> gateway -> core hub, every hop real HTTP on loopback.

The gateway validates the caller's token, cuts what the schema refuses them and forwards
the token; the hub validates it again and enforces the same directives itself, so even
a gateway that enforced nothing would not open the hub.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.engine import Gateway
from gateway.server import create_gateway_app
from identity.authenticate import Authenticator
from tests.auth_support import TestIssuer
from tests.bad_tokens import BAD_TOKENS
from tests.support import LiveServer, count_rows

SUPERGRAPH = Path(__file__).resolve().parent.parent / "schema" / "supergraph.graphql"
REGISTER = 'mutation { registerDomain(input: {slug: "e2e", name: "End to end"}) { slug } }'
MISSING = "00000000-0000-0000-0000-000000000000"
# message(id:) is nullable and needs hub:read (the AgentMessage type asks for it).
MESSAGES = f'{{ domains {{ totalCount }} message(id: "{MISSING}") {{ subject }} }}'


def gateway_over(core: LiveServer, issuer: TestIssuer, sdl: str) -> LiveServer:
    gateway = Gateway(sdl, subgraph_urls={"core": f"{core.url}/graphql"})
    app = create_gateway_app(gateway, authenticator=Authenticator(issuer.auth_settings()))
    return LiveServer(app).start()


@pytest.fixture
def gateway(core: LiveServer, issuer: TestIssuer) -> Iterator[LiveServer]:
    served = gateway_over(core, issuer, SUPERGRAPH.read_text())
    yield served
    served.stop()


def ask(gateway: LiveServer, query: str, headers: dict[str, str] | None = None) -> dict:
    response = gateway.client.post("/graphql", json={"query": query}, headers=headers or {})
    assert response.status_code == 200, response.text
    return dict(response.json())


def codes(body: dict) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def test_a_readers_token_is_forwarded_and_accepted_by_the_hub(
    gateway: LiveServer, issuer: TestIssuer
) -> None:
    anonymous = ask(gateway, MESSAGES)
    assert anonymous["data"] == {"domains": {"totalCount": 0}, "message": None}
    assert codes(anonymous) == ["UNAUTHORIZED"]
    assert anonymous["errors"][0]["path"] == ["message"]
    reader = ask(gateway, MESSAGES, issuer.headers("reader"))
    assert reader == {"data": {"domains": {"totalCount": 0}, "message": None}}


def test_writes_need_hub_write_at_the_gateway(
    gateway: LiveServer, issuer: TestIssuer, core_database_url: str
) -> None:
    for headers, code in ((None, "UNAUTHORIZED"), (issuer.headers("reader"), "FORBIDDEN")):
        refused = ask(gateway, REGISTER, headers)
        assert refused["data"] is None and codes(refused) == [code]
        assert count_rows(core_database_url, "domains") == 0
    written = ask(gateway, REGISTER, issuer.headers("writer"))
    assert written == {"data": {"registerDomain": {"slug": "e2e"}}}
    assert count_rows(core_database_url, "domains") == 1


@pytest.mark.parametrize(("make", "reason"), BAD_TOKENS, ids=[m.__name__ for m, _ in BAD_TOKENS])
def test_a_bad_token_stops_at_the_gateway_and_writes_nothing(
    gateway: LiveServer,
    issuer: TestIssuer,
    core_database_url: str,
    make: Callable[[TestIssuer], str],
    reason: str,
) -> None:
    response = gateway.client.post(
        "/graphql", json={"query": REGISTER}, headers={"Authorization": f"Bearer {make(issuer)}"}
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["reason"] == reason
    assert count_rows(core_database_url, "domains") == 0


def test_the_hub_enforces_even_when_the_gateway_does_not(
    core: LiveServer, issuer: TestIssuer, core_database_url: str
) -> None:
    """A supergraph whose authorization specs are not linked (so the directives mean
    nothing to the gateway): it lets everything through, and the hub still refuses —
    the errors come from the core service."""
    unlinked = re.sub(
        r".*@link\(url: \"https://specs\.apollo\.dev/(authenticated|requiresScopes)/.*\n",
        "",
        SUPERGRAPH.read_text(),
    )
    assert Gateway(unlinked).supergraph.requirements == {}
    served = gateway_over(core, issuer, unlinked)
    try:
        anonymous = ask(served, MESSAGES)
        assert anonymous["data"]["message"] is None
        [error] = anonymous["errors"]
        assert error["extensions"]["code"] == "UNAUTHORIZED"
        assert error["extensions"]["serviceName"] == "core"
        write = ask(served, REGISTER, issuer.headers("reader"))
        assert codes(write) == ["FORBIDDEN"]
        assert count_rows(core_database_url, "domains") == 0
    finally:
        served.stop()
