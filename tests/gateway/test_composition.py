"""Our composer against the reference (@theguild/federation-composition) on every fixture set.

The checked-in fixture supergraphs were composed by the reference composer; ours must
produce the same API schema (compared printed, with types and fields sorted), and our
gateway must answer every fixture case identically on our supergraph.
"""

from __future__ import annotations

import pytest
from graphql import print_schema

from gateway.api_schema import build_api_schema
from gateway.composition import CompositionFailed, SubgraphSDL, compose
from gateway.engine import Gateway
from gateway.supergraph import read_supergraph
from tests.gateway.fixtures import SETS, subgraph_url, supergraph_path
from tests.gateway.fixtures.compare import response_mismatches
from tests.gateway.test_fixture_cases import _served


def subgraph_sdls(set_name: str) -> list[SubgraphSDL]:
    module = SETS[set_name]
    return [
        SubgraphSDL(name, subgraph_url(name), schema.as_str())
        for name, schema in module.SUBGRAPHS.items()
    ]


def sorted_api(supergraph_sdl: str) -> list[str]:
    """The API schema as sorted definitions, each with its lines (fields) sorted."""
    printed = print_schema(build_api_schema(read_supergraph(supergraph_sdl)))
    blocks = []
    for block in printed.split("\n\n"):
        lines = block.strip().splitlines()
        head, body = lines[0], sorted(line.strip() for line in lines[1:])
        blocks.append("\n".join([head, *body]))
    return sorted(blocks)


@pytest.mark.parametrize("set_name", sorted(SETS))
def test_same_api_schema_as_the_reference_composer(set_name: str) -> None:
    ours = compose(subgraph_sdls(set_name))
    assert sorted_api(ours) == sorted_api(supergraph_path(set_name).read_text())


@pytest.mark.parametrize("set_name", sorted(SETS))
async def test_every_case_answers_the_same_on_our_supergraph(set_name: str) -> None:
    module = SETS[set_name]
    ours = compose(subgraph_sdls(set_name))
    for case in module.CASES:
        if hasattr(module, "reset"):
            module.reset()
        apps = {name: _served(schema) for name, schema in module.SUBGRAPHS.items()}
        gateway = Gateway(ours, subgraph_apps=apps)
        try:
            body, _ = await gateway.execute(case.query, case.variables)
        finally:
            await gateway.close()
        problems = response_mismatches(case.expected, body)
        assert not problems, f"{set_name}:{case.name}: {problems}"


@pytest.mark.parametrize("minor", range(12))
def test_every_federation_link_version_from_2_0_to_2_11_is_accepted(minor: int) -> None:
    version = f"v2.{minor}"
    sources = [
        SubgraphSDL(s.name, s.url, s.sdl.replace("federation/v2.7", f"federation/{version}"))
        for s in subgraph_sdls("basic")
    ]
    assert all(version in s.sdl for s in sources)
    assert sorted_api(compose(sources)) == sorted_api(supergraph_path("basic").read_text())


def test_errors_name_the_subgraph_and_coordinate() -> None:
    products = """
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
    type Query { product: Product }
    type Product @key(fields: "upc") { upc: String! name: String! }
    """
    reviews = """
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
    type Product @key(fields: "upc") { upc: String! name: String! }
    """
    with pytest.raises(CompositionFailed) as failure:
        compose(
            [
                SubgraphSDL("products", "http://p/graphql", products),
                SubgraphSDL("reviews", "http://r/graphql", reviews),
            ]
        )
    [error] = failure.value.errors
    assert error.code == "INVALID_FIELD_SHARING"
    assert error.coordinate == "Product.name" and error.subgraph in ("products", "reviews")
    assert "@shareable" in error.message
    assert str(error).startswith(f"[{error.subgraph}] Product.name: ")
