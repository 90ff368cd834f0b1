"""Reading supergraphs: the join spec model, the API schema, and what is refused."""

from __future__ import annotations

import pytest
from graphql import print_schema

from gateway.api_schema import build_api_schema
from gateway.supergraph import SupergraphError, read_supergraph
from tests.gateway.fixtures import supergraph_path

SPECS = """
schema
  @link(url: "https://specs.apollo.dev/link/v1.0")
  @link(url: "https://specs.apollo.dev/join/v0.3", as: "j", for: EXECUTION)
  @link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY)
{ query: Query }
directive @j__field(graph: j__Graph, requires: j__FieldSet, provides: j__FieldSet, type: String, external: Boolean, override: String, usedOverridden: Boolean) repeatable on FIELD_DEFINITION | INPUT_FIELD_DEFINITION
directive @j__graph(name: String!, url: String!) on ENUM_VALUE
directive @j__implements(graph: j__Graph!, interface: String!) repeatable on OBJECT | INTERFACE
directive @j__type(graph: j__Graph!, key: j__FieldSet, extension: Boolean! = false, resolvable: Boolean! = true, isInterfaceObject: Boolean! = false) repeatable on OBJECT | INTERFACE | UNION | ENUM | INPUT_OBJECT | SCALAR
directive @j__unionMember(graph: j__Graph!, member: String!) repeatable on UNION
directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA
directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION
scalar j__FieldSet
scalar link__Import
enum link__Purpose { SECURITY EXECUTION }
enum j__Graph {
  A @j__graph(name: "alpha", url: "http://alpha:4001/graphql")
  B @j__graph(name: "beta", url: "http://beta:4002/graphql")
}
"""

RENAMED = (
    SPECS
    + """
type Query @j__type(graph: A) @j__type(graph: B) {
  things(limit: Int, secret: Int @inaccessible): [Thing!]! @j__field(graph: A)
  hidden: Hidden @j__field(graph: B) @inaccessible
}
type Thing @j__type(graph: A, key: "id") @j__type(graph: B, key: "id sku", resolvable: false) {
  id: ID!
  sku: String
  name: String! @j__field(graph: A)
  price: Int @j__field(graph: A, external: true) @j__field(graph: B)
  internalCost: Int @j__field(graph: B) @inaccessible
  kind: Kind @j__field(graph: A)
}
type Hidden @j__type(graph: B) @inaccessible { x: Int }
enum Kind @j__type(graph: A) { BOOK MOVIE @inaccessible }
"""
)


def test_join_spec_under_another_name_is_read() -> None:
    supergraph = read_supergraph(RENAMED)
    assert {s.name: s.url for s in supergraph.subgraphs.values()} == {
        "alpha": "http://alpha:4001/graphql",
        "beta": "http://beta:4002/graphql",
    }
    thing = supergraph.types["Thing"]
    assert [(k.graph, k.fields, k.resolvable) for k in thing.keys] == [
        ("alpha", "id", True),
        ("beta", "id sku", False),
    ]
    assert supergraph.resolving_graphs("Thing", "price") == ["beta"]
    assert supergraph.field_graphs("Thing", "price")["alpha"].external
    assert supergraph.resolving_graphs("Thing", "id") == [
        "alpha",
        "beta",
    ]  # no @join__field: every graph


def test_api_schema_drops_federation_machinery_and_inaccessible_elements() -> None:
    api = print_schema(build_api_schema(read_supergraph(RENAMED)))
    for gone in (
        "j__",
        "link",
        "@inaccessible",
        "Hidden",
        "hidden",
        "internalCost",
        "secret",
        "MOVIE",
    ):
        assert gone not in api, gone
    assert "things(limit: Int): [Thing!]!" in api
    assert "enum Kind {\n  BOOK\n}" in api


@pytest.mark.parametrize(
    ("sdl", "message"),
    [
        ("type Query { a: Int", "not valid GraphQL SDL"),
        ("type Query { a: Int }", "not a supergraph"),
        (
            SPECS.replace("A @j__graph", "A @nothing").replace("B @j__graph", "B @nothing"),
            "names no subgraphs",
        ),
        (SPECS + "type Query @j__type(graph: Z) { a: Int }", "unknown join__Graph value 'Z'"),
        (SPECS + 'type Query @j__type(graph: A, key: "id {") { a: Int }', "invalid field set"),
    ],
)
def test_what_is_not_a_usable_supergraph_is_refused_with_a_reason(sdl: str, message: str) -> None:
    with pytest.raises(SupergraphError, match=message):
        read_supergraph(sdl)


@pytest.mark.parametrize("set_name", ["basic", "abstract", "interface_object", "federation1"])
def test_fixture_supergraphs_from_a_standard_composer_load(set_name: str) -> None:
    supergraph = read_supergraph(supergraph_path(set_name).read_text())
    api = build_api_schema(supergraph)
    assert api.query_type is not None
    assert "_entities" not in print_schema(api) and "join__" not in print_schema(api)
