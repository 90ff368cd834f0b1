"""The federated query graph (gateway/planning/query_graph.py), its printout and
``hubgraph gateway graph``; the composer's satisfiability check built on it
(gateway/composition/satisfiability.py).

The sets the reference composer rejects with SATISFIABILITY_ERROR are in
tests/gateway/composition_errors (``satisfiability_*``); here are the graph's edges, sets
the check must accept (each a way a field is reached that a naive check would miss), and
the content of its messages. The reference composer accepts every ACCEPTED set and rejects
VALUE_TYPE_ELSEWHERE and PROVIDED_ONLY_BELOW on the same coordinate (checked by hand
with tests/gateway/compose/compose.mjs).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app as cli_app
from gateway.composition import CompositionFailed, SubgraphSDL, compose
from gateway.composition.satisfiability import check_satisfiability
from gateway.planning.query_graph import (
    ABSTRACT,
    FIELD,
    INTERFACE_OBJECT,
    KEY,
    ROOT,
    QueryGraph,
    build_query_graph,
)
from gateway.supergraph import Supergraph, read_supergraph

LINK = (
    'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", '
    '"@shareable", "@external", "@requires", "@provides", "@inaccessible", '
    '"@interfaceObject"])\n'
)


def _subgraphs(sets: dict[str, str]) -> list[SubgraphSDL]:
    return [
        SubgraphSDL(name, f"http://{name}.invalid/graphql", LINK + sdl)
        for name, sdl in sets.items()
    ]


def _supergraph(sets: dict[str, str]) -> Supergraph:
    return read_supergraph(compose(_subgraphs(sets)))


SHOP = {
    "products": """
type Query {
  products: [Product!]!
}

type Product @key(fields: "id") {
  id: ID!
  name: String
  weight: Int
  seller: Seller @provides(fields: "name")
}

type Seller @key(fields: "id") {
  id: ID!
  name: String @external
}
""",
    "shipping": """
type Product @key(fields: "id") {
  id: ID!
  weight: Int @external
  cost: Int @requires(fields: "weight")
}
""",
    "sellers": """
type Query {
  seller(id: ID!): Seller
}

type Seller @key(fields: "id") @key(fields: "code", resolvable: false) {
  id: ID!
  code: String!
  name: String
}
""",
}


def _edge(graph: QueryGraph, text: str) -> str:
    lines = [str(edge) for edge in graph.all_edges()]
    assert text in lines, f"no edge {text!r} in:\n" + "\n".join(lines)
    return text


def test_field_edges_carry_requires_and_provides() -> None:
    graph = build_query_graph(_supergraph(SHOP))
    cost = graph.fields[("Product", "shipping")]["cost"]
    assert cost.kind == FIELD and cost.head == ("Int", "shipping")
    assert cost.condition_text == "weight"
    assert graph.fields[("Product", "shipping")]["weight"].external
    seller = graph.fields[("Product", "products")]["seller"]
    assert seller.head == ("Seller", "products") and seller.provides_text == "name"
    _edge(graph, "Product@shipping --cost @requires(weight)--> Int@shipping")
    _edge(graph, "Product@products --seller @provides(name)--> Seller@products")
    _edge(graph, "Seller@products --name @external--> String@products")


def test_key_edges_go_only_to_resolvable_keys() -> None:
    graph = build_query_graph(_supergraph(SHOP))
    _edge(graph, "Product@shipping --key(id)--> Product@products")
    _edge(graph, "Product@products --key(id)--> Product@shipping")
    keys = [e for e in graph.jumps[("Seller", "products")] if e.kind == KEY]
    # sellers' "code" key is not resolvable: only its "id" key leads there
    assert [(e.head, e.condition_text) for e in keys] == [(("Seller", "sellers"), "id")]


def test_root_vertices_and_root_edges() -> None:
    graph = build_query_graph(_supergraph(SHOP))
    # every subgraph has a Query (its _entities at least): one root vertex each
    assert graph.roots["query"] == [
        ("Query", "products"),
        ("Query", "sellers"),
        ("Query", "shipping"),
    ]
    assert graph.root_types == {"query": "Query"}
    _edge(graph, "Query@products --root--> Query@sellers")
    assert all(e.kind == ROOT for e in graph.jumps[("Query", "sellers")])


MEDIA = {
    "media": """
