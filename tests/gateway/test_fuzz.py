"""Property-based: random documents, variables and bodies never make the gateway fail.

Every answer is a well-formed GraphQL response (200 with data and/or errors) or a 4xx
with errors — never a 500, never a hang (pytest-timeout bounds each test).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.engine import Gateway
from gateway.server import create_gateway_app
from tests.gateway.failing_subgraphs import SUPERGRAPH, products, reviews, served
from tests.support import LiveServer

FIELDS = [
    "topProducts",
    "name",
    "upc",
    "reviews",
    "body",
    "reviewCount",
    "reviewPing",
    "__typename",
    "nope",
    "rename",
]
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    product_server = LiveServer(served(products)).start()
    review_server = LiveServer(served(reviews)).start()
    gateway = Gateway(
        SUPERGRAPH.read_text(),
        subgraph_urls={
            "products": f"{product_server.url}/graphql",
            "reviews": f"{review_server.url}/graphql",
        },
    )
    server = LiveServer(create_gateway_app(gateway)).start()
    with httpx.Client(base_url=server.url, timeout=20) as http:
        yield http
    server.stop()
    product_server.stop()
    review_server.stop()


def _selection(depth: int) -> st.SearchStrategy[str]:
    field = st.sampled_from(FIELDS)
    alias = st.one_of(st.just(""), st.from_regex(r"[a-z]{1,3}: ", fullmatch=True))
    args = st.one_of(
        st.just(""),
        st.builds(
            lambda n, v: f"({n}: {v})",
            st.sampled_from(["upc", "name", "first", "x"]),
            st.sampled_from(['"p1"', "1", "$v", "true", "null", "[1]"]),
        ),
    )
    directive = st.sampled_from(["", " @skip(if: true)", " @include(if: $b)", " @skip(if: 1)"])
    if depth == 0:
        leaf = st.builds(lambda a, f, x, d: f"{a}{f}{x}{d}", alias, field, args, directive)
        return st.lists(leaf, min_size=1, max_size=4).map(" ".join)
    inner = _selection(depth - 1)
    nested = st.builds(
        lambda a, f, x, d, s: f"{a}{f}{x}{d} {{ {s} }}", alias, field, args, directive, inner
    )
    fragment = st.builds(
        lambda t, s: f"... on {t} {{ {s} }}",
        st.sampled_from(["Product", "Review", "Query", "Nope"]),
        inner,
    )
    return st.lists(st.one_of(nested, fragment, inner), min_size=1, max_size=3).map(" ".join)


documents = st.builds(
    lambda kind, head, body: f"{kind}{head} {{ {body} }}",
    st.sampled_from(["", "query", "mutation", "subscription", "query Q"]),
    st.sampled_from(
        ["", "($v: String)", "($b: Boolean!)", "($v: Int = 1, $b: Boolean = false)", "($x: Nope)"]
    ),
    _selection(3),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


def _well_formed(response: httpx.Response) -> None:
    assert response.status_code != 500 and response.status_code < 500, response.text
    assert 200 <= response.status_code < 500
    body = response.json()
    assert isinstance(body, dict), body
    if response.status_code == 200:
        assert "data" in body or "errors" in body, body
    else:
        assert body.get("errors"), body
    for error in body.get("errors") or ():
        assert isinstance(error.get("message"), str) and error["message"], error


@FUZZ
@given(
    query=documents,
    variables=st.one_of(
        st.none(), st.dictionaries(st.sampled_from(["v", "b", "x"]), json_values, max_size=3)
    ),
)
def test_random_documents_and_variables(
    client: httpx.Client, query: str, variables: dict | None
) -> None:
    _well_formed(client.post("/graphql", json={"query": query, "variables": variables}))


@FUZZ
@given(
    body=st.one_of(
        json_values,
        st.dictionaries(
            st.sampled_from(["query", "variables", "operationName", "extensions"]),
            json_values,
            max_size=4,
        ),
    )
)
def test_random_json_bodies(client: httpx.Client, body: object) -> None:
    _well_formed(
        client.post(
            "/graphql", content=json.dumps(body), headers={"content-type": "application/json"}
        )
    )


@FUZZ
@given(raw=st.binary(max_size=200))
def test_random_bytes(client: httpx.Client, raw: bytes) -> None:
    _well_formed(client.post("/graphql", content=raw, headers={"content-type": "application/json"}))
