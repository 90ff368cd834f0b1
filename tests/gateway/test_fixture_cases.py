"""Every fixture case through the gateway: in-process subgraphs, and real HTTP on loopback.

The fixture library (tests/gateway/fixtures) holds one subgraph set per federation
feature, its supergraph from a standard composer, and the exact responses a correct
gateway returns. Where a case says how many requests each subgraph must receive, the
requests are counted (a ``@provides`` shortcut must not cost a second fetch).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL

from gateway.engine import Gateway
from tests.gateway.fixtures import SETS, Case, supergraph_path
from tests.gateway.fixtures.compare import response_mismatches
from tests.support import LiveServer

CASES = [(set_name, case) for set_name, module in SETS.items() for case in module.CASES]


class Counted:
    """Counts the requests an ASGI app receives."""

    def __init__(self, app: ASGIApp, name: str, counter: Counter[str]) -> None:
        self.app, self.name, self.counter = app, name, counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.counter[self.name] += 1
        await self.app(scope, receive, send)


def _served(schema: object) -> Starlette:
    return Starlette(routes=[Route("/graphql", GraphQL(schema))])  # type: ignore[arg-type]


def _check(case: Case, body: dict, fetches: Counter[str] | None) -> None:
    problems = response_mismatches(case.expected, body)
    assert not problems, "\n".join([f"case {case.name}:", *problems, f"got: {body}"])
    if case.fetches is not None and fetches is not None:
        assert dict(fetches) == {k: v for k, v in case.fetches.items() if v}, (
            f"fetches of {case.name}"
        )


@pytest.mark.parametrize(("set_name", "case"), CASES, ids=[f"{s}:{c.name}" for s, c in CASES])
async def test_case_in_process(set_name: str, case: Case) -> None:
    module = SETS[set_name]
    if hasattr(module, "reset"):
        module.reset()
    counter: Counter[str] = Counter()
    apps = {
        name: Counted(_served(schema), name, counter) for name, schema in module.SUBGRAPHS.items()
    }
    gateway = Gateway(supergraph_path(set_name).read_text(), subgraph_apps=apps)
    try:
        body, _ = await gateway.execute(case.query, case.variables)
    finally:
        await gateway.close()
    _check(case, body, counter)


@pytest.fixture(scope="module", params=sorted(SETS))
def served_set(request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, str]]]:
    """Every subgraph of one set on its own uvicorn server on a loopback port."""
    module = SETS[request.param]
    servers = {
        name: LiveServer(_served(schema)).start() for name, schema in module.SUBGRAPHS.items()
    }
    yield request.param, {name: f"{server.url}/graphql" for name, server in servers.items()}
    for server in servers.values():
        server.stop()


@pytest.fixture
async def http_gateway(
    served_set: tuple[str, dict[str, str]],
) -> AsyncIterator[tuple[str, Gateway]]:
    set_name, urls = served_set
    gateway = Gateway(supergraph_path(set_name).read_text(), subgraph_urls=urls)
    yield set_name, gateway
    await gateway.close()


async def test_every_case_over_http(http_gateway: tuple[str, Gateway]) -> None:
    set_name, gateway = http_gateway
    module = SETS[set_name]
    for case in module.CASES:
        if hasattr(module, "reset"):
            module.reset()
        body, _ = await gateway.execute(case.query, case.variables)
        _check(case, body, None)