type Query {
  media: [Media!]!
  results: [Result!]!
}

interface Media @key(fields: "id") {
  id: ID!
  title: String
}

type Book implements Media @key(fields: "id") {
  id: ID!
  title: String
}

type Movie implements Media @key(fields: "id") {
  id: ID!
  title: String
}

union Result = Book | Movie
""",
    "ratings": """
type Media @key(fields: "id") @interfaceObject {
  id: ID!
  rating: Int
}
""",
}


def test_abstract_and_interface_object_edges() -> None:
    graph = build_query_graph(_supergraph(MEDIA))
    assert {e.head for e in graph.jumps[("Result", "media")] if e.kind == ABSTRACT} == {
        ("Book", "media"),
        ("Movie", "media"),
    }
    _edge(graph, "Media@media --as--> Book@media")
    _edge(graph, "Book@media --interfaceObject key(id)--> Media@ratings")
    _edge(graph, "Media@ratings --key(id)--> Media@media")
    _edge(graph, "Media@media --key(id)--> Media@ratings")
    assert any(e.kind == INTERFACE_OBJECT for e in graph.jumps[("Movie", "media")])
    assert graph.fields[("Media", "ratings")]["rating"].head == ("Int", "ratings")
    assert "rating" not in graph.fields[("Book", "media")]


def test_describe_lists_vertices_and_filters_by_type() -> None:
    graph = build_query_graph(_supergraph(SHOP))
    lines = graph.describe()
    assert "Query@products  (root: query)" in lines
    assert "  Product@shipping --key(id)--> Product@products" in lines
    only = graph.describe("Seller")
    assert "Seller@sellers" in only
    assert "  Product@products --seller @provides(name)--> Seller@products" in only
    assert not any("cost" in line for line in only)


def test_cli_prints_the_graph(tmp_path: Path) -> None:
    path = tmp_path / "supergraph.graphql"
    path.write_text(compose(_subgraphs(SHOP)))
    result = CliRunner().invoke(cli_app, ["graph", "--supergraph", str(path), "--type", "Product"])
    assert result.exit_code == 0, result.output
    assert "Product@shipping --key(id)--> Product@products" in result.output
    assert "Query@products --products--> Product@products" in result.output
    missing = CliRunner().invoke(cli_app, ["graph", "--supergraph", str(path), "--type", "Nope"])
    assert missing.exit_code == 2
    absent = CliRunner().invoke(cli_app, ["graph", "--supergraph", str(tmp_path / "none")])
    assert absent.exit_code == 2


def test_graph_builds_on_every_fixture_supergraph() -> None:
    fixtures = Path(__file__).resolve().parent / "fixtures"
    for path in sorted(fixtures.glob("*/supergraph.graphql")):
        supergraph = read_supergraph(path.read_text())
        graph = build_query_graph(supergraph)
        assert graph.roots["query"], path
        for edge in graph.all_edges():
            assert edge.tail in graph.vertices, (path, str(edge))
            if edge.kind != FIELD:
                assert edge.head in graph.vertices, (path, str(edge))


# --- satisfiability: sets that must compose ------------------------------------------

ACCEPTED = {
    "key_jump_and_requires_and_provides": SHOP,
    "interface_object": MEDIA,
    # the key's nested field "pid" comes from a third subgraph, reached by another key
    "nested_key_fields_through_a_jump": {
        "a": """
type Query {
  lists: [List!]!
}

type List @key(fields: "items { id }") {
  items: [Item!]!
}

type Item @key(fields: "id") {
  id: ID!
}
""",
        "b": """
type Item @key(fields: "id") @key(fields: "id pid") {
  id: ID!
  pid: ID!
}
""",
        "c": """
type List @key(fields: "items { id pid }") {
  items: [Item!]!
  size: Int
}

type Item @key(fields: "id pid") {
  id: ID!
  pid: ID!
}
""",
    },
    # an interface no implementation of which "a" has: every value there is null
    "interface_without_implementations": {
        "a": """
type Query {
  node: Node
}

interface Node {
  id: ID!
}
""",
        "b": """
interface Node {
  id: ID!
  extra: String
}

type User implements Node {
  id: ID!
  extra: String
}

type Query {
  user: User
}
""",
    },
    # a value type's field in another subgraph, reached only through a shared root field
    "shared_root_value_type": {
        "a": """
type Query {
  me: User @shareable
}

type User {
  name: String @shareable
}
""",
        "b": """
type Query {
  me: User @shareable
}

type User {
  name: String @shareable
  email: String
}
""",
    },
    # E1 is walked first from q1 (in "s1", which resolves E1.f0); the deeper path
    # q2 -> E2.f1 reaches E1 in "s2", which cannot reach E1.f0 ("s1"'s key is not
    # resolvable), but the reference composer does not walk E1 again there, and accepts
    "entity_walked_first_from_its_subgraph": {
        "s1": """
type Query {
  q1: E1 @shareable
  q2: E2 @shareable
}

type E1 @key(fields: "id", resolvable: false) {
  id: ID! @shareable
  f0: E2 @shareable
}

type E2 @key(fields: "id") {
  id: ID! @shareable
}
""",
        "s2": """
type E1 @key(fields: "id") {
  id: ID! @shareable
}

type E2 @key(fields: "id") {
  id: ID! @shareable
  f1: E1 @shareable
}
""",
    },
    # an @inaccessible field nobody could reach is not part of the API schema
    "inaccessible_field_is_not_checked": {
        "a": """
type Query {
  product: Product
}

type Product @key(fields: "id") {
  id: ID!
}
""",
        "b": """
type Query {
  other: Int
}

type Product @key(fields: "id", resolvable: false) {
  id: ID!
  secret: String @inaccessible
}
""",
    },
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_satisfiable_sets_compose(name: str) -> None:
    supergraph = _supergraph(ACCEPTED[name])
    assert check_satisfiability(supergraph) == []


VALUE_TYPE_ELSEWHERE = {
    "a": """
type Query {
  product: Product
}

type Product @key(fields: "id") {
  id: ID!
  detail: Detail
}

type Detail {
  size: Int @shareable
}
""",
    "b": """
type Query {
  details: [Detail!]!
}

type Detail {
  size: Int @shareable
  colour: String
}
""",
}


def test_unsatisfiable_field_error_names_coordinate_subgraphs_and_path() -> None:
    with pytest.raises(CompositionFailed) as failed:
        compose(_subgraphs(VALUE_TYPE_ELSEWHERE))
    errors = failed.value.errors
    assert [(e.code, e.coordinate, e.subgraph) for e in errors] == [
        ("SATISFIABILITY_ERROR", "Detail.colour", "b")
    ]
    message = errors[0].message
    assert "{ product { detail { colour } } }" in message
    assert "Query.product -> Product.detail" in message
    assert 'subgraph "a"' in message and 'subgraph "b"' in message
    assert "no resolvable @key" in message


PROVIDED_ONLY_BELOW = {
    "reviews": """
type Query {
  reviews: [Review!]!
  authors: [User!]!
}

type Review {
  author: User @provides(fields: "name")
}

type User @key(fields: "id", resolvable: false) {
  id: ID!
  name: String @external
}
""",
    "users": """
type User @key(fields: "id", resolvable: false) {
  id: ID!
  name: String
}

type Query {
  count: Int
}
""",
}


def test_provides_makes_an_external_field_reachable_only_below_it() -> None:
    with pytest.raises(CompositionFailed) as failed:
        compose(_subgraphs(PROVIDED_ONLY_BELOW))
    # through Review.author the name is provided; through Query.authors it is not
    assert [(e.coordinate, e.subgraph) for e in failed.value.errors] == [("User.name", "users")]
    assert "{ authors { name } }" in failed.value.errors[0].message
